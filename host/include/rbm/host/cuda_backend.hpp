// The CUDA backend: an rbm::model on the GPU behind the backend interface. Batches are either gathered
// on the device from a resident copy of the training set, or gathered on the host into pinned
// buffers and copied on a second stream while the previous batch trains (double buffering).
// Evaluation data are uploaded at each call and freed after it (only the resident training set, a copy
// taken by attach, is evaluated in place): nothing is cached by host address.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "rbm/host/backend.hpp"
#include "rbm/host/gpu_options.hpp"
#include "rbm/model.hpp"
#include "rbm/resources.hpp"

namespace rbm {

namespace cpu {
class thread_team;
}

class cuda_backend final : public backend {
 public:
  // Throws cuda_error when the device cannot be used, out_of_memory when the model does not fit.
  cuda_backend(const cd_config& cfg, int max_batch, const gpu_options& gpu);
  ~cuda_backend() override;

  std::string name() const override;
  void set_params(const model_params& p) override;
  model_params params() const override;
  training_state state() const override { return model_.get_state(); }
  void set_state(const training_state& st) override { model_.set_state(st); }
  void set_rates(float lr, float momentum) override { model_.set_rates(lr, momentum); }
  // Host rows resident on the device when they fit (gathered there by index), else gathered on the
  // host per batch: pixels into pinned buffers copied on a second stream while the previous batch
  // trains, real values copied with the batch. GPU rows (a CUDA array) are read in place, or from a
  // standardised device copy.
  attach_summary attach(const rows_view& rows, const attach_options& opt = {}) override;
  // A label group: the labels of each batch gathered on the host beside its indices, the update
  // rbm::model::train_labeled_step. A gradient hook (CD steps): the device's
  // gradient (rbm::model::set_gradient_hook) copied to host memory, the hook, copied back — one
  // synchronisation per update.
  void step(const int* idx, int rows, const step_objective& objective = {}) override;
  train_sums take_sums() override;
  // Pixels on the device; real values on the CPU for now (the current parameters, the same draws).
  eval_result evaluate(const rows_view& rows) override;
  // On the device for Bernoulli visible units; on the CPU (rbm::ais_log_z) for the other kinds so far.
  ais_result ais_log_z(const std::vector<float>& base_vb, const ais_options& opt) override;
  // On the device (Thrust, rbm/statistics.hpp) where the data fit in half the free memory; else the CPU.
  void column_statistics(const float* data, int n, int d, std::vector<float>& mean, std::vector<float>& sd) override;

  bool resident() const noexcept {
    return resident_data_.size() > 0 || resident_values_.size() > 0 || device_rows_ != nullptr;
  }

 private:
  // Stages `rows` rows into the pinned buffer of the next slot; `fill(dst)` writes them.
  template <class Fill>
  void stream_batch(int rows, Fill&& fill);
  // Whether host rows of `bytes` stay on the device (gpu_options::resident).
  bool keeps_resident(std::size_t bytes) const;
  void attach_pixels(const rows_view& rows);
  void attach_values(const rows_view& rows);
  attach_summary attach_device(const rows_view& rows, const attach_options& opt);
  // Takes the next slot, its indices copied to the device on the compute stream (after its previous
  // copy finished); labels too where asked.
  int stage_indices(const int* idx, int rows, bool labels);
  // The batch idx [rows] as floats in dev_values_, on the compute stream: gathered on the device from
  // the resident rows by the indices staged in `slot`, else on the host (slot unused).
  void gather_values(const int* idx, int rows, int slot);
  void pixel_step(const int* idx, int rows);
  void value_step(const int* idx, int rows);
  void label_step(const int* idx, int rows, const step_objective& objective);
  // Installs (or removes) the model's hook that calls the step's host hook through host_hook_.
  void use_hook(const gradient_hook& on_gradient);
  void call_host_hook(const model::gradient& g);

  cd_config cfg_;
  gpu_options gpu_;
  std::string device_name_;  // before max_batch_: filled while max_batch_ is initialised
  int max_batch_;
  cuda_stream compute_, copy_;
  model model_;
  const gradient_hook* host_hook_ = nullptr;  // this step's hook (use_hook)
  bool hook_installed_ = false;
  std::vector<float> hook_w_, hook_vb_, hook_hb_, hook_log_sigma_;  // the gradient in host memory around the hook
  pinned_buffer<std::uint8_t> staging_[2];
  device_buffer<std::uint8_t> dev_batch_[2];
  pinned_buffer<int> idx_host_[2];
  device_buffer<int> idx_dev_[2];
  pinned_buffer<int> labels_host_[2];  // a label group's batch labels (allocated on first use)
  device_buffer<int> labels_dev_[2];
  cuda_event copied_[2], consumed_[2];
  bool slot_used_[2] = {false, false};
  int slot_ = 0;
  device_buffer<std::uint8_t> resident_data_;
  device_buffer<float> resident_values_, dev_values_;  // a real-valued set; a batch of real values
  const float* device_rows_ = nullptr;                 // the attached CUDA array (or resident_values_)
  std::vector<float> gathered_values_;
  std::unique_ptr<cpu::thread_team> eval_team_;  // real-valued evaluation on the CPU, made on first use
};

}  // namespace rbm
