// Tutorial tools: pictures in any format, reconstructions, sample sheets, features files, softmax.
#include <gtest/gtest.h>

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
