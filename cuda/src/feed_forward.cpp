// rbm::feed_forward (rbm/feed_forward.hpp): the forward pass, the head's loss and gradient, the backward
// pass and the update, in the order of operations of the CPU's fine-tuning (host/src/fine_tune_cpu.cpp).
#include "rbm/feed_forward.hpp"

#include <cuda_runtime_api.h>

#include <string>

#include "rbm/error.hpp"
#include "rbm/kernels.hpp"

namespace rbm {
namespace {

void zero(device_buffer<float>& b, stream_view s) {
  if (b.size() > 0) RBM_CUDA_CHECK(cudaMemsetAsync(b.data(), 0, b.size() * sizeof(float), s.get()));
}

// One trained tensor with its gradient and optimizer state (vel: momentum or Adam's first moment).
struct tensor {
  device_buffer<float> value, grad, vel, sq;
  bool decay = false;  // weights take weight decay, biases none
  tensor(std::size_t n, bool is_weight, bool adam, stream_view s)
      : value(n, s), grad(n, s), vel(n, s), sq(adam ? n : 0, s), decay(is_weight) {
    zero(value, s);
    zero(vel, s);
    zero(sq, s);
  }
};

void check(const feed_forward_options& o) {
  auto fail = [](const std::string& why) { throw precondition_error("feed_forward: " + why); };
  for (std::size_t l = 0; l < o.layers.size(); ++l) {
    if (o.layers[l].nv < 1 || o.layers[l].nh < 1) fail("every layer needs positive sizes");
    if (l > 0 && o.layers[l].nv != o.layers[l - 1].nh) fail("layer " + std::to_string(l + 1) + " does not join the one below");
  }
  const int below = o.layers.empty() ? 0 : o.layers.back().nh;
  if (o.head == ff_head::class_rbm) {
    if (o.top.nv < 1 || o.top.nh < 1 || (below > 0 && o.top.nv != below)) fail("the top RBM does not join the layers below");
    if (o.outputs < 2 || o.outputs > 3072) fail("a class RBM head needs 2 to 3,072 classes");
  } else {
    if (o.layers.empty()) fail("a linear head needs at least one layer below it");
    if (o.outputs < 1) fail("a linear head needs at least one output");
  }
  if (o.max_batch < 1) fail("max_batch must be positive");
  if (!(o.lr > 0) || !(o.momentum >= 0 && o.momentum < 1) || !(o.weight_decay >= 0)) fail("bad rates");
}

}  // namespace

struct feed_forward::impl {
  feed_forward_options opt;
  stream_view s;
  cublas_handle blas;
  std::vector<tensor> t;              // the head's, then each layer's W and b (feed_forward.hpp's order)
  int head_tensors = 0;
  device_buffer<float> sigma, scaled;  // an input sigma and x / sigma
  std::vector<device_buffer<float>> act, pre;  // act[l]: layer l's output; pre[l]: its x W
  device_buffer<float> a, g, d, e, delta, below;  // the head's x W / residuals, G, the class step's d; backprop
  device_buffer<double> loss;          // [1]
  long steps = 0;
  int widest = 0;

  impl(const feed_forward_options& o, stream_view st) : opt(o), s(st), blas(st), loss(1, st) {
    const bool adam = o.method == optimizer::adam;
    const std::size_t b = std::size_t(o.max_batch);
    widest = inputs();
    if (o.head == ff_head::class_rbm) {
      const std::size_t nv = o.top.nv, nh = o.top.nh, k = o.outputs;
      t.emplace_back(nv * nh, true, adam, s);
      t.emplace_back(nh, false, adam, s);
      t.emplace_back(k * nh, true, adam, s);
      t.emplace_back(k, false, adam, s);
      a = device_buffer<float>(b * nh, s);
      g = device_buffer<float>(b * nh, s);
      d = device_buffer<float>(b * k, s);
    } else {
      const std::size_t in = o.layers.back().nh, m = o.outputs;
      t.emplace_back(in * m, true, adam, s);
      t.emplace_back(m, false, adam, s);
      e = device_buffer<float>(b * m, s);
    }
    head_tensors = int(t.size());
    for (const ff_layer& l : o.layers) {
      t.emplace_back(std::size_t(l.nv) * l.nh, true, adam, s);
      t.emplace_back(std::size_t(l.nh), false, adam, s);
      act.emplace_back(b * l.nh, s);
      pre.emplace_back(b * l.nh, s);
      widest = std::max(widest, l.nh);
    }
    delta = device_buffer<float>(b * widest, s);
    below = device_buffer<float>(b * widest, s);
    RBM_CUDA_CHECK(cudaMemsetAsync(loss.data(), 0, sizeof(double), s.get()));
  }

  int inputs() const { return opt.layers.empty() ? opt.top.nv : opt.layers.front().nv; }
  int top_width() const { return opt.layers.empty() ? inputs() : opt.layers.back().nh; }
  tensor& layer_w(int l) { return t[std::size_t(head_tensors + 2 * l)]; }
  tensor& layer_b(int l) { return t[std::size_t(head_tensors + 2 * l + 1)]; }

  // The forward pass of x [rows, inputs]; returns a_L, the head's input.
  const float* forward(const float* x, int rows) {
    if (sigma.size() > 0) {
      scale_by_sigma(x, sigma.data(), rows, inputs(), scaled.data(), s);
      x = scaled.data();
    }
    for (std::size_t l = 0; l < opt.layers.size(); ++l) {
      const ff_layer& ly = opt.layers[l];
      gemm_row_major(blas, opt.mode, false, false, rows, ly.nh, ly.nv, 1.0f, x, ly.nv, layer_w(int(l)).value.data(),
                     ly.nh, 0.0f, pre[l].data(), ly.nh);
      hidden_sample(ly.hidden, pre[l].data(), layer_b(int(l)).value.data(), nullptr, act[l].data(), nullptr, rows,
                    ly.nh, s);
      x = act[l].data();
    }
    return x;
  }

  // The head's loss into `loss`, its gradients, and dL/d(its input) into delta (with layers below).
  void head_backward(const float* x, const int* y, const float* target, int rows) {
    const int below_layers = int(opt.layers.size());
    if (opt.head == ff_head::class_rbm) {
      const int nv = opt.top.nv, nh = opt.top.nh, kc = opt.outputs;
      const unit_kind kind = opt.top.hidden;
      gemm_row_major(blas, opt.mode, false, false, rows, nh, nv, 1.0f, x, nv, t[0].value.data(), nh, 0.0f, a.data(), nh);
      label_discriminative(a.data(), t[1].value.data(), t[2].value.data(), t[3].value.data(), y, rows, nh, kc, g.data(),
                           d.data(), loss.data(), s, kind);
      // G is the gradient of log p(y | x) in x W + c: the loss's is -G (weights -1, alpha -1).
      label_gradient(a.data(), t[1].value.data(), t[2].value.data(), d.data(), y, nullptr, nullptr, nullptr, rows, nh,
                     kc, -1.0f, 0.0f, t[2].grad.data(), t[3].grad.data(), s, kind);
      label_hidden_gradient(g.data(), nullptr, nullptr, rows, nh, -1.0f, 0.0f, t[1].grad.data(), s);
      gemm_row_major(blas, opt.mode, true, false, nv, nh, rows, -1.0f, x, nv, g.data(), nh, 0.0f, t[0].grad.data(), nh);
      if (below_layers > 0)
        gemm_row_major(blas, opt.mode, false, true, rows, nv, nh, -1.0f, g.data(), nh, t[0].value.data(), nh, 0.0f,
                       delta.data(), nv);
      return;
    }
    const int in = top_width(), m = opt.outputs;
    gemm_row_major(blas, opt.mode, false, false, rows, m, in, 1.0f, x, in, t[0].value.data(), m, 0.0f, e.data(), m);
    linear_residuals(e.data(), t[1].value.data(), target, rows, m, loss.data(), s);
    gemm_row_major(blas, opt.mode, true, false, in, m, rows, 1.0f, x, in, e.data(), m, 0.0f, t[0].grad.data(), m);
    label_hidden_gradient(e.data(), nullptr, nullptr, rows, m, 1.0f, 0.0f, t[1].grad.data(), s);  // column sums
    gemm_row_major(blas, opt.mode, false, true, rows, in, m, 1.0f, e.data(), m, t[0].value.data(), m, 0.0f,
                   delta.data(), in);
  }

  // The layers' gradients from delta = dL/da_L down to the bottom.
  void layers_backward(const float* x, int rows) {
    const float* input = sigma.size() > 0 ? scaled.data() : x;
    for (int l = int(opt.layers.size()) - 1; l >= 0; --l) {
      const ff_layer& ly = opt.layers[std::size_t(l)];
      const float* in = l == 0 ? input : act[std::size_t(l) - 1].data();
      mean_slope(ly.hidden, delta.data(), act[std::size_t(l)].data(), pre[std::size_t(l)].data(),
                 layer_b(l).value.data(), rows, ly.nh, s);
      gemm_row_major(blas, opt.mode, true, false, ly.nv, ly.nh, rows, 1.0f, in, ly.nv, delta.data(), ly.nh, 0.0f,
                     layer_w(l).grad.data(), ly.nh);
      label_hidden_gradient(delta.data(), nullptr, nullptr, rows, ly.nh, 1.0f, 0.0f, layer_b(l).grad.data(), s);
      if (l == 0) break;
      gemm_row_major(blas, opt.mode, false, true, rows, ly.nv, ly.nh, 1.0f, delta.data(), ly.nh,
                     layer_w(l).value.data(), ly.nh, 0.0f, below.data(), ly.nv);
      std::swap(delta, below);
    }
  }

  void apply(int rows) {
    ++steps;
    const float rate = adam_rule::at(opt.lr, std::uint64_t(steps)).rate;
    for (tensor& x : t)
      descent_step(opt.method, x.value.data(), x.grad.data(), x.vel.data(), x.sq.data(), x.value.size(),
                   1.0f / rows, x.decay ? opt.weight_decay : 0.0f, opt.lr, opt.momentum, rate, s);
  }
};

feed_forward::feed_forward(const feed_forward_options& opt, stream_view stream) {
  check(opt);
  p_ = std::make_unique<impl>(opt, stream);
}

feed_forward::~feed_forward() {
  if (p_) {
    try {
      p_->s.synchronize();
    } catch (...) {  // a destructor never throws; the buffers free in stream order regardless
    }
  }
}
feed_forward::feed_forward(feed_forward&&) noexcept = default;
feed_forward& feed_forward::operator=(feed_forward&&) noexcept = default;

int feed_forward::inputs() const noexcept { return p_->inputs(); }
int feed_forward::tensor_count() const noexcept { return int(p_->t.size()); }

std::size_t feed_forward::tensor_size(int i) const {
  RBM_EXPECTS(i >= 0 && i < tensor_count());
  return p_->t[std::size_t(i)].value.size();
}

void feed_forward::set_tensor(int i, const float* host) {
  RBM_EXPECTS(host != nullptr);
  device_buffer<float>& v = p_->t[std::size_t(i)].value;
  RBM_CUDA_CHECK(cudaMemcpyAsync(v.data(), host, tensor_size(i) * sizeof(float), cudaMemcpyHostToDevice, p_->s.get()));
  p_->s.synchronize();
}

void feed_forward::get_tensor(int i, float* host) const {
  RBM_EXPECTS(host != nullptr);
  const device_buffer<float>& v = p_->t[std::size_t(i)].value;
  RBM_CUDA_CHECK(cudaMemcpyAsync(host, v.data(), tensor_size(i) * sizeof(float), cudaMemcpyDeviceToHost, p_->s.get()));
  p_->s.synchronize();
}

void feed_forward::set_input_sigma(const float* sigma) {
  RBM_EXPECTS(sigma != nullptr);
  impl& m = *p_;
  const std::size_t n = std::size_t(m.inputs());
  for (std::size_t i = 0; i < n; ++i)
    if (!(sigma[i] > 0)) throw precondition_error("feed_forward: every input sigma must be positive");
  m.sigma = device_buffer<float>(n, m.s);
  m.scaled = device_buffer<float>(n * std::size_t(m.opt.max_batch), m.s);
  RBM_CUDA_CHECK(cudaMemcpyAsync(m.sigma.data(), sigma, n * sizeof(float), cudaMemcpyHostToDevice, m.s.get()));
  m.s.synchronize();
}

void feed_forward::step(const float* x, const int* y, const float* t, int rows) {
  impl& m = *p_;
  RBM_EXPECTS(x != nullptr && rows > 0 && rows <= m.opt.max_batch);
  RBM_EXPECTS(m.opt.head == ff_head::class_rbm ? y != nullptr : t != nullptr);
  const float* top = m.forward(x, rows);
  m.head_backward(top, y, t, rows);
  m.layers_backward(x, rows);
  m.apply(rows);
}

double feed_forward::take_loss_sum() {
  impl& m = *p_;
  double sum = 0;
  RBM_CUDA_CHECK(cudaMemcpyAsync(&sum, m.loss.data(), sizeof(double), cudaMemcpyDeviceToHost, m.s.get()));
  RBM_CUDA_CHECK(cudaMemsetAsync(m.loss.data(), 0, sizeof(double), m.s.get()));
  m.s.synchronize();
  return sum;
}

void feed_forward::class_logits(const float* x, int rows, double* logits) {
  impl& m = *p_;
  if (m.opt.head != ff_head::class_rbm) throw precondition_error("feed_forward: class_logits needs a class RBM head");
  RBM_EXPECTS(x != nullptr && logits != nullptr && rows > 0 && rows <= m.opt.max_batch);
  const int nv = m.opt.top.nv, nh = m.opt.top.nh;
  const float* top = m.forward(x, rows);
  gemm_row_major(m.blas, m.opt.mode, false, false, rows, nh, nv, 1.0f, top, nv, m.t[0].value.data(), nh, 0.0f,
                 m.a.data(), nh);
  label_logits(m.a.data(), m.t[1].value.data(), m.t[2].value.data(), m.t[3].value.data(), rows, nh, m.opt.outputs,
               logits, m.s, m.opt.top.hidden);
}

void feed_forward::outputs(const float* x, int rows, float* out) {
  impl& m = *p_;
  if (m.opt.head != ff_head::linear) throw precondition_error("feed_forward: outputs needs a linear head");
  RBM_EXPECTS(x != nullptr && out != nullptr && rows > 0 && rows <= m.opt.max_batch);
  const int in = m.top_width(), k = m.opt.outputs;
  const float* top = m.forward(x, rows);
  gemm_row_major(m.blas, m.opt.mode, false, false, rows, k, in, 1.0f, top, in, m.t[0].value.data(), k, 0.0f, out, k);
  add_bias_rows(out, m.t[1].value.data(), rows, k, m.s);
}

}  // namespace rbm
