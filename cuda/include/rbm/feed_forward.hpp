// rbm::feed_forward — a stack's up-pass trained as one feed-forward network by backpropagation, on the
// GPU: the device side of fine-tuning (rbm/host/fine_tune.hpp runs the same maths on the CPU in the same
// order of operations and chooses between the two). cuBLAS for the products, the label kernels for the
// class RBM head's exact p(y | x), small kernels (feed_forward_kernels.cu) for the rest.
//
// The network: a_0 = x (x / sigma with an input sigma), a_{l+1} = m_l(a_l W_l + b_l) for each layer l of
// the up-pass (m_l the conditional mean of its hidden kind: sigmoid for Bernoulli units), then a head
// on a_L:
//  - class_rbm: the top RBM's exact p(y | a_L) = softmax_k(b_k + sum_j F(c_j + U_kj + (a_L W)_j)), F the
//    top's hidden kind's log integral (softplus for Bernoulli units); loss -log p(y | x);
//  - linear: out = a_L w + b; loss |out - t|^2 / 2.
// Each update moves every tensor by the batch mean of the loss's gradient, plus weight_decay w for the
// weights (not the biases), with SGD and momentum (vel = momentum vel - lr g; w += vel) or Adam
// (rbm/optimizer.hpp's adam_rule, the rate of the update's count).
//
// Every method is asynchronous on the network's stream unless its comment says it synchronises; device
// pointers passed in must stay valid until the stream reaches the work.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "rbm/gemm.hpp"
#include "rbm/optimizer.hpp"
#include "rbm/resources.hpp"
#include "rbm/units.hpp"

namespace rbm {

struct ff_layer {
  int nv = 0, nh = 0;
  unit_kind hidden = unit_kind::bernoulli;
};

enum class ff_head { class_rbm, linear };

struct feed_forward_options {
  std::vector<ff_layer> layers;  // the up-pass below the head, bottom up; each layer's nv the nh below
  ff_head head = ff_head::class_rbm;
  ff_layer top;                  // class_rbm: the top RBM (nv: the width below it, nh, its hidden kind)
  int outputs = 0;               // class_rbm: classes (2 to 3,072); linear: outputs (the input is the top layer's nh)
  int max_batch = 100;           // the most rows one call takes
  gemm_mode mode = gemm_mode::fp32;
  optimizer method = optimizer::adam;
  float lr = 0.001f, momentum = 0.9f, weight_decay = 0.0f;
};

class feed_forward {
 public:
  // Allocates the tensors (zero), their optimizer state and the workspaces on `stream`. Throws
  // precondition_error for shapes that do not join or bad rates, out_of_memory, cuda_error, cublas_error.
  feed_forward(const feed_forward_options& opt, stream_view stream);
  ~feed_forward();  // waits for the stream (never throws)
  feed_forward(feed_forward&&) noexcept;
  feed_forward& operator=(feed_forward&&) noexcept;
  feed_forward(const feed_forward&) = delete;
  feed_forward& operator=(const feed_forward&) = delete;

  int inputs() const noexcept;  // the width of x
  // The trained tensors, in this order: the head's (class_rbm: W [top.nv, top.nh], c [top.nh],
  // U [classes, top.nh], b [classes]; linear: w [inputs, outputs], b [outputs]), then each layer's
  // W_l [nv, nh] and b_l [nh], bottom up. All row-major.
  int tensor_count() const noexcept;
  std::size_t tensor_size(int i) const;
  // Copy tensor i from / to host memory. Both synchronise.
  void set_tensor(int i, const float* host);
  void get_tensor(int i, float* host) const;
  // The input's standard deviations sigma [inputs] (host): the network reads x / sigma (a Gaussian
  // bottom layer). Synchronises.
  void set_input_sigma(const float* sigma);

  // One update on x [rows, inputs] (device) with labels y [rows] (device, in [0, classes); class_rbm) or
  // targets t [rows, outputs] (device; linear); rows <= max_batch. Labels outside the classes are not
  // checked here (the caller's rows are).
  void step(const float* x, const int* y, const float* t, int rows);
  // The summed loss of the rows of every step since the last call, each before its update. Synchronises.
  double take_loss_sum();

  // class_rbm: the logits b_k + sum_j F(...) of x [rows, inputs] into logits [rows, classes] (device,
  // double; log p(k | x) is logits minus their log-sum-exp). rows <= max_batch.
  void class_logits(const float* x, int rows, double* logits);
  // linear: out [rows, outputs] (device) = the network's outputs for x; rows <= max_batch.
  void outputs(const float* x, int rows, float* out);

 private:
  struct impl;
  std::unique_ptr<impl> p_;
};

}  // namespace rbm
