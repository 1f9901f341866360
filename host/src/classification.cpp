// Exact class probabilities and the discriminative update of a model with a label group.
//
// With a = c + x' W (the hidden input from the pixels) and o_y = a + U_y (from the pixels and class y),
// F(x, y) = (visible terms) - b_y - sum_j softplus(o_yj), so log p(y | x) = b_y + sum_j softplus(o_yj)
// - logsumexp (continuous hidden units: each unit's log integral L in place of softplus, and its mean
// L' in place of sigmoid below). Its gradient, with p_k = p(k | x) and s_k = sigmoid(o_k):
//   d/dW_ij = x'_i (s_yj - sum_k p_k s_kj),  d/dc_j = s_yj - sum_k p_k s_kj,
//   d/dU_kj = ([k = y] - p_k) s_kj,         d/db_k = [k = y] - p_k.
#include "rbm/host/classification.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "rbm/error.hpp"
#include "rbm/host/cpu_kernels.hpp"
#include "rbm/host/cpu_maths.hpp"
#include "rbm/host/thread_team.hpp"
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

// For row r: logits [K] (b_k + sum_j softplus(a_j + U_kj)) and, when `sig` is given, s_kj [K, nh]
// (sigmoid(a_j + U_kj)). Continuous hidden units: their log integral and their mean (its derivative)
// in place of softplus and sigmoid.
void row_logits(const model_params& p, const float* a, double* logits, float* sig) {
  const bool bernoulli = p.hidden == unit_kind::bernoulli;
  for (int k = 0; k < p.classes; ++k) {
    const float* u = p.label_w.data() + std::size_t(k) * p.nh;
    double s = p.label_b[k];
    for (int j = 0; j < p.nh; ++j) {
      const float o = a[j] + u[j];
      s += bernoulli ? double(softplus(o)) : hidden_log_integral(p.hidden, o);
      if (sig != nullptr) sig[std::size_t(k) * p.nh + j] = bernoulli ? sigmoid(o) : float(hidden_mean(p.hidden, o));
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
  class_log_probs_from_hidden(p, ws.a.data(), rows, out);
}

void class_log_probs_from_hidden(const model_params& p, const float* a, int rows, double* out) {
  check_labeled(p);
  std::vector<double> prob(p.classes);
  for (int r = 0; r < rows; ++r) {
    double* row = out + std::size_t(r) * p.classes;
    row_logits(p, a + std::size_t(r) * p.nh, row, nullptr);
    const double lse = softmax_units::mean(row, p.classes, prob.data());
    for (int k = 0; k < p.classes; ++k) row[k] -= lse;
  }
}

double add_class_gradient(const model_params& p, const int* y, int rows, float weight, classification_workspace& ws) {
  check_labeled(p);
  const int nh = p.nh, kc = p.classes;
  RBM_EXPECTS(rows > 0 && ws.a.size() >= std::size_t(rows) * nh && ws.grad_u.size() == std::size_t(kc) * nh &&
              ws.grad_c.size() == std::size_t(nh) && ws.grad_b.size() == std::size_t(kc));
  ws.g.resize(std::size_t(rows) * nh);
  ws.sig.resize(std::size_t(rows) * kc * nh);
  ws.d.resize(std::size_t(rows) * kc);
  ws.loss.resize(std::size_t(rows));
  const int parts = ws.team != nullptr ? std::clamp(rows / 8, 1, ws.team->size()) : 1;
  cpu::run_parts(ws.team, parts, [&](int t) {
    const auto [r0, r1] = cpu::split(std::size_t(rows), parts, t);
    std::vector<double> logits(static_cast<std::size_t>(kc)), probs(static_cast<std::size_t>(kc));
    for (std::size_t r = r0; r < r1; ++r) {
      const float* a = ws.a.data() + r * nh;
      float* sig = ws.sig.data() + r * kc * nh;
      row_logits(p, a, logits.data(), sig);
      const double lse = softmax_units::mean(logits.data(), kc, probs.data());
      ws.loss[r] = lse - logits[std::size_t(y[r])];
      float* g = ws.g.data() + r * nh;
      std::copy_n(sig + std::size_t(y[r]) * nh, nh, g);
      for (int k = 0; k < kc; ++k) {
        const float pk = float(probs[std::size_t(k)]);
        const float* sk = sig + std::size_t(k) * nh;
        for (int j = 0; j < nh; ++j) g[j] -= pk * sk[j];
        ws.d[r * kc + k] = ((k == y[r] ? 1.0f : 0.0f) - pk) * weight;
      }
    }
  });
  const int col_parts = ws.team != nullptr ? std::clamp(nh / 16, 1, ws.team->size()) : 1;
  cpu::run_parts(ws.team, col_parts, [&](int t) {
    const auto [j0, j1] = cpu::split(std::size_t(nh), col_parts, t);
    for (int r = 0; r < rows; ++r) {
      const float* sig = ws.sig.data() + std::size_t(r) * kc * nh;
      const float* g = ws.g.data() + std::size_t(r) * nh;
      for (int k = 0; k < kc; ++k) {
        const float dk = ws.d[std::size_t(r) * kc + k];
        const float* sk = sig + std::size_t(k) * nh;
        float* gu = ws.grad_u.data() + std::size_t(k) * nh;
        for (std::size_t j = j0; j < j1; ++j) gu[j] += dk * sk[j];
      }
      for (std::size_t j = j0; j < j1; ++j) ws.grad_c[j] += weight * g[j];
    }
  });
  double loss = 0;
  for (int r = 0; r < rows; ++r) {
    loss += ws.loss[std::size_t(r)];
    for (int k = 0; k < kc; ++k) ws.grad_b[std::size_t(k)] += ws.d[std::size_t(r) * kc + k];
  }
  return loss;
}

model_params clamp_label(const model_params& p, int y) {
  check_labeled(p);
  RBM_EXPECTS(y >= 0 && y < p.classes);
  model_params q = p;
  for (int j = 0; j < p.nh; ++j) q.hb[j] += p.label_w[std::size_t(y) * p.nh + j];
  q.classes = 0;
  q.label_w.clear();
  q.label_b.clear();
  return q;
}

namespace {

// ws.vs [rows, nv] ~ p(v | h = ws.hs) from the visible segment at `off`: Bernoulli states (a uniform
// each), a state per categorical site (a uniform each), or Gaussian means vb + sigma h W^T plus, with
// `normal_draws`, sigma times the segment's normals.
void draw_joint_visible(const model_params& p, int rows, std::size_t off, bool normal_draws,
                        const label_uniforms& uniforms, const label_uniforms* normals, classification_workspace& ws) {
  const std::size_t bv = std::size_t(rows) * p.nv;
  if (p.gaussian()) {
    cpu_visible_pre(p, ws.hs.data(), rows, ws.vs.data());
    if (normal_draws) (*normals)(off, bv, ws.u.data());
    cpu::gaussian_visible_rows(ws.vs.data(), p.vb.data(), p.sigma.data(), normal_draws ? ws.u.data() : nullptr, rows,
                               p.nv);
    return;
  }
  cpu_visible_probs(p, ws.hs.data(), rows, ws.vs.data());  // sigmoid(vb + h W^T), or each site's softmax
  if (p.categorical()) {
    uniforms(off, std::size_t(rows) * p.sites(), ws.u.data());
    cpu::categorical_draw_rows(ws.vs.data(), ws.u.data(), rows, p.sites(), p.states);
  } else {
    uniforms(off, bv, ws.u.data());
    cpu::sample(ws.vs.data(), ws.u.data(), bv, ws.vs.data());
  }
}

// The generative term's Gibbs chain on the joint of (x, y): h0 ~ p(h | x, y); then k times
// v ~ p(v | h), y ~ softmax(b + h U^T) (one uniform per row), h ~ p(h | v, y); PCD chains carried on.
// Leaves ws.h0p, ws.vs, ws.hp, ws.ys; returns the first reconstruction's mean squared error.
double joint_gibbs_chain(const model_params& p, training_state& st, const float* v, const int* y, int rows,
                         const cd_config& cfg, const label_uniforms& uniforms, const label_uniforms* normals,
                         classification_workspace& ws, int parts) {
  const label_draw_layout lay = make_label_draw_layout(rows, cfg);
  const int nv = p.nv, nh = p.nh, kc = p.classes;
  const std::size_t bh = std::size_t(rows) * nh, bv = std::size_t(rows) * nv;
  double reconstruction_error = 0;
  ws.h0p.resize(bh);
  ws.hs.resize(bh);
  ws.hp.resize(bh);
  ws.vs.resize(bv);
  ws.u.resize(std::max(bh, bv));
  ws.ys.resize(rows);
  ws.ly.resize(std::size_t(rows) * kc);
  const bool bernoulli = p.hidden == unit_kind::bernoulli;
  if (!bernoulli) ws.hin.resize(bh);
  // prob = sigmoid(pre + U_y), row by row (prob may alias pre): the hidden layer given the class
  // (continuous units: their mean, the input kept in ws.hin for the draw).
  auto hidden_from = [&](const float* pre, const int* labels, float* prob) {
    cpu::run_parts(ws.team, parts, [&](int t) {
      const auto [r0, r1] = cpu::split(std::size_t(rows), parts, t);
      for (std::size_t r = r0; r < r1; ++r) {
        const float* u = p.label_w.data() + std::size_t(labels[r]) * nh;
        for (std::size_t i = r * nh, j = 0; j < std::size_t(nh); ++i, ++j) {
          const float o = pre[i] + u[j];
          if (bernoulli) {
            prob[i] = sigmoid(o);
          } else {
            ws.hin[i] = o;
            prob[i] = float(hidden_mean(p.hidden, o));
          }
        }
      }
    });
  };
  auto sample = [&](const float* prob, std::size_t n, std::size_t offset, float* out) {
    uniforms(offset, n, ws.u.data());
    cpu::sample(prob, ws.u.data(), n, out);
  };
  auto sample_hidden = [&](const float* prob, std::size_t offset, float* out) {
    if (bernoulli) return sample(prob, bh, offset, out);
    uniforms(offset, bh, ws.u.data());
    for (std::size_t i = 0; i < bh; ++i) out[i] = float(hidden_sample(p.hidden, ws.hin[i], ws.u[i]));
  };
  hidden_from(ws.a.data(), y, ws.h0p.data());
  sample_hidden(ws.h0p.data(), 0, ws.hs.data());
  if (cfg.pcd && st.chains >= rows) std::copy_n(st.chain_h.data(), bh, ws.hs.data());
  for (int step = 0; step < cfg.k; ++step) {
    draw_joint_visible(p, rows, lay.v(step), lay.visible_normals, uniforms, normals, ws);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, kc, nh, 1.0f, ws.hs.data(), nh, p.label_w.data(),
                nh, 0.0f, ws.ly.data(), kc);
    uniforms(lay.y(step), std::size_t(rows), ws.u.data());
    for (int r = 0; r < rows; ++r) {
      for (int k = 0; k < kc; ++k) ws.logits[k] = double(ws.ly[std::size_t(r) * kc + k]) + p.label_b[k];
      softmax_units::mean(ws.logits.data(), kc, ws.probs.data());
      ws.ys[r] = softmax_units::sample(ws.probs.data(), kc, ws.u[r]);
    }
    if (step == 0) {
      double e = 0;
      for (std::size_t i = 0; i < bv; ++i) e += double(v[i] - ws.vs[i]) * double(v[i] - ws.vs[i]);
      reconstruction_error = e / double(bv);
    }
    const float* seen = ws.vs.data();  // what the hidden layer reads: v, or v / sigma
    if (p.gaussian()) {
      ws.vx.resize(bv);
      cpu::scale_by_sigma_rows(ws.vs.data(), p.sigma.data(), rows, nv, ws.vx.data());
      seen = ws.vx.data();
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, nh, nv, 1.0f, seen, nv, p.w.data(), nh, 0.0f,
                ws.hp.data(), nh);
    for (std::size_t i = 0; i < bh; ++i) ws.hp[i] += p.hb[i % nh];
    hidden_from(ws.hp.data(), ws.ys.data(), ws.hp.data());
    sample_hidden(ws.hp.data(), lay.h(step), ws.hs.data());
  }
  if (cfg.pcd) {  // the chains go on (a smaller last batch updates the first of them)
    if (st.chains < rows) {
      st.chain_h.resize(bh);
      st.chains = rows;
    }
    std::copy_n(ws.hs.data(), bh, st.chain_h.data());
  }
  return reconstruction_error;
}

// The generative term's gradients of the label group and hidden biases (gen_weight x (data - chain))
// into ws.grad_u, ws.grad_c, ws.grad_b.
void add_joint_label_gradient(const model_params& p, const int* y, int rows, float gen_weight,
                              classification_workspace& ws) {
  const int nh = p.nh;
  const int col_parts = ws.team != nullptr ? std::clamp(nh / 16, 1, ws.team->size()) : 1;
  cpu::run_parts(ws.team, col_parts, [&](int t) {  // the columns shared, the rows in order
    const auto [j0, j1] = cpu::split(std::size_t(nh), col_parts, t);
    for (int r = 0; r < rows; ++r) {
      float* up = ws.grad_u.data() + std::size_t(y[r]) * nh;
      float* un = ws.grad_u.data() + std::size_t(ws.ys[r]) * nh;
      for (std::size_t j = j0; j < j1; ++j) {
        const float h0 = ws.h0p[std::size_t(r) * nh + j], h1 = ws.hp[std::size_t(r) * nh + j];
        up[j] += gen_weight * h0;
        un[j] -= gen_weight * h1;
        ws.grad_c[j] += gen_weight * (h0 - h1);
      }
    }
  });
  for (int r = 0; r < rows; ++r) {
    ws.grad_b[y[r]] += gen_weight;
    ws.grad_b[ws.ys[r]] -= gen_weight;
  }
}

// The update from the gradients gathered (the CD step's rule): W's velocity from the discriminative
// term's ws.g and the generative term's chain, weight decay, then every parameter moved.
// out [nv, nh] = beta out + scale (disc x'^T G + gen (x^T h0p - v^T hp)): the weight gradient of a label
// step (x' the hidden layer's view of the rows), added onto the momentum (SGD) or written alone (Adam).
void label_weight_gradient(float* out, float beta, float scale, const float* x, int rows, int nv, int nh,
                           float disc_weight, float gen_weight, const classification_workspace& ws, bool gauss) {
  if (disc_weight > 0) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nv, nh, rows, scale * disc_weight, x, nv, ws.g.data(), nh,
                beta, out, nh);
    beta = 1.0f;
  }
  if (gen_weight > 0) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nv, nh, rows, scale * gen_weight, x, nv, ws.h0p.data(), nh,
                beta, out, nh);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nv, nh, rows, -scale * gen_weight,
                gauss ? ws.vx.data() : ws.vs.data(), nv, ws.hp.data(), nh, 1.0f, out, nh);
  }
}

// Visible unit i's data minus reconstruction, summed over the rows (the generative term's vb gradient;
// over sigma^2 for a Gaussian unit).
float visible_difference(const model_params& p, const float* v, const classification_workspace& ws, int rows, int i) {
  const int nv = p.nv;
  double d = 0;
  for (int r = 0; r < rows; ++r) d += double(v[std::size_t(r) * nv + i]) - ws.vs[std::size_t(r) * nv + i];
  return p.gaussian() ? float(d / (double(p.sigma[i]) * p.sigma[i])) : float(d);
}

void apply_label_update(model_params& p, training_state& st, const float* v, const float* x, int rows,
                        const cd_config& cfg, float disc_weight, float gen_weight, classification_workspace& ws) {
  const int nv = p.nv, nh = p.nh, kc = p.classes;
  const float scale = cfg.lr / float(rows), decay = cfg.lr * cfg.weight_decay, mom = cfg.momentum;
  // W: vel = momentum vel + lr/rows (disc x'^T G + gen (x^T h0p - v^T hp)); then vel -= lr decay W;
  // W += vel (the CD step's rule).
  label_weight_gradient(st.vel_w.data(), mom, scale, x, rows, nv, nh, disc_weight, gen_weight, ws, p.gaussian());
  if (gen_weight > 0) {
    for (int i = 0; i < nv; ++i) {  // the visible biases: the generative term alone
      st.vel_vb[i] = mom * st.vel_vb[i] + scale * gen_weight * visible_difference(p, v, ws, rows, i);
      p.vb[i] += st.vel_vb[i];
    }
  }
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
}

// The same gradient under Adam (rbm/optimizer.hpp): W's written alone into ws.gw, then Adam's step on
// every parameter, with the decoupled decay lr x weight_decay on W and label_W.
void apply_label_adam(model_params& p, training_state& st, const float* v, const float* x, int rows,
                      const cd_config& cfg, float disc_weight, float gen_weight, classification_workspace& ws) {
  const int nv = p.nv, nh = p.nh, kc = p.classes;
  const float scale = 1.0f / float(rows), decay = cfg.lr * cfg.weight_decay;
  const adam_rule adam = adam_rule::at(cfg.lr, ++st.updates);
  for (auto [sq, n] : {std::pair{&st.sq_w, p.w.size()}, {&st.sq_vb, p.vb.size()}, {&st.sq_hb, p.hb.size()},
                       {&st.sq_label_w, p.label_w.size()}, {&st.sq_label_b, p.label_b.size()}})
    if (sq->size() != n) sq->assign(n, 0.0f);
  ws.gw.resize(p.w.size());
  label_weight_gradient(ws.gw.data(), 0.0f, scale, x, rows, nv, nh, disc_weight, gen_weight, ws, p.gaussian());
  for (std::size_t i = 0; i < p.w.size(); ++i) p.w[i] += adam.step(ws.gw[i], st.vel_w[i], st.sq_w[i]) - decay * p.w[i];
  if (gen_weight > 0)
    for (int i = 0; i < nv; ++i)
      p.vb[i] += adam.step(scale * gen_weight * visible_difference(p, v, ws, rows, i), st.vel_vb[i], st.sq_vb[i]);
  for (std::size_t i = 0; i < p.label_w.size(); ++i)
    p.label_w[i] += adam.step(scale * ws.grad_u[i], st.vel_label_w[i], st.sq_label_w[i]) - decay * p.label_w[i];
  for (int j = 0; j < nh; ++j) p.hb[j] += adam.step(scale * ws.grad_c[j], st.vel_hb[j], st.sq_hb[j]);
  for (int k = 0; k < kc; ++k) p.label_b[k] += adam.step(scale * ws.grad_b[k], st.vel_label_b[k], st.sq_label_b[k]);
}

}  // namespace

label_step_result cpu_label_step(model_params& p, training_state& st, const float* v, const int* y, int rows,
                                 const cd_config& cfg, float disc_weight, float gen_weight,
                                 const label_uniforms& uniforms, classification_workspace& ws,
                                 const label_uniforms* normals) {
  check_labeled(p);
  RBM_EXPECTS(v != nullptr && y != nullptr && rows > 0 && p.nv == cfg.nv && p.nh == cfg.nh);
  RBM_EXPECTS(disc_weight >= 0 && gen_weight >= 0 && (disc_weight > 0 || gen_weight > 0));
  RBM_EXPECTS(gen_weight == 0 || (uniforms && cfg.k >= 1 && (!p.gaussian() || !cfg.visible_sample || normals)));
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
  const float* x = hidden_input(p, v, rows, ws);  // ws.a = c + x' W
  ws.grad_u.assign(std::size_t(kc) * nh, 0.0f);
  ws.grad_b.assign(kc, 0.0f);
  ws.grad_c.assign(nh, 0.0f);
  ws.logits.resize(kc);
  ws.probs.resize(kc);
  label_step_result res;
  // The discriminative gradient (add_class_gradient: ws.g = G per row, disc x its sums in the label
  // group's gradients); W's share is added in the update, from ws.g.
  if (disc_weight > 0) res.class_loss = add_class_gradient(p, y, rows, disc_weight, ws) / rows;
  if (gen_weight > 0) {
    const int parts = ws.team != nullptr ? std::clamp(rows / 8, 1, ws.team->size()) : 1;
    res.reconstruction_error = joint_gibbs_chain(p, st, v, y, rows, cfg, uniforms, normals, ws, parts);
    add_joint_label_gradient(p, y, rows, gen_weight, ws);
  }
  if (cfg.update_rule == optimizer::adam)
    apply_label_adam(p, st, v, x, rows, cfg, disc_weight, gen_weight, ws);
  else
    apply_label_update(p, st, v, x, rows, cfg, disc_weight, gen_weight, ws);
  return res;
}

double cpu_discriminative_step(model_params& p, training_state& st, const float* v, const int* y, int rows,
                               const cd_config& cfg, classification_workspace& ws) {
  return cpu_label_step(p, st, v, y, rows, cfg, 1.0f, 0.0f, nullptr, ws).class_loss;
}

}  // namespace rbm
