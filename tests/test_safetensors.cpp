// Model files: round trip, atomic replacement, refusal of broken files, and Python's own reader.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "helpers.hpp"
#include "rbm/host/idx.hpp"
#include "rbm/host/safetensors.hpp"

namespace {

rbm::model_params sample_params() {
  rbm::model_params p(7, 3);
  for (std::size_t i = 0; i < p.w.size(); ++i) p.w[i] = 0.25f * float(i) - 1.0f;
  for (int i = 0; i < 7; ++i) p.vb[i] = -0.5f * float(i);
  for (int j = 0; j < 3; ++j) p.hb[j] = 3.0f + float(j);
  return p;
}

std::string load_error(const std::string& path) {
  try {
    rbm::load_model(path);
  } catch (const rbm::data_error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Safetensors, RoundTripKeepsTensorsAndMetadata) {
  const auto dir = rbm_test::fresh_dir();
  const auto p = sample_params();
  const std::string path = (dir / "m.safetensors").string();
  rbm::save_model(path, p, {{"epoch", "3"}, {"config", "{\"k\":1}"}});
  const auto m = rbm::load_model(path);
  EXPECT_EQ(m.params.nv, 7);
  EXPECT_EQ(m.params.nh, 3);
  EXPECT_EQ(m.params.w, p.w);
  EXPECT_EQ(m.params.vb, p.vb);
  EXPECT_EQ(m.params.hb, p.hb);
  EXPECT_EQ(m.metadata.at("epoch"), "3");
  EXPECT_EQ(m.metadata.at("config"), "{\"k\":1}");
  // Header length is 8-byte aligned, as the format recommends; no temporary file is left behind.
  const auto bytes = rbm_test::read_bytes(path);
  EXPECT_EQ(bytes[0] % 8, 0);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), {}), 1);
}

TEST(Safetensors, BrokenFilesAreRefused) {
  const auto dir = rbm_test::fresh_dir();
  const std::string path = (dir / "m.safetensors").string();
  rbm::save_model(path, sample_params(), {});
  const auto good = rbm_test::read_bytes(path);

  auto cut = good;
  cut.resize(good.size() - 4);
  rbm_test::write_bytes(dir / "cut", cut);
  EXPECT_NE(load_error((dir / "cut").string()).find("outside the file"), std::string::npos);

  auto header_cut = good;
  header_cut.resize(20);
  rbm_test::write_bytes(dir / "hcut", header_cut);
  EXPECT_NE(load_error((dir / "hcut").string()).find("truncated"), std::string::npos);

  auto garbled = good;
  garbled[8] = '#';  // the opening brace of the JSON header
  rbm_test::write_bytes(dir / "garbled", garbled);
  EXPECT_NE(load_error((dir / "garbled").string()).find("not valid JSON"), std::string::npos);

  rbm::model_params nan = sample_params();
  nan.vb[2] = std::nanf("");
  rbm::save_model((dir / "nan").string(), nan, {});
  EXPECT_NE(load_error((dir / "nan").string()).find("non-finite"), std::string::npos);

  EXPECT_NE(load_error((dir / "absent").string()).find("cannot open"), std::string::npos);
}

TEST(Safetensors, ReadableByPythonSafetensors) {
  if (std::system("python3 -c 'import safetensors.numpy' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "python3 with the safetensors package is not available";
  const auto dir = rbm_test::fresh_dir();
  const std::string path = (dir / "m.safetensors").string();
  rbm::save_model(path, sample_params(), {{"epoch", "9"}});
  const std::string cmd =
      "python3 -c \"from safetensors.numpy import load_file; from safetensors import safe_open; "
      "t = load_file('" + path + "'); "
      "assert t['W'].shape == (7, 3) and t['vb'].shape == (7,) and t['hb'].shape == (3,); "
      "assert t['W'][6, 2] == 0.25 * 20 - 1.0 and t['hb'][2] == 5.0; "
      "assert safe_open('" + path + "', 'np').metadata()['epoch'] == '9'\"";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

TEST(Safetensors, UnwritableDestinationNamesTheFile) {
  try {
    rbm::save_model("/nonexistent-dir/m.safetensors", sample_params(), {});
    FAIL() << "expected an error";
  } catch (const rbm::data_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir/m.safetensors: cannot write"), std::string::npos);
  }
}

}  // namespace

namespace {

// A file with this JSON header (padded to 8 bytes) over `data` bytes.
void write_raw_safetensors(const std::filesystem::path& p, const std::string& header, std::size_t data) {
  std::string h = header;
  while (h.size() % 8) h += ' ';
  std::vector<std::uint8_t> b(8 + h.size() + data, 0);
  for (int i = 0; i < 8; ++i) b[i] = std::uint8_t(std::uint64_t(h.size()) >> (8 * i));
  std::copy(h.begin(), h.end(), b.begin() + 8);
  rbm_test::write_bytes(p, b);
}

// What the reference safetensors library refuses, refused here too, and nothing read without bounds
// (issue 23, items 5 and 7): shapes whose element count wraps, non-integer shapes, overlapping
// offsets, bytes after the last tensor, devices and pipes.
TEST(Safetensors, HostileShapesOffsetsAndSpecialFilesAreRefused) {
  const auto dir = rbm_test::fresh_dir();
  auto error = [&](const std::string& header, std::size_t data) {
    write_raw_safetensors(dir / "h.safetensors", header, data);
    return rbm_test::error_of([&] { rbm::read_tensors((dir / "h.safetensors").string()); });
  };
  const std::string w = R"("W":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]})";
  EXPECT_NE(error(R"({"W":{"dtype":"F32","shape":[2147483648,2147483648],"data_offsets":[0,0]}})", 0)
                .find("tensor 'W' has more elements than the data holds"), std::string::npos);
  EXPECT_NE(error("{" + w + R"(,"X":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[16,16]}})", 16)
                .find("tensor 'X' has more elements"), std::string::npos);
  EXPECT_NE(error(R"({"W":{"dtype":"F32","shape":[2.5,2],"data_offsets":[0,16]}})", 16).find("not a non-negative integer"),
            std::string::npos);
  EXPECT_NE(error("{" + w + R"(,"V":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", 16).find("overlap"),
            std::string::npos);
  EXPECT_NE(error("{" + w + "}", 20).find("4 bytes after the last tensor"), std::string::npos);
  EXPECT_EQ(error("{" + w + "}", 16), "(no error)");
  EXPECT_NE(rbm_test::error_of([] { rbm::read_tensors("/dev/zero"); }).find("/dev/zero: not a regular file"),
            std::string::npos);
  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0);
  EXPECT_NE(load_error((dir / "fifo").string()).find("not a regular file"), std::string::npos);
}

}  // namespace
