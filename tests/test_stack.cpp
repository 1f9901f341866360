// Deep Belief Networks: greedy training (each layer rbm::train on the one below's hidden probabilities),
// the stack's file, exact resume across layers, labels on the top layer, features through the stack.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <cmath>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "helpers.hpp"
#include "reference_cd.hpp"
#include "stack_helpers.hpp"
#include "rbm/host/cpu_backend.hpp"
#include "rbm/host/evaluation.hpp"
#include "rbm/host/idx.hpp"
#include "rbm/host/npy.hpp"
#include "rbm/host/safetensors.hpp"
#include "rbm/host/stack.hpp"
#include "rbm/host/trainer.hpp"

namespace {

using rbm_test::small_stack;

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
  const rbm::train_result two = rbm::train(rbm_test::second_layer_input(d, o, one.params), rbm::layer_options(o, 1));
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
  rbm_test::stop_in_second_layer(o, stop, layer);
  try {
    rbm::train_stack(d, o);
    ADD_FAILURE() << "not interrupted";
  } catch (const rbm::interrupted& e) {
    EXPECT_EQ(e.directory(), dir.string()) << "the stack resumes from its own directory, not the layer's";
    EXPECT_NE(std::string(e.what()).find("layer 2 of 2"), std::string::npos) << e.what();
  }
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

// --fine-tune: the tuned layers in the stack's file beside the greedy ones (which stay what the greedy
// run made), what classifies the test set, fine_tune.csv; a stop while fine-tuning resumes to exactly
// the uninterrupted stack.
TEST(Stack, FineTuningIsSavedBesideTheGreedyLayersAndResumesExactly) {
  const auto d = rbm_test::digits_subset(1500, 500);
  auto plan = [](const std::string& dir) {
    rbm::stack_options o = rbm_test::labelled_stack();
    o.base.out_dir = dir;
    o.base.validation = 300;
    o.fine_tune.epochs = 4;
    o.fine_tune.threads = 2;
    return o;
  };
  const auto straight_dir = rbm_test::fresh_dir("stack-tuned");
  const rbm::stack_result r = rbm::train_stack(d, plan(straight_dir.string()));
  ASSERT_EQ(r.model.tuned.size(), 2u);
  ASSERT_EQ(r.fine_tune_history.size(), 4u);
  EXPECT_EQ(lines_of(straight_dir / "fine_tune.csv").size(), 5u);
  const rbm::stack_model loaded = rbm::load_stack((straight_dir / "model.safetensors").string());
  ASSERT_EQ(loaded.tuned.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(loaded.layers[i].w, r.layers[i].params.w) << "the greedy layer " << i + 1 << " is kept";
    EXPECT_EQ(loaded.tuned[i].w, r.model.tuned[i].w);
    EXPECT_EQ(loaded.tuned[i].hb, r.model.tuned[i].hb);
    EXPECT_NE(loaded.tuned[i].w, loaded.layers[i].w);
  }
  EXPECT_EQ(loaded.tuned[1].label_w, r.model.tuned[1].label_w);
  EXPECT_EQ(rbm::classifier_of(loaded).layers[0].w, loaded.tuned[0].w);
  // The test-set figure is the tuned network's.
  const std::vector<float> v = rbm::model_inputs(d.test, false, {}, {});
  const rbm::stack_model c = rbm::classifier_of(loaded);
  const std::vector<float> x = rbm::features_at(c, v.data(), d.test.count, 1);
  rbm::image_set rows = d.test;
  const auto [acc, ll] = rbm::classify_rows(c.layers[1], rows, x.data(), d.test.count);
  EXPECT_DOUBLE_EQ(acc, r.layers.back().test_accuracy);
  EXPECT_GT(acc, r.layers.back().history.back().test_accuracy - 0.02);  // not worse than the greedy top

  const auto dir = rbm_test::fresh_dir("stack-tuned-stopped");
  rbm::stack_options o = plan(dir.string());
  std::atomic<bool> stop{false};
  o.base.stop = &stop;
  o.fine_tune.on_epoch = [&stop](const rbm::fine_tune_epoch& e) { stop = e.epoch == 2; };
  try {
    rbm::train_stack(d, o);
    ADD_FAILURE() << "not interrupted";
  } catch (const rbm::interrupted& e) {
    EXPECT_EQ(e.directory(), dir.string());
    EXPECT_NE(std::string(e.what()).find("fine-tuning"), std::string::npos) << e.what();
  }
  rbm::stack_options again;
  again.base.resume = dir.string();
  again.base.device = "cpu";
  again.fine_tune.threads = 2;
  const rbm::stack_result resumed = rbm::train_stack(d, again);
  ASSERT_EQ(resumed.model.tuned.size(), 2u);
  for (int i = 0; i < 2; ++i) EXPECT_EQ(resumed.model.tuned[i].w, r.model.tuned[i].w) << "layer " << i + 1;
  EXPECT_EQ(resumed.model.tuned[1].label_b, r.model.tuned[1].label_b);
}

// A file whose fine-tuned layers do not have the greedy layers' shapes is refused, naming the layer.
TEST(Stack, TunedLayersOfAnotherShapeAreRefused) {
  rbm::stack_model m;
  m.layers = {rbm::model_params(6, 4), rbm::model_params(4, 3)};
  m.tuned = {rbm::model_params(6, 4), rbm::model_params(4, 2)};
  const auto path = (rbm_test::fresh_dir("stack-tuned-shape") / "m.safetensors").string();
  rbm::save_stack(path, m, {});
  try {
    rbm::load_stack(path);
    ADD_FAILURE() << "loaded";
  } catch (const rbm::data_error& e) {
    EXPECT_NE(std::string(e.what()).find("(fine-tuned layer 2): not the shape of the greedy layer 2"),
              std::string::npos) << e.what();
  }
  m.tuned[1] = rbm::model_params(4, 3);
  rbm::save_stack(path, m, {});
  EXPECT_EQ(rbm::load_stack(path).tuned.size(), 2u);
}

// --labels puts the label group beside the top layer's visible units: the stack classifies through
// the top RBM's p(y | h), and only the top layer has it.
TEST(Stack, LabelsGoOnTheTopLayer) {
  const auto d = rbm_test::digits_subset(1500, 500);
  const rbm::stack_options o = rbm_test::labelled_stack();
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

// A Gaussian bottom layer's hidden units see v / sigma: the stack's propagation (and so the rows layer 2
// trains on, and `rbm features --layer 1`) is sigmoid((v / sigma) W + c), checked in double precision
// with sigmas far from 1 (the propagation once ignored sigma on the CPU while the GPU divided by it).
TEST(Stack, AGaussianBottomPropagatesVOverSigma) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> w(-0.3f, 0.3f), val(-2.0f, 2.0f), sd(0.4f, 2.5f);
  const int nv = 13, nh = 7, rows = 9;
  rbm::model_params p(nv, nh, rbm::unit_kind::gaussian);
  for (auto& x : p.w) x = w(rng);
  for (auto& x : p.hb) x = w(rng);
  for (auto& x : p.sigma) x = sd(rng);
  std::vector<float> v(std::size_t(rows) * nv);
  for (auto& x : v) x = val(rng);
  rbm::stack_model m;
  m.layers = {p};
  const auto got = rbm::features_at(m, v.data(), rows, 1);
  ASSERT_EQ(got.size(), std::size_t(rows) * nh);
  double worst = 0, unscaled = 0;
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < nh; ++j) {
      double a = p.hb[j], b = p.hb[j];
      for (int i = 0; i < nv; ++i) {
        a += double(v[r * nv + i]) / p.sigma[i] * p.w[std::size_t(i) * nh + j];
        b += double(v[r * nv + i]) * p.w[std::size_t(i) * nh + j];
      }
      const double want = 1 / (1 + std::exp(-a)), wrong = 1 / (1 + std::exp(-b));
      worst = std::max(worst, std::fabs(got[r * nh + j] - want));
      unscaled = std::max(unscaled, std::fabs(wrong - want));
    }
  EXPECT_LT(worst, 1e-6);
  EXPECT_GT(unscaled, 0.05) << "the inputs tell v / sigma from v";
  EXPECT_EQ(rbm::propagate_up(p, v.data(), rows, false, 0), got);
}

// The filters of layer i are W1 ... W_{i+1} in the data's space: against the product in double for a
// 3-layer stack whose hidden layers have equal sizes (so a product one layer short has the right shape).
TEST(Stack, ProjectedFiltersMultiplyEveryLayerBelow) {
  rbm::stack_model m;
  m.layers = {rbm_test::random_model(9, 5, 0.5f, 1), rbm_test::random_model(5, 5, 0.5f, 2),
              rbm_test::random_model(5, 5, 0.5f, 3)};
  EXPECT_EQ(rbm::projected(m, 0).w, m.layers[0].w);
  for (int layer = 1; layer < 3; ++layer) {
    std::vector<double> w(m.layers[0].w.begin(), m.layers[0].w.end());  // [9, 5]
    for (int l = 1; l <= layer; ++l) {
      std::vector<double> next(9 * 5, 0.0);
      for (int i = 0; i < 9; ++i)
        for (int j = 0; j < 5; ++j)
          for (int k = 0; k < 5; ++k) next[i * 5 + j] += w[i * 5 + k] * m.layers[std::size_t(l)].w[k * 5 + j];
      w = next;
    }
    const rbm::model_params p = rbm::projected(m, layer);
    ASSERT_EQ(p.w.size(), w.size());
    for (std::size_t i = 0; i < w.size(); ++i) EXPECT_NEAR(p.w[i], w[i], 1e-5) << "layer " << layer << ", " << i;
    EXPECT_EQ(p.hb, m.layers[std::size_t(layer)].hb);
  }
}

// A validation split is made once, for the whole stack: every layer trains on the first rows and holds
// out the last ones (propagated); with labels the test set is classified once, by the finished stack.
TEST(Stack, AValidationSplitHoldsOutTheSameRowsInEveryLayer) {
  const auto d = rbm_test::digits_subset(1500, 200);
  rbm::stack_options o = rbm_test::labelled_stack();
  o.base.validation = 300;
  const auto r = rbm::train_stack(d, o);
  EXPECT_TRUE(r.propagated_on_gpu == std::vector<bool>{false});
  // By hand: the split, layer 1 on its first 1,200 rows, layer 2 on their probabilities.
  rbm::dataset split;
  split.name = d.name;
  split.train = d.train;
  split.test = rbm::split_tail(split.train, 300);
  const rbm::train_result one = rbm::train(split, rbm::layer_options(o, 0));
  EXPECT_EQ(one.params.w, r.model.layers[0].w);
  EXPECT_EQ(r.layers[0].history.back().test.samples, 300);
  const rbm::train_result two = rbm::train(rbm_test::second_layer_input(split, o, one.params), rbm::layer_options(o, 1));
  EXPECT_EQ(two.params.w, r.model.layers[1].w);
  EXPECT_EQ(two.history.back().test_accuracy, r.layers[1].history.back().test_accuracy);
  // The test set: 200 images, classified once through both layers.
  ASSERT_EQ(r.layers[1].test_count, 200);
  const auto v = rbm::model_inputs(d.test, false, {}, {});
  const auto x = rbm::features_at(r.model, v.data(), 200, 1);
  rbm::image_set rows = d.test;
  rows.rows = 1;
  rows.cols = 100;
  const auto [accuracy, class_ll] = rbm::classify_rows(r.model.layers[1], rows, x.data(), 200);
  EXPECT_EQ(r.layers[1].test_accuracy, accuracy);
  EXPECT_EQ(r.layers[1].test_class_ll, class_ll);
  EXPECT_GT(accuracy, 0.5) << "validation accuracy " << r.layers[1].history.back().test_accuracy;
  o.base.validation = 1500;
  EXPECT_NE(rbm_test::error_of([&] { rbm::train_stack(d, o); }).find("must leave training images"), std::string::npos);
}

// PCD per layer: one value for every layer, or a list; the plan records it.
TEST(Stack, PcdIsSetPerLayer) {
  rbm::stack_options o = small_stack("");
  o.base.cd.pcd = true;
  EXPECT_TRUE(rbm::layer_options(o, 0).cd.pcd);
  EXPECT_TRUE(rbm::layer_options(o, 1).cd.pcd);
  o.pcd = {0, 1};
  EXPECT_FALSE(rbm::layer_options(o, 0).cd.pcd);
  EXPECT_TRUE(rbm::layer_options(o, 1).cd.pcd);
  o.pcd = {2};
  EXPECT_NE(rbm_test::error_of([&] { rbm::layer_options(o, 0); }).find("pcd is 0 or 1 (got 2)"), std::string::npos);
  o.pcd = {0, 1, 1};
  EXPECT_NE(rbm_test::error_of([&] { rbm::layer_options(o, 0); }).find("pcd list has 3 values for 2 layers"),
            std::string::npos);
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

// Hidden kinds per layer: above ReLU hidden units the layer's visible units are Gaussian with sigma 1
// (their own conditional variance) and its hidden units Bernoulli; layer 2 is exactly rbm::train on
// layer 1's ReLU means; the file keeps the kinds; sampled propagation draws truncated normals.
TEST(Stack, ContinuousHiddenUnitsHaveAGaussianLayerAboveThem) {
  using rbm::unit_kind;
  const auto d = rbm_test::digits_subset(600, 100);
  const auto dir = rbm_test::fresh_dir("stack-relu");
  rbm::stack_options o = small_stack(dir.string());
  o.hidden_units = {unit_kind::relu, unit_kind::bernoulli};
  o.lr = {0.01f, 0.1f};
  const rbm::train_options two = rbm::layer_options(o, 1);
  EXPECT_EQ(rbm::layer_options(o, 0).cd.hidden, unit_kind::relu);
  EXPECT_EQ(two.cd.visible, unit_kind::gaussian);
  EXPECT_EQ(two.cd.hidden, unit_kind::bernoulli);
  EXPECT_FALSE(two.cd.learn_sigma);
  const rbm::stack_result r = rbm::train_stack(d, o);
  ASSERT_EQ(r.model.layers.size(), 2u);
  EXPECT_EQ(r.model.layers[0].hidden, unit_kind::relu);
  ASSERT_TRUE(r.model.layers[1].gaussian());
  for (float sd : r.model.layers[1].sigma) ASSERT_EQ(sd, 1.0f);

  // By hand: layer 1, its ReLU means (against the double reference), layer 2 on them.
  const rbm::train_result one = rbm::train(d, rbm::layer_options(o, 0));
  EXPECT_EQ(one.params.w, r.model.layers[0].w);
  const rbm::dataset up = rbm_test::second_layer_input(d, o, one.params);
  const auto v = rbm::model_inputs(d.train, false, {}, {});
  for (int row : {0, 17, 599})
    for (int j : {0, 11, 39}) {
      double x = one.params.hb[std::size_t(j)];
      for (int i = 0; i < one.params.nv; ++i) x += double(v[std::size_t(row) * 784 + i]) * one.params.w[std::size_t(i) * 40 + j];
      EXPECT_NEAR(up.train.values[std::size_t(row) * 40 + j], rbm_test::hidden_mean_ref(unit_kind::relu, x), 2e-5);
    }
  const rbm::train_result second = rbm::train(up, two);
  EXPECT_EQ(second.params.w, r.model.layers[1].w);

  // The file and the plan keep the kinds; the stack loads as it was trained.
  const rbm::stack_model m = rbm::load_stack((dir / "model.safetensors").string());
  EXPECT_EQ(m.layers[0].hidden, unit_kind::relu);
  EXPECT_TRUE(m.layers[1].gaussian());
  EXPECT_EQ(rbm::features_at(m, v.data(), 600, 2), rbm::features_at(r.model, v.data(), 600, 2));
  std::ifstream plan(dir / "stack.json");
  EXPECT_EQ(nlohmann::json::parse(plan).at("hidden_units"), nlohmann::json::array({"relu", "bernoulli"}));
  {  // stopped in layer 1, resumed from the plan alone: layer 2 takes its kinds from it, bit for bit
    const auto stopped = rbm_test::fresh_dir("stack-relu-stopped");
    rbm::stack_options s2 = o;
    s2.base.out_dir = stopped.string();
    std::atomic<bool> stop{false};
    s2.base.stop = &stop;
    s2.base.on_batch = [&stop](const rbm::batch_report& b) { stop = stop || (b.epoch == 2 && b.batch == 3); };
    EXPECT_THROW(rbm::train_stack(d, s2), rbm::interrupted);
    rbm::stack_options again;
    again.base.resume = stopped.string();
    again.base.device = "cpu";
    const rbm::stack_result resumed = rbm::train_stack(d, again);
    EXPECT_EQ(resumed.model.layers[0].hidden, unit_kind::relu);
    EXPECT_EQ(resumed.model.layers[1].w, r.model.layers[1].w);
  }

  // Sampled propagation: truncated normal draws, >= 0, averaging to the means; the same seed, the same draws.
  const auto s = rbm::propagate_up(one.params, v.data(), 600, true, 5);
  EXPECT_EQ(s, rbm::propagate_up(one.params, v.data(), 600, true, 5));
  double drawn = 0, mean = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    ASSERT_GE(s[i], 0.0f);
    drawn += s[i];
    mean += up.train.values[i];
  }
  EXPECT_NEAR(drawn / s.size(), mean / s.size(), 0.02);  // 24,000 draws of variance below 1
  EXPECT_NE(s, up.train.values);
}

// The down pass draws a Gaussian layer's states as mean + sigma z: one visible unit of sigma 2 over a
// ReLU unit, a bottom of weight 1 and no bias, so the pixels' logits are the draws themselves.
TEST(Stack, TheDownPassDrawsGaussianStatesWithTheirSigma) {
  rbm::model_params bottom(1, 1);
  bottom.hidden = rbm::unit_kind::relu;
  bottom.w = {1.0f};
  rbm::model_params top(1, 1, rbm::unit_kind::gaussian);
  top.sigma = {2.0f};
  rbm::stack_model m;
  m.layers = {bottom, top};
  const int rows = 20000;
  const std::vector<float> means(rows, 0.5f);
  const auto p = rbm::down_pass(m, means.data(), rows, 3);
  double sum = 0, sq = 0;
  for (float x : p) {
    const double logit = std::log(double(x) / (1.0 - double(x)));
    sum += logit;
    sq += logit * logit;
  }
  const double mu = sum / rows, var = sq / rows - mu * mu;
  EXPECT_NEAR(mu, 0.5, 0.05);   // standard error 0.014
  EXPECT_NEAR(var, 4.0, 0.25);  // standard error 0.04
  EXPECT_NE(rbm::down_pass(m, means.data(), rows, 4), p);
}

TEST(Stack, HiddenKindsThatDoNotJoinAreRefused) {
  using rbm::unit_kind;
  const auto d = rbm_test::digits_subset(100, 0);
  rbm::stack_options o = small_stack("");
  o.hidden_units = {unit_kind::relu};  // every layer: Gaussian visible over ReLU with ReLU hidden units
  EXPECT_NE(rbm_test::error_of([&] { rbm::train_stack(d, o); }).find("layer 2: above layer 1's relu hidden units its "
                                                                       "visible units are Gaussian, which take Bernoulli"),
            std::string::npos);
  o.hidden_units = {unit_kind::relu, unit_kind::bernoulli, unit_kind::relu};
  EXPECT_NE(rbm_test::error_of([&] { rbm::train_stack(d, o); }).find("hidden units list has 3 values for 2 layers"),
            std::string::npos);
  // Files: Bernoulli visible units over ReLU ones, Gaussian visible units with ReLU ones.
  const auto dir = rbm_test::fresh_dir("stack-kinds-bad");
  rbm::stack_model m;
  m.layers = {rbm::model_params(784, 40), rbm::model_params(40, 20)};
  m.layers[0].hidden = unit_kind::relu;
  rbm::save_stack((dir / "a.safetensors").string(), m, {});
  EXPECT_NE(rbm_test::error_of([&] { rbm::load_stack((dir / "a.safetensors").string()); })
                .find("(layer 2): bernoulli visible units above the relu hidden units of the layer below"),
            std::string::npos);
  m.layers[1] = rbm::model_params(40, 20, unit_kind::gaussian);
  m.layers[1].hidden = unit_kind::gaussian;
  rbm::save_stack((dir / "b.safetensors").string(), m, {});
  EXPECT_NE(rbm_test::error_of([&] { rbm::load_stack((dir / "b.safetensors").string()); })
                .find("(layer 2): Gaussian visible units with gaussian hidden units"),
            std::string::npos);
  m.layers[0].hidden = unit_kind::bernoulli;
  m.layers[1].hidden = unit_kind::bernoulli;
  rbm::save_stack((dir / "c.safetensors").string(), m, {});
  EXPECT_NE(rbm_test::error_of([&] { rbm::load_stack((dir / "c.safetensors").string()); })
                .find("(layer 2): gaussian visible units above the bernoulli hidden units"),
            std::string::npos);
}

// --- Likelihoods of a stack, exactly on tiny ones ----------------------------------------------------

rbm::model_params random_rbm(int nv, int nh, std::mt19937& rng, float scale) {
  std::normal_distribution<float> n(0.0f, scale);
  rbm::model_params p(nv, nh);
  for (auto& x : p.w) x = n(rng);
  for (auto& x : p.vb) x = n(rng);
  for (auto& x : p.hb) x = n(rng);
  return p;
}

rbm::model_params transposed(const rbm::model_params& p) {
  rbm::model_params t(p.nh, p.nv);
  for (int a = 0; a < p.nv; ++a)
    for (int b = 0; b < p.nh; ++b) t.w[std::size_t(b) * p.nv + a] = p.w[std::size_t(a) * p.nh + b];
  t.vb = p.hb;
  t.hb = p.vb;
  return t;
}

std::vector<float> every_configuration(int n) {
  std::vector<float> v;
  for (int c = 0; c < (1 << n); ++c)
    for (int i = 0; i < n; ++i) v.push_back(float((c >> i) & 1));
  return v;
}

double rbm_log_p(const rbm::model_params& p, const float* v) {
  double s = 0;
  for (int a = 0; a < p.nv; ++a) s += v[a] * p.vb[std::size_t(a)];
  for (int b = 0; b < p.nh; ++b) {
    double y = p.hb[std::size_t(b)];
    for (int a = 0; a < p.nv; ++a) y += v[a] * p.w[std::size_t(a) * p.nh + b];
    s += std::log1p(std::exp(y));
  }
  return s - rbm::exact_log_z(p);
}

// A DBN's exact p(v) sums to 1 over every v; the bound is below it for every v, equal to the MC
// estimate's mean, and, with the second layer the first's transpose, equal to the first RBM's log p(v).
TEST(DbnLikelihood, ExactIsNormalisedAndTheBoundIsBelowIt) {
  std::mt19937 rng(5);
  rbm::stack_model m;
  m.layers = {random_rbm(7, 5, rng, 1.0f), random_rbm(5, 4, rng, 1.0f)};
  const auto v = every_configuration(7);
  const auto exact = rbm::dbn_exact_log_likelihood(m, v.data(), 128);
  double total = 0;
  for (double x : exact) total += std::exp(x);
  EXPECT_NEAR(total, 1.0, 1e-9);
  const double top_z = rbm::exact_log_z(m.layers[1]);
  const auto bound = rbm::dbn_lower_bound(m, v.data(), 128, top_z, 0, 0);
  const auto mc = rbm::dbn_lower_bound(m, v.data(), 128, top_z, 4000, 3);
  double gap = 0, mean_b = 0, mean_mc = 0;
  for (int r = 0; r < 128; ++r) {
    EXPECT_LE(bound[std::size_t(r)], exact[std::size_t(r)] + 1e-9) << "v " << r;
    gap += exact[std::size_t(r)] - bound[std::size_t(r)];
    mean_b += bound[std::size_t(r)] / 128;
    mean_mc += mc[std::size_t(r)] / 128;
  }
  EXPECT_GT(gap, 1e-3) << "a random top is not the first layer's own prior: the bound is not tight";
  EXPECT_NEAR(mean_mc, mean_b, 0.02);  // 512,000 draws in all

  // Three layers: exact still normalised, and the Monte Carlo bound below it on average.
  m.layers.push_back(random_rbm(4, 3, rng, 1.0f));
  const auto exact3 = rbm::dbn_exact_log_likelihood(m, v.data(), 128);
  const auto mc3 = rbm::dbn_lower_bound(m, v.data(), 128, rbm::exact_log_z(m.layers[2]), 2000, 4);
  double total3 = 0, below = 0;
  for (int r = 0; r < 128; ++r) {
    total3 += std::exp(exact3[std::size_t(r)]);
    below += exact3[std::size_t(r)] - mc3[std::size_t(r)];
  }
  EXPECT_NEAR(total3, 1.0, 1e-9);
  EXPECT_GT(below / 128, 0.0);

  // The second layer the first's transpose: the DBN is the first RBM, and the bound is tight.
  rbm::stack_model t;
  t.layers = {m.layers[0], transposed(m.layers[0])};
  const auto tb = rbm::dbn_lower_bound(t, v.data(), 128, rbm::exact_log_z(t.layers[1]), 0, 0);
  const auto te = rbm::dbn_exact_log_likelihood(t, v.data(), 128);
  for (int r = 0; r < 128; ++r) {
    const double want = rbm_log_p(m.layers[0], v.data() + r * 7);
    EXPECT_NEAR(tb[std::size_t(r)], want, 1e-9) << "v " << r;
    EXPECT_NEAR(te[std::size_t(r)], want, 1e-9) << "v " << r;
  }
}

// A label group on the top is summed out of the prior: the exact p(v) still sums to 1, the bound stays
// below it; a one-layer labelled "stack" gives sum_{y,h} exp(-E(v, h, y)) / Z, enumerated here in full.
TEST(DbnLikelihood, ALabelGroupOnTheTopIsSummedOut) {
  std::mt19937 rng(9);
  std::normal_distribution<float> n(0.0f, 1.0f);
  rbm::model_params top = random_rbm(5, 4, rng, 1.0f);
  top.add_labels(3);
  for (auto& x : top.label_w) x = n(rng);
  for (auto& x : top.label_b) x = n(rng);
  const auto exact_z = [](const rbm::model_params& q) { return rbm::exact_log_z(q); };
  // By hand: -E(v, h, y) = v.vb + h.hb + v W h + b_y + U_y h over every v, h, y.
  auto neg_energy = [](const rbm::model_params& p, int v, int h, int y) {
    double e = p.label_b[std::size_t(y)];
    for (int a = 0; a < p.nv; ++a) e += ((v >> a) & 1) * double(p.vb[std::size_t(a)]);
    for (int b = 0; b < p.nh; ++b) {
      if (!((h >> b) & 1)) continue;
      e += double(p.hb[std::size_t(b)]) + double(p.label_w[std::size_t(y) * p.nh + b]);
      for (int a = 0; a < p.nv; ++a) e += ((v >> a) & 1) * double(p.w[std::size_t(a) * p.nh + b]);
    }
    return e;
  };
  std::vector<double> all, per_v(32);
  for (int v = 0; v < 32; ++v) {
    std::vector<double> terms;
    for (int h = 0; h < 16; ++h)
      for (int y = 0; y < 3; ++y) terms.push_back(neg_energy(top, v, h, y));
    per_v[std::size_t(v)] = rbm::log_sum_exp(terms);
    all.push_back(per_v[std::size_t(v)]);
  }
  const double log_z = rbm::log_sum_exp(all);
  // Each class's clamped model adds U_y to the hidden biases in float (clamp_label), this sum in double:
  // ~1e-7 apart.
  EXPECT_NEAR(rbm::top_log_z(top, exact_z), log_z, 1e-6);
  rbm::stack_model one;
  one.layers = {top};
  const auto v5 = every_configuration(5);
  const auto b1 = rbm::dbn_lower_bound(one, v5.data(), 32, log_z, 0, 0);
  const auto e1 = rbm::dbn_exact_log_likelihood(one, v5.data(), 32);
  for (int v = 0; v < 32; ++v) {
    EXPECT_NEAR(b1[std::size_t(v)], per_v[std::size_t(v)] - log_z, 1e-6) << v;
    EXPECT_NEAR(e1[std::size_t(v)], per_v[std::size_t(v)] - log_z, 1e-6) << v;
  }
  // Two layers with the labelled top: normalised, the bound below the exact value, MC around the bound.
  rbm::stack_model m;
  m.layers = {random_rbm(7, 5, rng, 1.0f), top};
  const auto v7 = every_configuration(7);
  const auto exact = rbm::dbn_exact_log_likelihood(m, v7.data(), 128);
  const double zt = rbm::top_log_z(top, exact_z);
  const auto bound = rbm::dbn_lower_bound(m, v7.data(), 128, zt, 0, 0);
  const auto mc = rbm::dbn_lower_bound(m, v7.data(), 128, zt, 4000, 3);
  double total = 0, mean_b = 0, mean_mc = 0;
  for (int r = 0; r < 128; ++r) {
    total += std::exp(exact[std::size_t(r)]);
    EXPECT_LE(bound[std::size_t(r)], exact[std::size_t(r)] + 1e-9) << "v " << r;
    mean_b += bound[std::size_t(r)] / 128;
    mean_mc += mc[std::size_t(r)] / 128;
  }
  EXPECT_NEAR(total, 1.0, 1e-9);
  EXPECT_NEAR(mean_mc, mean_b, 0.02);
  // A label group below the top is refused.
  rbm::stack_model wrong;
  wrong.layers = {rbm::model_params(7, 5), rbm::model_params(5, 4)};
  wrong.layers[0].add_labels(2);
  EXPECT_NE(rbm_test::error_of([&] { rbm::dbn_exact_log_likelihood(wrong, v7.data(), 1); }).find("on the top only"),
            std::string::npos);
}

// Greedy training's promise (Hinton et al. 2006): starting the second layer as the first's transpose
// (bound = the RBM's log-likelihood) and training it on the first layer's hidden states raises the
// bound on the training data above the single RBM's log-likelihood.
TEST(DbnLikelihood, TrainingTheSecondLayerRaisesTheBoundAboveTheRbm) {
  std::mt19937 rng(9);
  const int nv = 8, n = 2000;
  const std::vector<std::vector<int>> protos = {{1, 1, 1, 1, 0, 0, 0, 0}, {0, 0, 0, 0, 1, 1, 1, 1},
                                                {1, 0, 1, 0, 1, 0, 1, 0}, {0, 1, 1, 0, 0, 1, 1, 0}};
  rbm::dataset d;
  d.name = "patterns";
  d.train.count = n;
  d.train.rows = 1;
  d.train.cols = nv;
  for (int r = 0; r < n; ++r)
    for (int i = 0; i < nv; ++i) d.train.values.push_back(float(protos[std::size_t(r % 4)][std::size_t(i)] ^ (rng() % 10 == 0)));
  rbm::train_options o;
  o.cd.nh = 6;
  o.cd.lr = 0.1f;
  o.cd.momentum = 0.5f;
  o.batch = 20;
  o.epochs = 20;
  o.device = "cpu";
  o.cd.seed = 4;
  const rbm::model_params p1 = rbm::train(d, o).params;
  double ll1 = 0;
  for (int r = 0; r < n; ++r) ll1 += rbm_log_p(p1, d.train.values.data() + r * nv) / n;

  // Layer 2 from the transpose, trained on h1 ~ q(h1 | v) (five draws per row).
  const rbm::model_params start = transposed(p1);
  rbm::stack_model before;
  before.layers = {p1, start};
  const auto b0 = rbm::dbn_lower_bound(before, d.train.values.data(), n, rbm::exact_log_z(start), 0, 0);
  double mean0 = 0;
  for (double x : b0) mean0 += x / n;
  EXPECT_NEAR(mean0, ll1, 1e-9);
  rbm::dataset up;
  up.name = "patterns h1";
  up.train.rows = 1;
  up.train.cols = 6;
  for (int k = 0; k < 5; ++k) {
    const auto h = rbm::propagate_up(p1, d.train.values.data(), n, true, 100 + k);
    up.train.values.insert(up.train.values.end(), h.begin(), h.end());
  }
  up.train.count = 5 * n;
  rbm::train_options o2 = o;
  o2.cd.nh = nv;
  o2.cd.lr = 0.05f;
  o2.epochs = 10;
  o2.start_params = &start;
  const rbm::model_params p2 = rbm::train(up, o2).params;
  rbm::stack_model after;
  after.layers = {p1, p2};
  const auto b1 = rbm::dbn_lower_bound(after, d.train.values.data(), n, rbm::exact_log_z(p2), 0, 0);
  const auto e1 = rbm::dbn_exact_log_likelihood(after, d.train.values.data(), n);
  double mean1 = 0, exact1 = 0;
  for (int r = 0; r < n; ++r) {
    mean1 += b1[std::size_t(r)] / n;
    exact1 += e1[std::size_t(r)] / n;
  }
  EXPECT_GT(mean1, ll1 + 0.005) << "the bound did not rise: RBM " << ll1 << ", DBN bound " << mean1;
  EXPECT_GE(exact1, mean1);
}

#ifdef RBM_EXE
TEST(StackCli, TrainsAStackAndTakesFeaturesFromAnyLayer) {
  const auto dir = rbm_test::fresh_dir("stack-cli");
  const auto t = rbm_test::run_rbm("train --device cpu --hidden 30,20 --epochs 1,2 --lr 0.1 --train-limit 500 "
                                   "--test-limit 100 --out " + (dir / "run").string());
  ASSERT_EQ(t.code, 0) << t.output;
  EXPECT_NE(t.output.find("layer 2 of 2"), std::string::npos) << t.output;
  EXPECT_NE(t.output.find("trained a 2-layer stack 784-30-20"), std::string::npos) << t.output;
  // A finished stack is not extended by --resume --epochs (it once exited 0 having trained nothing).
  const auto more = rbm_test::run_rbm("train --resume " + (dir / "run").string() + " --epochs 5 --train-limit 500 "
                                      "--test-limit 100");
  EXPECT_EQ(more.code, 1) << more.output;
  EXPECT_NE(more.output.find("cannot be extended"), std::string::npos) << more.output;
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
  const auto bad_pcd = rbm_test::run_rbm("train --device cpu --pcd 0,1 --out " + (dir / "bad").string());
  EXPECT_NE(bad_pcd.code, 0);
  EXPECT_NE(bad_pcd.output.find("give --hidden a list too"), std::string::npos) << bad_pcd.output;
  EXPECT_FALSE(std::filesystem::exists(dir / "bad"));
  // --pcd per layer: the plan and each layer's checkpoint say so.
  const auto p = rbm_test::run_rbm("train --device cpu --hidden 30,20 --pcd 0,1 --epochs 1 --train-limit 300 "
                                   "--test-limit 50 --quiet --out " + (dir / "pcd").string());
  ASSERT_EQ(p.code, 0) << p.output;
  std::ifstream plan(dir / "pcd" / "stack.json");
  EXPECT_EQ(nlohmann::json::parse(plan).at("pcd"), nlohmann::json::array({0, 1}));
  for (int layer : {1, 2}) {
    const auto meta = rbm::read_tensors((dir / "pcd" / ("layer" + std::to_string(layer)) / "model.safetensors").string()).metadata;
    EXPECT_EQ(nlohmann::json::parse(meta.at("config")).at("pcd").get<bool>(), layer == 2) << layer;
  }
  const auto cls = rbm_test::run_rbm("classify --model " + model);
  EXPECT_NE(cls.code, 0);
  EXPECT_NE(cls.output.find("top layer has no label units"), std::string::npos) << cls.output;
  const auto refused = rbm_test::run_rbm("reconstruct --model " + model + " --out " + (dir / "r.png").string());
  EXPECT_NE(refused.code, 0);
  EXPECT_NE(refused.output.find("stack of 2 RBMs"), std::string::npos) << refused.output;
  EXPECT_NE(refused.output.find("this command takes a single RBM (features, classify"), std::string::npos)
      << "the CLI, not the library, names the commands: " << refused.output;
  const auto smp = rbm_test::run_rbm("sample --model " + model + " --chains 4 --steps 20 --every 10 --out " +
                                     (dir / "s.png").string());
  ASSERT_EQ(smp.code, 0) << smp.output;
  EXPECT_NE(smp.output.find("4 chains x 3 snapshots"), std::string::npos) << smp.output;
  EXPECT_TRUE(std::filesystem::exists(dir / "s.png"));
}

// A Gaussian bottom layer (real-valued data, standardised): the stack trains, its file keeps sigma and
// the standardisation, features go through both; evaluate refuses the bound by name.
TEST(StackCli, AGaussianBottomLayerTrainsAndIsRefusedByTheBound) {
  const auto dir = rbm_test::fresh_dir("stack-cli-gauss");
  const auto t = rbm_test::run_rbm("train --device cpu --visible gaussian --standardize --lr 0.01 --hidden 30,20 "
                                   "--epochs 1 --train-limit 300 --test-limit 50 --quiet --out " + (dir / "run").string());
  ASSERT_EQ(t.code, 0) << t.output;
  const auto model = (dir / "run" / "model.safetensors").string();
  const rbm::stack_model m = rbm::load_stack(model);
  ASSERT_EQ(m.layers.size(), 2u);
  EXPECT_TRUE(m.layers[0].gaussian());
  EXPECT_FALSE(m.layers[1].gaussian());
  ASSERT_EQ(m.data_mean.size(), 784u);
  const auto f = rbm_test::run_rbm("features --model " + model + " --split test --test-limit 50 --out " +
                                   (dir / "h.npy").string());
  ASSERT_EQ(f.code, 0) << f.output;
  // The features are the stack's on the standardised rows.
  rbm::dataset d = rbm_test::digits_subset(1, 50);
  const auto v = rbm::model_inputs(d.test, false, m.data_mean, m.data_sd);
  const auto want = rbm::features_at(m, v.data(), 50, 2);
  const auto got = rbm::read_npy_matrix((dir / "h.npy").string());
  ASSERT_EQ(got.values.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got.values[i], want[i], 1e-6) << i;
  const auto e = rbm_test::run_rbm("evaluate --device cpu --model " + model + " --test-limit 50");
  EXPECT_NE(e.code, 0);
  EXPECT_NE(e.output.find("this stack's bottom layer is Gaussian"), std::string::npos) << e.output;
}

// A stack with labels on its top layer: rbm classify goes up through the layers (the same accuracy the
// trainer measured on the top layer's held-out rows), rbm sample --class clamps the top's label.
TEST(StackCli, ALabelledStackClassifiesAndSamplesAClass) {
  const auto dir = rbm_test::fresh_dir("stack-cli-labels");
  const auto t = rbm_test::run_rbm("train --device cpu --hidden 100,60 --labels --objective hybrid --alpha 0.1 "
                                   "--epochs 3,5 --lr 0.1,0.5 --batch 20 --train-limit 1500 --test-limit 300 --quiet "
                                   "--out " + (dir / "run").string());
  ASSERT_EQ(t.code, 0) << t.output;
  const auto model = (dir / "run" / "model.safetensors").string();
  const auto c = rbm_test::run_rbm("classify --model " + model + " --test-limit 300 --json " + (dir / "c.json").string());
  ASSERT_EQ(c.code, 0) << c.output;
  // --device: as train's; the up-pass on the CPU gives the same file as the default here (no GPU)
  // or the same accuracy within the GEMMs' rounding (a GPU).
  const auto cpu = rbm_test::run_rbm("classify --device cpu --model " + model + " --test-limit 300 --json " +
                                     (dir / "cpu.json").string());
  ASSERT_EQ(cpu.code, 0) << cpu.output;
  std::ifstream cpu_in(dir / "cpu.json");
  EXPECT_NEAR(nlohmann::json::parse(cpu_in).at("accuracy").get<double>(),
              nlohmann::json::parse(std::ifstream(dir / "c.json")).at("accuracy").get<double>(), 0.01);
  const auto tpu = rbm_test::run_rbm("classify --device tpu --model " + model);
  EXPECT_NE(tpu.code, 0);
  EXPECT_NE(tpu.output.find("the device must be auto, cpu or cuda"), std::string::npos) << tpu.output;
  if (!rbm_test::gpu_usable()) {
    const auto cuda = rbm_test::run_rbm("classify --device cuda --model " + model);
    EXPECT_NE(cuda.code, 0);
    EXPECT_NE(cuda.output.find("the device cuda was asked for"), std::string::npos) << cuda.output;
  }
  std::ifstream in(dir / "c.json");
  const auto j = nlohmann::json::parse(in);
  const auto csv = lines_of(dir / "run" / "layer2" / "metrics.csv");
  const std::string last = csv.back();
  const double trainer = std::stod(last.substr(last.rfind(',', last.rfind(',', last.rfind(',') - 1) - 1) + 1));
  EXPECT_NEAR(j.at("accuracy").get<double>(), trainer, 1e-4) << last;
  EXPECT_GT(j.at("accuracy").get<double>(), 0.7);
  const auto smp = rbm_test::run_rbm("sample --model " + model + " --class 3 --chains 3 --steps 10 --every 5 --out " +
                                     (dir / "three.png").string());
  ASSERT_EQ(smp.code, 0) << smp.output;
  const auto all = rbm_test::run_rbm("sample --model " + model + " --class all --chains 2 --steps 5 --out " +
                                     (dir / "all.png").string());
  ASSERT_EQ(all.code, 0) << all.output;
  EXPECT_NE(all.output.find("10 classes x 2 samples"), std::string::npos) << all.output;
  const auto bad = rbm_test::run_rbm("sample --model " + model + " --class 10 --out " + (dir / "x.png").string());
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.output.find("classes 0 to 9"), std::string::npos) << bad.output;
}

// `rbm train --fine-tune`: the tuned stack classifies the test set as the trainer said; refused for a
// single RBM and without labels.
TEST(StackCli, FineTuneTrainsAndClassifiesWithTheTunedStack) {
  const auto dir = rbm_test::fresh_dir("stack-cli-tune");
  // binarised pixels: classify reads the stack's inputs as training did
  const auto t = rbm_test::run_rbm("train --device cpu --binarize --hidden 100,60 --labels --objective hybrid --alpha 0.1 "
                                   "--epochs 2,3 --lr 0.1,0.5 --batch 20 --train-limit 1500 --test-limit 300 "
                                   "--validation 300 --fine-tune 3 --quiet --out " + (dir / "run").string());
  ASSERT_EQ(t.code, 0) << t.output;
  EXPECT_NE(t.output.find("fine-tuned 3 epochs"), std::string::npos) << t.output;
  const auto at = t.output.find("test set (300 images, not used in training): accuracy ");
  ASSERT_NE(at, std::string::npos) << t.output;
  const double trained = std::stod(t.output.substr(at + 54, 6));
  const auto c = rbm_test::run_rbm("classify --model " + (dir / "run" / "model.safetensors").string() +
                                   " --test-limit 300 --json " + (dir / "c.json").string());
  ASSERT_EQ(c.code, 0) << c.output;
  EXPECT_NEAR(nlohmann::json::parse(std::ifstream(dir / "c.json")).at("accuracy").get<double>(), trained, 1e-4);
  const auto greedy = rbm_test::run_rbm("classify --greedy --model " + (dir / "run" / "model.safetensors").string() +
                                        " --test-limit 300 --json " + (dir / "g.json").string());
  ASSERT_EQ(greedy.code, 0) << greedy.output;
  EXPECT_NE(nlohmann::json::parse(std::ifstream(dir / "g.json")).at("log_p_y_given_x").get<double>(),
            nlohmann::json::parse(std::ifstream(dir / "c.json")).at("log_p_y_given_x").get<double>());
  const auto single = rbm_test::run_rbm("train --device cpu --labels --fine-tune 3 --out " + (dir / "x").string());
  EXPECT_NE(single.code, 0);
  EXPECT_NE(single.output.find("--fine-tune is for a stack"), std::string::npos) << single.output;
  const auto unlabelled = rbm_test::run_rbm("train --device cpu --hidden 10,10 --fine-tune 3 --out " + (dir / "y").string());
  EXPECT_NE(unlabelled.code, 0);
  EXPECT_NE(unlabelled.output.find("it needs labels"), std::string::npos) << unlabelled.output;
}

// A stack of ReLU units under Bernoulli ones from the CLI: each kind's own default rate (a generative
// Gaussian layer's own), fine-tuning,
// classify agreeing with the trainer, the bound refused by name, sampling every class.
TEST(StackCli, ReluUnitsUnderBernoulliOnesTrainFineTuneAndClassify) {
  const auto dir = rbm_test::fresh_dir("stack-cli-relu");
  const auto t = rbm_test::run_rbm("train --device cpu --hidden 100,60 --hidden-units relu,bernoulli --labels "
                                   "--epochs 3,5 --batch 20 --train-limit 1500 --test-limit 300 --validation 300 "
                                   "--fine-tune 5 --quiet --out " + (dir / "run").string());
  ASSERT_EQ(t.code, 0) << t.output;
  std::ifstream plan(dir / "run" / "stack.json");
  const auto j = nlohmann::json::parse(plan);
  EXPECT_EQ(j.at("hidden_units"), nlohmann::json::array({"relu", "bernoulli"}));
  EXPECT_NEAR(j.at("lr")[0].get<double>(), rbm::default_sgd_lr(rbm::unit_kind::relu), 1e-9);
  EXPECT_NEAR(j.at("lr")[1].get<double>(), 0.1, 1e-7);
  const auto at = t.output.find("test set (300 images, not used in training): accuracy ");
  ASSERT_NE(at, std::string::npos) << t.output;
  const double trained = std::stod(t.output.substr(at + 54, 6));
  const auto model = (dir / "run" / "model.safetensors").string();
  EXPECT_NEAR(rbm_test::classify_accuracy("--model " + model + " --test-limit 300"), trained, 1e-4);
  // 1,200 training digits, a generative top, 5 epochs of fine-tuning (measured: 0.63 greedy, 0.72 tuned).
  EXPECT_GT(trained, rbm_test::classify_accuracy("--greedy --model " + model + " --test-limit 300") + 0.04);
  EXPECT_GT(trained, 0.65);
  const auto e = rbm_test::run_rbm("evaluate --device cpu --model " + model + " --test-limit 50");
  EXPECT_NE(e.code, 0);
  EXPECT_NE(e.output.find("the bound of a stack is for Bernoulli hidden units, and layer 1's are relu"),
            std::string::npos) << e.output;
  const auto all = rbm_test::run_rbm("sample --model " + model + " --class all --chains 2 --steps 5 --out " +
                                     (dir / "all.png").string());
  ASSERT_EQ(all.code, 0) << all.output;
  // Without labels the Gaussian layer above the ReLU units is generative: its own rate (0.1 diverged).
  const auto gen = rbm_test::run_rbm("train --device cpu --hidden 100,60 --hidden-units relu,bernoulli --epochs 1,2 "
                                     "--train-limit 1000 --test-limit 100 --quiet --out " + (dir / "gen").string());
  ASSERT_EQ(gen.code, 0) << gen.output;
  std::ifstream gen_plan(dir / "gen" / "stack.json");
  EXPECT_NEAR(nlohmann::json::parse(gen_plan).at("lr")[1].get<double>(), rbm::gaussian_layer_sgd_lr, 1e-9);
  rbm_test::expect_refused("train --device cpu --hidden 30,20 --hidden-units relu --epochs 1",
                           "visible units are Gaussian, which take Bernoulli hidden units", dir);
  rbm_test::expect_refused("train --device cpu --hidden 30 --hidden-units relu,bernoulli", "give --hidden a list too", dir);
  rbm_test::expect_refused("train --device cpu --hidden 30,20 --hidden-units relu,tanh", "--hidden-units must be", dir);
}

// `rbm evaluate` on a stack small enough to enumerate: the bound, the bottom RBM's own figure and the
// DBN's exact log-likelihood, in the JSON; the bound below the exact value.
TEST(StackCli, EvaluateGivesTheBoundAndTheExactLikelihoodOfATinyStack) {
  for (const std::string labels : {"", " --labels"}) {  // a label group on the top is summed out
    SCOPED_TRACE(labels);
    const auto dir = rbm_test::fresh_dir("stack-cli-eval");
    const auto t = rbm_test::run_rbm("train --device cpu --hidden 8,6 --epochs 2,2 --lr 0.1 --train-limit 1000 "
                                     "--test-limit 200 --quiet --out " + (dir / "run").string() + labels);
    ASSERT_EQ(t.code, 0) << t.output;
    const auto json = (dir / "eval.json").string();
    // Every held-out image by default, as a single RBM's figures (--bound-images N: the first N).
    const auto e = rbm_test::run_rbm("evaluate --device cpu --model " + (dir / "run" / "model.safetensors").string() +
                                     " --test-limit 100 --bound-samples 100 --json " + json);
    ASSERT_EQ(e.code, 0) << e.output;
    std::ifstream in(json);
    const auto j = nlohmann::json::parse(in);
    const double bound = j.at("dbn").at("bound"), exact = j.at("dbn").at("log_likelihood_exact"),
                 single = j.at("dbn").at("layer1_log_likelihood");
    EXPECT_LT(bound, exact + 0.05) << e.output;  // Monte Carlo: 10,000 draws
    EXPECT_GT(bound, exact - 30.0) << e.output;
    EXPECT_LT(exact, 0.0);
    EXPECT_TRUE(std::isfinite(single));
    EXPECT_EQ(j.at("dbn").at("layers"), 2);
    EXPECT_EQ(j.at("dbn").at("images"), 100);
    if (labels.empty()) {
      const auto few = rbm_test::run_rbm("evaluate --device cpu --model " + (dir / "run" / "model.safetensors").string() +
                                         " --test-limit 100 --bound-images 30 --bound-samples 2 --ais-runs 0 --json " + json);
      ASSERT_EQ(few.code, 0) << few.output;
      EXPECT_EQ(nlohmann::json::parse(std::ifstream(json)).at("dbn").at("images"), 30);
    }
    EXPECT_EQ(e.output.find("labels summed out") != std::string::npos, !labels.empty()) << e.output;
  }
}
#endif

}  // namespace
