// The CPU backend: CD-k / PCD-k with OpenBLAS SGEMM for the products, the shared RBM_HD maths for
// sigmoid and sampling, and cuRAND's Philox sequence for the uniforms (computed by cpu::philox_uniforms,
// bit-identical to cuRAND's host generator and much faster).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "rbm/host/backend.hpp"
#include "rbm/host/classification.hpp"
#include "rbm/host/cpu_maths.hpp"

namespace rbm {

// State that survives between updates besides the parameters (momentum, PCD chains, RNG position).
using cd_state = training_state;

namespace cpu {
class thread_team;
}

// Scratch buffers, grown on demand, and the threads an update runs on.
struct cd_workspace {
  std::vector<float> h0p, h0s, vs, hp, hs, grad_v, grad_h, act;
  std::vector<float> s0, ss;          // Gaussian visible units: v0 / sigma and vs / sigma
  std::vector<float> xs, grad_z;      // learned sigma: h W^T, per-part column sums of -dE/dlog sigma
  // The gradient apart from its application (Adam, a gradient hook): W [nv, nh], the biases' batch
  // means [nv], [nh], log sigma's [nv] (learned sigma).
  std::vector<float> grad_w, grad_vb, grad_hb, grad_log_sigma;
  // Parallel tempering: per replica row hb + v' W, its beta-scaled form (then the means), v / sigma, G;
  // and nh zeros (the bias the hidden draw adds: beta scales it with the input instead).
  std::vector<float> tempered_a, tempered_x, tempered_view, zero_h;
  std::vector<double> tempered_g;
  std::vector<double> err;            // per thread
  std::vector<std::vector<float>> u;  // per thread: uniforms being used
  cpu::thread_team* team = nullptr;   // nullptr: the calling thread alone
};

// Writes the uniforms [offset, offset + n) of one update's cd_uniform_count into out; called from the
// update's threads at once, each for its own ranges.
using uniform_source = std::function<void(std::size_t offset, std::size_t n, float* out)>;

// One CD-k update of `p` on v0 [rows, nv] (in [0, 1] for Bernoulli visible units; real values for
// Gaussian ones, cfg.visible == p.visible), with the draws of make_draw_layout(rows, cfg): uniforms from
// `uniforms` and, where the layout has normals (sampled Gaussian visible units), from `normals`, both
// at offsets into the step's draws.
// Returns mean (v0 - v1)^2 of the first reconstruction. With a team of T threads the work is split in
// P = min(T, rows / 4) parts (at least 1): each part runs the Gibbs chain of its P-th of the rows and
// then updates its P-th of W's rows and of the biases, calling OpenBLAS on one thread each (set for the
// update's duration, then restored). Bit-reproducible for a fixed thread count. With a `hook` (not
// empty), the whole gradient is computed first, handed to it (it may change it: a data-parallel
// driver averages it across workers), and then applied; SGD's W step is then the unfused
// vel = momentum vel + lr g (the same update up to rounding), Adam's unchanged.
float cpu_cd_step(model_params& p, cd_state& st, const float* v0, int rows, const uniform_source& uniforms,
                  const cd_config& cfg, cd_workspace& ws, const uniform_source* normals = nullptr,
                  const gradient_hook* hook = nullptr);
// The same with the step's draws (uniforms and normals where the layout puts them) in a buffer.
float cpu_cd_step(model_params& p, cd_state& st, const float* v0, int rows, const float* uniforms, const cd_config& cfg,
                  cd_workspace& ws);

class cpu_backend final : public backend {
 public:
  // Runs on as many threads as OpenBLAS would (OPENBLAS_NUM_THREADS, else the cores).
  explicit cpu_backend(const cd_config& cfg);
  ~cpu_backend() override;
  std::string name() const override;
  int threads() const;
  void set_params(const model_params& p) override;
  model_params params() const override { return params_; }
  training_state state() const override;
  void set_state(const training_state& st) override;
  void set_rates(float lr, float momentum) override;
  attach_summary attach(const rows_view& rows, const attach_options& opt = {}) override;
  // The rows gathered (and pixels scaled) by the update's threads, no copy of the set.
  void step(const int* idx, int rows, const step_objective& objective = {}) override;
  train_sums take_sums() override;
  eval_result evaluate(const rows_view& rows) override;
  ais_result ais_log_z(const std::vector<float>& base_vb, const ais_options& opt) override;

 private:
  void cd_step(const int* idx, int rows, const gradient_hook& on_gradient);
  void label_step(const int* idx, int rows, const step_objective& objective);
  // Attached row idx[r] as floats into dst, for r in [0, rows), on the calling thread.
  void gather(const int* idx, int rows, float* dst) const;

  cd_config cfg_;
  model_params params_;
  cd_state state_;
  cd_workspace ws_;
  std::unique_ptr<cpu::thread_team> team_;
  std::vector<float> v0_;
  std::vector<int> labels_;
  classification_workspace class_ws_;
  train_sums sums_;
};

}  // namespace rbm
