// Parallel tempering (cd_config::tempering): the CPU step against a naive double-precision reference
// fed the same uniforms (sweeps at each temperature, Metropolis swaps, the beta = 1 chain's statistics,
// two updates so the chains persist); a bimodal model that a plain persistent chain never crosses and
// the tempered chains sample at its exact odds; and a tempered run stopped and resumed bit for bit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>
#include <vector>

#include <nlohmann/json.hpp>

#include "helpers.hpp"
#include "rbm/cd_config.hpp"
#include "rbm/host/cpu_backend.hpp"
#include "rbm/host/idx.hpp"
#include "rbm/host/philox.hpp"
#include "rbm/host/safetensors.hpp"
#include "rbm/host/trainer.hpp"

namespace {

double sig(double a) { return 1.0 / (1.0 + std::exp(-a)); }

// A plain SGD step's configuration (no momentum, no decay) with `tempering` temperatures.
rbm::cd_config step_config(int nv, int nh, float lr, int tempering) {
  rbm::cd_config c;
  c.nv = nv;
  c.nh = nh;
  c.lr = lr;
  c.momentum = 0.0f;
  c.weight_decay = 0.0f;
  c.tempering = tempering;
  return c;
}

// The reference's model and chains, in double; replica t of chain r at row r x R + t.
struct ref_state {
  int nv, nh, R;
  std::vector<double> w, vb, hb;
  std::vector<double> tv, th;  // [chains x R, nv], [chains x R, nh]
};

// One tempered CD-1 update of rows v [rows, nv] from the draws u in make_draw_layout's order; counts
// the swaps accepted and refused.
void ref_tempered_step(ref_state& m, const std::vector<float>& v, int rows, const std::vector<float>& u, double lr,
                       bool fresh, int& accepted, int& refused) {
  const int nv = m.nv, nh = m.nh, R = m.R;
  auto hidden_input = [&](const double* x, int j) {
    double a = m.hb[j];
    for (int i = 0; i < nv; ++i) a += x[i] * m.w[std::size_t(i) * nh + j];
    return a;
  };
  std::size_t at = 0;
  std::vector<double> h0p(std::size_t(rows) * nh), x0(v.begin(), v.end());
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < nh; ++j) h0p[std::size_t(r) * nh + j] = sig(hidden_input(&x0[std::size_t(r) * nv], j));
  std::vector<double> h0s(h0p.size());
  for (std::size_t i = 0; i < h0s.size(); ++i) h0s[i] = u[at++] < h0p[i] ? 1.0 : 0.0;
  if (fresh) {
    m.tv.assign(std::size_t(rows) * R * nv, 0.0);
    m.th.assign(std::size_t(rows) * R * nh, 0.0);
    for (int r = 0; r < rows; ++r)
      for (int t = 0; t < R; ++t) {
        std::copy_n(&x0[std::size_t(r) * nv], nv, &m.tv[(std::size_t(r) * R + t) * nv]);
        std::copy_n(&h0s[std::size_t(r) * nh], nh, &m.th[(std::size_t(r) * R + t) * nh]);
      }
  }
  const int q_rows = rows * R;
  for (int q = 0; q < q_rows; ++q) {  // the visible segment [rows x R, nv]
    const double beta = double(q % R) / (R - 1);
    for (int i = 0; i < nv; ++i) {
      double a = 0;
      for (int j = 0; j < nh; ++j) a += m.th[std::size_t(q) * nh + j] * m.w[std::size_t(i) * nh + j];
      m.tv[std::size_t(q) * nv + i] = u[at + std::size_t(q) * nv + i] < sig(m.vb[i] + beta * a) ? 1.0 : 0.0;
    }
  }
  at += std::size_t(q_rows) * nv;
  std::vector<double> a(std::size_t(q_rows) * nh), g(q_rows, 0.0), hp(std::size_t(rows) * nh);
  for (int q = 0; q < q_rows; ++q) {  // the hidden segment [rows x R, nh]
    const double beta = double(q % R) / (R - 1);
    for (int j = 0; j < nh; ++j) {
      a[std::size_t(q) * nh + j] = hidden_input(&m.tv[std::size_t(q) * nv], j);
      const double prob = sig(beta * a[std::size_t(q) * nh + j]);
      m.th[std::size_t(q) * nh + j] = u[at + std::size_t(q) * nh + j] < prob ? 1.0 : 0.0;
      g[q] += a[std::size_t(q) * nh + j] * m.th[std::size_t(q) * nh + j];
      if (q % R == R - 1) hp[std::size_t(q / R) * nh + j] = prob;
    }
  }
  at += std::size_t(q_rows) * nh;
  std::vector<double> vs(std::size_t(rows) * nv);
  for (int r = 0; r < rows; ++r) std::copy_n(&m.tv[(std::size_t(r) * R + R - 1) * nv], nv, &vs[std::size_t(r) * nv]);
  for (int r = 0; r < rows; ++r)  // the swaps [rows, R - 1], after the statistics were read
    for (int t = 0; t + 1 < R; ++t) {
      const std::size_t lo = std::size_t(r) * R + t, hi = lo + 1;
      const double d = (1.0 / (R - 1)) * (g[lo] - g[hi]);
      if (u[at + std::size_t(r) * (R - 1) + t] < std::exp(std::min(0.0, d))) {
        std::swap_ranges(m.tv.begin() + lo * nv, m.tv.begin() + hi * nv, m.tv.begin() + hi * nv);
        std::swap_ranges(m.th.begin() + lo * nh, m.th.begin() + hi * nh, m.th.begin() + hi * nh);
        std::swap(g[lo], g[hi]);
        ++accepted;
      } else {
        ++refused;
      }
    }
  const double s = lr / rows;
  for (int i = 0; i < nv; ++i) {
    for (int j = 0; j < nh; ++j) {
      double gw = 0;
      for (int r = 0; r < rows; ++r)
        gw += x0[std::size_t(r) * nv + i] * h0p[std::size_t(r) * nh + j] - vs[std::size_t(r) * nv + i] * hp[std::size_t(r) * nh + j];
      m.w[std::size_t(i) * nh + j] += s * gw;
    }
    double gv = 0;
    for (int r = 0; r < rows; ++r) gv += x0[std::size_t(r) * nv + i] - vs[std::size_t(r) * nv + i];
    m.vb[i] += s * gv;
  }
  for (int j = 0; j < nh; ++j) {
    double gh = 0;
    for (int r = 0; r < rows; ++r) gh += h0p[std::size_t(r) * nh + j] - hp[std::size_t(r) * nh + j];
    m.hb[j] += s * gh;
  }
}

TEST(Tempering, TheStepMatchesANaiveDoubleReferenceOverTwoUpdates) {
  const int nv = 7, nh = 4, rows = 3, R = 4;
  const rbm::cd_config c = step_config(nv, nh, 0.1f, R);
  rbm::model_params p = rbm_test::random_model(nv, nh, 1.5f, 5);
  ref_state m{nv, nh, R, {p.w.begin(), p.w.end()}, {p.vb.begin(), p.vb.end()}, {p.hb.begin(), p.hb.end()}, {}, {}};
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> unif(0.0f, 1.0f);
  rbm::cd_state st;
  rbm::cd_workspace ws;
  int accepted = 0, refused = 0;
  const rbm::cd_draw_layout lay = rbm::make_draw_layout(rows, c);
  ASSERT_EQ(lay.total(), std::size_t(rows) * (nh + R * (nv + nh) + R - 1));
  for (int update = 0; update < 2; ++update) {
    std::vector<float> v(std::size_t(rows) * nv), u(lay.total());
    for (auto& x : v) x = float(unif(rng) < 0.5f);
    for (auto& x : u) x = unif(rng);
    rbm::cpu_cd_step(p, st, v.data(), rows, u.data(), c, ws);
    ref_tempered_step(m, v, rows, u, c.lr, update == 0, accepted, refused);
    ASSERT_EQ(st.chains, rows);
    ASSERT_EQ(st.tempered_v.size(), m.tv.size());
    for (std::size_t i = 0; i < m.tv.size(); ++i) ASSERT_EQ(st.tempered_v[i], m.tv[i]) << "update " << update << " v " << i;
    for (std::size_t i = 0; i < m.th.size(); ++i) ASSERT_EQ(st.tempered_h[i], m.th[i]) << "update " << update << " h " << i;
    for (std::size_t i = 0; i < p.w.size(); ++i) ASSERT_NEAR(p.w[i], m.w[i], 1e-5) << "update " << update << " W " << i;
    for (int i = 0; i < nv; ++i) ASSERT_NEAR(p.vb[i], m.vb[i], 1e-5) << i;
    for (int j = 0; j < nh; ++j) ASSERT_NEAR(p.hb[j], m.hb[j], 1e-5) << j;
  }
  EXPECT_GT(accepted, 0);  // both branches of the swap were taken
  EXPECT_GT(refused, 0);
}

// 14 visible units and one hidden unit with W = 4, vb = -2 and hb chosen so that p(h = 1) = 1/2
// exactly: two modes (h = 0 with about 2 units on, h = 1 with about 12) between which a Gibbs chain
// moves only when 7 of the 14 units, each on with probability 0.12, come on at once. Parameters fixed
// (lr 0); the beta = 1 chains' hidden state is read after each update. Plain persistent chains barely
// move (about once per chain in 3,000 updates, measured with numpy); tempered ones (10 temperatures)
// switch modes hundreds of times and visit both at the exact odds.
TEST(Tempering, TemperedChainsCrossBetweenModesThatPlainChainsBarelyLeave) {
  const int nv = 14, nh = 1, rows = 40, updates = 3000, burn_in = 1000;
  rbm::model_params p(nv, nh);
  std::fill(p.w.begin(), p.w.end(), 4.0f);
  std::fill(p.vb.begin(), p.vb.end(), -2.0f);
  p.hb[0] = float(nv * std::log((1 + std::exp(-2.0)) / (1 + std::exp(2.0))));
  const std::vector<float> zeros(std::size_t(rows) * nv, 0.0f);  // every chain starts in the h = 0 mode
  struct visits {
    double on = 0;         // the fraction of (chain, update) after the burn-in with h = 1
    double switches = 0;   // mode changes per chain
  };
  auto run = [&](int tempering) {
    rbm::cd_config c = step_config(nv, nh, 0.0f, tempering);
    c.pcd = tempering == 0;
    rbm::model_params q = p;
    rbm::cd_state st;
    rbm::cd_workspace ws;
    rbm::cpu::philox_stream gen(11);
    const std::size_t draws = rbm::make_draw_layout(rows, c).total();
    std::vector<float> u(draws), last(rows, 0.0f);
    visits out;
    for (int k = 0; k < updates; ++k) {
      gen.uniform(u.data(), draws);
      rbm::cpu_cd_step(q, st, zeros.data(), rows, u.data(), c, ws);
      for (int r = 0; r < rows; ++r) {
        const float h = tempering > 1 ? st.tempered_h[std::size_t(r) * tempering + tempering - 1] : st.chain_h[r];
        out.switches += h != last[r] ? 1.0 / rows : 0.0;
        last[r] = h;
        if (k >= burn_in) out.on += h / (double(rows) * (updates - burn_in));
      }
    }
    return out;
  };
  const visits plain = run(0), tempered = run(10);
  EXPECT_LT(plain.switches, 10) << "plain persistent chains crossed often: the barrier is lower than meant";
  EXPECT_GT(tempered.switches, 100);
  // 80,000 correlated draws of a fair coin: within 0.06 of one half.
  EXPECT_NEAR(tempered.on, 0.5, 0.06) << tempered.switches << " switches";
}

TEST(Tempering, ARunStoppedAndResumedEqualsOneNotStopped) {
  rbm::dataset d = rbm::load_dataset_dir(RBM_DATA_DIR);
  rbm::truncate(d.train, 300);
  rbm::truncate(d.test, 100);
  auto options = [](const std::filesystem::path& out, int epochs) {
    rbm::train_options o;
    o.cd.nh = 12;
    o.cd.tempering = 4;
    o.cd.seed = 5;
    o.batch = 64;  // 300 = 4 x 64 + 44: a partial batch every epoch
    o.epochs = epochs;
    o.device = "cpu";
    o.out_dir = out.string();
    return o;
  };
  const auto straight = rbm::train(d, options(rbm_test::fresh_dir("straight"), 4));
  const auto dir = rbm_test::fresh_dir("resumed");
  rbm::train(d, options(dir, 2));
  rbm::train_options again;
  again.resume = dir.string();
  again.epochs = 4;
  again.device = "cpu";
  const auto resumed = rbm::train(d, again);
  EXPECT_EQ(resumed.params.w, straight.params.w);
  EXPECT_EQ(resumed.params.vb, straight.params.vb);
  EXPECT_EQ(resumed.params.hb, straight.params.hb);
  const auto t = rbm::read_tensors((dir / "model.safetensors").string());
  EXPECT_EQ(t.tensors.at("tempered_v").shape, (std::vector<std::int64_t>{64 * 4, 784}));
  EXPECT_EQ(t.tensors.at("tempered_h").shape, (std::vector<std::int64_t>{64 * 4, 12}));
  EXPECT_FALSE(t.tensors.count("chain_h"));
}

// The CLI: --tempering trains (Gaussian units sampled without being told), is recorded, and what it
// cannot do is refused by name with nothing written.
TEST(TemperingCli, TrainsRecordsItselfAndRefusesWhatItCannotDo) {
  const auto dir = rbm_test::fresh_dir();
  auto r = rbm_test::run_rbm("train --tempering 4 --visible gaussian --hidden 8 --epochs 1 --train-limit 200 "
                             "--test-limit 50 --device cpu --quiet --out " + (dir / "g").string());
  ASSERT_EQ(r.code, 0) << r.output;
  const auto t = rbm::read_tensors((dir / "g" / "model.safetensors").string());
  const auto cfg = nlohmann::json::parse(t.metadata.at("config"));
  EXPECT_EQ(cfg.at("tempering"), 4);
  EXPECT_EQ(cfg.at("visible_sample"), true);
  EXPECT_EQ(t.tensors.at("tempered_v").shape, (std::vector<std::int64_t>{100 * 4, 784}));
  auto refused = [&](const std::string& args, const std::string& what) {
    rbm_test::expect_refused("train " + args + " --epochs 1 --train-limit 200 --quiet", what, dir);
  };
  refused("--tempering 4 --pcd", "give tempering or pcd, not both");
  refused("--tempering 1001", "--tempering");
  refused("--tempering -1", "--tempering");
  refused("--tempering 4 --labels --objective hybrid", "parallel tempering trains models without labels so far");
  if (!rbm_test::gpu_usable())  // tempering trains on the GPU too (tests/gpu/test_gpu_tempering.cpp)
    refused("--tempering 4 --device cuda", "no GPU is usable");
  // A stack whose generative top has labels: refused before its first layer trains.
  refused("--tempering 4 --hidden 20,10 --labels", "parallel tempering trains models without labels so far");
}

}  // namespace
