// Fine-tuning on the GPU (fine_tune_engine.hpp) through rbm::feed_forward: the training and held-out
// rows copied to the device once, each epoch's order once, every batch gathered there; the parameters
// come back to the host where the best epoch is kept and at the end.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <optional>

#include "fine_tune_engine.hpp"
#include "rbm/error.hpp"
#include "rbm/feed_forward.hpp"
#include "rbm/kernels.hpp"
#include "rbm/math.hpp"
#include "rbm/units.hpp"

namespace rbm::detail {
namespace {

template <class T>
device_buffer<T> upload(const T* host, std::size_t n, stream_view s) {
  device_buffer<T> d(n, s);
  if (n > 0) RBM_CUDA_CHECK(cudaMemcpyAsync(d.data(), host, n * sizeof(T), cudaMemcpyHostToDevice, s.get()));
  return d;
}

feed_forward_options network_options(const fine_tune_task& t, const fine_tune_options& o) {
  feed_forward_options f;
  const std::vector<model_params>& layers = *t.layers;
  for (int l = 0; l < t.up_layers(); ++l) f.layers.push_back({layers[l].nv, layers[l].nh, layers[l].hidden});
  if (t.head == nullptr) {
    const model_params& top = layers.back();
    f.head = ff_head::class_rbm;
    f.top = {top.nv, top.nh, top.hidden};
    f.outputs = top.classes;
  } else {
    f.head = ff_head::linear;
    f.outputs = t.head->outputs;
  }
  f.max_batch = std::min(o.batch, t.train.rows);
  f.mode = o.gpu.mode;
  f.method = o.method;
  f.lr = o.lr;
  f.momentum = o.momentum;
  f.weight_decay = o.weight_decay;
  return f;
}

// The host tensors in rbm::feed_forward's order: the head's, then each layer's W and hb.
std::vector<std::vector<float>*> host_tensors(const fine_tune_task& t) {
  std::vector<model_params>& layers = *t.layers;
  std::vector<std::vector<float>*> v;
  if (t.head == nullptr) {
    model_params& top = layers.back();
    v = {&top.w, &top.hb, &top.label_w, &top.label_b};
  } else {
    v = {&t.head->w, &t.head->b};
  }
  for (int l = 0; l < t.up_layers(); ++l) {
    v.push_back(&layers[std::size_t(l)].w);
    v.push_back(&layers[std::size_t(l)].hb);
  }
  return v;
}

// Makes `device` the calling thread's current GPU (before the engine's stream is created on it).
int select_device(int device) {
  RBM_CUDA_CHECK(cudaSetDevice(device));
  return device;
}

class cuda_engine final : public fine_tune_engine {
 public:
  cuda_engine(const fine_tune_task& t, const fine_tune_options& o)
      : t_(t), tensors_(host_tensors(t)), device_(select_device(o.gpu.device)) {
    const stream_view s = stream_.view();
    net_.emplace(network_options(t, o), s);
    for (int i = 0; i < net_->tensor_count(); ++i) {
      RBM_EXPECTS(net_->tensor_size(i) == tensors_[std::size_t(i)]->size());
      net_->set_tensor(i, tensors_[std::size_t(i)]->data());
    }
    const model_params& bottom = t.layers->front();
    if (bottom.gaussian()) net_->set_input_sigma(bottom.sigma.data());
    const std::size_t nv = std::size_t(nv_ = bottom.nv), m = std::size_t(t.outputs());
    const int batch = std::min(o.batch, t.train.rows);
    x_ = upload(t.train.x, std::size_t(t.train.rows) * nv, s);
    if (m > 0) target_ = upload(t.train.t, std::size_t(t.train.rows) * m, s);
    held_x_ = upload(t.held.x, std::size_t(t.held.rows) * nv, s);
    if (m > 0) held_t_ = upload(t.held.t, std::size_t(t.held.rows) * m, s);
    order_ = device_buffer<int>(std::size_t(t.train.rows), s);
    y_ = device_buffer<int>(t.head == nullptr ? std::size_t(t.train.rows) : 0, s);
    xb_ = device_buffer<float>(std::size_t(batch) * nv, s);
    tb_ = device_buffer<float>(std::size_t(batch) * m, s);
    out_ = device_buffer<float>(std::size_t(batch) * std::max<std::size_t>(m, 1), s);
    logits_ = device_buffer<double>(t.head == nullptr ? std::size_t(batch) * t.layers->back().classes : 0, s);
    batch_ = batch;
    s.synchronize();
  }

  void begin_epoch(const std::vector<int>& order) override {
    const stream_view s = stream_.view();
    s.synchronize();  // the last epoch's steps have read the old order and labels
    RBM_CUDA_CHECK(cudaMemcpyAsync(order_.data(), order.data(), order.size() * sizeof(int), cudaMemcpyHostToDevice, s.get()));
    if (t_.head == nullptr) {  // the labels in the epoch's order, so a batch's are a range
      epoch_y_.resize(order.size());
      for (std::size_t i = 0; i < order.size(); ++i) epoch_y_[i] = t_.train.y[order[i]];
      RBM_CUDA_CHECK(cudaMemcpyAsync(y_.data(), epoch_y_.data(), epoch_y_.size() * sizeof(int), cudaMemcpyHostToDevice,
                                     s.get()));
    }
  }

  void step(int first, int n) override {
    const stream_view s = stream_.view();
    const int* idx = order_.data() + first;
    gather_rows(x_.data(), idx, n, nv_, xb_.data(), s);
    if (t_.head != nullptr) gather_rows(target_.data(), idx, n, t_.outputs(), tb_.data(), s);
    net_->step(xb_.data(), t_.head == nullptr ? y_.data() + first : nullptr, tb_.data(), n);
  }

  double take_train_loss() override { return net_->take_loss_sum(); }

  std::pair<double, double> held_out() override {
    double sum = 0, correct = 0;
    for (int first = 0; first < t_.held.rows; first += batch_) {
      const int n = std::min(batch_, t_.held.rows - first);
      const float* x = held_x_.data() + std::size_t(first) * nv_;
      if (t_.head == nullptr)
        add_class_loss(x, first, n, sum, correct);
      else
        add_squared_error(x, first, n, sum);
    }
    return {sum, correct};
  }

  void keep() override {
    best_.resize(tensors_.size());
    for (std::size_t i = 0; i < tensors_.size(); ++i) {
      best_[i].resize(tensors_[i]->size());
      net_->get_tensor(int(i), best_[i].data());
    }
  }
  void restore() override {
    for (std::size_t i = 0; i < best_.size(); ++i) net_->set_tensor(int(i), best_[i].data());
  }
  void finish() override {
    for (std::size_t i = 0; i < tensors_.size(); ++i) net_->get_tensor(int(i), tensors_[i]->data());
  }
  bool on_gpu() const override { return true; }

 private:
  // -log p(y | x) and right answers of held-out rows [first, first + n), as class_log_probs_from_hidden.
  void add_class_loss(const float* x, int first, int n, double& sum, double& correct) {
    const int kc = t_.layers->back().classes;
    net_->class_logits(x, n, logits_.data());
    host_logits_.resize(std::size_t(n) * kc);
    RBM_CUDA_CHECK(cudaMemcpyAsync(host_logits_.data(), logits_.data(), host_logits_.size() * sizeof(double),
                                   cudaMemcpyDeviceToHost, stream_.get()));
    stream_.view().synchronize();
    std::vector<double> prob(static_cast<std::size_t>(kc));
    for (int r = 0; r < n; ++r) {  // the logits made log-probabilities, as class_log_probs_from_hidden
      double* z = host_logits_.data() + std::size_t(r) * kc;
      const double lse = softmax_units::mean(z, kc, prob.data());
      for (int k = 0; k < kc; ++k) z[k] -= lse;
    }
    add_class_scores(host_logits_.data(), t_.held.y + first, n, kc, sum, correct);
  }

  // |out - t|^2 / 2 of held-out rows [first, first + n).
  void add_squared_error(const float* x, int first, int n, double& sum) {
    const int m = t_.outputs();
    net_->outputs(x, n, out_.data());
    host_out_.resize(std::size_t(n) * m);
    RBM_CUDA_CHECK(cudaMemcpyAsync(host_out_.data(), out_.data(), host_out_.size() * sizeof(float),
                                   cudaMemcpyDeviceToHost, stream_.get()));
    stream_.view().synchronize();
    const float* t = t_.held.t + std::size_t(first) * m;
    for (std::size_t i = 0; i < host_out_.size(); ++i) {
      const float e = host_out_[i] - t[i];
      sum += 0.5 * double(e) * e;
    }
  }

  fine_tune_task t_;
  std::vector<std::vector<float>*> tensors_;
  int device_;          // current before the stream below is created
  cuda_stream stream_;  // before the buffers: they free in its order
  std::optional<feed_forward> net_;
  device_buffer<float> x_, target_, held_x_, held_t_, xb_, tb_, out_;
  device_buffer<int> order_, y_;
  device_buffer<double> logits_;
  std::vector<int> epoch_y_;
  std::vector<double> host_logits_;
  std::vector<float> host_out_;
  std::vector<std::vector<float>> best_;
  int nv_ = 0, batch_ = 1;
};

}  // namespace

std::unique_ptr<fine_tune_engine> make_cuda_fine_tune(const fine_tune_task& t, const fine_tune_options& o) {
  return std::make_unique<cuda_engine>(t, o);
}

}  // namespace rbm::detail
