// Exact class probabilities and the discriminative update of a model with a label group.
//
// With a = c + x' W (the hidden input from the pixels) and o_y = a + U_y (from the pixels and class y),
// F(x, y) = (visible terms) - b_y - sum_j softplus(o_yj), so log p(y | x) = b_y + sum_j softplus(o_yj)
// - logsumexp. Its gradient, with p_k = p(k | x) and s_k = sigmoid(o_k):
//   d/dW_ij = x'_i (s_yj - sum_k p_k s_kj),  d/dc_j = s_yj - sum_k p_k s_kj,
//   d/dU_kj = ([k = y] - p_k) s_kj,         d/db_k = [k = y] - p_k.
#include "rbm/host/classification.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>

#include "rbm/error.hpp"
#include "rbm/math.hpp"
#include "rbm/units.hpp"

namespace rbm {
namespace {

// a [rows, nh] = c + x' W, x' the rows as the hidden layer sees them (v / sigma for Gaussian units).
const float* hidden_input(const model_params& p, const float* v, int rows, classification_workspace& ws) {
  const float* x = v;
  if (p.gaussian()) {
    ws.x.resize(std::size_t(rows) * p.nv);
    for (int r = 0; r < rows; ++r)
      for (int i = 0; i < p.nv; ++i) {
        const std::size_t at = std::size_t(r) * p.nv + i;
        ws.x[at] = gaussian_units::scaled(v[at], p.sigma[i]);
      }
    x = ws.x.data();
  }
  ws.a.resize(std::size_t(rows) * p.nh);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, p.nh, p.nv, 1.0f, x, p.nv, p.w.data(), p.nh, 0.0f,
              ws.a.data(), p.nh);
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < p.nh; ++j) ws.a[std::size_t(r) * p.nh + j] += p.hb[j];
  return x;
}

// For row r: logits [K] (b_k + sum_j softplus(a_j + U_kj)) and, when `sig` is given, s_kj [K, nh].
void row_logits(const model_params& p, const float* a, double* logits, float* sig) {
  for (int k = 0; k < p.classes; ++k) {
    const float* u = p.label_w.data() + std::size_t(k) * p.nh;
    double s = p.label_b[k];
    for (int j = 0; j < p.nh; ++j) {
      const float o = a[j] + u[j];
      s += softplus(o);
      if (sig != nullptr) sig[std::size_t(k) * p.nh + j] = sigmoid(o);
    }
    logits[k] = s;
  }
}

void check_labeled(const model_params& p) {
  RBM_EXPECTS(p.labeled() && p.label_w.size() == std::size_t(p.classes) * p.nh &&
              p.label_b.size() == std::size_t(p.classes));
}

}  // namespace

void class_log_probs(const model_params& p, const float* v, int rows, double* out) {
  check_labeled(p);
  RBM_EXPECTS(v != nullptr && out != nullptr && rows >= 0);
  if (rows == 0) return;
  classification_workspace ws;
  hidden_input(p, v, rows, ws);
  for (int r = 0; r < rows; ++r) {
    double* row = out + std::size_t(r) * p.classes;
    row_logits(p, ws.a.data() + std::size_t(r) * p.nh, row, nullptr);
    std::vector<double> prob(p.classes);
    const double lse = softmax_units::mean(row, p.classes, prob.data());
    for (int k = 0; k < p.classes; ++k) row[k] -= lse;
  }
}

double cpu_discriminative_step(model_params& p, training_state& st, const float* v, const int* y, int rows,
                               const cd_config& cfg, classification_workspace& ws) {
  check_labeled(p);
  RBM_EXPECTS(v != nullptr && y != nullptr && rows > 0 && p.nv == cfg.nv && p.nh == cfg.nh);
  const int nv = p.nv, nh = p.nh, kc = p.classes;
  for (int r = 0; r < rows; ++r) RBM_EXPECTS(y[r] >= 0 && y[r] < kc);
  if (st.vel_w.size() != std::size_t(nv) * nh) {
    st.vel_w.assign(std::size_t(nv) * nh, 0.0f);
    st.vel_vb.assign(nv, 0.0f);
    st.vel_hb.assign(nh, 0.0f);
  }
  if (st.vel_label_w.size() != p.label_w.size()) {
    st.vel_label_w.assign(p.label_w.size(), 0.0f);
    st.vel_label_b.assign(kc, 0.0f);
  }
  const float* x = hidden_input(p, v, rows, ws);
  ws.g.resize(std::size_t(rows) * nh);
  ws.sig.resize(std::size_t(kc) * nh);
  ws.logits.resize(kc);
  ws.probs.resize(kc);
  ws.grad_u.assign(std::size_t(kc) * nh, 0.0f);
  ws.grad_b.assign(kc, 0.0f);
  ws.grad_c.assign(nh, 0.0f);
  double loss = 0;
  for (int r = 0; r < rows; ++r) {
    const float* a = ws.a.data() + std::size_t(r) * nh;
    row_logits(p, a, ws.logits.data(), ws.sig.data());
    const double lse = softmax_units::mean(ws.logits.data(), kc, ws.probs.data());
    loss += lse - ws.logits[y[r]];
    float* g = ws.g.data() + std::size_t(r) * nh;
    const float* sy = ws.sig.data() + std::size_t(y[r]) * nh;
    std::copy_n(sy, nh, g);
    for (int k = 0; k < kc; ++k) {
      const float pk = float(ws.probs[k]), dk = (k == y[r] ? 1.0f : 0.0f) - pk;
      const float* sk = ws.sig.data() + std::size_t(k) * nh;
      float* gu = ws.grad_u.data() + std::size_t(k) * nh;
      for (int j = 0; j < nh; ++j) {
        g[j] -= pk * sk[j];
        gu[j] += dk * sk[j];
      }
      ws.grad_b[k] += dk;
    }
    for (int j = 0; j < nh; ++j) ws.grad_c[j] += g[j];
  }
  const float scale = cfg.lr / float(rows), decay = cfg.lr * cfg.weight_decay, mom = cfg.momentum;
  // W: vel = momentum vel + lr/rows x'^T G; then vel -= lr decay W; W += vel (the CD step's rule).
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nv, nh, rows, scale, x, nv, ws.g.data(), nh, mom,
              st.vel_w.data(), nh);
  for (std::size_t i = 0; i < p.w.size(); ++i) {
    st.vel_w[i] = decayed_velocity(st.vel_w[i], p.w[i], decay);
    p.w[i] += st.vel_w[i];
  }
  for (std::size_t i = 0; i < p.label_w.size(); ++i) {
    st.vel_label_w[i] = decayed_velocity(mom * st.vel_label_w[i] + scale * ws.grad_u[i], p.label_w[i], decay);
    p.label_w[i] += st.vel_label_w[i];
  }
  for (int j = 0; j < nh; ++j) {
    st.vel_hb[j] = mom * st.vel_hb[j] + scale * ws.grad_c[j];
    p.hb[j] += st.vel_hb[j];
  }
  for (int k = 0; k < kc; ++k) {
    st.vel_label_b[k] = mom * st.vel_label_b[k] + scale * ws.grad_b[k];
    p.label_b[k] += st.vel_label_b[k];
  }
  return loss / rows;
}

}  // namespace rbm
