// Small helpers shared by the test files: temporary directories, byte-level file writing, random models.
#pragma once

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "rbm/device_info.hpp"
#include "rbm/error.hpp"
#include "rbm/host/classification.hpp"
#include "rbm/host/idx.hpp"
#include "rbm/host/backend.hpp"
#include "rbm/host/trainer.hpp"

namespace rbm_test {

// Whether `--device cuda` can train here: a build with the CUDA backend and a usable GPU. The CPU
// suite's checks that `--device cuda` is refused hold only where it is not.
inline bool gpu_usable() { return rbm::cuda_backend_built() && !rbm::query_devices().devices.empty(); }

// W, vb and hb drawn from N(0, scale^2) with the given seed.
inline rbm::model_params random_model(int nv, int nh, float scale, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  rbm::model_params p(nv, nh);
  for (auto& x : p.w) x = d(rng);
  for (auto& x : p.vb) x = d(rng);
  for (auto& x : p.hb) x = d(rng);
  return p;
}

// A fresh, empty directory under the build tree, named after the running test.
inline std::filesystem::path fresh_dir(const std::string& tag = "") {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  auto dir = std::filesystem::path(RBM_TEST_TMP) / (std::string(info->test_suite_name()) + "." + info->name() + tag);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

inline void write_bytes(const std::filesystem::path& p, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

inline void write_text(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
}

// The message of the rbm::error that f() throws, or "(no error)": for checking what a user would read.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const rbm::error& e) {
    return e.what();
  }
  return "(no error)";
}

inline int count_lines(const std::filesystem::path& p) {
  std::ifstream in(p);
  int n = 0;
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

// A .npy matrix [rows, cols] of v's values, stored as `descr` says ('<f4' for float, '<i8' for
// std::int64_t, ...), in C order.
template <class T>
inline void write_npy(const std::filesystem::path& path, const std::vector<T>& v, int rows, int cols,
                      const std::string& descr) {
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" + std::to_string(rows) + ", " +
                       std::to_string(cols) + "), }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  out.write("\x93NUMPY\x01\x00", 8);
  const char len[2] = {char(header.size() & 0xff), char(header.size() >> 8)};
  out.write(len, 2);
  out.write(header.data(), std::streamsize(header.size()));
  out.write(reinterpret_cast<const char*>(v.data()), std::streamsize(v.size() * sizeof(T)));
}

#ifdef RBM_EXE  // the test binary's define (the TSan build of scripts/sanitize.sh has none)
// The `rbm` program run with `args`: exit code and stdout + stderr.
struct run_result {
  int code;
  std::string output;
};

inline run_result run_rbm(const std::string& args) {
  FILE* p = popen((std::string(RBM_EXE) + " " + args + " 2>&1").c_str(), "r");
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// `rbm classify ARGS`'s accuracy on the rows it classified (-1, and a failure, where it did not run or
// printed none).
inline double classify_accuracy(const std::string& args) {
  const run_result r = run_rbm("classify " + args);
  const auto at = r.output.find("\naccuracy ");
  EXPECT_TRUE(r.code == 0 && at != std::string::npos) << r.output;
  return r.code == 0 && at != std::string::npos ? std::stod(r.output.substr(at + 10)) : -1.0;
}

// `rbm ARGS --out DIR/never` must fail, say `what`, and write nothing.
inline void expect_refused(const std::string& args, const std::string& what, const std::filesystem::path& dir) {
  const auto never = dir / "never";
  const run_result r = run_rbm(args + " --out " + never.string());
  EXPECT_NE(r.code, 0) << args;
  EXPECT_NE(r.output.find(what), std::string::npos) << "for `" << args << "` got: " << r.output;
  EXPECT_FALSE(std::filesystem::exists(never)) << args;
}
#endif

// Trains `o` for `first` epochs into `dir`, then resumes that run (device cpu) to `total` epochs: what a
// straight run of `total` epochs must equal bit for bit.
inline rbm::train_result train_then_resume(const rbm::dataset& d, rbm::train_options o, const std::string& dir,
                                           int first, int total) {
  o.out_dir = dir;
  o.epochs = first;
  rbm::train(d, o);
  rbm::train_options again;
  again.resume = dir;
  again.epochs = total;
  again.device = "cpu";
  return rbm::train(d, again);
}

inline std::vector<std::uint8_t> read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// How many of the rows v [rows, nv] a model with a label group classifies right (argmax p(y | x)).
inline int classified_right(const rbm::model_params& p, const std::vector<float>& v, const std::vector<std::uint8_t>& labels) {
  const int rows = int(labels.size());
  std::vector<double> lp(std::size_t(rows) * p.classes);
  rbm::class_log_probs(p, v.data(), rows, lp.data());
  int right = 0;
  for (int r = 0; r < rows; ++r) {
    const double* row = lp.data() + std::size_t(r) * p.classes;
    right += int(std::max_element(row, row + p.classes) - row) == int(labels[std::size_t(r)]);
  }
  return right;
}

#ifdef RBM_DATA_DIR
// The first `train` and `test` images (and labels) of the built-in digits.
inline rbm::dataset digits_subset(int train, int test) {
  rbm::dataset d = rbm::load_dataset_dir(RBM_DATA_DIR);
  rbm::truncate(d.train, train);
  rbm::truncate(d.test, test);
  return d;
}
#endif

}  // namespace rbm_test
