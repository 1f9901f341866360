// Training on the built-in MNIST digits: the tutorial's preset lands where the tutorial does, a larger
// model lowers the held-out error, and a seed reproduces a run bit for bit.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "helpers.hpp"
#include "rbm/host/idx.hpp"
#include "rbm/host/trainer.hpp"

namespace {

const rbm::dataset& digits() {
  static const rbm::dataset d = rbm::load_dataset_dir(RBM_DATA_DIR);
  return d;
}

rbm::train_options seed_preset(const std::string& out) {
  rbm::train_options o = rbm::seed_preset();
  o.device = "cpu";
  o.out_dir = out;
  return o;
}

TEST(TrainDigits, SeedPresetReachesTheTutorialsError) {
  const auto r = rbm::train(digits(), seed_preset(rbm_test::fresh_dir().string()));
  ASSERT_EQ(r.history.size(), 6u);
  // Zero parameters reconstruct every pixel as a coin flip: the tutorial's first error is 0.4814.
  EXPECT_NEAR(r.history[0].train.err_sampled, 0.4814, 0.002);
  // The tutorial reports 0.0937 after 5 epochs over 55,000 digits; on our 10,000 it must lie in [0.08, 0.10].
  const double err = r.history.back().train.err_sampled;
  EXPECT_GT(err, 0.08);
  EXPECT_LT(err, 0.10);
  EXPECT_EQ(r.history.back().samples_seen, 5 * 99 * 100);  // zip(range(0,N,B), range(B,N,B)): 99 batches
}

TEST(TrainDigits, LargerModelLowersHeldOutError) {
  rbm::dataset d = digits();
  rbm::truncate(d.train, 3000);
  rbm::truncate(d.test, 1000);
  rbm::train_options o;
  o.cd.nh = 500;
  o.epochs = 2;
  o.device = "cpu";
  o.out_dir = rbm_test::fresh_dir().string();
  const auto r = rbm::train(d, o);
  const auto& h = r.history;
  ASSERT_EQ(h.size(), 3u);
  EXPECT_LT(h[1].test.err_mean_field, 0.8 * h[0].test.err_mean_field);
  EXPECT_LT(h[2].test.err_mean_field, h[1].test.err_mean_field);
  EXPECT_LT(h[2].test.err_sampled, h[0].test.err_sampled);
  EXPECT_LT(h[2].test.err_sampled, 0.11);  // 0.48 at the start; ~0.10 after two short epochs
}

// A rate far too large for the batch collapses CD without any value going non-finite: the run says in
// its notes that epoch 1 did not learn; a good rate says nothing of the kind.
TEST(TrainDigits, ARunThatDoesNotLearnSaysSo) {
  rbm::dataset d = digits();
  rbm::truncate(d.train, 1000);
  rbm::truncate(d.test, 200);
  for (const float lr : {5.0f, 0.1f}) {
    SCOPED_TRACE(lr);
    rbm::train_options o;
    o.cd.nh = 50;
    o.cd.lr = lr;
    o.batch = 10;
    o.epochs = 2;
    o.device = "cpu";
    std::vector<std::string> notes;
    o.on_note = [&](const std::string& line) { notes.push_back(line); };
    const auto r = rbm::train(d, o);
    int said = 0;
    for (const auto& n : notes) said += n.find("epoch 1 did not lower the training reconstruction error") != std::string::npos;
    EXPECT_EQ(said, lr > 1 ? 1 : 0);
    EXPECT_EQ(r.history.size(), 3u);  // either way training went on
  }
}

TEST(TrainDigits, SameSeedSameModelOtherSeedOtherModel) {
  rbm::dataset d = digits();
  rbm::truncate(d.train, 600);
  rbm::truncate(d.test, 100);
  rbm::train_options o;
  o.cd.nh = 40;
  o.cd.k = 2;
  o.cd.pcd = true;
  o.epochs = 2;
  o.batch = 64;  // 600 = 9 x 64 + 24: exercises the partial last batch
  o.device = "cpu";
  o.out_dir = rbm_test::fresh_dir("a").string();
  const auto a = rbm::train(d, o);
  o.out_dir = rbm_test::fresh_dir("b").string();
  const auto b = rbm::train(d, o);
  EXPECT_EQ(a.params.w, b.params.w);
  EXPECT_EQ(a.params.hb, b.params.hb);
  EXPECT_EQ(a.history.back().samples_seen, 1200);
  o.cd.seed = 2;
  o.out_dir = rbm_test::fresh_dir("c").string();
  const auto c = rbm::train(d, o);
  EXPECT_NE(a.params.w, c.params.w);
}

}  // namespace
