// Tutorial tools: pictures in any format, reconstructions, sample sheets, features files, softmax.
#include <gtest/gtest.h>
#include <png.h>
#include <stb/stb_image_write.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>

#include "helpers.hpp"
#include "rbm/host/cpu_backend.hpp"
#include "rbm/host/idx.hpp"
#include "rbm/host/safetensors.hpp"
#include "rbm/host/tools.hpp"

namespace {

using rbm_test::error_of;

TEST(Tools, PicturesOfAnySizeBecomeGreyDigits) {
  const auto dir = rbm_test::fresh_dir();
  // A 56x40 RGB picture, white with a black vertical bar in the middle third.
  rbm::raster rgb(40, 56, 3, 255);
  for (int y = 0; y < 56; ++y)
    for (int x = 14; x < 26; ++x)
      for (int c = 0; c < 3; ++c) rgb.pixels[(std::size_t(y) * 40 + x) * 3 + c] = 0;
  rbm::write_png((dir / "bar.png").string(), rgb);
  const auto plain = rbm::load_picture((dir / "bar.png").string(), 28, 28, false);
  const auto inverted = rbm::load_picture((dir / "bar.png").string(), 28, 28, true);
  ASSERT_EQ(plain.size(), 784u);
  EXPECT_EQ(plain[14 * 28 + 0], 255);     // left margin stays white
  EXPECT_LT(plain[14 * 28 + 14], 20);     // the bar is dark
  EXPECT_EQ(inverted[14 * 28 + 0], 0);    // ... and inverted, MNIST-like
  EXPECT_GT(inverted[14 * 28 + 14], 235);
  // PGM (binary) works too.
  {
    std::ofstream pgm(dir / "g.pgm", std::ios::binary);
    pgm << "P5\n2 2\n255\n";
    pgm.put(char(0)).put(char(255)).put(char(255)).put(char(0));
  }
  EXPECT_EQ(rbm::load_picture((dir / "g.pgm").string(), 2, 2, false), (std::vector<std::uint8_t>{0, 255, 255, 0}));

  rbm_test::write_bytes(dir / "junk.png", {1, 2, 3, 4, 5});
  EXPECT_NE(error_of([&] { rbm::load_picture((dir / "junk.png").string(), 28, 28, false); }).find("junk.png: not a readable image"),
            std::string::npos);
  {
    std::ofstream pgm(dir / "empty.pgm", std::ios::binary);
    pgm << "P5\n0 0\n255\n";
  }
  EXPECT_NE(error_of([&] { rbm::load_picture((dir / "empty.pgm").string(), 28, 28, false); }).find("empty.pgm"),
            std::string::npos);
  EXPECT_NE(error_of([&] { rbm::load_picture((dir / "absent.png").string(), 28, 28, false); }).find("no such image file"),
            std::string::npos);
}

// Pictures decoded past their data (issue 23, item 6): only PNG, JPEG, PGM/PPM and BMP are read, the
// pixel count bounded from the header before decoding, PNGs through libpng (CRCs checked, 16-bit read).
TEST(Tools, PicturesAreBoundedAndReadByDecodersThatCheck) {
  const auto dir = rbm_test::fresh_dir();
  auto refused = [&](const std::string& name, const std::vector<std::uint8_t>& bytes) {
    return error_of([&] { rbm::decode_picture(name, bytes, 28, 28, false); });
  };
  const std::string hdr = "#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 16384 +X 16384\n";
  EXPECT_NE(refused("big.hdr", {hdr.begin(), hdr.end()}).find("big.hdr: not a readable image (not a PNG, JPEG"),
            std::string::npos);
  EXPECT_NE(refused("big.psd", {'8', 'B', 'P', 'S', 0, 1, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0x40, 0, 0, 0, 0x40, 0})
                .find("not a PNG, JPEG"), std::string::npos);
  // A real JPEG whose frame header is patched to 16384 x 16384: refused from the header, before decoding.
  std::vector<std::uint8_t> jpeg;
  std::vector<std::uint8_t> grey(32 * 32, 128);
  ASSERT_TRUE(stbi_write_jpg_to_func([](void* ctx, void* data, int n) {
    auto* out = static_cast<std::vector<std::uint8_t>*>(ctx);
    out->insert(out->end(), static_cast<std::uint8_t*>(data), static_cast<std::uint8_t*>(data) + n);
  }, &jpeg, 32, 32, 1, grey.data(), 90));
  EXPECT_EQ(rbm::decode_picture("ok.jpg", jpeg, 28, 28, false).size(), 784u);
  bool patched = false;
  for (std::size_t i = 0; i + 8 < jpeg.size() && !patched; ++i)
    if (jpeg[i] == 0xff && (jpeg[i + 1] == 0xc0 || jpeg[i + 1] == 0xc2)) {  // SOF: length, precision, height, width
      jpeg[i + 5] = 0x40, jpeg[i + 6] = 0, jpeg[i + 7] = 0x40, jpeg[i + 8] = 0;
      patched = true;
    }
  ASSERT_TRUE(patched);
  EXPECT_NE(refused("huge.jpg", jpeg).find("huge.jpg: the image is too large (16384x16384"), std::string::npos);
  // A PNG with a damaged chunk CRC is refused; a valid 16-bit PNG is read.
  rbm::raster img(28, 28, 1, 200);
  rbm::write_png((dir / "ok.png").string(), img);
  auto png = rbm_test::read_bytes(dir / "ok.png");
  const auto idat = std::search(png.begin(), png.end(), std::begin("IDAT"), std::begin("IDAT") + 4) - png.begin();
  ASSERT_LT(std::size_t(idat), png.size());
  const std::size_t len = (std::size_t(png[idat - 4]) << 24) | (png[idat - 3] << 16) | (png[idat - 2] << 8) | png[idat - 1];
  png[idat + 4 + len] ^= 0xff;  // the first byte of IDAT's CRC
  EXPECT_NE(refused("crc.png", png).find("crc.png: "), std::string::npos);
  EXPECT_EQ(refused("crc.png", png).find("(no error)"), std::string::npos);
  png_image w16;
  std::memset(&w16, 0, sizeof w16);
  w16.version = PNG_IMAGE_VERSION;
  w16.width = 28;
  w16.height = 28;
  w16.format = PNG_FORMAT_LINEAR_Y;  // 16 bits per sample
  std::vector<std::uint16_t> linear(28 * 28, 0);
  for (int i = 0; i < 28 * 28; ++i) linear[i] = i % 2 ? 65535 : 0;
  ASSERT_TRUE(png_image_write_to_file(&w16, (dir / "deep.png").c_str(), 0, linear.data(), 0, nullptr));
  const auto deep = rbm::load_picture((dir / "deep.png").string(), 28, 28, false);
  EXPECT_EQ(deep[0], 0);
  EXPECT_EQ(deep[1], 255);
}

TEST(Tools, ReconstructionFollowsTheTutorial) {
  rbm::model_params p(4, 2);
  p.w = {2, -1, 1, 1, 3, 0.5f, 0, 2};  // [4, 2] row-major
  p.vb = {0.1f, -0.2f, 0.3f, 0};
  p.hb = {-0.5f, 0.25f};
  const std::vector<std::uint8_t> img = {255, 0, 255, 0};
  const auto r = rbm::reconstruct(p, img.data());
  auto sig = [](double x) { return 1 / (1 + std::exp(-x)); };
  double h[2];
  for (int j = 0; j < 2; ++j) {
    double a = p.hb[j];
    for (int i = 0; i < 4; ++i) a += (img[i] / 255.0) * p.w[i * 2 + j];
    h[j] = sig(a);
    EXPECT_NEAR(r.hidden[j], h[j], 1e-6);
  }
  // Tutorial: h rounded, then p(v | h); mean-field: p(v | p(h | v)).
  for (int i = 0; i < 4; ++i) {
    double t = p.vb[i], mf = p.vb[i];
    for (int j = 0; j < 2; ++j) t += std::round(h[j]) * p.w[i * 2 + j], mf += h[j] * p.w[i * 2 + j];
    EXPECT_NEAR(r.tutorial[i], sig(t), 1e-6);
    EXPECT_NEAR(r.mean_field[i], sig(mf), 1e-6);
  }
  const auto sheet = rbm::reconstruction_sheet({r, r}, 2, 2, 3);
  EXPECT_GT(sheet.width, 3 * 2 * 3);
  EXPECT_EQ(sheet.height, 2 * (std::max(2 * 3, 1 * (2 * 3 / 1)) + 6) + 6);
}

TEST(Tools, SampleSheetHasOneRowPerChainAndOneColumnPerSnapshot) {
  rbm::model_params p(6, 3);
  for (std::size_t i = 0; i < p.w.size(); ++i) p.w[i] = float(std::sin(double(i)));
  const auto img = rbm::sample_sheet(p, 2, 3, 4, 10, 5, nullptr, 1);
  EXPECT_EQ(img.width, 3 * (3 + 1) + 1);   // snapshots at 0, 5, 10
  EXPECT_EQ(img.height, 4 * (2 + 1) + 1);
  EXPECT_THROW(rbm::sample_sheet(p, 3, 3, 4, 10, 5, nullptr, 1), rbm::precondition_error);
}

TEST(Tools, FeatureFilesAreReadableMatrices) {
  const auto dir = rbm_test::fresh_dir();
  const std::vector<float> m = {1, 2, 3, 4, 5, 6};
  rbm::write_matrix((dir / "f.safetensors").string(), "features", m, 2, 3);
  const auto t = rbm::read_tensors((dir / "f.safetensors").string());
  EXPECT_EQ(t.tensors.at("features").shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(t.tensors.at("features").data, m);
  rbm::write_matrix((dir / "f.npy").string(), "features", m, 2, 3);
  const auto bytes = rbm_test::read_bytes(dir / "f.npy");
  ASSERT_EQ(bytes.size(), 128u + 24u);  // 64-byte aligned header, then 6 floats
  EXPECT_EQ(std::string(bytes.begin() + 1, bytes.begin() + 6), "NUMPY");
  float last;
  std::memcpy(&last, bytes.data() + bytes.size() - 4, 4);
  EXPECT_EQ(last, 6.0f);
  if (std::system("python3 -c 'import numpy' >/dev/null 2>&1") == 0) {
    const std::string cmd = "python3 -c \"import numpy as np; a = np.load('" + (dir / "f.npy").string() +
                            "'); assert a.shape == (2, 3) and a[1, 2] == 6\"";
    EXPECT_EQ(std::system(cmd.c_str()), 0);
  }
}

TEST(Tools, SoftmaxLearnsDigitsFromPixels) {
  rbm::dataset d = rbm::load_dataset_dir(RBM_DATA_DIR);
  rbm::truncate(d.train, 3000);
  rbm::truncate(d.test, 1000);
  std::vector<float> x(d.train.pixels.size()), xt(d.test.pixels.size());
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = rbm::pixel_to_unit(d.train.pixels[i]);
  for (std::size_t i = 0; i < xt.size(); ++i) xt[i] = rbm::pixel_to_unit(d.test.pixels[i]);
  const double acc = rbm::softmax_accuracy(x, d.train.labels, xt, d.test.labels, 784, 10, 10);
  EXPECT_GT(acc, 0.84);  // linear models reach ~0.85-0.88 on 3,000 digits; chance is 0.1
}

}  // namespace
