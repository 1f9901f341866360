// The `rbm` program end to end: a small run writes all four files; bad input gives one clear error line,
// a non-zero exit and no output.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "helpers.hpp"
#include "rbm/host/image.hpp"
#include "rbm/host/safetensors.hpp"

namespace fs = std::filesystem;

namespace {

struct run_result {
  int code;
  std::string output;  // stdout and stderr together
};

run_result run_rbm(const std::string& args) {
  const std::string cmd = std::string(RBM_EXE) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

int count_lines(const fs::path& p) {
  std::ifstream in(p);
  int n = 0;
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

TEST(Cli, SmallRunWritesAllFourFilesAndCanContinue) {
  const auto dir = rbm_test::fresh_dir();
  const auto out = dir / "run";
  const auto r = run_rbm("train --device cpu --train-limit 500 --test-limit 200 --hidden 20 --epochs 2 --out " +
                         out.string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("using the CPU backend"), std::string::npos) << r.output;
  const auto m = rbm::load_model((out / "model.safetensors").string());
  EXPECT_EQ(m.params.nv, 784);
  EXPECT_EQ(m.params.nh, 20);
  EXPECT_EQ(m.metadata.at("epoch"), "2");
  EXPECT_NE(m.metadata.at("config").find("\"nh\":20"), std::string::npos);
  EXPECT_EQ(count_lines(out / "metrics.csv"), 1 + 3);  // header, epoch 0 (before training), 1, 2
  const auto filters = rbm::read_png((out / "filters.png").string());
  EXPECT_EQ(filters.width, 5 * 29 - 1);  // 20 tiles of 28x28 in 5 columns, 1-pixel gaps
  EXPECT_EQ(filters.height, 4 * 29 - 1);
  const auto plot = rbm::read_png((out / "error.png").string());
  EXPECT_GT(plot.width, 100);
  EXPECT_EQ(plot.channels, 3);

  const auto out2 = dir / "continued";
  const auto r2 = run_rbm("train --device cpu --train-limit 500 --test-limit 200 --epochs 1 --init-from " +
                          (out / "model.safetensors").string() + " --out " + out2.string());
  ASSERT_EQ(r2.code, 0) << r2.output;
  EXPECT_EQ(rbm::load_model((out2 / "model.safetensors").string()).params.nh, 20);  // taken from the model
}

TEST(Cli, PresetSeedIsTheTutorialsRun) {
  const auto out = rbm_test::fresh_dir() / "seed";
  const auto r = run_rbm("train --preset seed --quiet --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.output;
  const auto m = rbm::load_model((out / "model.safetensors").string());
  EXPECT_EQ(m.params.nh, 50);
  EXPECT_NE(m.metadata.at("config").find("\"preset\":\"seed\""), std::string::npos);
  EXPECT_NE(m.metadata.at("config").find("\"zero_init\":true"), std::string::npos);
}

void expect_clean_failure(const std::string& args, const std::string& message, const fs::path& out) {
  const auto r = run_rbm(args + " --out " + out.string());
  EXPECT_NE(r.code, 0) << args;
  EXPECT_NE(r.output.find(message), std::string::npos) << "for `" << args << "` got: " << r.output;
  EXPECT_FALSE(fs::exists(out)) << "`" << args << "` left output behind";
}

TEST(Cli, BadInputFailsCleanlyWithoutOutput) {
  const auto dir = rbm_test::fresh_dir();
  const auto out = dir / "never";
  expect_clean_failure("train --data " + (dir / "nowhere").string(), "nowhere: no such data directory", out);
  expect_clean_failure("train --hidden 0", "--hidden must be positive", out);
  expect_clean_failure("train --lr -1", "--lr must be positive", out);
  expect_clean_failure("train --device cuda", "--device cuda", out);
  expect_clean_failure("train --device tpu", "--device must be auto, cpu or cuda", out);
  expect_clean_failure("train --preset nope", "unknown preset 'nope'", out);

  rbm_test::write_bytes(dir / "short-images-idx3-ubyte", {0, 0, 8, 3, 0, 0, 0, 9, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2});
  expect_clean_failure("train --train-images " + (dir / "short-images-idx3-ubyte").string(),
                       "short-images-idx3-ubyte: truncated", out);
  expect_clean_failure("train --init-from " + (dir / "none.safetensors").string(), "none.safetensors: cannot open",
                       out);

  rbm_test::write_bytes(dir / "a-file", {1});
  const auto r = run_rbm("train --train-limit 100 --epochs 1 --out " + (dir / "a-file" / "sub").string());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("cannot create the output directory"), std::string::npos) << r.output;
}

TEST(Cli, InfoNamesBackendsAndGpus) {
  const auto r = run_rbm("info");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("backends: cpu"), std::string::npos);
  EXPECT_NE(r.output.find("GPU"), std::string::npos);
}

}  // namespace
