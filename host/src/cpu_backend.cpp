// CPU backend: the CD-k update with OpenBLAS SGEMM (row-major through CBLAS) and the shared scalar maths.
#include "rbm/host/cpu_backend.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <functional>

#include "blas_threads.hpp"
#include "rbm/error.hpp"
#include "rbm/host/classification.hpp"
#include "rbm/host/cpu_hidden_units.hpp"
#include "rbm/host/cpu_kernels.hpp"
#include "rbm/host/cpu_maths.hpp"
#include "rbm/host/evaluation.hpp"
#include "rbm/host/philox.hpp"
#include "rbm/host/thread_team.hpp"
#include "rbm/math.hpp"

namespace rbm {
namespace {

constexpr std::uint64_t init_seed_salt = 0xbf58476d1ce4e5b9ull;
constexpr std::size_t uniform_chunk = 8192;  // uniforms drawn per call: 32 KiB, stays in L1/L2
constexpr int min_rows_per_part = 4;         // batch rows per part of an update, at least

void grow(std::vector<float>& v, std::size_t n) {
  if (v.size() < n) v.resize(n);
}

}  // namespace

float cpu_cd_step(model_params& p, cd_state& st, const float* v0, int rows, const float* uniforms, const cd_config& cfg,
                  cd_workspace& ws) {
  const uniform_source copy = [uniforms](std::size_t offset, std::size_t n, float* out) {
    std::copy_n(uniforms + offset, n, out);
  };
  return cpu_cd_step(p, st, v0, rows, copy, cfg, ws, &copy);
}

namespace {

// One CD step's inputs and sizes, shared by its two phases (each run in parts on the team).
struct cd_step_context {
  model_params& p;
  cd_state& st;
  const float* v0;
  int rows;
  const uniform_source& uniforms;
  const uniform_source* normals;
  const cd_config& cfg;
  cd_workspace& ws;
  cd_draw_layout lay;
  int nv, nh, parts, old_chains;
  bool gauss, scaled, learn_sigma;
  int sites, states;  // categorical visible units: sites of `states` one-hot units (else 0)
  int replicas;       // parallel tempering's chains per row (1: none)
  const gradient_hook* hook;  // sees (and may change) the gradient before it is applied; null: none
};

// Sizes the workspace and the optimiser state for a batch of `rows` in `parts` parts.
void prepare_cd_step(const cd_step_context& c) {
  cd_workspace& ws = c.ws;
  cd_state& st = c.st;
  const int nv = c.nv, nh = c.nh, parts = c.parts;
  const std::size_t nvh = std::size_t(nv) * nh, bh = std::size_t(c.rows) * nh, bv = std::size_t(c.rows) * nv;
  grow(ws.h0p, bh);
  grow(ws.h0s, bh);
  grow(ws.hp, bh);
  grow(ws.hs, bh);
  grow(ws.vs, bv);
  if (c.scaled) {  // the hidden layer's view of the data and of the reconstructions: v / sigma
    grow(ws.s0, bv);
    grow(ws.ss, bv);
  }
  grow(ws.grad_v, std::size_t(parts) * nv);
  grow(ws.grad_h, std::size_t(parts) * nh);
  grow(ws.act, std::size_t(parts) * nh);
  if (c.learn_sigma) {
    grow(ws.xs, bv);
    grow(ws.grad_z, std::size_t(parts) * nv);
    if (st.vel_log_sigma.size() != std::size_t(nv)) st.vel_log_sigma.assign(nv, 0.0f);
  }
  if (st.vel_w.size() != nvh) {
    st.vel_w.assign(nvh, 0.0f);
    st.vel_vb.assign(nv, 0.0f);
    st.vel_hb.assign(nh, 0.0f);
  }
  if (c.cfg.update_rule == optimizer::adam || c.hook != nullptr) {  // the gradient apart from its application
    grow(ws.grad_w, nvh);
    grow(ws.grad_vb, nv);
    grow(ws.grad_hb, nh);
    if (c.learn_sigma) grow(ws.grad_log_sigma, nv);
  }
  if (c.cfg.update_rule == optimizer::adam) {
    if (st.sq_w.size() != nvh) {
      st.sq_w.assign(nvh, 0.0f);
      st.sq_vb.assign(nv, 0.0f);
      st.sq_hb.assign(nh, 0.0f);
    }
    if (c.learn_sigma && st.sq_log_sigma.size() != std::size_t(nv)) st.sq_log_sigma.assign(nv, 0.0f);
  }
  if (c.replicas > 1) {  // every chain's replicas: inputs, scaled inputs, views, and each one's hb.h + v' W h
    const std::size_t rh = bh * c.replicas, rv = bv * c.replicas;
    grow(ws.tempered_a, rh);
    grow(ws.tempered_x, rh);
    if (c.scaled) grow(ws.tempered_view, rv);
    ws.tempered_g.resize(std::size_t(c.rows) * c.replicas);
    ws.zero_h.assign(nh, 0.0f);
    if (st.chains < c.rows) {
      st.tempered_v.resize(rv);
      st.tempered_h.resize(rh);
    }
  }
  ws.err.assign(parts, 0.0);
  ws.u.resize(parts);
  for (auto& u : ws.u) grow(u, std::max<std::size_t>(uniform_chunk, std::max(nv, nh)));
  if (c.cfg.pcd && st.chains < c.rows) st.chain_h.resize(bh);  // first batch, or a larger one
}

// Rows of one layer in chunks of whole rows: each chunk's draws (per_row a row, from offset +
// r x per_row of the step's sequence) come into the thread's buffer right before pass(r, m, draws)
// uses them, so they are never all stored.
template <class Pass>
void in_chunks(const uniform_source& source, int n, int per_row, std::size_t offset, float* buf, Pass&& pass) {
  const int chunk_rows = std::max<int>(1, int(uniform_chunk) / per_row);
  for (int r = 0; r < n; r += chunk_rows) {
    const int m = std::min(chunk_rows, n - r);
    source(offset + std::size_t(r) * per_row, std::size_t(m) * per_row, buf);
    pass(r, m, buf);
  }
}

// Bernoulli visible pre-activations x [n, cols] made states by the fused sigmoid-and-draw pass.
void sample_rows(const uniform_source& uniforms, float* x, const float* bias, int n, int cols, std::size_t offset,
                 float* buf) {
  in_chunks(uniforms, n, cols, offset, buf, [&](int r, int m, const float* u) {
    cpu::sample_logistic_rows(x + std::size_t(r) * cols, bias, u, m, cols);
  });
}

// The visible layer of rows r0 .. r0 + n - 1, x [n, nv] = h W^T, made the reconstruction with the
// draws of the visible segment at `segment`: Bernoulli states; Gaussian means vb + sigma x (plus sigma
// times the segment's normals when sampled); categorical one-hot states, each site's softmax drawn
// with one uniform.
void sample_visible(const cd_step_context& c, int n, float* x, std::size_t segment, std::size_t r0, float* buf) {
  const model_params& p = c.p;
  const int nv = c.nv;
  if (c.states > 0) {
    in_chunks(c.uniforms, n, c.sites, segment + r0 * c.sites, buf, [&](int r, int m, const float* u) {
      float* xr = x + std::size_t(r) * nv;
      cpu::categorical_mean_rows(xr, p.vb.data(), m, c.sites, c.states);
      cpu::categorical_draw_rows(xr, u, m, c.sites, c.states);
    });
  } else if (!c.gauss) {
    sample_rows(c.uniforms, x, p.vb.data(), n, nv, segment + r0 * nv, buf);
  } else if (!c.cfg.visible_sample) {
    cpu::gaussian_visible_rows(x, p.vb.data(), p.sigma.data(), nullptr, n, nv);
  } else {
    in_chunks(*c.normals, n, nv, segment + r0 * nv, buf, [&](int r, int m, const float* z) {
      cpu::gaussian_visible_rows(x + std::size_t(r) * nv, p.vb.data(), p.sigma.data(), z, m, nv);
    });
  }
}

// The negative chain of rows r0 .. r0 + n - 1 (CD-k from h0, or PCD-k from the persistent states,
// missing chains seeded from the data), leaving the last reconstruction in ws.vs, its hidden means in
// ws.hp and states in ws.hs. Returns the first reconstruction's summed squared error.
template <class SampleHidden, class HiddenView>
double gibbs_chain(const cd_step_context& c, std::size_t r0, int n, float* ubuf, SampleHidden&& sample_hidden,
                   HiddenView&& hidden_view) {
  const int nv = c.nv, nh = c.nh;
  cd_workspace& ws = c.ws;
  const std::size_t oh = r0 * nh, ov = r0 * nv, nhn = std::size_t(n) * nh;
  float *hs = ws.hs.data() + oh, *hp = ws.hp.data() + oh, *vs = ws.vs.data() + ov;
  if (c.cfg.pcd) {
    float* chain = c.st.chain_h.data();
    for (std::size_t r = std::max<std::size_t>(r0, c.old_chains); r < r0 + n; ++r)
      std::copy_n(ws.h0s.data() + r * nh, nh, chain + r * nh);
    std::copy_n(chain + oh, nhn, hs);
  } else {
    std::copy_n(ws.h0s.data() + oh, nhn, hs);
  }
  double err = 0;
  for (int step = 0; step < c.cfg.k; ++step) {
    cpu_visible_pre(c.p, hs, n, vs);
    sample_visible(c, n, vs, c.lay.v(step), r0, ubuf);
    if (step == 0) err = cpu::squared_error(c.v0 + ov, vs, std::size_t(n) * nv);
    cpu_hidden_pre(c.p, hidden_view(vs, c.scaled ? ws.ss.data() + ov : nullptr), n, hp);
    sample_hidden(hp, c.lay.h(step) + oh, hs);
  }
  if (c.cfg.pcd) std::copy_n(hs, nhn, c.st.chain_h.data() + oh);
  return err;
}

// One Gibbs sweep of every replica of chains r0 .. r0 + n - 1 (m = n x R rows of st.tempered_*, chain-
// major) at its own beta: v ~ p_beta(v | h) from beta h W^T, then h ~ p_beta(h | v) from beta (hb + v' W),
// the unscaled input hb + v' W kept in ws.tempered_a, the means in ws.tempered_x.
void tempered_sweep(const cd_step_context& c, std::size_t r0, int n, int step, float* ubuf) {
  const model_params& p = c.p;
  cd_workspace& ws = c.ws;
  const int nv = c.nv, nh = c.nh, R = c.replicas, m = n * R;
  const std::size_t q0 = r0 * R;  // first replica row
  float *tv = c.st.tempered_v.data() + q0 * nv, *th = c.st.tempered_h.data() + q0 * nh;
  float *a = ws.tempered_a.data() + q0 * nh, *x = ws.tempered_x.data() + q0 * nh;
  cpu_visible_pre(p, th, m, tv);
  for (int q = 0; q < m; ++q) {
    const float beta = tempering_beta(q % R, R);
    for (float *e = tv + std::size_t(q) * nv, *end = e + nv; e != end; ++e) *e *= beta;
  }
  sample_visible(c, m, tv, c.lay.v(step), q0, ubuf);
  const float* view = tv;
  if (c.scaled) {
    cpu::scale_by_sigma_rows(tv, p.sigma.data(), m, nv, ws.tempered_view.data() + q0 * nv);
    view = ws.tempered_view.data() + q0 * nv;
  }
  cpu_hidden_pre(p, view, m, a);
  for (int q = 0; q < m; ++q) {
    const float beta = tempering_beta(q % R, R);
    for (int j = 0; j < nh; ++j) {
      const std::size_t i = std::size_t(q) * nh + j;
      a[i] += p.hb[j];
      x[i] = beta * a[i];
    }
  }
  in_chunks(c.uniforms, m, nh, c.lay.h(step) + q0 * nh, ubuf, [&](int r, int rows, const float* u) {
    const std::size_t o = std::size_t(r) * nh;
    cpu::hidden_sample_rows(c.cfg.hidden, x + o, ws.zero_h.data(), u, rows, nh, th + o);
  });
}

// Metropolis swaps of neighbouring temperatures' states, chain by chain, t = 0, 1, .., R - 2 in turn
// with the swap segment's uniform of (chain, t): accepted with probability
// min(1, exp((beta_{t+1} - beta_t) (G_t - G_{t+1}))), G = hb.h + v' W h (the tempered part of -E).
void tempered_swaps(const cd_step_context& c, std::size_t r0, int n, float* ubuf) {
  cd_workspace& ws = c.ws;
  const int nv = c.nv, nh = c.nh, R = c.replicas;
  const std::size_t q0 = r0 * R;
  double* g = ws.tempered_g.data() + q0;
  for (int q = 0; q < n * R; ++q) {
    const float *a = ws.tempered_a.data() + (q0 + q) * nh, *h = c.st.tempered_h.data() + (q0 + q) * nh;
    double sum = 0;
    for (int j = 0; j < nh; ++j) sum += double(a[j]) * h[j];
    g[q] = sum;
  }
  in_chunks(c.uniforms, n, R - 1, c.lay.swap() + r0 * (R - 1), ubuf, [&](int r, int rows, const float* u) {
    for (int i = 0; i < rows; ++i) {
      const std::size_t chain = std::size_t(r + i) * R;  // within the part
      for (int t = 0; t + 1 < R; ++t) {
        const double d = double(tempering_beta(t + 1, R) - tempering_beta(t, R)) * (g[chain + t] - g[chain + t + 1]);
        if (!(double(u[std::size_t(i) * (R - 1) + t]) < std::exp(std::min(0.0, d)))) continue;
        const std::size_t lo = q0 + chain + t, hi = lo + 1;
        std::swap_ranges(c.st.tempered_v.begin() + lo * nv, c.st.tempered_v.begin() + hi * nv,
                         c.st.tempered_v.begin() + hi * nv);
        std::swap_ranges(c.st.tempered_h.begin() + lo * nh, c.st.tempered_h.begin() + hi * nh,
                         c.st.tempered_h.begin() + hi * nh);
        std::swap(g[chain + t], g[chain + t + 1]);
      }
    }
  });
}

// Parallel tempering's negative phase for chains r0 .. r0 + n - 1 (new chains seeded with their data
// row and h0 at every temperature): k sweeps of every replica, the beta = 1 replica's state and hidden
// means as the negative statistics (ws.vs, ws.hs, ws.hp, and ws.ss = vs / sigma where scaled), then the
// swaps. Returns the summed squared error of the data's mean-field reconstruction (E[v | E[h | v]]).
double tempered_chains(const cd_step_context& c, std::size_t r0, int n, float* ubuf) {
  cd_workspace& ws = c.ws;
  const int nv = c.nv, nh = c.nh, R = c.replicas;
  for (std::size_t r = std::max<std::size_t>(r0, c.old_chains); r < r0 + n; ++r)
    for (int t = 0; t < R; ++t) {
      std::copy_n(c.v0 + r * nv, nv, c.st.tempered_v.data() + (r * R + t) * nv);
      std::copy_n(ws.h0s.data() + r * nh, nh, c.st.tempered_h.data() + (r * R + t) * nh);
    }
  float *vs = ws.vs.data() + r0 * nv, *hp = ws.hp.data() + r0 * nh, *hs = ws.hs.data() + r0 * nh;
  cpu_visible_probs(c.p, ws.h0p.data() + r0 * nh, n, vs);
  const double err = cpu::squared_error(c.v0 + r0 * nv, vs, std::size_t(n) * nv);
  for (int step = 0; step < c.cfg.k; ++step) tempered_sweep(c, r0, n, step, ubuf);
  for (int r = 0; r < n; ++r) {
    const std::size_t top = (r0 + r) * R + R - 1;  // the beta = 1 replica
    std::copy_n(c.st.tempered_v.data() + top * nv, nv, vs + std::size_t(r) * nv);
    std::copy_n(ws.tempered_x.data() + top * nh, nh, hp + std::size_t(r) * nh);
    std::copy_n(c.st.tempered_h.data() + top * nh, nh, hs + std::size_t(r) * nh);
  }
  if (c.scaled) cpu::scale_by_sigma_rows(vs, c.p.sigma.data(), n, nv, ws.ss.data() + r0 * nv);
  tempered_swaps(c, r0, n, ubuf);
  return err;
}

// The Gibbs chain of part t's rows through all k steps (every row is independent), and that part's
// share of the bias gradients while its rows are still in cache. (Working through a part's rows in
// cache-sized blocks measured no faster, up to batch 4096.)
void cd_chain_part(const cd_step_context& c, int t) {
  model_params& p = c.p;
  cd_workspace& ws = c.ws;
  const cd_config& cfg = c.cfg;
  const cd_draw_layout& lay = c.lay;
  const uniform_source& uniforms = c.uniforms;
  const int rows = c.rows, parts = c.parts, nv = c.nv, nh = c.nh;
  const bool scaled = c.scaled, learn_sigma = c.learn_sigma;
  const float* hpos = cfg.hidden_bias_from_states ? ws.h0s.data() : ws.h0p.data();
  const float* hneg = cfg.hidden_bias_from_states ? ws.hs.data() : ws.hp.data();
  const auto [r0, r1] = cpu::split(rows, parts, t);
  const int n = int(r1 - r0);  // >= 1: parts <= rows
  const std::size_t oh = r0 * nh, ov = r0 * nv;
  float *h0p = ws.h0p.data() + oh, *h0s = ws.h0s.data() + oh, *hp = ws.hp.data() + oh, *vs = ws.vs.data() + ov;
  const float* v = c.v0 + ov;
  float* ubuf = ws.u[t].data();
  // Hidden pre-activations x [n, nh] become the means, `states` the draws (one uniform per unit).
  auto sample_hidden = [&](float* x, std::size_t offset, float* states) {
    in_chunks(uniforms, n, nh, offset, ubuf, [&](int r, int m, const float* u) {
      const std::size_t o = std::size_t(r) * nh;
      cpu::hidden_sample_rows(cfg.hidden, x + o, p.hb.data(), u, m, nh, states + o);
    });
  };
  // What the hidden layer sees of visible rows v [n, nv]: v itself, or v / sigma (into `scaled`).
  auto hidden_view = [&](const float* vv, float* out) -> const float* {
    if (!scaled) return vv;
    cpu::scale_by_sigma_rows(vv, p.sigma.data(), n, nv, out);
    return out;
  };

  // Learned sigma: the column sums over this thread's rows of -dE/dz_i = (v_i - b_i)^2 / sigma_i^2 -
  // (v_i / sigma_i) x_i, x = h W^T with the hidden probabilities h, at the data (sign +1) and at the
  // chain's end (sign -1), with the parameters before this update.
  float* gz = learn_sigma ? ws.grad_z.data() + std::size_t(t) * nv : nullptr;
  if (learn_sigma) std::fill_n(gz, nv, 0.0f);
  auto sigma_terms = [&](const float* vv, const float* hprob, float sign) {
    float* x = ws.xs.data() + ov;
    cpu_visible_pre(p, hprob, n, x);
    for (int r = 0; r < n; ++r)
      for (int i = 0; i < nv; ++i) {
        gz[i] += sign * gaussian_units::log_sigma_gradient(vv[std::size_t(r) * nv + i], p.vb[i], p.sigma[i],
                                                           x[std::size_t(r) * nv + i]);
      }
  };

  // Positive phase.
  cpu_hidden_pre(p, hidden_view(v, scaled ? ws.s0.data() + ov : nullptr), n, h0p);
  sample_hidden(h0p, lay.h0() + oh, h0s);
  if (learn_sigma) sigma_terms(v, h0p, 1.0f);

  double err = 0;
  if (c.replicas > 1)
    err = tempered_chains(c, r0, n, ubuf);
  else
    err = gibbs_chain(c, r0, n, ubuf, sample_hidden, hidden_view);
  ws.err[t] = err;
  if (learn_sigma) sigma_terms(vs, hp, -1.0f);

  // This thread's share of the bias gradients, while its rows are still in cache.
  cpu::column_diff_sums(v, vs, n, nv, 0, nv, ws.grad_v.data() + std::size_t(t) * nv);
  cpu::column_diff_sums(hpos + oh, hneg + oh, n, nh, 0, nh, ws.grad_h.data() + std::size_t(t) * nh);
  if (cfg.sparsity_cost > 0) {
    float* act = ws.act.data() + std::size_t(t) * nh;
    std::fill_n(act, nh, 0.0f);
    for (int r = 0; r < n; ++r)
      for (int j = 0; j < nh; ++j) act[j] += h0p[std::size_t(r) * nh + j];
  }
}

// Unit i's entry of the parts' partial column sums [parts, n], added in part order.
float summed(const std::vector<float>& partial, int parts, int n, std::size_t i) {
  float g = 0;
  for (int q = 0; q < parts; ++q) g += partial[std::size_t(q) * n + i];
  return g;
}

// Visible unit i's bias gradient, the batch mean: the data's minus the reconstructions' values, over
// sigma^2 for a Gaussian unit (dE/dvb is -(v - vb) / sigma^2).
float visible_bias_gradient(const cd_step_context& c, std::size_t i) {
  const float g = summed(c.ws.grad_v, c.parts, c.nv, i) * (1.0f / c.rows);
  return c.gauss ? g / (c.p.sigma[i] * c.p.sigma[i]) : g;
}

// Hidden unit j's bias gradient, the batch mean, with the sparsity term where asked.
float hidden_bias_gradient(const cd_step_context& c, std::size_t j) {
  const float inv_rows = 1.0f / c.rows;
  float g = summed(c.ws.grad_h, c.parts, c.nh, j) * inv_rows;
  if (c.cfg.sparsity_cost > 0) g += c.cfg.sparsity_cost * (c.cfg.sparsity_target - summed(c.ws.act, c.parts, c.nh, j) * inv_rows);
  return g;
}

// Rows [i0, i0 + m) of out [nv, nh] = beta out + scale (V0' H0p - V' Hp): the weight gradient, pairing
// the hidden layer's view of each visible row (v / sigma for Gaussian units) with its hidden means.
void weight_gradient_rows(const cd_step_context& c, std::size_t i0, int m, float scale, float beta, float* out) {
  const float* pos_v = c.scaled ? c.ws.s0.data() : c.v0;
  const float* neg_v = c.scaled ? c.ws.ss.data() : c.ws.vs.data();
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, c.nh, c.rows, scale, pos_v + i0, c.nv, c.ws.h0p.data(), c.nh,
              beta, out, c.nh);
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, c.nh, c.rows, -scale, neg_v + i0, c.nv, c.ws.hp.data(), c.nh,
              1.0f, out, c.nh);
}

// A bias moved along its batch-mean gradient g: Adam's step (adam given; m and *sq its moments), or
// SGD's velocity m = momentum m + lr g; value += the step.
void move_bias(const cd_config& cfg, const adam_rule* adam, float& value, float g, float& m, float* sq) {
  if (adam != nullptr) {
    value += adam->step(g, m, *sq);
    return;
  }
  m = cfg.momentum * m + cfg.lr * g;
  value += m;
}

// Unit i's sigma moved along its batch-mean gradient of log sigma g: Adam's step on log sigma, or SGD's
// velocity and the variance's natural-gradient step (gaussian_units::variance_step); floored.
void move_sigma(const cd_step_context& c, const adam_rule* adam, std::size_t i, float g) {
  cd_state& st = c.st;
  float& sigma = c.p.sigma[i];
  if (adam != nullptr) {
    sigma = gaussian_units::log_sigma_step(sigma, adam->step(g, st.vel_log_sigma[i], st.sq_log_sigma[i]), c.cfg.sigma_floor);
    return;
  }
  st.vel_log_sigma[i] = c.cfg.momentum * st.vel_log_sigma[i] + c.cfg.lr * g;
  sigma = gaussian_units::variance_step(sigma, st.vel_log_sigma[i], c.cfg.sigma_floor);
}

// Part t's rows of the gradient apart from its application (Adam, or a gradient hook): W's rows in
// ws.grad_w (two GEMMs, beta 0), the biases' batch means in ws.grad_vb / grad_hb, log sigma's mean in
// ws.grad_log_sigma (before any bound).
void cd_gradient_part(const cd_step_context& c, int t) {
  cd_workspace& ws = c.ws;
  const int rows = c.rows, parts = c.parts, nv = c.nv, nh = c.nh;
  const auto [i0, i1] = cpu::split(nv, parts, t);
  if (i1 > i0)
    weight_gradient_rows(c, i0, int(i1 - i0), c.cfg.sum_weight_gradient ? 1.0f : 1.0f / rows, 0.0f,
                         ws.grad_w.data() + i0 * nh);
  for (std::size_t i = i0; i < i1; ++i) {
    ws.grad_vb[i] = visible_bias_gradient(c, i);
    if (c.learn_sigma) ws.grad_log_sigma[i] = summed(ws.grad_z, parts, nv, i) * (1.0f / rows);
  }
  const auto [j0, j1] = cpu::split(nh, parts, t);
  for (std::size_t j = j0; j < j1; ++j) ws.grad_hb[j] = hidden_bias_gradient(c, j);
}

// Part t's share of the stored gradient applied: Adam's step, with the decoupled decay
// lr x weight_decay x W; or SGD's vel = momentum * vel + lr * g, then the decay and the step on W.
void cd_apply_part(const cd_step_context& c, int t) {
  model_params& p = c.p;
  cd_state& st = c.st;
  const cd_workspace& ws = c.ws;
  const cd_config& cfg = c.cfg;
  const int nh = c.nh;
  const bool adam_rule_on = cfg.update_rule == optimizer::adam;
  const adam_rule rule = adam_rule::at(cfg.lr, st.updates + 1);
  const adam_rule* adam = adam_rule_on ? &rule : nullptr;
  const float decay = cfg.lr * cfg.weight_decay;
  const auto [i0, i1] = cpu::split(c.nv, c.parts, t);
  const std::size_t o = i0 * nh, n = (i1 - i0) * nh;
  const float* g = ws.grad_w.data() + o;
  float *w = p.w.data() + o, *mw = st.vel_w.data() + o;
  if (adam_rule_on) {
    float* sw = st.sq_w.data() + o;
    for (std::size_t k = 0; k < n; ++k) w[k] += rule.step(g[k], mw[k], sw[k]) - decay * w[k];
  } else if (n > 0) {
    for (std::size_t k = 0; k < n; ++k) mw[k] = cfg.momentum * mw[k] + cfg.lr * g[k];
    cpu::apply_weight_step(w, mw, n, decay);
  }
  for (std::size_t i = i0; i < i1; ++i) {
    move_bias(cfg, adam, p.vb[i], ws.grad_vb[i], st.vel_vb[i], adam_rule_on ? &st.sq_vb[i] : nullptr);
    if (c.learn_sigma) move_sigma(c, adam, i, ws.grad_log_sigma[i]);
  }
  const auto [j0, j1] = cpu::split(nh, c.parts, t);
  for (std::size_t j = j0; j < j1; ++j)
    move_bias(cfg, adam, p.hb[j], ws.grad_hb[j], st.vel_hb[j], adam_rule_on ? &st.sq_hb[j] : nullptr);
}

// Part t's rows of W and share of the biases: vel = momentum * vel + lr * (gradient - decay * W);
// W += vel. The momentum scaling rides on the first GEMM's beta, the decay and the step on one pass
// after the second.
void cd_update_part(const cd_step_context& c, int t) {
  model_params& p = c.p;
  cd_state& st = c.st;
  cd_workspace& ws = c.ws;
  const cd_config& cfg = c.cfg;
  const int rows = c.rows, parts = c.parts, nv = c.nv, nh = c.nh;
  const bool learn_sigma = c.learn_sigma;
  const float scale = cfg.sum_weight_gradient ? cfg.lr : cfg.lr / rows;
  const float inv_rows = 1.0f / rows;
  const auto [i0, i1] = cpu::split(nv, parts, t);
  if (i1 > i0) {
    const int m = int(i1 - i0);
    float* vel = st.vel_w.data() + i0 * nh;
    weight_gradient_rows(c, i0, m, scale, cfg.momentum, vel);
    cpu::apply_weight_step(p.w.data() + i0 * nh, vel, std::size_t(m) * nh, cfg.lr * cfg.weight_decay);
    for (std::size_t i = i0; i < i1; ++i) {
      move_bias(cfg, nullptr, p.vb[i], visible_bias_gradient(c, i), st.vel_vb[i], nullptr);
      if (learn_sigma) move_sigma(c, nullptr, i, summed(ws.grad_z, parts, nv, i) * inv_rows);  // both phases' mean
    }
  }
  const auto [j0, j1] = cpu::split(nh, parts, t);
  for (std::size_t j = j0; j < j1; ++j) move_bias(cfg, nullptr, p.hb[j], hidden_bias_gradient(c, j), st.vel_hb[j], nullptr);
}

}  // namespace

float cpu_cd_step(model_params& p, cd_state& st, const float* v0, int rows, const uniform_source& uniforms,
                  const cd_config& cfg, cd_workspace& ws, const uniform_source* normals, const gradient_hook* hook) {
  RBM_EXPECTS(rows > 0 && cfg.k >= 1 && p.nv == cfg.nv && p.nh == cfg.nh && cfg.hidden == p.hidden);
  const bool gauss = cfg.visible == unit_kind::gaussian;
  RBM_EXPECTS(cfg.visible == p.visible && (!gauss || p.sigma.size() == std::size_t(p.nv)));
  RBM_EXPECTS(!p.categorical() || (p.states >= 2 && cfg.states == p.states && p.nv % p.states == 0));
  RBM_EXPECTS(!(gauss && cfg.visible_sample) || normals != nullptr);
  // v / 1 is v exactly: with every sigma 1 (the default, fixed) the hidden layer reads the visible rows
  // themselves, and the scaling passes and their buffers are skipped.
  const bool scaled = gauss && !std::all_of(p.sigma.begin(), p.sigma.end(), [](float x) { return x == 1.0f; });
  // Parts of the work: one per thread, but at least min_rows_per_part batch rows each (a team of
  // many threads on a small batch leaves the surplus idle); one part runs on the calling thread.
  const int parts = ws.team != nullptr ? std::clamp(rows / min_rows_per_part, 1, ws.team->size()) : 1;
  const cd_step_context c{p, st, v0, rows, uniforms, normals, cfg, ws, make_draw_layout(rows, cfg), p.nv, p.nh,
                          parts, st.chains, gauss, scaled, gauss && cfg.learn_sigma,
                          p.categorical() ? p.sites() : 0, p.categorical() ? p.states : 0, replicas_of(cfg),
                          hook != nullptr && *hook ? hook : nullptr};
  prepare_cd_step(c);
  const cpu::blas_single_threaded blas_guard(parts > 1);
  cpu::run_parts(ws.team, parts, [&c](int t) { cd_chain_part(c, t); });
  if (cfg.pcd || c.replicas > 1) st.chains = std::max(c.old_chains, rows);
  if (cfg.update_rule == optimizer::adam || c.hook != nullptr) {  // the gradient, the hook, then the update
    cpu::run_parts(ws.team, parts, [&c](int t) { cd_gradient_part(c, t); });
    if (c.hook != nullptr) {
      gradient_view g{ws.grad_w.data(), ws.grad_vb.data(), ws.grad_hb.data(),
                      c.learn_sigma ? ws.grad_log_sigma.data() : nullptr, p.nv, p.nh, rows};
      (*c.hook)(g);
    }
    cpu::run_parts(ws.team, parts, [&c](int t) { cd_apply_part(c, t); });
    if (cfg.update_rule == optimizer::adam) ++st.updates;
  } else {  // SGD fused: the momentum rides on the first GEMM's beta
    cpu::run_parts(ws.team, parts, [&c](int t) { cd_update_part(c, t); });
  }
  double err = 0;
  for (double e : ws.err) err += e;
  return static_cast<float>(err / (double(rows) * p.nv));
}

namespace {

// W ~ N(0, 0.01^2) from the initialisation generator; the visible biases from the data's per-unit
// means (value(r, i) is row r's value i, `scale` what a value of 1 is: 255 for pixels): the log-odds of
// the means clipped to [0.001, 0.999] for Bernoulli units, the means themselves for Gaussian ones.
// `zero`: W = 0 and, for Bernoulli units, the biases too.
template <class Value>
model_params initial_params(int nv, int nh, unit_kind kind, int rows, std::uint64_t seed, bool zero, double scale,
                            Value value, int states = 0) {
  RBM_EXPECTS(nv > 0 && nh > 0);
  model_params p(nv, nh, kind);
  p.states = states;
  const bool gauss = kind == unit_kind::gaussian;
  if (zero && !gauss) return p;
  if (!zero) {
    cpu::philox_stream gen(seed ^ init_seed_salt);
    gen.normal(p.w.data(), p.w.size(), 0.0f, 0.01f);
  }
  if (rows > 0) {
    std::vector<double> mean(nv, 0.0);
    for (int r = 0; r < rows; ++r)
      for (int i = 0; i < nv; ++i) mean[i] += value(r, i);
    for (int i = 0; i < nv; ++i) {
      const double q = gauss ? mean[i] / (scale * rows) : std::clamp(mean[i] / (scale * rows), 0.001, 0.999);
      p.vb[i] = static_cast<float>(gauss ? q : states > 0 ? std::log(q) : std::log(q / (1.0 - q)));
    }
  }
  return p;
}

}  // namespace

model_params init_params(int nv, int nh, const std::uint8_t* data, int rows, std::uint64_t seed, bool zero) {
  return initial_params(nv, nh, unit_kind::bernoulli, rows, seed, zero, 255.0,
                        [&](int r, int i) { return double(data[std::size_t(r) * nv + i]); });
}

model_params init_params_from_values(int nv, int nh, const float* data, int rows, std::uint64_t seed, bool zero) {
  return initial_params(nv, nh, unit_kind::bernoulli, rows, seed, zero, 1.0,
                        [&](int r, int i) { return double(data[std::size_t(r) * nv + i]); });
}

model_params init_categorical_params(int nv, int nh, int states, const float* data, int rows, std::uint64_t seed,
                                     bool zero) {
  RBM_EXPECTS(states >= 2 && nv % states == 0);
  return initial_params(nv, nh, unit_kind::categorical, rows, seed, zero, 1.0,
                        [&](int r, int i) { return double(data[std::size_t(r) * nv + i]); }, states);
}

model_params init_gaussian_params(int nv, int nh, const float* data, int rows, std::uint64_t seed, bool zero) {
  return initial_params(nv, nh, unit_kind::gaussian, rows, seed, zero, 1.0,
                        [&](int r, int i) { return double(data[std::size_t(r) * nv + i]); });
}

cpu_backend::cpu_backend(const cd_config& cfg)
    : cfg_(cfg), params_(cfg.nv, cfg.nh), team_(std::make_unique<cpu::thread_team>(openblas_get_num_threads())) {
  RBM_EXPECTS(cfg.nv > 0 && cfg.nh > 0 && cfg.k >= 1);
  ws_.team = team_.get();
  class_ws_.team = team_.get();
}

cpu_backend::~cpu_backend() = default;

int cpu_backend::threads() const { return team_->size(); }

std::string cpu_backend::name() const {
  return std::string("cpu (") + std::to_string(team_->size()) + " threads, OpenBLAS)";
}

void cpu_backend::set_params(const model_params& p) {
  RBM_EXPECTS(p.nv == cfg_.nv && p.nh == cfg_.nh && p.visible == cfg_.visible && p.hidden == cfg_.hidden);
  RBM_EXPECTS(!p.gaussian() || p.sigma.size() == std::size_t(p.nv));
  RBM_EXPECTS(p.w.size() == std::size_t(p.nv) * p.nh && p.vb.size() == std::size_t(p.nv) &&
              p.hb.size() == std::size_t(p.nh));
  params_ = p;
}

void backend::check_indices(const int* idx, int rows) const {
  RBM_EXPECTS(attached_.rows > 0 && idx != nullptr && rows > 0);
  for (int r = 0; r < rows; ++r) RBM_EXPECTS(idx[r] >= 0 && idx[r] < attached_.rows);
}

void backend::column_statistics(const float* data, int n, int d, std::vector<float>& mean, std::vector<float>& sd) {
  fit_independent_gaussians(data, n, d, mean, sd);
}

void train_on(backend& be, const rows_view& rows, const step_objective& objective) {
  std::vector<int> idx(std::size_t(std::max(rows.rows, 0)));
  for (int r = 0; r < rows.rows; ++r) idx[r] = r;
  be.attach(rows);
  be.step(idx.data(), rows.rows, objective);
}

attach_summary cpu_backend::attach(const rows_view& rows, const attach_options&) {
  if (rows.device != nullptr)
    throw precondition_error("the " + name() + " backend reads host memory: training rows in GPU memory need the CUDA backend");
  RBM_EXPECTS((rows.pixels != nullptr || rows.values != nullptr) && rows.rows > 0 && rows.cols == cfg_.nv);
  attached_ = rows;
  return {};
}

void cpu_backend::gather(const int* idx, int rows, float* dst) const {
  const int nv = cfg_.nv;
  for (int r = 0; r < rows; ++r, dst += nv) {
    const std::size_t at = std::size_t(idx[r]) * nv;
    if (attached_.values != nullptr)
      std::copy_n(attached_.values + at, nv, dst);
    else
      cpu::scale_bytes(attached_.pixels + at, nv, pixel_to_unit(1), dst);
  }
}

void cpu_backend::step(const int* idx, int rows, const step_objective& objective) {
  check_indices(idx, rows);
  if (params_.labeled())
    label_step(idx, rows, objective);
  else if (objective.discriminative > 0)
    throw precondition_error("a discriminative update needs a model with a label group");
  else
    cd_step(idx, rows, objective.on_gradient);
}

void cpu_backend::label_step(const int* idx, int rows, const step_objective& objective) {
  if (attached_.labels == nullptr) throw precondition_error("a label group's update needs the rows' labels attached");
  if (objective.on_gradient)
    throw precondition_error("a gradient hook sees the CD step's gradient; a label group's update has none yet");
  grow(v0_, std::size_t(rows) * cfg_.nv);
  gather(idx, rows, v0_.data());
  labels_.resize(rows);
  for (int r = 0; r < rows; ++r) labels_[r] = attached_.labels[idx[r]];
  const std::uint64_t seed = cfg_.seed, position = state_.rng_position;
  const label_uniforms uniforms = [seed, position](std::size_t offset, std::size_t n, float* out) {
    cpu::philox_uniforms(seed, position + offset, out, n);
  };
  const label_uniforms normals = [seed, position](std::size_t offset, std::size_t n, float* out) {
    cpu::philox_normals(seed, position + offset, out, n);
  };
  const float gen = objective.generative, disc = objective.discriminative;
  const label_step_result r = cpu_label_step(params_, state_, v0_.data(), labels_.data(), rows, cfg_, disc, gen,
                                             uniforms, class_ws_, &normals);
  if (gen > 0) {
    state_.rng_position += make_label_draw_layout(rows, cfg_).total();
    sums_.squared_error += r.reconstruction_error * double(rows) * cfg_.nv;
    sums_.values += double(rows) * cfg_.nv;
  }
  if (disc > 0) {
    sums_.class_loss += r.class_loss * rows;
    sums_.labeled_rows += rows;
  }
}

void cpu_backend::cd_step(const int* idx, int rows, const gradient_hook& on_gradient) {
  const std::size_t n = std::size_t(rows) * cfg_.nv;
  grow(v0_, n);
  team_->run([&](int t) {  // each thread gathers its share of the rows
    const auto [r0, r1] = cpu::split(rows, team_->size(), t);
    gather(idx + r0, int(r1 - r0), v0_.data() + r0 * cfg_.nv);
  });
  // The threads draw their uniforms (and normals) where they use them: Philox seeks to any position.
  const std::uint64_t seed = cfg_.seed, position = state_.rng_position;
  const uniform_source normals = [seed, position](std::size_t offset, std::size_t count, float* out) {
    cpu::philox_normals(seed, position + offset, out, count);
  };
  const float err = cpu_cd_step(
      params_, state_, v0_.data(), rows,
      [seed, position](std::size_t offset, std::size_t count, float* out) {
        cpu::philox_uniforms(seed, position + offset, out, count);
      },
      cfg_, ws_, &normals, &on_gradient);
  state_.rng_position += make_draw_layout(rows, cfg_).total();
  sums_.squared_error += double(err) * double(n);
  sums_.values += double(n);
}

train_sums cpu_backend::take_sums() {
  const train_sums s = sums_;
  sums_ = {};
  return s;
}

training_state cpu_backend::state() const {
  training_state st = state_;
  if (st.vel_w.empty()) {  // no update yet: zero momentum
    st.vel_w.assign(std::size_t(cfg_.nv) * cfg_.nh, 0.0f);
    st.vel_vb.assign(cfg_.nv, 0.0f);
    st.vel_hb.assign(cfg_.nh, 0.0f);
  }
  return st;
}

void cpu_backend::set_state(const training_state& st) {
  RBM_EXPECTS(st.vel_w.size() == std::size_t(cfg_.nv) * cfg_.nh && st.vel_vb.size() == std::size_t(cfg_.nv) &&
              st.vel_hb.size() == std::size_t(cfg_.nh) && st.chains >= 0);
  const std::size_t tempered = std::size_t(st.chains) * std::size_t(replicas_of(cfg_));
  if (replicas_of(cfg_) > 1)  // parallel tempering's chains, or none yet
    RBM_EXPECTS(st.chain_h.empty() && st.tempered_v.size() == tempered * cfg_.nv &&
                st.tempered_h.size() == tempered * cfg_.nh);
  else
    RBM_EXPECTS(st.tempered_v.empty() && st.chain_h.size() == std::size_t(st.chains) * cfg_.nh &&
                (st.chains == 0 || cfg_.pcd));
  RBM_EXPECTS(st.vel_log_sigma.empty() || st.vel_log_sigma.size() == std::size_t(cfg_.nv));
  state_ = st;
}

void cpu_backend::set_rates(float lr, float momentum) {
  RBM_EXPECTS(lr > 0 && momentum >= 0 && momentum < 1);
  cfg_.lr = lr;
  cfg_.momentum = momentum;
}

ais_result cpu_backend::ais_log_z(const std::vector<float>& base_vb, const ais_options& opt) {
  return rbm::ais_log_z(params_, base_vb, opt, team_.get());
}

eval_result cpu_backend::evaluate(const rows_view& rows) {
  RBM_EXPECTS(rows.rows <= 0 || rows.cols == cfg_.nv);
  return evaluate_rows(params_, cfg_.seed, rows, team_.get());
}

}  // namespace rbm
