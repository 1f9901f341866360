// rbm::model — an RBM whose parameters live on the GPU and whose whole CD-k / PCD-k update runs there:
// cuBLAS for the products, fused kernels for sampling and updates, cuRAND Philox (device) for the
// uniforms, in exactly the layout the CPU backend draws, so that both compute the same thing.
//
// Every method is asynchronous on the model's stream unless its comment says it synchronises.
// Device pointers passed in belong to the caller and must stay valid until the stream reaches the work.
//
// The stream: a stream the caller created (cudaStreamCreate*), or a default stream (nullptr,
// cudaStreamLegacy, cudaStreamPerThread). Updates are replayed as CUDA graphs only on a created
// stream; on a default stream every update is launched eagerly (same numbers). The stream must
// outlive the model: the destructor waits for the work queued on it, then frees the model's memory
// (stream-ordered) and destroys its graphs, generator and cuBLAS handle.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "rbm/ais.hpp"
#include "rbm/cd_config.hpp"
#include "rbm/gemm.hpp"
#include "rbm/resources.hpp"

namespace rbm {

struct model_options {
  cd_config cd;
  gemm_mode mode = gemm_mode::fp32;
  int max_batch = 100;     // largest batch train_step accepts; workspaces are sized for it
  bool use_graph = true;   // replay the captured step as a CUDA graph (on a created stream; the first
                           // step of each batch size runs eagerly, later ones replay its capture)
};

// Sums over the rows evaluated; divide by rows * nv (errors) or rows (free energy).
struct eval_sums {
  double err_sampled = 0, err_mean_field = 0, free_energy = 0;
};

class model {
 public:
  // Device memory the model takes (parameters, momentum, chains, workspaces, uniforms, the cuBLAS
  // workspace), so that callers can refuse a size up front with the computed requirement.
  static std::size_t required_bytes(const model_options& opt);

  // Allocates zero parameters and the workspaces on `stream`. Throws out_of_memory (with the sizes),
  // precondition_error for non-positive sizes, cuda_error / cublas_error / curand_error.
  model(const model_options& opt, stream_view stream);
  // Waits for the stream (never throws), then releases everything; the stream must still exist.
  ~model();
  model(model&&) noexcept;
  model& operator=(model&&) noexcept;
  model(const model&) = delete;
  model& operator=(const model&) = delete;

  int nv() const noexcept;
  int nh() const noexcept;
  stream_view stream() const noexcept;
  const model_options& options() const noexcept;

  // Device parameters: W [nv, nh] row-major, vb [nv], hb [nh].
  float* weights() noexcept;
  float* visible_bias() noexcept;
  float* hidden_bias() noexcept;

  // Copies parameters from host memory. Synchronises the stream (the host arrays may be freed after).
  void set_params(const float* w, const float* vb, const float* hb);
  // Copies parameters to host memory. Synchronises the stream.
  void get_params(float* w, float* vb, float* hb) const;
  // Gaussian visible units (options().cd.visible): their standard deviations sigma [nv] (host), all 1
  // until set; positive. Both synchronise; precondition_error for a Bernoulli model.
  void set_sigma(const float* sigma);
  void get_sigma(float* sigma) const;

  // Momentum (the label group's too; under cd.update_rule adam: Adam's first moments, with the second
  // moments sq_* and the update count), PCD chains and the generator's position. get_state
  // synchronises the stream; set_state copies and synchronises too.
  training_state get_state() const;
  void set_state(const training_state& st);
  // Changes the learning rate and momentum of later updates (schedules); re-captures the graphs.
  void set_rates(float lr, float momentum);

  // One CD-k (PCD-k when cd.pcd) update on v0 [rows, nv] (device; in [0, 1] for Bernoulli visible
  // units, real values for Gaussian ones, one-hot rows of cd.states units per site for categorical
  // ones: each site's state drawn from its softmax with one uniform), rows <= max_batch. Gaussian visible units draw the step's
  // normals with the device generator where make_draw_layout puts them; with cd.learn_sigma, sigma
  // moves too (the variance step with momentum, floored at cd.sigma_floor; get_sigma reads it). Under
  // cd.update_rule adam the parameters move by Adam (rbm/optimizer.hpp), the label group's too. The rest of this interface below train_step (the uint8 steps,
  // probabilities, sampling, Gibbs, AIS, evaluate) is Bernoulli-only so far and throws
  // precondition_error for a Gaussian or categorical model; free_energy serves every kind.
  void train_step(const float* v0, int rows);
  // The same on raw uint8 pixels [rows, nv] (device), scaled by 1/255 on the device.
  void train_step_bytes(const std::uint8_t* v0, int rows);
  // The same on rows idx [rows] (device) of a resident uint8 data set [*, nv] (device).
  void train_step_gather(const std::uint8_t* data, const int* idx, int rows);

  // A label group (a classification RBM, Larochelle & Bengio 2008): `classes` softmax units beside
  // the visible ones, with weights label_w [classes, nh] and biases label_b [classes] (host memory).
  // The first call allocates the group (its momentum zero) and its step's workspace (about
  // max_batch * (3 nh + 2 classes) + make_label_draw_layout's total floats); later calls with the same count set
  // the parameters only. Synchronises. precondition_error for fewer than 2 classes or more than 3,072.
  void set_label_group(int classes, const float* label_w, const float* label_b);
  int classes() const noexcept;  // 0: no label group
  // Copies the label group's parameters to host memory. Synchronises.
  void get_label_group(float* label_w, float* label_b) const;
  // One update of the model with its label group on v0 [rows, nv] (device) with labels y [rows]
  // (device, in [0, classes)): disc_weight x the exact gradient of log p(y | x) + gen_weight x CD-k
  // (PCD-k with cd.pcd) on the joint of pixels and class, the draws in make_label_draw_layout's layout
  // from the model's generator (only when gen_weight > 0; normals for sampled Gaussian visible units),
  // with the CD step's update rule and decay: the same update as the CPU's cpu_label_step
  // (rbm/host/classification.hpp), for every visible and hidden kind. Enqueued eagerly (no graph); y must stay valid until the stream gets there.
  void train_labeled_step(const float* v0, const int* y, int rows, float disc_weight, float gen_weight);
  // Sum of -log p(y | x) (before each update) over the rows of the discriminative updates since the
  // last call, and their count. Synchronises.
  double take_class_loss_sum(std::uint64_t& rows);

  // One CD update's mean gradient in the model's device memory, before the update applies it: W [nv, nh],
  // vb [nv] (Gaussian units: over sigma^2), hb [nh] (with the sparsity term), log sigma [nv] (learned
  // sigma; else null), the batch's rows, and the stream the update is queued on.
  struct gradient {
    float* w = nullptr;
    float* vb = nullptr;
    float* hb = nullptr;
    float* log_sigma = nullptr;
    int nv = 0, nh = 0, rows = 0;
    stream_view stream;
  };
  using gradient_hook = std::function<void(const gradient&)>;
  // Splits each later CD update (train_step*) into its gradient and its application: after the Gibbs
  // chain the gradient is written to device buffers and `hook` is called on the host with them; it may
  // change them in place, by work it queues on `gradient::stream` (an all-reduce across GPUs, say) or
  // after synchronising it; then the update applies them as it would have (SGD with momentum and
  // decay, or Adam). With a hook every step runs eagerly (no graph). An empty hook removes it. The label
  // step does not call it.
  void set_gradient_hook(gradient_hook hook);

  // Sum over every pixel trained on since the last call of (v0 - v1)^2, v1 the first sampled
  // reconstruction, and the number of pixels. Synchronises the stream.
  double take_error_sum(std::uint64_t& pixels);

  // prob [rows, nh] = p(h = 1 | v) for v [rows, nv] (device).
  void hidden_probs(const float* v, int rows, float* prob);
  // prob [rows, nv] = p(v = 1 | h) for h [rows, nh] (device).
  void visible_probs(const float* h, int rows, float* prob);
  // prob [rows, nh] = p(h = 1 | v) and state [rows, nh] ~ that, drawing from the model's generator;
  // rows <= max_batch.
  void sample_hidden(const float* v, int rows, float* prob, float* state);
  // prob [rows, nv] = p(v = 1 | h) and state [rows, nv] ~ that; rows <= max_batch.
  void sample_visible(const float* h, int rows, float* prob, float* state);
  // `steps` Gibbs sweeps v -> h -> v in place on v [rows, nv] (device); `h` [rows, nh] receives the
  // last hidden states. rows <= max_batch.
  void gibbs(float* v, float* h, int rows, int steps);
  // Free energy of each row of v [rows, nv] into out [rows] (device); rows <= max_batch.
  void free_energy(const float* v, int rows, float* out);

  // log Z by annealed importance sampling from the base-rate model with visible bias `base_vb` (host,
  // [nv]), drawing from its own generator seeded with opt.seed: the CPU's rbm::ais_log_z draws the
  // same uniforms in the same order. Synchronises the stream.
  ais_result ais_log_z(const std::vector<float>& base_vb, const ais_options& opt);

  // Reconstruction errors and free energy of uint8 data [rows, nv] (device), drawing from its own
  // generator restarted at each call (same draws as the CPU backend). Synchronises the stream.
  eval_sums evaluate(const std::uint8_t* data, int rows);

 private:
  struct impl;
  std::unique_ptr<impl> p_;
};

}  // namespace rbm
