// CPU backend: the CD-k update with OpenBLAS SGEMM (row-major through CBLAS) and the shared scalar maths.
#include "rbm/host/cpu_backend.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>

#include "rbm/error.hpp"
#include "rbm/host/cpu_kernels.hpp"
#include "rbm/host/evaluation.hpp"
#include "rbm/host/philox.hpp"
#include "rbm/math.hpp"

namespace rbm {
namespace {

constexpr std::uint64_t init_seed_salt = 0xbf58476d1ce4e5b9ull;

void sample(const float* prob, const float* u, std::size_t n, float* out) { cpu::sample(prob, u, n, out); }

// Column means of (pos - neg) [rows, cols], summed over rows in order 0..rows-1 for each column (the
// GPU kernel's order), row by row so that the inner loop runs along memory.
void column_diff_sums(const float* pos, const float* neg, int rows, int cols, std::vector<float>& g) {
  g.assign(cols, 0.0f);
  for (int r = 0; r < rows; ++r) {
    const float* a = pos + std::size_t(r) * cols;
    const float* b = neg + std::size_t(r) * cols;
    for (int c = 0; c < cols; ++c) g[c] += a[c] - b[c];
  }
}

void grow(std::vector<float>& v, std::size_t n) {
  if (v.size() < n) v.resize(n);
}

}  // namespace

void cpu_hidden_probs(const model_params& p, const float* v, int rows, float* out) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, p.nh, p.nv, 1.0f, v, p.nv, p.w.data(), p.nh, 0.0f, out,
              p.nh);
  cpu::sigmoid_rows(out, p.hb.data(), rows, p.nh);
}

void cpu_visible_probs(const model_params& p, const float* h, int rows, float* out) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, p.nv, p.nh, 1.0f, h, p.nh, p.w.data(), p.nh, 0.0f, out,
              p.nv);
  cpu::sigmoid_rows(out, p.vb.data(), rows, p.nv);
}

float cpu_cd_step(model_params& p, cd_state& st, const float* v0, int rows, const float* uniforms,
                  const cd_config& cfg, cd_workspace& ws) {
  RBM_EXPECTS(rows > 0 && cfg.k >= 1 && p.nv == cfg.nv && p.nh == cfg.nh);
  const int nv = p.nv, nh = p.nh;
  const std::size_t nvh = std::size_t(nv) * nh, bh = std::size_t(rows) * nh, bv = std::size_t(rows) * nv;
  grow(ws.h0p, bh);
  grow(ws.h0s, bh);
  grow(ws.hp, bh);
  grow(ws.hs, bh);
  grow(ws.vs, bv);
  if (st.vel_w.size() != nvh) {
    st.vel_w.assign(nvh, 0.0f);
    st.vel_vb.assign(nv, 0.0f);
    st.vel_hb.assign(nh, 0.0f);
  }

  // Positive phase.
  cpu_hidden_probs(p, v0, rows, ws.h0p.data());
  sample(ws.h0p.data(), uniforms, bh, ws.h0s.data());
  const float* u = uniforms + bh;

  // Negative chain starts at h0 (CD) or at the persistent states (PCD).
  const float* h_start = ws.h0s.data();
  if (cfg.pcd) {
    if (st.chains < rows) {  // first batch, or a larger one: seed the missing chains from the data
      st.chain_h.resize(bh);
      std::copy(ws.h0s.begin() + std::size_t(st.chains) * nh, ws.h0s.begin() + bh,
                st.chain_h.begin() + std::size_t(st.chains) * nh);
      st.chains = rows;
    }
    h_start = st.chain_h.data();
  }
  std::copy(h_start, h_start + bh, ws.hs.begin());

  double err = 0;
  for (int step = 0; step < cfg.k; ++step) {
    cpu_visible_probs(p, ws.hs.data(), rows, ws.vs.data());
    sample(ws.vs.data(), u, bv, ws.vs.data());
    u += bv;
    if (step == 0) {
      for (std::size_t i = 0; i < bv; ++i) {
        const double d = double(v0[i]) - ws.vs[i];
        err += d * d;
      }
    }
    cpu_hidden_probs(p, ws.vs.data(), rows, ws.hp.data());
    sample(ws.hp.data(), u, bh, ws.hs.data());
    u += bh;
  }
  if (cfg.pcd) std::copy(ws.hs.begin(), ws.hs.begin() + bh, st.chain_h.begin());

  // Parameter update: vel = momentum * vel + lr * (gradient - decay * W); W += vel. The momentum scaling
  // rides on the first GEMM's beta, the decay and the step on one pass after the second.
  const float scale = cfg.sum_weight_gradient ? cfg.lr : cfg.lr / rows;
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nv, nh, rows, scale, v0, nv, ws.h0p.data(), nh, cfg.momentum,
              st.vel_w.data(), nh);
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nv, nh, rows, -scale, ws.vs.data(), nv, ws.hp.data(),
              nh, 1.0f, st.vel_w.data(), nh);
  cpu::apply_weight_step(p.w.data(), st.vel_w.data(), nvh, cfg.lr * cfg.weight_decay);

  const float inv_rows = 1.0f / rows;
  column_diff_sums(v0, ws.vs.data(), rows, nv, ws.grad);
  for (int i = 0; i < nv; ++i) {
    st.vel_vb[i] = cfg.momentum * st.vel_vb[i] + cfg.lr * (ws.grad[i] * inv_rows);
    p.vb[i] += st.vel_vb[i];
  }
  column_diff_sums(cfg.hidden_bias_from_states ? ws.h0s.data() : ws.h0p.data(),
                   cfg.hidden_bias_from_states ? ws.hs.data() : ws.hp.data(), rows, nh, ws.grad);
  if (cfg.sparsity_cost > 0) {
    ws.act.assign(nh, 0.0f);
    for (int r = 0; r < rows; ++r)
      for (int j = 0; j < nh; ++j) ws.act[j] += ws.h0p[std::size_t(r) * nh + j];
  }
  for (int j = 0; j < nh; ++j) {
    float g = ws.grad[j] * inv_rows;
    if (cfg.sparsity_cost > 0) g += cfg.sparsity_cost * (cfg.sparsity_target - ws.act[j] * inv_rows);
    st.vel_hb[j] = cfg.momentum * st.vel_hb[j] + cfg.lr * g;
    p.hb[j] += st.vel_hb[j];
  }
  return static_cast<float>(err / double(bv));
}

void cpu_free_energy(const model_params& p, const float* v, int rows, double* out) {
  std::vector<float> pre(std::size_t(rows) * p.nh);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, p.nh, p.nv, 1.0f, v, p.nv, p.w.data(), p.nh,
              0.0f, pre.data(), p.nh);
  for (int r = 0; r < rows; ++r) {
    double f = 0;
    const float* vr = v + std::size_t(r) * p.nv;
    for (int i = 0; i < p.nv; ++i) f -= double(vr[i]) * p.vb[i];
    const float* pr = pre.data() + std::size_t(r) * p.nh;
    for (int j = 0; j < p.nh; ++j) f -= softplus(pr[j] + p.hb[j]);
    out[r] = f;
  }
}

model_params init_params(int nv, int nh, const std::uint8_t* data, int rows, std::uint64_t seed, bool zero) {
  RBM_EXPECTS(nv > 0 && nh > 0);
  model_params p(nv, nh);
  if (zero) return p;
  philox_generator gen(philox_generator::where::host, seed ^ init_seed_salt);
  gen.normal(p.w.data(), p.w.size(), 0.0f, 0.01f);
  if (rows > 0) {
    std::vector<double> mean(nv, 0.0);
    for (int r = 0; r < rows; ++r)
      for (int i = 0; i < nv; ++i) mean[i] += data[std::size_t(r) * nv + i];
    for (int i = 0; i < nv; ++i) {
      const double q = std::clamp(mean[i] / (255.0 * rows), 0.001, 0.999);
      p.vb[i] = static_cast<float>(std::log(q / (1.0 - q)));
    }
  }
  return p;
}

cpu_backend::cpu_backend(const cd_config& cfg) : cfg_(cfg), params_(cfg.nv, cfg.nh) {
  RBM_EXPECTS(cfg.nv > 0 && cfg.nh > 0 && cfg.k >= 1);
}

std::string cpu_backend::name() const {
  return std::string("cpu (OpenBLAS, ") + std::to_string(openblas_get_num_threads()) + " threads)";
}

void cpu_backend::set_params(const model_params& p) {
  RBM_EXPECTS(p.nv == cfg_.nv && p.nh == cfg_.nh);
  RBM_EXPECTS(p.w.size() == std::size_t(p.nv) * p.nh && p.vb.size() == std::size_t(p.nv) &&
              p.hb.size() == std::size_t(p.nh));
  params_ = p;
}

void backend::attach_training_data(const std::uint8_t* data, int n, int nv) {
  RBM_EXPECTS(data != nullptr && n > 0 && nv > 0);
  attached_ = data;
  attached_rows_ = n;
  attached_cols_ = nv;
}

void backend::train_indices(const int* idx, int rows) {
  RBM_EXPECTS(attached_ != nullptr && idx != nullptr && rows > 0);
  const std::size_t nv = std::size_t(attached_cols_);
  gathered_.resize(std::size_t(rows) * nv);
  for (int r = 0; r < rows; ++r) {
    RBM_EXPECTS(idx[r] >= 0 && idx[r] < attached_rows_);
    std::copy_n(attached_ + std::size_t(idx[r]) * nv, nv, gathered_.data() + std::size_t(r) * nv);
  }
  train_batch(gathered_.data(), rows);
}

void cpu_backend::train_batch(const std::uint8_t* batch, int rows) {
  RBM_EXPECTS(batch != nullptr && rows > 0);
  const std::size_t n = std::size_t(rows) * cfg_.nv;
  grow(v0_, n);
  for (std::size_t i = 0; i < n; ++i) v0_[i] = pixel_to_unit(batch[i]);
  const std::size_t nu = cd_uniform_count(rows, cfg_.nv, cfg_.nh, cfg_.k);
  grow(uniforms_, nu);
  cpu::philox_uniforms(cfg_.seed, state_.rng_position, uniforms_.data(), nu);
  state_.rng_position += nu;
  const float err = cpu_cd_step(params_, state_, v0_.data(), rows, uniforms_.data(), cfg_, ws_);
  err_sum_ += double(err) * double(n);
  pixels_ += double(n);
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
              st.vel_hb.size() == std::size_t(cfg_.nh) && st.chains >= 0 &&
              st.chain_h.size() == std::size_t(st.chains) * cfg_.nh && (st.chains == 0 || cfg_.pcd));
  state_ = st;
}

void cpu_backend::set_rates(float lr, float momentum) {
  RBM_EXPECTS(lr > 0 && momentum >= 0 && momentum < 1);
  cfg_.lr = lr;
  cfg_.momentum = momentum;
}

ais_result cpu_backend::ais_log_z(const std::vector<float>& base_vb, const ais_options& opt) {
  return rbm::ais_log_z(params_, base_vb, opt);
}

eval_result cpu_backend::evaluate(const std::uint8_t* data, int rows) {
  eval_result res;
  if (rows <= 0) return res;
  const int nv = cfg_.nv, nh = cfg_.nh;
  constexpr int chunk = eval_chunk;
  std::uint64_t position = 0;  // of the evaluation sequence, restarted at every call
  std::vector<float> v(std::size_t(chunk) * nv), h(std::size_t(chunk) * nh), hs(h.size()), vr(v.size()),
      u(std::size_t(chunk) * (nh + nv));
  std::vector<double> fe(chunk);
  double err_s = 0, err_mf = 0, fe_sum = 0;
  for (int start = 0; start < rows; start += chunk) {
    const int b = std::min(chunk, rows - start);
    const std::size_t bv = std::size_t(b) * nv, bh = std::size_t(b) * nh;
    const std::uint8_t* src = data + std::size_t(start) * nv;
    for (std::size_t i = 0; i < bv; ++i) v[i] = pixel_to_unit(src[i]);
    cpu_free_energy(params_, v.data(), b, fe.data());
    for (int r = 0; r < b; ++r) fe_sum += fe[r];
    cpu_hidden_probs(params_, v.data(), b, h.data());
    cpu_visible_probs(params_, h.data(), b, vr.data());
    for (std::size_t i = 0; i < bv; ++i) {
      const double d = double(v[i]) - vr[i];
      err_mf += d * d;
    }
    cpu::philox_uniforms(cfg_.seed ^ eval_seed_salt, position, u.data(), bh + bv);
    position += bh + bv;
    sample(h.data(), u.data(), bh, hs.data());
    cpu_visible_probs(params_, hs.data(), b, vr.data());
    sample(vr.data(), u.data() + bh, bv, vr.data());
    for (std::size_t i = 0; i < bv; ++i) {
      const double d = double(v[i]) - vr[i];
      err_s += d * d;
    }
  }
  const double pixels = double(rows) * nv;
  res.err_sampled = err_s / pixels;
  res.err_mean_field = err_mf / pixels;
  res.free_energy = fe_sum / rows;
  res.samples = rows;
  return res;
}

}  // namespace rbm
