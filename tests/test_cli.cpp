// The `rbm` program end to end: a small run writes all four files; bad input gives one clear error line,
// a non-zero exit and no output.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "helpers.hpp"
#include "rbm/host/idx.hpp"
#include "rbm/host/trainer.hpp"
#include "rbm/version.hpp"
#include "rbm/host/image.hpp"
#include "rbm/host/safetensors.hpp"

namespace fs = std::filesystem;

namespace {

using rbm_test::run_rbm;

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
  EXPECT_EQ(rbm_test::count_lines(out / "metrics.csv"), 1 + 3);  // header, epoch 0 (before training), 1, 2
  const auto filters = rbm::read_png((out / "filters.png").string());
  EXPECT_EQ(filters.width, 5 * 29 - 1);  // 20 tiles of 28x28 in 5 columns, 1-pixel gaps
  EXPECT_EQ(filters.height, 4 * 29 - 1);
  if (rbm::can_plot()) {
    const auto plot = rbm::read_png((out / "error.png").string());
    EXPECT_GT(plot.width, 100);
    EXPECT_EQ(plot.channels, 3);
    EXPECT_FALSE(fs::exists(out / "likelihood.png"));  // no AIS ran
  } else {
    EXPECT_NE(r.output.find("not drawn: this build has no plotting library"), std::string::npos) << r.output;
  }

  const auto out2 = dir / "continued";
  const auto r2 = run_rbm("train --device cpu --threads 3 --train-limit 500 --test-limit 200 --epochs 1 --init-from " +
                          (out / "model.safetensors").string() + " --out " + out2.string());
  ASSERT_EQ(r2.code, 0) << r2.output;
  EXPECT_NE(r2.output.find("cpu (3 threads"), std::string::npos) << r2.output;
  EXPECT_EQ(rbm::load_model((out2 / "model.safetensors").string()).params.nh, 20);  // taken from the model
}

TEST(Cli, PresetSeedIsTheTutorialsRun) {
  const auto out = rbm_test::fresh_dir() / "seed";
  const auto r = run_rbm("train --preset seed --quiet --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.output;
  const auto m = rbm::load_model((out / "model.safetensors").string());
  EXPECT_EQ(m.params.nh, 50);
  const auto c = nlohmann::json::parse(m.metadata.at("config"));
  const rbm::train_options p = rbm::seed_preset();
  EXPECT_EQ(c.at("preset"), "seed");
  EXPECT_EQ(c.at("zero_init"), true);
  EXPECT_EQ(c.at("eval_limit"), p.eval_limit);
  EXPECT_EQ(c.at("epochs"), p.epochs);
  EXPECT_EQ(c.at("lr").get<float>(), p.cd.lr);
}

// Options given next to the preset win over it, whichever they are (the preset's fields are listed in
// rbm::seed_preset() alone); the preset's other settings stay.
TEST(Cli, OptionsNextToThePresetWin) {
  const auto out = rbm_test::fresh_dir() / "seed";
  const auto r = run_rbm("train --preset seed --quiet --eval-limit 500 --hidden 20 --lr 0.05 --epochs 1 --batch 50 "
                         "--train-limit 1000 --test-limit 100 --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.output;
  const auto c = nlohmann::json::parse(rbm::load_model((out / "model.safetensors").string()).metadata.at("config"));
  const rbm::train_options p = rbm::seed_preset();
  EXPECT_EQ(c.at("eval_limit"), 500);
  EXPECT_EQ(c.at("nh"), 20);
  EXPECT_EQ(c.at("lr").get<float>(), 0.05f);
  EXPECT_EQ(c.at("epochs"), 1);
  EXPECT_EQ(c.at("batch"), 50);
  EXPECT_EQ(c.at("zero_init"), p.zero_init);
  EXPECT_EQ(c.at("tutorial_batches"), p.tutorial_batches);
  EXPECT_EQ(c.at("sum_weight_gradient"), p.cd.sum_weight_gradient);
  EXPECT_EQ(c.at("hidden_bias_from_states"), p.cd.hidden_bias_from_states);
  EXPECT_EQ(c.at("momentum").get<float>(), p.cd.momentum);
  EXPECT_EQ(c.at("weight_decay").get<float>(), p.cd.weight_decay);
}

TEST(Cli, VersionComesFromTheBuildAndIsInEveryModel) {
  const auto r = run_rbm("--version");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output, std::string("rbm ") + RBM_VERSION_STRING + "\n");
  EXPECT_NE(run_rbm("info").output.find(std::string("rbm ") + RBM_VERSION_STRING), std::string::npos);
  const auto out = rbm_test::fresh_dir() / "run";
  ASSERT_EQ(run_rbm("train --device cpu --quiet --train-limit 200 --test-limit 50 --hidden 5 --epochs 1 --out " +
                    out.string()).code, 0);
  EXPECT_EQ(rbm::load_model((out / "model.safetensors").string()).metadata.at("rbm_version"), RBM_VERSION_STRING);
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
  expect_clean_failure("train --hidden 0", "the number of hidden units (nh) must be positive (got 0)", out);
  expect_clean_failure("train --batch 0", "--batch: must be an integer in [1, 2147483647] (got '0')", out);
  expect_clean_failure("train --lr -1", "the learning rate (lr) must be positive (got -1)", out);
  expect_clean_failure("train --momentum 1.5", "--momentum: must be a finite number in [0, 1) (got '1.5')", out);
  // Numeric options are checked while parsing: NaN and infinities, negative counts, seeds that would
  // wrap, sizes the files cannot hold, each naming the option and its range (issue 23, item 4).
  for (const auto& [args, message] : std::vector<std::pair<std::string, std::string>>{
           {"train --sparsity-cost nan", "--sparsity-cost: must be a finite number in [0, inf) (got 'nan')"},
           {"train --initial-momentum -inf", "--initial-momentum: must be a finite number in [0, 1)"},
           {"train --initial-momentum -1", "--initial-momentum: must be a finite number in [0, 1)"},
           {"train --sparsity-target 5", "--sparsity-target: must be a finite number in [0, 1)"},
           {"train --sparsity-target -1", "--sparsity-target: must be a finite number in [0, 1)"},
           {"train --momentum-epochs -1", "--momentum-epochs: must be an integer in [0, 2147483647]"},
           {"train --train-limit -5", "--train-limit: must be an integer in [0, 2147483647]"},
           {"train --classes 65537", "--classes: must be an integer in [0, 65536]"},
           {"train --classes 2000000000", "--classes: must be an integer in [0, 65536]"},
           {"train --seed -1", "--seed: must be an integer in [0, 18446744073709551615] (got '-1')"},
           {"train --seed 18446744073709551616", "--seed: must be an integer in [0, 18446744073709551615]"},
           {"train --eval-every 1 --ais-runs 2000000000", "--ais-runs: must be an integer in [1, 100000]"},
           {"train --lr-decay inf", "--lr-decay: must be a finite number"}})
    expect_clean_failure(args, message, out);
  for (const auto& [args, message] : std::vector<std::pair<std::string, std::string>>{
           {"evaluate --ais-runs -1", "--ais-runs: must be an integer in [0, 100000]"},
           {"evaluate --pll-samples -1", "--pll-samples: must be an integer in [0, 2147483647]"},
           {"evaluate --ais-steps 1", "--ais-steps: must be an integer in [10, 10000000]"},
           {"classify --worst -1", "--worst: must be an integer in [0, 10000]"},
           {"reconstruct --zoom 0", "--zoom: must be an integer in [1, 64]"},
           {"reconstruct --zoom 100000", "--zoom: must be an integer in [1, 64]"},
           {"sample --chains 2000000000", "--chains: must be an integer in [1, 10000]"},
           {"sample --seed -1", "--seed: must be an integer in [0, 18446744073709551615]"}}) {
    const auto r = run_rbm(args + " --model " + (dir / "m.safetensors").string());
    EXPECT_EQ(r.code, 105) << args << ": CLI11's code for a value out of range; " << r.output;
    EXPECT_NE(r.output.find(message), std::string::npos) << "for `" << args << "` got: " << r.output;
  }
  if (!rbm_test::gpu_usable())  // where a GPU is usable, --device cuda trains
    expect_clean_failure("train --device cuda", "the device cuda was asked for", out);
  expect_clean_failure("train --device tpu", "the device must be auto, cpu or cuda", out);
  expect_clean_failure("train --preset nope", "unknown preset 'nope'", out);
  expect_clean_failure("train --threads 0", "--threads must be between 1 and 4096", out);

  expect_clean_failure("train --data " + std::string(RBM_DATA_DIR) + " --train-images x", "--train-images replaces --data",
                       out);
  expect_clean_failure("train --test-images x", "--test-images needs --train-images", out);
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

// The options `rbm CMD --help` lists that take a value (a type after the name: TEXT, INT, ...).
std::vector<std::string> value_options(const std::string& cmd) {
  const auto help = run_rbm(cmd + " --help").output;
  std::vector<std::string> out;
  std::istringstream in(help);
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::string name, type;
    words >> name >> type;
    // The type: upper-case letters up to ':' (a validator's range), '=' (the default) or the end.
    const std::string head = type.substr(0, type.find_first_of(":="));
    if (name.rfind("--", 0) == 0 && !head.empty() &&
        std::all_of(head.begin(), head.end(), [](char c) { return c >= 'A' && c <= 'Z'; }))
      out.push_back(name);
  }
  return out;
}

// Every value-taking option of every command with bad values: one clean error and a non-zero exit,
// never a signal (an option's callback once threw the library's error while CLI11 parsed, and
// `rbm sample --class -1` aborted). Each run is given arguments that stop it right after parsing
// (a data directory or model file that is not there), so an accepted value costs nothing.
TEST(Cli, EveryOptionWithABadValueExitsWithoutASignal) {
  const auto dir = rbm_test::fresh_dir();
  const std::string none = (dir / "none.safetensors").string(), out = " --out " + (dir / "o").string();
  const std::vector<std::pair<std::string, std::string>> commands = {
      {"train", " --data " + (dir / "nowhere").string() + out}, {"evaluate", " --model " + none}, {"classify", " --model " + none},
      {"reconstruct", " --model " + none + out}, {"sample", " --model " + none + out},
      {"filters", " --model " + none + out}, {"features", " --model " + none + out},
      {"prob", " --model " + none + " --visible 1"}, {"import", " --sklearn " + none + out}};
  int runs = 0;
  for (const auto& [cmd, stop] : commands) {
    const auto options = value_options(cmd);
    EXPECT_GE(options.size(), 2u) << cmd << ": the help lists its options";
    for (const auto& opt : options)
      for (const char* bad : {"x"}) {  // a number for no numeric option, a bad name for the rest (each
                                        // run starts the program: ~0.15 s of loading the CUDA libraries)
        const std::string args = cmd + " " + opt + " " + bad + stop;
        const auto r = run_rbm(args);
        ++runs;
        EXPECT_GE(r.code, 0) << "`rbm " << args << "` ended by a signal: " << r.output;
        EXPECT_EQ(r.output.find("terminate called"), std::string::npos) << "`rbm " << args << "`: " << r.output;
        EXPECT_EQ(r.output.find("Aborted"), std::string::npos) << "`rbm " << args << "`: " << r.output;
      }
  }
  EXPECT_GT(runs, 80);
  const auto r = run_rbm("sample --class -1 --model " + none);
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("rbm: error: --class takes a class number or 'all'"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "o"));
}

// One writer per output directory: a live run's lock refuses a second run, naming its pid; the lock of
// a process that is gone (a SIGKILL) is taken over; a finished run leaves none behind.
TEST(Cli, ASecondRunOnTheSameOutputIsRefusedWhileTheFirstLives) {
  const auto dir = rbm_test::fresh_dir();
  const auto out = dir / "run";
  fs::create_directories(out);
  rbm_test::write_text(out / ".rbm.lock", std::to_string(::getpid()) + "\n");  // this test: alive
  const std::string args = "train --hidden 8 --epochs 1 --train-limit 200 --test-limit 50 --quiet --out " + out.string();
  const auto busy = run_rbm(args);
  EXPECT_EQ(busy.code, 1) << busy.output;
  EXPECT_NE(busy.output.find("another rbm process (pid " + std::to_string(::getpid()) + ") is writing this directory"),
            std::string::npos) << busy.output;
  EXPECT_FALSE(fs::exists(out / "model.safetensors"));
  const pid_t gone = ::fork();
  if (gone == 0) ::_exit(0);
  ASSERT_GT(gone, 0);
  ::waitpid(gone, nullptr, 0);
  rbm_test::write_text(out / ".rbm.lock", std::to_string(gone) + "\n");
  const auto taken = run_rbm(args);
  ASSERT_EQ(taken.code, 0) << taken.output;
  EXPECT_TRUE(fs::exists(out / "model.safetensors"));
  EXPECT_FALSE(fs::exists(out / ".rbm.lock")) << "released at the end";
}

// Memory that runs out after the up-front check (here an address-space limit far below the machine's
// memory): the bytes the run needs, in one line and exit 1, and no empty output directory left.
TEST(Cli, MemoryRunningOutLaterNamesTheBytesAndLeavesNothing) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer reserves terabytes of address space: no address-space limit fits under it";
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  GTEST_SKIP() << "AddressSanitizer reserves terabytes of address space: no address-space limit fits under it";
#endif
#endif
  const auto out = rbm_test::fresh_dir() / "never";
  FILE* p = popen(("ulimit -v 3145728; " + std::string(RBM_EXE) + " train --device cpu --hidden 524288 --epochs 1 "
                   "--train-limit 200 --test-limit 50 --out " + out.string() + " 2>&1").c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string output;
  char buf[4096];
  for (std::size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) output.append(buf, n);
  const int status = pclose(p);
  ASSERT_TRUE(WIFEXITED(status)) << output;
  EXPECT_EQ(WEXITSTATUS(status), 1) << output;
  EXPECT_NE(output.find("rbm: error: ran out of memory (an allocation failed) training a 784x524288 model with batch "
                        "100: it needs at least 5352559104 bytes"), std::string::npos) << output;
  EXPECT_FALSE(fs::exists(out)) << "a run that failed before its first file leaves no directory";
}

TEST(Cli, InfoNamesBackendsAndGpus) {
  const auto r = run_rbm("info");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("backends: cpu"), std::string::npos);
  EXPECT_NE(r.output.find("GPU"), std::string::npos);
  if (rbm::cuda_backend_built()) {
    EXPECT_NE(r.output.find("cuda (cuBLAS + cuRAND"), std::string::npos) << r.output;
  } else {  // the build without the CUDA toolkit says so, here and when a GPU is asked for
    EXPECT_NE(r.output.find("cuda: not built"), std::string::npos) << r.output;
    const auto t = run_rbm("train --device cuda --epochs 1 --out " + (rbm_test::fresh_dir() / "never").string());
    EXPECT_NE(t.code, 0);
    EXPECT_NE(t.output.find("this build of rbm has no CUDA backend"), std::string::npos) << t.output;
    const auto a = run_rbm("train --device auto --epochs 1 --train-limit 200 --test-limit 100 --hidden 10 --quiet --out " +
                           (rbm_test::fresh_dir() / "auto").string());
    EXPECT_EQ(a.code, 0) << a.output;
  }
}

}  // namespace

namespace {

TEST(Cli, ProbReproducesTheTutorialsToyNumbers) {
  // The tutorial's 7x2 toy model: its W, hb = 0.1, vb as printed; v = 1001000.
  const auto dir = rbm_test::fresh_dir();
  rbm::model_params p(7, 2);
  p.w = {0.62607366f, 0.79537f,    -0.6646771f, -0.09528685f, -0.7703524f, 1.1189759f,  1.6733332f,
         0.05102924f, 3.049211f,   0.5688824f,  0.8351101f,   0.62181854f, -0.05040543f, 0.16212119f};
  p.hb = {0.1f, 0.1f};
  p.vb = {0.1f, 0.2f, 0.1f, 0.1f, 0.1f, 0.2f, 0.1f};
  const auto model = (dir / "toy.safetensors").string();
  rbm::save_model(model, p, {});
  const auto r = run_rbm("prob --model " + model + " --visible 1001000 --hidden 11");
  ASSERT_EQ(r.code, 0) << r.output;
  // The tutorial prints p(h|v) = [0.916782 0.72039044], p(v|h) = [0.820751 0.3635558 0.6103119 ...] and
  // the product 0.0002976679144122613.
  EXPECT_NE(r.output.find("p(h_j = 1 | v): 0.9167820"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(" 0.7203904"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("p(v_i = 1 | h): 0.8207509"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("p(v | h) for the given v: 0.00029766789"), std::string::npos) << r.output;
  const auto bad = run_rbm("prob --model " + model + " --visible 101");
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.output.find("--visible has 3 bits; the model needs 7"), std::string::npos) << bad.output;
}

TEST(Cli, ToolsWritePicturesAndFeaturesOfTheRightSize) {
  const auto dir = rbm_test::fresh_dir();
  const auto run = dir / "run";
  ASSERT_EQ(run_rbm("train --device cpu --quiet --train-limit 500 --test-limit 100 --hidden 16 --epochs 1 --out " +
                    run.string()).code, 0);
  const std::string model = (run / "model.safetensors").string();
  const std::string data = " --train-limit 500 --test-limit 100";

  auto r = run_rbm("filters --model " + model + " --units 0,3,5 --out " + (dir / "f.png").string());
  ASSERT_EQ(r.code, 0) << r.output;
  auto img = rbm::read_png((dir / "f.png").string());
  EXPECT_EQ(img.width, 2 * 29 - 1);  // 3 tiles: 2 columns x 2 rows
  EXPECT_EQ(img.height, 2 * 29 - 1);
  EXPECT_NE(run_rbm("filters --model " + model + " --units 99 --out " + (dir / "x.png").string()).output.find(
                "hidden unit 99 does not exist"),
            std::string::npos);

  r = run_rbm("sample --model " + model + " --chains 3 --steps 20 --every 10 --out " + (dir / "s.png").string());
  ASSERT_EQ(r.code, 0) << r.output;
  img = rbm::read_png((dir / "s.png").string());
  EXPECT_EQ(img.width, 3 * 29 + 1);
  EXPECT_EQ(img.height, 3 * 29 + 1);
  r = run_rbm("sample --model " + model + " --from data --chains 2 --steps 5 --every 5 --out " +
              (dir / "s2.png").string() + data);
  ASSERT_EQ(r.code, 0) << r.output;

  r = run_rbm("reconstruct --model " + model + " --indices 0,1,2 --mask 0,0,14,28 --zoom 2 --out " +
              (dir / "r.png").string() + data);
  ASSERT_EQ(r.code, 0) << r.output;
  img = rbm::read_png((dir / "r.png").string());
  EXPECT_EQ(img.channels, 1);
  EXPECT_EQ(img.height, 3 * (56 + 4) + 4);  // three rows of 28x28 at zoom 2 with 4-pixel gaps
  rbm_test::write_bytes(dir / "bad.jpg", {0xFF, 0xD8, 0xFF, 0x00});
  r = run_rbm("reconstruct --model " + model + " --image " + (dir / "bad.jpg").string() + " --out " +
              (dir / "never.png").string());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("bad.jpg"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "never.png"));

  r = run_rbm("features --model " + model + " --split test --out " + (dir / "h.safetensors").string() + data);
  ASSERT_EQ(r.code, 0) << r.output;
  const auto t = rbm::read_tensors((dir / "h.safetensors").string());
  EXPECT_EQ(t.tensors.at("features").shape, (std::vector<std::int64_t>{100, 16}));
}

TEST(Cli, EvaluateReportsEveryMeasureAndImportReadsScikitLearn) {
  const auto dir = rbm_test::fresh_dir();
  // A 784x10 model in scikit-learn's layout: components_ [10, 784].
  rbm::tensor_file sk;
  sk.tensors["components_"] = {{10, 784}, std::vector<float>(7840)};
  for (std::size_t i = 0; i < 7840; ++i) sk.tensors["components_"].data[i] = 0.01f * float(int(i % 17) - 8);
  sk.tensors["intercept_visible_"] = {{784}, std::vector<float>(784, -1.0f)};
  sk.tensors["intercept_hidden_"] = {{10}, std::vector<float>(10, 0.5f)};
  rbm::write_tensors((dir / "sk.safetensors").string(), sk);
  auto r = run_rbm("import --sklearn " + (dir / "sk.safetensors").string() + " --out " + (dir / "m.safetensors").string());
  ASSERT_EQ(r.code, 0) << r.output;
  const auto m = rbm::load_model((dir / "m.safetensors").string());
  EXPECT_EQ(m.params.nv, 784);
  EXPECT_EQ(m.params.nh, 10);
  EXPECT_EQ(m.params.w[5 * 10 + 3], sk.tensors["components_"].data[3 * 784 + 5]);  // W = components_^T

  r = run_rbm("evaluate --device cpu --model " + (dir / "m.safetensors").string() +
              " --train-limit 1000 --test-limit 300 --ais-runs 20 --ais-steps 500 --pll-samples 50 --classify --json " +
              (dir / "e.json").string());
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* what : {"reconstruction error", "mean free energy", "pseudo-log-likelihood", "log Z exact",
                           "log Z by AIS", "log-likelihood per held-out image (AIS", "classification"})
    EXPECT_NE(r.output.find(what), std::string::npos) << what << " missing from: " << r.output;

  // The JSON's numbers against the definitions, recomputed here in double precision on the same data
  // (the first 1,000 training and 300 held-out digits): exact log Z over all 2^10 hidden states, the
  // exact log-likelihood, the mean free energy, the mean-field error and the pseudo-log-likelihood.
  std::ifstream in(dir / "e.json");
  const auto j = nlohmann::json::parse(in);
  rbm::dataset d = rbm::load_dataset_dir(RBM_DATA_DIR);
  rbm::truncate(d.train, 1000);
  rbm::truncate(d.test, 300);
  const auto& p = m.params;
  const int nv = p.nv, nh = p.nh;
  auto softplus = [](double x) { return std::max(x, 0.0) + std::log1p(std::exp(-std::fabs(x))); };
  auto hidden_input = [&](const std::vector<double>& v, std::vector<double>& x) {
    x.assign(nh, 0.0);
    for (int jj = 0; jj < nh; ++jj) {
      x[jj] = p.hb[jj];
      for (int i = 0; i < nv; ++i) x[jj] += v[i] * p.w[std::size_t(i) * nh + jj];
    }
  };
  auto free_energy = [&](const std::vector<double>& v, const std::vector<double>& x) {
    double f = 0;
    for (int i = 0; i < nv; ++i) f -= v[i] * p.vb[i];
    for (int jj = 0; jj < nh; ++jj) f -= softplus(x[jj]);
    return f;
  };
  std::vector<double> terms;
  for (int h = 0; h < (1 << nh); ++h) {
    double t = 0;
    for (int jj = 0; jj < nh; ++jj) t += ((h >> jj) & 1) * double(p.hb[jj]);
    for (int i = 0; i < nv; ++i) {
      double a = p.vb[i];
      for (int jj = 0; jj < nh; ++jj) a += ((h >> jj) & 1) * double(p.w[std::size_t(i) * nh + jj]);
      t += softplus(a);
    }
    terms.push_back(t);
  }
  const double top = *std::max_element(terms.begin(), terms.end());
  double sum = 0;
  for (double t : terms) sum += std::exp(t - top);
  const double log_z = top + std::log(sum);
  double fe_test = 0, neg_f_binary = 0, pll = 0, err_mf = 0;
  std::vector<double> v(nv), x;
  for (int r = 0; r < 300; ++r) {
    for (int i = 0; i < nv; ++i) v[i] = d.test.pixels[std::size_t(r) * nv + i] / 255.0;
    hidden_input(v, x);
    fe_test += free_energy(v, x) / 300;
    for (int i = 0; i < nv; ++i) v[i] = d.test.pixels[std::size_t(r) * nv + i] >= 128 ? 1.0 : 0.0;
    hidden_input(v, x);
    const double f = free_energy(v, x);
    neg_f_binary -= f / 300;
    if (r < 50)
      for (int i = 0; i < nv; ++i) {  // flip bit i: F changes through its visible term and x
        const double sgn = 1 - 2 * v[i];
        double f_flip = f - sgn * p.vb[i];
        for (int jj = 0; jj < nh; ++jj)
          f_flip += softplus(x[jj]) - softplus(x[jj] + sgn * p.w[std::size_t(i) * nh + jj]);
        pll -= softplus(f - f_flip) / 50;
      }
  }
  for (int r = 0; r < 1000; ++r) {
    for (int i = 0; i < nv; ++i) v[i] = d.train.pixels[std::size_t(r) * nv + i] / 255.0;
    hidden_input(v, x);
    for (int i = 0; i < nv; ++i) {
      double a = p.vb[i];
      for (int jj = 0; jj < nh; ++jj) a += p.w[std::size_t(i) * nh + jj] / (1 + std::exp(-x[jj]));
      const double e = v[i] - 1 / (1 + std::exp(-a));
      err_mf += e * e / (1000.0 * nv);
    }
  }
  EXPECT_NEAR(j.at("log_z_exact").get<double>(), log_z, 1e-6 * std::fabs(log_z));
  EXPECT_NEAR(j.at("log_likelihood_exact").get<double>(), neg_f_binary - log_z, 1e-4);
  EXPECT_NEAR(j.at("free_energy").at("test").get<double>(), fe_test, 1e-4 * std::fabs(fe_test));
  EXPECT_NEAR(j.at("recon_err_mean_field").at("train").get<double>(), err_mf, 1e-6);
  EXPECT_NEAR(j.at("pseudo_log_likelihood").get<double>(), pll, 1e-4 * std::fabs(pll));
  // AIS (20 runs, 500 temperatures) on this nearly flat model: close to the exact value, inside its interval.
  EXPECT_NEAR(j.at("ais").at("log_z").get<double>(), log_z, 0.2);
  if (!j.at("ais").at("log_z_low").is_null()) EXPECT_LE(j.at("ais").at("log_z_low").get<double>(), log_z);
  EXPECT_GE(j.at("ais").at("log_z_high").get<double>(), log_z);
  EXPECT_GT(j.at("classify").at("raw_pixels").get<double>(), 0.5);
}

}  // namespace
