// The IDX reader: the built-in digits, gzip and raw, and every kind of bad file.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <zlib.h>

#include <filesystem>

#include "helpers.hpp"
#include "rbm/host/idx.hpp"

namespace fs = std::filesystem;

namespace {

std::vector<std::uint8_t> idx_images(std::uint32_t count, std::uint32_t rows, std::uint32_t cols,
                                     std::uint32_t magic = 0x803) {
  std::vector<std::uint8_t> b;
  for (std::uint32_t x : {magic, count, rows, cols})
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(x >> s));
  for (std::uint32_t i = 0; i < count * rows * cols; ++i) b.push_back(static_cast<std::uint8_t>(i * 7));
  return b;
}

std::vector<std::uint8_t> idx_labels(std::uint32_t count) {
  std::vector<std::uint8_t> b;
  for (std::uint32_t x : {0x801u, count})
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(x >> s));
  for (std::uint32_t i = 0; i < count; ++i) b.push_back(static_cast<std::uint8_t>(i % 10));
  return b;
}

void write_gz(const fs::path& p, const std::vector<std::uint8_t>& bytes) {
  gzFile f = gzopen(p.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

using rbm_test::error_of;

TEST(Idx, ReadsTheBuiltInDigits) {
  const rbm::dataset d = rbm::load_dataset_dir(RBM_DATA_DIR);
  EXPECT_EQ(d.train.count, 10000);
  EXPECT_EQ(d.test.count, 10000);
  EXPECT_EQ(d.train.rows, 28);
  EXPECT_EQ(d.train.cols, 28);
  ASSERT_EQ(d.train.labels.size(), 10000u);
    // Every class is well represented (between 800 and 1,200 of each).
  std::vector<int> per_class(10);
  for (auto l : d.train.labels) per_class.at(l)++;
  for (int c : per_class) EXPECT_TRUE(c > 800 && c < 1200) << c;
  // The official test set's first label is a 7; its first image has ink in the middle.
  EXPECT_EQ(d.test.labels[0], 7);
  int ink = 0;
  for (int i = 0; i < 784; ++i) ink += d.test.pixels[i] > 128;
  EXPECT_GT(ink, 50);
}

TEST(Idx, RawAndGzipReadTheSame) {
  const auto dir = rbm_test::fresh_dir();
  const auto img = idx_images(5, 3, 4);
  rbm_test::write_bytes(dir / "raw", img);
  write_gz(dir / "packed.gz", img);
  const auto a = rbm::read_idx_images((dir / "raw").string());
  const auto b = rbm::read_idx_images((dir / "packed.gz").string());
  EXPECT_EQ(a.count, 5);
  EXPECT_EQ(a.rows, 3);
  EXPECT_EQ(a.cols, 4);
  EXPECT_EQ(a.pixels, b.pixels);
  EXPECT_EQ(a.pixels, std::vector<std::uint8_t>(img.begin() + 16, img.end()));
}

TEST(Idx, BadFilesAreRefusedWithTheFileNameAndTheProblem) {
  const auto dir = rbm_test::fresh_dir();
  const auto good = idx_images(4, 2, 2);
  auto path = [&](const char* n) { return (dir / n).string(); };

  EXPECT_NE(error_of([&] { rbm::read_idx_images(path("missing")); }).find("missing: no such file"), std::string::npos);

  rbm_test::write_bytes(dir / "magic", idx_images(4, 2, 2, 0x801));
  EXPECT_NE(error_of([&] { rbm::read_idx_images(path("magic")); }).find("wrong magic number 0x00000801"), std::string::npos);

  auto truncated = good;
  truncated.resize(truncated.size() - 3);
  rbm_test::write_bytes(dir / "trunc", truncated);
  write_gz(dir / "trunc.gz", truncated);
  for (const char* n : {"trunc", "trunc.gz"}) {
    const std::string e = error_of([&] { rbm::read_idx_images(path(n)); });
    EXPECT_NE(e.find(path(n) + ": truncated"), std::string::npos) << e;
  }

  auto longer = good;
  longer.push_back(1);
  rbm_test::write_bytes(dir / "long", longer);
  EXPECT_NE(error_of([&] { rbm::read_idx_images(path("long")); }).find("over-long: 1 bytes"), std::string::npos);

  rbm_test::write_bytes(dir / "zero", idx_images(0, 2, 2));
  EXPECT_NE(error_of([&] { rbm::read_idx_images(path("zero")); }).find("must be positive"), std::string::npos);

  rbm_test::write_bytes(dir / "tiny", {0, 0});
  EXPECT_NE(error_of([&] { rbm::read_idx_images(path("tiny")); }).find("too short"), std::string::npos);

  // A gzip stream cut short (not just a short payload) is a corrupt archive.
  write_gz(dir / "whole.gz", good);
  auto gz = rbm_test::read_bytes(dir / "whole.gz");
  gz.resize(gz.size() / 2);
  rbm_test::write_bytes(dir / "cut.gz", gz);
  EXPECT_NE(error_of([&] { rbm::read_idx_images(path("cut.gz")); }).find("gzip stream is truncated"), std::string::npos);

  rbm_test::write_bytes(dir / "img", good);
  rbm_test::write_bytes(dir / "lab", idx_labels(3));
  const std::string e = error_of([&] { rbm::read_idx(path("img"), path("lab")); });
  EXPECT_NE(e.find("has 3 labels but"), std::string::npos) << e;
  EXPECT_NE(error_of([&] { rbm::read_idx_labels(path("img")); }).find("wrong magic"), std::string::npos);
}

TEST(Idx, DirectoryWithoutTrainingImagesIsRefused) {
  const auto dir = rbm_test::fresh_dir();
  EXPECT_NE(error_of([&] { rbm::load_dataset_dir(dir.string()); }).find("holds no train-images"), std::string::npos);
  EXPECT_NE(error_of([&] { rbm::load_dataset_dir((dir / "nope").string()); }).find("no such data directory"),
            std::string::npos);
}

TEST(Idx, TestImagesOfAnotherSizeAreRefused) {
  const auto dir = rbm_test::fresh_dir();
  rbm_test::write_bytes(dir / "train-images-idx3-ubyte", idx_images(4, 2, 2));
  rbm_test::write_bytes(dir / "t10k-images-idx3-ubyte", idx_images(4, 3, 3));
  EXPECT_NE(error_of([&] { rbm::load_dataset_dir(dir.string()); }).find("images are 3x3 but the training images are 2x2"),
            std::string::npos);
}

TEST(Idx, ReadsFashionMnistWhenInstalled) {
  const char* dir = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(fs::path(dir) / "train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "Fashion-MNIST is not installed (Debian package dataset-fashion-mnist)";
  const rbm::dataset d = rbm::load_dataset_dir(dir);
  EXPECT_EQ(d.train.count, 60000);
  EXPECT_EQ(d.test.count, 10000);
  EXPECT_EQ(d.train.labels.size(), 60000u);
  EXPECT_EQ(d.train.dim(), 784);
}

}  // namespace

namespace {

std::vector<std::uint8_t> gz_bytes(const std::vector<std::uint8_t>& bytes) {
  const auto dir = rbm_test::fresh_dir("-gz");
  write_gz(dir / "x.gz", bytes);
  return rbm_test::read_bytes((dir / "x.gz").string());
}

// Sizes from the header multiplied without wrapping, gzip read as the format defines it (several
// members; nothing after the last), and only regular files (issue 23, items 5, 7 and 10).
TEST(Idx, HostileHeadersGzipMembersAndSpecialFilesAreHandled) {
  const auto dir = rbm_test::fresh_dir();
  auto path = [&](const char* n) { return (dir / n).string(); };
  auto header = [](std::uint32_t c, std::uint32_t r, std::uint32_t k) {
    std::vector<std::uint8_t> b;
    for (std::uint32_t x : {0x803u, c, r, k})
      for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(x >> s));
    return b;
  };
  // 2^22 x 2^21 x 2^21 = 2^64: a wrapped product of 0 once matched a file with no data at all.
  rbm_test::write_bytes(dir / "wrap", header(1u << 22, 1u << 21, 1u << 21));
  EXPECT_NE(error_of([&] { rbm::read_idx_images(path("wrap")); }).find("wrap: an image's pixel count"), std::string::npos);
  // rows x cols wrapping a 32-bit int to 784 once trained a model.
  rbm_test::write_bytes(dir / "int", header(8192, 2919572, 1542554740));
  EXPECT_NE(error_of([&] { rbm::read_idx_images(path("int")); }).find("an image's pixel count (2919572 x 1542554740)"),
            std::string::npos);
  // gzip: two members are one stream; bytes after the last member are an error.
  const auto img = idx_images(6, 2, 3);
  const std::vector<std::uint8_t> first(img.begin(), img.begin() + 20), second(img.begin() + 20, img.end());
  auto two = gz_bytes(first);
  const auto tail = gz_bytes(second);
  two.insert(two.end(), tail.begin(), tail.end());
  rbm_test::write_bytes(dir / "two.gz", two);
  EXPECT_EQ(rbm::read_idx_images(path("two.gz")).pixels, std::vector<std::uint8_t>(img.begin() + 16, img.end()));
  auto trailing = gz_bytes(img);
  trailing.insert(trailing.end(), {'j', 'u', 'n', 'k'});
  rbm_test::write_bytes(dir / "trailing.gz", trailing);
  EXPECT_NE(error_of([&] { rbm::read_idx_images(path("trailing.gz")); }).find("4 bytes of trailing data"),
            std::string::npos);
  // A device never ends and a named pipe blocks: refused before reading.
  EXPECT_NE(error_of([&] { rbm::read_idx_images("/dev/zero"); }).find("/dev/zero: not a regular file"), std::string::npos);
  ASSERT_EQ(::mkfifo(path("fifo").c_str(), 0600), 0);
  EXPECT_NE(error_of([&] { rbm::read_idx_images(path("fifo")); }).find("not a regular file"), std::string::npos);
}

}  // namespace
