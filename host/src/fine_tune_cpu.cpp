// Fine-tuning on the CPU (fine_tune_engine.hpp): backpropagation through a stack's up-pass and a head,
// OpenBLAS for the products and the thread team for the row loops; the parameters train in place.
//
// Forward: a_0 = the input (x / sigma at a Gaussian bottom), a_{l+1} = m_l(a_l W_l + hb_l) with m_l the
// conditional mean of layer l's hidden kind (sigmoid for Bernoulli units; rbm/units.hpp). Backward,
// from the head's dL/da_H: dz_l = dL/da_{l+1} * m_l'(z_l) (Bernoulli: a_{l+1} (1 - a_{l+1}); every kind:
// its conditional variance, hidden_variance), dL/dW_l = a_l^T dz_l,
// dL/dhb_l = sum over rows of dz_l, dL/da_l = dz_l W_l^T. The class RBM head is the label step's
// discriminative gradient (classification.hpp's add_class_gradient, G = dlog p / dA, A = a W + c) with
// its sign turned: dL/dW = -a^T G, dL/da = -G W^T. The linear head, e = a w + b - t: dL/dw = a^T e, dL/db = sum e,
// dL/da = e w^T (L = sum e^2 / 2).
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "fine_tune_engine.hpp"
#include "rbm/error.hpp"
#include "rbm/host/classification.hpp"
#include "rbm/host/thread_team.hpp"
#include "rbm/math.hpp"

namespace rbm {
namespace {

using cpu::run_parts;
using cpu::split;

// One trained tensor: its values (the caller's), the gradient of the batch's summed loss, momentum.
struct slot {
  float* value = nullptr;
  std::size_t size = 0;
  bool decay = false;  // weights: L2; biases: none
  std::vector<float> grad, vel, sq;  // sq: Adam's second moment
};

slot make_slot(std::vector<float>& v, bool decay) {
  return {v.data(), v.size(), decay, std::vector<float>(v.size()), std::vector<float>(v.size()), std::vector<float>(v.size())};
}

// out [cols] = the column sums of m [rows, cols], each in row order (the same bits on any team).
void column_sums(cpu::thread_team& team, const float* m, int rows, int cols, float* out) {
  const int parts = std::clamp(cols / 64, 1, team.size());
  run_parts(&team, parts, [&](int t) {
    const auto [c0, c1] = split(std::size_t(cols), parts, t);
    std::fill(out + c0, out + c1, 0.0f);
    for (int r = 0; r < rows; ++r)
      for (std::size_t c = c0; c < c1; ++c) out[c] += m[std::size_t(r) * cols + c];
  });
}

// Rows [0, rows) in parts over the team (at least 8 rows a part).
void for_rows(cpu::thread_team& team, int rows, const std::function<void(std::size_t, std::size_t)>& fn) {
  const int parts = std::clamp(rows / 8, 1, team.size());
  run_parts(&team, parts, [&](int t) {
    const auto [r0, r1] = split(std::size_t(rows), parts, t);
    fn(r0, r1);
  });
}

// c [m, n] = alpha a [m, k] b [k, n] + beta c, row-major; transposes as cblas takes them.
void gemm(bool ta, bool tb, int m, int n, int k, float alpha, const float* a, int lda, const float* b, int ldb,
          float beta, float* c) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda,
              b, ldb, beta, c, n);
}

// The head on top of the up-pass's layers: its loss, its gradients and dL/d(input).
class head {
 public:
  virtual ~head() = default;
  virtual int inputs() const = 0;
  virtual std::vector<slot*> slots() = 0;
  // Summed loss of rows x [n, inputs] with targets (gathered rows); grads into the slots, dL/dx into dx.
  virtual double backward(const float* x, int n, const labelled_rows& target, float* dx) = 0;
  // Summed loss over rows x with targets; `correct` counts right answers (classification).
  virtual double loss(const float* x, int n, const labelled_rows& target, double& correct) = 0;
};

// The top RBM's exact p(y | x) (classification.hpp's add_class_gradient and class_log_probs_from_hidden,
// the label step's own maths) on the layer below's output.
class class_rbm_head final : public head {
 public:
  class_rbm_head(model_params& top, cpu::thread_team& team)
      : p_(top), team_(team), w_(make_slot(top.w, true)), c_(make_slot(top.hb, false)),
        u_(make_slot(top.label_w, true)), b_(make_slot(top.label_b, false)) {
    ws_.team = &team;
  }
  int inputs() const override { return p_.nv; }
  std::vector<slot*> slots() override { return {&w_, &c_, &u_, &b_}; }

  double backward(const float* x, int n, const labelled_rows& target, float* dx) override {
    hidden(x, n);
    ws_.grad_u.assign(u_.size, 0.0f);
    ws_.grad_c.assign(c_.size, 0.0f);
    ws_.grad_b.assign(b_.size, 0.0f);
    const double loss = add_class_gradient(p_, target.y, n, -1.0f, ws_);  // weight -1: the loss's gradient
    u_.grad = ws_.grad_u;
    c_.grad = ws_.grad_c;
    b_.grad = ws_.grad_b;
    // ws_.g holds G, the gradient of log p(y | x) in A: the loss's is -G.
    gemm(true, false, p_.nv, p_.nh, n, -1.0f, x, p_.nv, ws_.g.data(), p_.nh, 0.0f, w_.grad.data());
    gemm(false, true, n, p_.nv, p_.nh, -1.0f, ws_.g.data(), p_.nh, p_.w.data(), p_.nh, 0.0f, dx);
    return loss;
  }

  double loss(const float* x, int n, const labelled_rows& target, double& correct) override {
    const int kc = p_.classes;
    hidden(x, n);
    lp_.resize(std::size_t(n) * kc);
    class_log_probs_from_hidden(p_, ws_.a.data(), n, lp_.data());
    double sum = 0;
    detail::add_class_scores(lp_.data(), target.y, n, kc, sum, correct);
    return sum;
  }

 private:
  // ws_.a [n, nh] = x W + c: the hidden inputs (x is already as the top layer reads it).
  void hidden(const float* x, int n) {
    const int nh = p_.nh;
    ws_.a.resize(std::size_t(n) * nh);
    gemm(false, false, n, nh, p_.nv, 1.0f, x, p_.nv, p_.w.data(), nh, 0.0f, ws_.a.data());
    for_rows(team_, n, [&](std::size_t r0, std::size_t r1) {
      for (std::size_t i = r0 * nh; i < r1 * nh; ++i) ws_.a[i] += p_.hb[i % nh];
    });
  }

  model_params& p_;
  cpu::thread_team& team_;
  slot w_, c_, u_, b_;
  classification_workspace ws_;
  std::vector<double> lp_;
};

class linear_head_ops final : public head {
 public:
  linear_head_ops(linear_head& h, cpu::thread_team& team)
      : h_(h), team_(team), w_(make_slot(h.w, true)), b_(make_slot(h.b, false)) {}
  int inputs() const override { return h_.inputs; }
  std::vector<slot*> slots() override { return {&w_, &b_}; }

  double backward(const float* x, int n, const labelled_rows& target, float* dx) override {
    const double sum = residuals(x, n, target);
    gemm(true, false, h_.inputs, h_.outputs, n, 1.0f, x, h_.inputs, e_.data(), h_.outputs, 0.0f, w_.grad.data());
    column_sums(team_, e_.data(), n, h_.outputs, b_.grad.data());
    gemm(false, true, n, h_.inputs, h_.outputs, 1.0f, e_.data(), h_.outputs, h_.w.data(), h_.outputs, 0.0f, dx);
    return sum;
  }
  double loss(const float* x, int n, const labelled_rows& target, double&) override { return residuals(x, n, target); }

 private:
  // e_ [n, outputs] = x w + b - t; returns sum e^2 / 2.
  double residuals(const float* x, int n, const labelled_rows& target) {
    const int m = h_.outputs;
    e_.resize(std::size_t(n) * m);
    gemm(false, false, n, m, h_.inputs, 1.0f, x, h_.inputs, h_.w.data(), m, 0.0f, e_.data());
    double sum = 0;
    for (int r = 0; r < n; ++r)
      for (int o = 0; o < m; ++o) {
        float& e = e_[std::size_t(r) * m + o];
        e += h_.b[o] - target.t[std::size_t(r) * m + o];
        sum += 0.5 * double(e) * e;
      }
    return sum;
  }

  linear_head& h_;
  cpu::thread_team& team_;
  slot w_, b_;
  std::vector<float> e_;
};

// The up-pass's layers below a head, their activations and the whole update.
class network {
 public:
  network(std::vector<model_params>& layers, int sigmoid_layers, head& top, cpu::thread_team& team)
      : layers_(layers), count_(sigmoid_layers), head_(top), team_(team), act_(std::size_t(sigmoid_layers) + 1),
        pre_(std::size_t(sigmoid_layers)) {
    for (int l = 0; l < count_; ++l) {
      slots_.push_back(make_slot(layers[l].w, true));
      slots_.push_back(make_slot(layers[l].hb, false));
    }
  }

  // The input rows x [n, nv] up to the head's input (returned). x itself is the first layer's input,
  // or x / sigma in act_[0] at a Gaussian bottom.
  const float* forward(const float* x, int n) {
    const model_params& bottom = layers_.front();
    input_ = x;
    if (bottom.gaussian()) {
      std::vector<float>& a0 = act_[0];
      a0.resize(std::size_t(n) * bottom.nv);
      for (std::size_t i = 0; i < a0.size(); ++i) a0[i] = x[i] / bottom.sigma[i % bottom.nv];
      input_ = a0.data();
    }
    for (int l = 0; l < count_; ++l) {
      const model_params& p = layers_[l];
      std::vector<float>& out = act_[l + 1];
      out.resize(std::size_t(n) * p.nh);
      gemm(false, false, n, p.nh, p.nv, 1.0f, in(l), p.nv, p.w.data(), p.nh, 0.0f, out.data());
      if (p.hidden == unit_kind::bernoulli) {
        for_rows(team_, n, [&](std::size_t r0, std::size_t r1) {
          for (std::size_t r = r0; r < r1; ++r)
            for (int j = 0; j < p.nh; ++j) out[r * p.nh + j] = sigmoid(out[r * p.nh + j] + p.hb[j]);
        });
        continue;
      }
      std::vector<float>& z = pre_[std::size_t(l)];  // kept for the backward pass's slope
      z.resize(out.size());
      for_rows(team_, n, [&](std::size_t r0, std::size_t r1) {
        for (std::size_t i = r0 * p.nh; i < r1 * p.nh; ++i) {
          const double zi = double(out[i]) + p.hb[i % std::size_t(p.nh)];  // as cpu::hidden_mean_rows
          z[i] = float(zi);
          out[i] = float(hidden_mean(p.hidden, zi));
        }
      });
    }
    return in(count_);
  }

  // One update on the gathered batch; returns its summed loss before the update.
  double step(const float* x, int n, const labelled_rows& target, const fine_tune_options& o) {
    const float* top = forward(x, n);
    d_.resize(std::size_t(n) * head_.inputs());
    const double loss = head_.backward(top, n, target, d_.data());
    for (int l = count_ - 1; l >= 0; --l) {  // d_ holds dL/da_{l+1}, then dL/dz_l
      const model_params& p = layers_[l];
      const std::vector<float>& a = act_[l + 1];
      const std::vector<float>& z = pre_[std::size_t(l)];
      for_rows(team_, n, [&](std::size_t r0, std::size_t r1) {
        if (p.hidden == unit_kind::bernoulli)
          for (std::size_t i = r0 * p.nh; i < r1 * p.nh; ++i) d_[i] *= a[i] * (1.0f - a[i]);
        else
          for (std::size_t i = r0 * p.nh; i < r1 * p.nh; ++i) d_[i] *= float(hidden_variance(p.hidden, z[i]));
      });
      gemm(true, false, p.nv, p.nh, n, 1.0f, in(l), p.nv, d_.data(), p.nh, 0.0f, slots_[2 * l].grad.data());
      column_sums(team_, d_.data(), n, p.nh, slots_[2 * l + 1].grad.data());
      if (l == 0) break;
      below_.resize(std::size_t(n) * p.nv);
      gemm(false, true, n, p.nv, p.nh, 1.0f, d_.data(), p.nh, p.w.data(), p.nh, 0.0f, below_.data());
      d_.swap(below_);
    }
    apply(o, 1.0f / n);
    return loss;
  }

  std::vector<slot*> all_slots() {
    std::vector<slot*> s = head_.slots();
    for (slot& x : slots_) s.push_back(&x);
    return s;
  }

 private:
  void apply(const fine_tune_options& o, float inv_rows) {
    ++steps_;
    const adam_rule adam = adam_rule::at(o.lr, steps_);
    for (slot* s : all_slots()) {
      const float decay = s->decay ? o.weight_decay : 0.0f;
      for (std::size_t i = 0; i < s->size; ++i) {
        const float g = s->grad[i] * inv_rows + decay * s->value[i];
        if (o.method == optimizer::sgd) {
          s->vel[i] = o.momentum * s->vel[i] - o.lr * g;
          s->value[i] += s->vel[i];
        } else {  // vel: the first moment, sq: the second
          s->value[i] -= adam.step(g, s->vel[i], s->sq[i]);
        }
      }
    }
  }

  // Layer l's input: the network's input (l = 0) or layer l - 1's output.
  const float* in(int l) const { return l == 0 ? input_ : act_[std::size_t(l)].data(); }

  std::vector<model_params>& layers_;
  int count_;
  head& head_;
  cpu::thread_team& team_;
  std::vector<std::vector<float>> act_;  // act_[0]: x / sigma at a Gaussian bottom; act_[l]: layer l - 1's output
  std::vector<std::vector<float>> pre_;  // pre_[l]: layer l's total inputs z_l (continuous hidden kinds only)
  const float* input_ = nullptr;
  std::vector<float> d_, below_;         // the backward pass's gradients
  std::vector<slot> slots_;
  long steps_ = 0;
};

// Rows `idx` [n] of `from` gathered into x [n, nv] and the targets beside them.
struct gathered {
  std::vector<float> x, t;
  std::vector<int> y;
  labelled_rows view(int n) const { return {x.data(), y.empty() ? nullptr : y.data(), t.empty() ? nullptr : t.data(), n}; }
};

void gather(const labelled_rows& from, const int* idx, int n, int nv, int outputs, gathered& g) {
  g.x.resize(std::size_t(n) * nv);
  for (int r = 0; r < n; ++r) std::copy_n(from.x + std::size_t(idx[r]) * nv, nv, g.x.data() + std::size_t(r) * nv);
  if (from.y != nullptr) {
    g.y.resize(std::size_t(n));
    for (int r = 0; r < n; ++r) g.y[r] = from.y[idx[r]];
  }
  if (from.t != nullptr) {
    g.t.resize(std::size_t(n) * outputs);
    for (int r = 0; r < n; ++r)
      std::copy_n(from.t + std::size_t(idx[r]) * outputs, outputs, g.t.data() + std::size_t(r) * outputs);
  }
}

// The summed held-out loss and right answers of `rows`, in chunks.
std::pair<double, double> held_out_sums(network& net, head& h, const labelled_rows& rows, int nv, int outputs) {
  double sum = 0, correct = 0;
  constexpr int chunk = 500;
  for (int first = 0; first < rows.rows; first += chunk) {
    const int n = std::min(chunk, rows.rows - first);
    const labelled_rows part{rows.x + std::size_t(first) * nv, rows.y != nullptr ? rows.y + first : nullptr,
                             rows.t != nullptr ? rows.t + std::size_t(first) * outputs : nullptr, n};
    sum += h.loss(net.forward(part.x, n), n, part, correct);
  }
  return {sum, correct};
}

int team_size(const fine_tune_options& o) {
  return o.threads > 0 ? o.threads : std::max(1, int(std::thread::hardware_concurrency()));
}

std::unique_ptr<head> make_head(const detail::fine_tune_task& t, cpu::thread_team& team) {
  if (t.head != nullptr) return std::make_unique<linear_head_ops>(*t.head, team);
  return std::make_unique<class_rbm_head>(t.layers->back(), team);
}

class cpu_engine final : public detail::fine_tune_engine {
 public:
  cpu_engine(const detail::fine_tune_task& t, const fine_tune_options& o)
      : t_(t), o_(o), team_(team_size(o)), head_(make_head(t, team_)), net_(*t.layers, t.up_layers(), *head_, team_) {}

  void begin_epoch(const std::vector<int>& order) override { order_ = &order; }
  void step(int first, int n) override {
    gather(t_.train, order_->data() + first, n, nv(), t_.outputs(), batch_);
    loss_ += net_.step(batch_.x.data(), n, batch_.view(n), o_);
  }
  double take_train_loss() override { return std::exchange(loss_, 0.0); }
  std::pair<double, double> held_out() override { return held_out_sums(net_, *head_, t_.held, nv(), t_.outputs()); }
  void keep() override {
    best_.clear();
    for (slot* s : net_.all_slots()) best_.emplace_back(s->value, s->value + s->size);
  }
  void restore() override {
    const std::vector<slot*> s = net_.all_slots();
    for (std::size_t i = 0; i < s.size() && i < best_.size(); ++i) std::copy(best_[i].begin(), best_[i].end(), s[i]->value);
  }
  void finish() override {}  // trained in place
  bool on_gpu() const override { return false; }

 private:
  int nv() const { return t_.layers->front().nv; }

  detail::fine_tune_task t_;
  const fine_tune_options& o_;
  cpu::thread_team team_;
  std::unique_ptr<head> head_;
  network net_;
  const std::vector<int>* order_ = nullptr;
  gathered batch_;
  double loss_ = 0;
  std::vector<std::vector<float>> best_;
};

}  // namespace

namespace detail {

std::unique_ptr<fine_tune_engine> make_cpu_fine_tune(const fine_tune_task& t, const fine_tune_options& o) {
  return std::make_unique<cpu_engine>(t, o);
}

}  // namespace detail

std::vector<float> regress(const std::vector<model_params>& layers, const linear_head& head_params, const float* x,
                           int rows) {
  detail::check_joined(layers);
  RBM_EXPECTS(head_params.inputs == layers.back().nh && rows >= 0);
  std::vector<model_params> copy = layers;  // the network's views are mutable; nothing changes here
  linear_head h = head_params;
  cpu::thread_team team(1);
  linear_head_ops ops(h, team);
  network net(copy, int(copy.size()), ops, team);
  std::vector<float> out(std::size_t(rows) * h.outputs);
  constexpr int chunk = 500;
  for (int first = 0; first < rows; first += chunk) {
    const int n = std::min(chunk, rows - first);
    const float* a = net.forward(x + std::size_t(first) * copy.front().nv, n);
    gemm(false, false, n, h.outputs, h.inputs, 1.0f, a, h.inputs, h.w.data(), h.outputs, 0.0f,
         out.data() + std::size_t(first) * h.outputs);
    for (int r = 0; r < n; ++r)
      for (int o = 0; o < h.outputs; ++o) out[std::size_t(first + r) * h.outputs + o] += h.b[o];
  }
  return out;
}

}  // namespace rbm
