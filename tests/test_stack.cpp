// Deep Belief Networks: greedy training (each layer rbm::train on the one below's hidden probabilities),
// the stack's file, exact resume across layers, labels on the top layer, features through the stack.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>

#include "helpers.hpp"
#include "rbm/host/cpu_backend.hpp"
#include "rbm/host/idx.hpp"
#include "rbm/host/safetensors.hpp"
#include "rbm/host/stack.hpp"
#include "rbm/host/trainer.hpp"

namespace {

rbm::stack_options small_stack(const std::string& out) {
  rbm::stack_options o;
  o.base.cd.lr = 0.1f;
  o.base.cd.momentum = 0.5f;
  o.base.cd.seed = 21;
  o.base.batch = 50;
  o.base.device = "cpu";
  o.base.out_dir = out;
  o.hidden = {40, 30};
  o.epochs = {2, 3};
  return o;
}

std::vector<std::string> lines_of(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// Layer 2 is exactly rbm::train on layer 1's hidden probabilities of the same rows (and of the held-out
// rows for its held-out metrics); the file, metrics and pictures hold both layers.
TEST(Stack, EachLayerTrainsOnTheHiddenProbabilitiesOfTheOneBelow) {
  const auto d = rbm_test::digits_subset(800, 200);
  const auto dir = rbm_test::fresh_dir("stack-two");
  const rbm::stack_options o = small_stack(dir.string());
  const rbm::stack_result r = rbm::train_stack(d, o);
  ASSERT_EQ(r.model.layers.size(), 2u);
  EXPECT_EQ(r.model.layers[1].nv, 40);
  EXPECT_EQ(r.model.layers[1].nh, 30);
  EXPECT_EQ(r.layers[0].history.size(), 3u);  // epochs 0..2
  EXPECT_EQ(r.layers[1].history.size(), 4u);

  // By hand: layer 1 alone, then layer 2 on its probabilities.
  const rbm::train_result one = rbm::train(d, rbm::layer_options(o, 0));
  EXPECT_EQ(one.params.w, r.model.layers[0].w);
  rbm::dataset up;
  up.name = d.name + " (layer 2 input)";
  for (int s = 0; s < 2; ++s) {
    const rbm::image_set& from = s == 0 ? d.train : d.test;
    const auto v = rbm::model_inputs(from, false, {}, {});
    rbm::image_set& to = s == 0 ? up.train : up.test;
    to.values = rbm::propagate_up(one.params, v.data(), from.count, false, 0);
    to.count = from.count;
    to.rows = 1;
    to.cols = 40;
  }
  const rbm::train_result two = rbm::train(up, rbm::layer_options(o, 1));
  EXPECT_EQ(two.params.w, r.model.layers[1].w);
  EXPECT_EQ(two.history.back().test.free_energy, r.layers[1].history.back().test.free_energy);
  EXPECT_NE(rbm::layer_options(o, 0).cd.seed, rbm::layer_options(o, 1).cd.seed) << "each layer its own draws";

  // The stack's file: both layers, named layer1.* and layer2.*; a single-RBM loader refuses it by name.
  const auto file = (dir / "model.safetensors").string();
  const rbm::tensor_file f = rbm::read_tensors(file);
  for (const char* t : {"layer1.W", "layer1.vb", "layer1.hb", "layer2.W", "layer2.vb", "layer2.hb"})
    EXPECT_EQ(f.tensors.count(t), 1u) << t;
  EXPECT_EQ(f.metadata.at("layers"), "2");
  EXPECT_TRUE(rbm::is_stack_file(file));
  const rbm::stack_model back = rbm::load_stack(file);
  ASSERT_EQ(back.layers.size(), 2u);
  EXPECT_EQ(back.layers[0].w, r.model.layers[0].w);
  EXPECT_EQ(back.layers[1].hb, r.model.layers[1].hb);
  EXPECT_NE(rbm_test::error_of([&] { rbm::load_model(file); }).find("stack of 2 RBMs"), std::string::npos);
  // A single RBM's file loads as a one-layer stack.
  const rbm::stack_model single = rbm::load_stack((dir / "layer1" / "model.safetensors").string());
  ASSERT_EQ(single.layers.size(), 1u);
  EXPECT_EQ(single.layers[0].w, r.model.layers[0].w);

  // metrics.csv: a `layer` column, every epoch of both layers.
  const auto csv = lines_of(dir / "metrics.csv");
  ASSERT_EQ(csv.size(), 1u + 3 + 4);
  EXPECT_EQ(csv[0].rfind("layer,epoch,", 0), 0u);
  EXPECT_EQ(csv[1].rfind("1,0,", 0), 0u);
  EXPECT_EQ(csv[4].rfind("2,0,", 0), 0u);
  for (const char* p : {"filters-layer1.png", "filters-layer2.png", "stack.json", "layer1/metrics.csv", "layer2/model.safetensors"})
    EXPECT_TRUE(std::filesystem::exists(dir / p)) << p;

  // Features through the stack: layer 2's probabilities of layer 1's probabilities.
  const auto v = rbm::model_inputs(d.test, false, {}, {});
  const auto h1 = rbm::propagate_up(r.model.layers[0], v.data(), d.test.count, false, 0);
  EXPECT_EQ(rbm::features_at(r.model, v.data(), d.test.count, 1), h1);
  EXPECT_EQ(rbm::features_at(r.model, v.data(), d.test.count, 2),
            rbm::propagate_up(r.model.layers[1], h1.data(), d.test.count, false, 0));
}

// A run stopped in the middle of layer 2 resumes there (layer 1 untouched, read back) and ends with
// the same stack, bit for bit, as a run that never stopped.
TEST(Stack, ResumeAfterAnInterruptInTheSecondLayerIsExact) {
  const auto d = rbm_test::digits_subset(600, 100);
  const auto straight = rbm::train_stack(d, small_stack(rbm_test::fresh_dir("stack-straight").string()));
  const auto dir = rbm_test::fresh_dir("stack-stopped");
  rbm::stack_options o = small_stack(dir.string());
  std::atomic<bool> stop{false};
  int layer = 0;
  o.on_layer = [&](int l, int) { layer = l; };
  o.base.stop = &stop;
  o.base.on_batch = [&](const rbm::batch_report& b) {
    if (layer == 1 && b.epoch == 2 && b.batch == 5) stop = true;
  };
  EXPECT_THROW(rbm::train_stack(d, o), rbm::interrupted);
  const auto layer1_file = rbm_test::read_bytes(dir / "layer1" / "model.safetensors");
  rbm::stack_options again;
  again.base.resume = dir.string();
  again.base.device = "cpu";
  const auto resumed = rbm::train_stack(d, again);
  EXPECT_EQ(rbm_test::read_bytes(dir / "layer1" / "model.safetensors"), layer1_file) << "layer 1 was rewritten";
  ASSERT_EQ(resumed.model.layers.size(), 2u);
  EXPECT_EQ(resumed.model.layers[0].w, straight.model.layers[0].w);
  EXPECT_EQ(resumed.model.layers[1].w, straight.model.layers[1].w);
  EXPECT_EQ(resumed.model.layers[1].vb, straight.model.layers[1].vb);
  EXPECT_EQ(lines_of(dir / "metrics.csv").size(), 1u + 3 + 4);
}

// --labels puts the label group beside the top layer's visible units: the stack classifies through
// the top RBM's p(y | h), and only the top layer has it.
TEST(Stack, LabelsGoOnTheTopLayer) {
  const auto d = rbm_test::digits_subset(1500, 500);
  rbm::stack_options o = small_stack("");
  o.hidden = {100, 60};
  o.epochs = {3, 5};
  o.lr = {0.1f, 0.5f};
  o.base.batch = 20;
  o.base.labels = true;
  o.base.objective = "hybrid";
  o.base.alpha = 0.1f;
  const auto r = rbm::train_stack(d, o);
  EXPECT_FALSE(r.model.layers[0].labeled());
  ASSERT_TRUE(r.model.layers[1].labeled());
  EXPECT_EQ(r.model.layers[1].classes, 10);
  EXPECT_GT(r.layers[1].history.back().test_accuracy, 0.75);
  EXPECT_FLOAT_EQ(rbm::layer_options(o, 0).cd.lr, 0.1f);
  EXPECT_FLOAT_EQ(rbm::layer_options(o, 1).cd.lr, 0.5f);
  EXPECT_FALSE(rbm::layer_options(o, 0).labels);
}

TEST(Stack, SampledPropagationDrawsStatesFromTheProbabilities) {
  const auto d = rbm_test::digits_subset(200, 0);
  rbm::stack_options o = small_stack("");
  o.epochs = {1};
  const auto r = rbm::train_stack(d, o);
  const auto v = rbm::model_inputs(d.train, false, {}, {});
  const auto p = rbm::propagate_up(r.model.layers[0], v.data(), 200, false, 0);
  const auto s = rbm::propagate_up(r.model.layers[0], v.data(), 200, true, 7);
  EXPECT_EQ(s, rbm::propagate_up(r.model.layers[0], v.data(), 200, true, 7)) << "the same seed, the same states";
  double on = 0, mean = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    ASSERT_TRUE(s[i] == 0.0f || s[i] == 1.0f);
    on += s[i];
    mean += p[i];
  }
  EXPECT_NEAR(on / s.size(), mean / p.size(), 0.01);  // 8,000 draws
}

TEST(Stack, BadPlansAndFilesAreRefusedByName) {
  const auto d = rbm_test::digits_subset(200, 0);
  rbm::stack_options o = small_stack("");
  o.epochs = {1, 2, 3};
  EXPECT_NE(rbm_test::error_of([&] { rbm::train_stack(d, o); }).find("epochs list has 3 values for 2 layers"),
            std::string::npos);
  o.epochs = {1};
  o.hidden = {40, 0};
  EXPECT_NE(rbm_test::error_of([&] { rbm::train_stack(d, o); }).find("positive number of hidden units"),
            std::string::npos);
  rbm::stack_options r;
  r.base.resume = rbm_test::fresh_dir("stack-none").string();
  EXPECT_NE(rbm_test::error_of([&] { rbm::train_stack(d, r); }).find("no stack plan here"), std::string::npos);
  // Layers that do not join.
  rbm::stack_model m;
  m.layers = {rbm::model_params(784, 40), rbm::model_params(30, 20)};
  const auto file = (rbm_test::fresh_dir("stack-bad") / "m.safetensors").string();
  rbm::save_stack(file, m, {});
  EXPECT_NE(rbm_test::error_of([&] { rbm::load_stack(file); }).find("(layer 2): has 30 visible units but the layer below has 40"),
            std::string::npos);
}

#ifdef RBM_EXE
TEST(StackCli, TrainsAStackAndTakesFeaturesFromAnyLayer) {
  const auto dir = rbm_test::fresh_dir("stack-cli");
  const auto t = rbm_test::run_rbm("train --device cpu --hidden 30,20 --epochs 1,2 --lr 0.1 --train-limit 500 "
                                   "--test-limit 100 --out " + (dir / "run").string());
  ASSERT_EQ(t.code, 0) << t.output;
  EXPECT_NE(t.output.find("layer 2 of 2"), std::string::npos) << t.output;
  EXPECT_NE(t.output.find("trained a 2-layer stack 784-30-20"), std::string::npos) << t.output;
  const auto model = (dir / "run" / "model.safetensors").string();
  const auto f = rbm_test::run_rbm("features --model " + model + " --layer 1 --split test --test-limit 100 --out " +
                                   (dir / "h1.npy").string());
  ASSERT_EQ(f.code, 0) << f.output;
  EXPECT_NE(f.output.find("features [100, 30]"), std::string::npos) << f.output;
  const auto top = rbm_test::run_rbm("features --model " + model + " --test-limit 100 --split test --out " +
                                     (dir / "h2.npy").string());
  EXPECT_NE(top.output.find("features [100, 20]"), std::string::npos) << top.output;
  const auto bad = rbm_test::run_rbm("train --device cpu --hidden 30 --epochs 1,2 --out " + (dir / "bad").string());
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.output.find("give --hidden a list too"), std::string::npos) << bad.output;
  const auto eval = rbm_test::run_rbm("evaluate --model " + model);
  EXPECT_NE(eval.code, 0);
  EXPECT_NE(eval.output.find("stack of 2 RBMs"), std::string::npos) << eval.output;
}
#endif

}  // namespace
