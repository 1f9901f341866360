// Backpropagation through a stack's up-pass and a head (rbm/host/fine_tune.hpp).
//
// Forward: a_0 = the input (x / sigma at a Gaussian bottom), a_{l+1} = m_l(a_l W_l + hb_l) with m_l the
// conditional mean of layer l's hidden kind (sigmoid for Bernoulli units; rbm/units.hpp). Backward,
// from the head's dL/da_H: dz_l = dL/da_{l+1} * m_l'(z_l) (Bernoulli: a_{l+1} (1 - a_{l+1}); every kind:
// its conditional variance, hidden_variance), dL/dW_l = a_l^T dz_l,
// dL/dhb_l = sum over rows of dz_l, dL/da_l = dz_l W_l^T. The class RBM head is the label step's
// discriminative gradient (classification.hpp's add_class_gradient, G = dlog p / dA, A = a W + c) with
// its sign turned: dL/dW = -a^T G, dL/da = -G W^T. The linear head, e = a w + b - t: dL/dw = a^T e, dL/db = sum e,
// dL/da = e w^T (L = sum e^2 / 2).
#include "rbm/host/fine_tune.hpp"

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <string>
#include <thread>

#include "rbm/error.hpp"
#include "rbm/host/classification.hpp"
#include "rbm/host/shuffle.hpp"
#include "rbm/host/thread_team.hpp"
#include "rbm/host/trainer.hpp"
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
    for (int r = 0; r < n; ++r) {
      const double* z = lp_.data() + std::size_t(r) * kc;
      sum -= z[target.y[r]];
      if (std::max_element(z, z + kc) - z == target.y[r]) correct += 1;
    }
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

// Held-out loss per row (per output for a regressor) and accuracy, in chunks.
std::pair<double, double> held_out(network& net, head& h, const labelled_rows& rows, int nv, int outputs) {
  double sum = 0, correct = 0;
  constexpr int chunk = 500;
  for (int first = 0; first < rows.rows; first += chunk) {
    const int n = std::min(chunk, rows.rows - first);
    const labelled_rows part{rows.x + std::size_t(first) * nv, rows.y != nullptr ? rows.y + first : nullptr,
                             rows.t != nullptr ? rows.t + std::size_t(first) * outputs : nullptr, n};
    sum += h.loss(net.forward(part.x, n), n, part, correct);
  }
  if (rows.y != nullptr) return {sum / rows.rows, correct / rows.rows};
  return {2 * sum / (double(rows.rows) * outputs), std::nan("")};
}

void check_options(const fine_tune_options& o, const labelled_rows& train) {
  if (o.epochs < 1) throw precondition_error("fine-tuning needs at least 1 epoch (got " + std::to_string(o.epochs) + ")");
  if (o.batch < 1) throw precondition_error("fine-tuning batch must be at least 1 (got " + std::to_string(o.batch) + ")");
  if (!(o.lr > 0) || !std::isfinite(o.lr)) throw precondition_error("fine-tuning lr must be positive and finite");
  if (!(o.momentum >= 0 && o.momentum < 1)) throw precondition_error("fine-tuning momentum must be in [0, 1)");
  if (!(o.weight_decay >= 0) || !std::isfinite(o.weight_decay))
    throw precondition_error("fine-tuning weight_decay must be non-negative and finite");
  if (o.patience < 0) throw precondition_error("fine-tuning patience must be non-negative");
  if (train.rows < 1 || train.x == nullptr) throw precondition_error("fine-tuning needs training rows");
}

void check_joined(const std::vector<model_params>& layers) {
  if (layers.empty()) throw precondition_error("fine-tuning needs at least one layer");
  for (std::size_t i = 1; i < layers.size(); ++i) {
    if (layers[i].nv != layers[i - 1].nh)
      throw precondition_error("layer " + std::to_string(i + 1) + " has " + std::to_string(layers[i].nv) +
                               " visible units where the layer below has " + std::to_string(layers[i - 1].nh) + " hidden");
    for (float s : layers[i].sigma)  // the network reads a layer's input as it is, i.e. with sigma 1
      if (s != 1.0f)
        throw precondition_error("layer " + std::to_string(i + 1) + ": Gaussian units above the bottom layer need "
                                 "sigma 1 to be fine-tuned");
  }
}

// The epochs: shuffled batches, held-out figures, the best epoch kept, interruption.
std::vector<fine_tune_epoch> run(network& net, head& h, const labelled_rows& train, const labelled_rows& held,
                                 int nv, int outputs, const fine_tune_options& o) {
  const auto start = std::chrono::steady_clock::now();
  std::vector<fine_tune_epoch> history;
  std::vector<int> order;
  gathered batch;
  std::vector<std::vector<float>> best;
  double best_acc = -1, best_loss = std::numeric_limits<double>::infinity();
  int since_best = 0;
  for (int e = 1; e <= o.epochs; ++e) {
    order.resize(std::size_t(train.rows));  // epoch_permutation permutes as many as order holds
    epoch_permutation(o.seed, e, order);
    fine_tune_epoch fe;
    fe.epoch = e;
    for (int first = 0; first < train.rows; first += o.batch) {
      const int n = std::min(o.batch, train.rows - first);
      gather(train, order.data() + first, n, nv, outputs, batch);
      fe.train_loss += net.step(batch.x.data(), n, batch.view(n), o);
      if (o.stop != nullptr && o.stop->load())
        throw interrupted("fine-tuning interrupted in epoch " + std::to_string(e), std::string());
    }
    fe.train_loss /= train.rows;
    if (outputs > 0) fe.train_loss *= 2.0 / outputs;
    std::tie(fe.held_out_loss, fe.held_out_accuracy) =
        held.rows > 0 ? held_out(net, h, held, nv, outputs) : std::pair{std::nan(""), std::nan("")};
    if (!std::isfinite(fe.train_loss))
      throw error("fine-tuning diverged at epoch " + std::to_string(e) + " (the training loss is not finite: is the "
                  "learning rate too large?)");
    fe.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    history.push_back(fe);
    if (o.on_epoch) o.on_epoch(fe);
    if (held.rows == 0) continue;
    const double acc = outputs > 0 ? 0.0 : fe.held_out_accuracy;
    if (acc > best_acc || (acc == best_acc && fe.held_out_loss < best_loss)) {
      best_acc = acc;
      best_loss = fe.held_out_loss;
      since_best = 0;
      best.clear();
      for (slot* s : net.all_slots()) best.emplace_back(s->value, s->value + s->size);
    } else if (o.patience > 0 && ++since_best >= o.patience) {
      break;
    }
  }
  if (!best.empty()) {
    const std::vector<slot*> s = net.all_slots();
    for (std::size_t i = 0; i < s.size(); ++i) std::copy(best[i].begin(), best[i].end(), s[i]->value);
  }
  return history;
}

int team_size(const fine_tune_options& o) {
  return o.threads > 0 ? o.threads : std::max(1, int(std::thread::hardware_concurrency()));
}

}  // namespace

std::vector<fine_tune_epoch> fine_tune_classifier(std::vector<model_params>& layers, const labelled_rows& train,
                                                  const labelled_rows& held_out_rows, const fine_tune_options& o) {
  check_options(o, train);
  check_joined(layers);
  model_params& top = layers.back();
  if (!top.labeled()) throw precondition_error("fine-tuning a classifier needs a label group on the top layer");
  for (std::size_t i = 0; i + 1 < layers.size(); ++i)
    if (layers[i].labeled()) throw precondition_error("a label group below the top layer");
  for (const labelled_rows* rows : {&train, &held_out_rows})
    for (int r = 0; r < rows->rows; ++r)
      if (rows->y == nullptr || rows->y[r] < 0 || rows->y[r] >= top.classes)
        throw precondition_error("fine-tuning: label " + std::to_string(rows->y ? rows->y[r] : -1) + " of row " +
                                 std::to_string(r) + " is outside [0, " + std::to_string(top.classes) + ")");
  cpu::thread_team team(team_size(o));
  class_rbm_head h(top, team);
  network net(layers, int(layers.size()) - 1, h, team);
  return run(net, h, train, held_out_rows, layers.front().nv, 0, o);
}

std::vector<fine_tune_epoch> fine_tune_regressor(std::vector<model_params>& layers, linear_head& head_params,
                                                 const labelled_rows& train, const labelled_rows& held_out_rows,
                                                 const fine_tune_options& o) {
  check_options(o, train);
  check_joined(layers);
  for (const model_params& p : layers)
    if (p.labeled()) throw precondition_error("a regressor's stack has no label group");
  if (head_params.inputs != layers.back().nh || head_params.outputs < 1 ||
      head_params.w.size() != std::size_t(head_params.inputs) * head_params.outputs ||
      head_params.b.size() != std::size_t(head_params.outputs))
    throw precondition_error("the linear head must take the top layer's " + std::to_string(layers.back().nh) +
                             " hidden units (w [inputs, outputs], b [outputs])");
  if (train.t == nullptr || (held_out_rows.rows > 0 && held_out_rows.t == nullptr))
    throw precondition_error("fine-tuning a regressor needs targets");
  cpu::thread_team team(team_size(o));
  linear_head_ops h(head_params, team);
  network net(layers, int(layers.size()), h, team);
  return run(net, h, train, held_out_rows, layers.front().nv, head_params.outputs, o);
}

std::vector<float> regress(const std::vector<model_params>& layers, const linear_head& head_params, const float* x,
                           int rows) {
  check_joined(layers);
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
