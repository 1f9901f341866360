// CUDA backend: streams or keeps resident the training data, drives rbm::model, reads back only
// metrics and parameters.
#include "rbm/host/cuda_backend.hpp"

#include <cblas.h>
#include <cuda_runtime_api.h>

#include <cstring>

#include "rbm/device_arrays.hpp"
#include "rbm/error.hpp"
#include "rbm/statistics.hpp"
#include "backend_registry.hpp"
#include "rbm/host/evaluation.hpp"
#include "rbm/host/thread_team.hpp"
#include "rbm/kernels.hpp"

namespace rbm {
namespace {

// Selects the device before anything else is created on it.
int select_device(int device, std::string& name) {
  RBM_CUDA_CHECK(cudaSetDevice(device));
  cudaDeviceProp prop{};
  RBM_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  name = std::string(prop.name) + " (GPU " + std::to_string(device) + ", compute capability " +
         std::to_string(prop.major) + "." + std::to_string(prop.minor) + ")";
  return device;
}

model_options make_model_options(const cd_config& cfg, int max_batch, const gpu_options& gpu) {
  model_options o;
  o.cd = cfg;
  o.mode = gpu.mode;
  o.max_batch = max_batch;
  o.use_graph = gpu.use_graph;
  // Refuse up front, with the requirement, what cannot fit (evaluation adds ~1,500 rows of workspace).
  std::size_t free_b = 0, total_b = 0;
  RBM_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  const std::size_t need = model::required_bytes(o) + std::size_t(eval_chunk) * (3 * cfg.nv + 4 * cfg.nh) * 4 +
                           2 * std::size_t(max_batch) * (cfg.nv + 4);
  if (need > free_b)
    throw out_of_memory("a " + std::to_string(cfg.nv) + "x" + std::to_string(cfg.nh) + " model with batch " +
                            std::to_string(max_batch) + " and k = " + std::to_string(cfg.k) + " needs " +
                            std::to_string(need >> 20) + " MiB of GPU memory; " + std::to_string(free_b >> 20) +
                            " MiB are free",
                        2 /* cudaErrorMemoryAllocation */, need);
  return o;
}

}  // namespace

cuda_backend::cuda_backend(const cd_config& cfg, int max_batch, const gpu_options& gpu)
    : cfg_(cfg), gpu_(gpu), max_batch_((select_device(gpu.device, device_name_), max_batch)),
      model_(make_model_options(cfg, max_batch, gpu), compute_.view()) {
  const std::size_t batch_bytes = std::size_t(max_batch) * cfg.nv;
  for (int i = 0; i < 2; ++i) {
    staging_[i] = pinned_buffer<std::uint8_t>(batch_bytes);
    dev_batch_[i] = device_buffer<std::uint8_t>(batch_bytes, compute_.view());
    idx_host_[i] = pinned_buffer<int>(std::size_t(max_batch));
    idx_dev_[i] = device_buffer<int>(std::size_t(max_batch), compute_.view());
  }
  // The staging buffers were allocated stream-ordered on the compute stream and are first written on
  // the copy stream: order the copy stream after the allocations explicitly.
  cuda_event allocated;
  allocated.record(compute_.view());
  allocated.wait_on(copy_.view());
}

cuda_backend::~cuda_backend() {
  // Queued work still reads our buffers: let it finish before they go (errors cannot be reported here).
  cudaStreamSynchronize(copy_.get());
  cudaStreamSynchronize(compute_.get());
}

std::string cuda_backend::name() const {
  return "cuda on " + device_name_ + ", GEMM " + to_string(gpu_.mode) +
         (resident() ? ", training data resident on the device" : ", batches streamed from the host");
}

void cuda_backend::set_params(const model_params& p) {
  RBM_EXPECTS(p.nv == cfg_.nv && p.nh == cfg_.nh && p.visible == cfg_.visible && p.hidden == cfg_.hidden);
  RBM_EXPECTS(!p.labeled() || (p.label_w.size() == std::size_t(p.classes) * p.nh &&
                                p.label_b.size() == std::size_t(p.classes)));
  if (model_.classes() > 0 && p.classes != model_.classes())
    throw precondition_error("this backend's model has a label group of " + std::to_string(model_.classes()) +
                             " classes; the parameters have " + std::to_string(p.classes));
  model_.set_params(p.w.data(), p.vb.data(), p.hb.data());
  if (p.gaussian()) model_.set_sigma(p.sigma.data());
  if (p.labeled()) model_.set_label_group(p.classes, p.label_w.data(), p.label_b.data());
}

model_params cuda_backend::params() const {
  model_params p(cfg_.nv, cfg_.nh, cfg_.visible);
  p.hidden = cfg_.hidden;
  if (p.categorical()) p.states = cfg_.states;
  model_.get_params(p.w.data(), p.vb.data(), p.hb.data());
  if (p.gaussian()) model_.get_sigma(p.sigma.data());
  if (model_.classes() > 0) {
    p.add_labels(model_.classes());
    model_.get_label_group(p.label_w.data(), p.label_b.data());
  }
  return p;
}

bool cuda_backend::keeps_resident(std::size_t bytes) const {
  if (gpu_.resident != "auto") return gpu_.resident == "on";
  std::size_t free_b = 0, total_b = 0;
  RBM_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  return bytes <= free_b / 2;  // leave room for evaluation sets and other users of the GPU
}

attach_summary cuda_backend::attach(const rows_view& rows, const attach_options& opt) {
  RBM_EXPECTS(rows.rows > 0 && rows.cols == cfg_.nv);
  resident_data_ = device_buffer<std::uint8_t>();
  resident_values_ = device_buffer<float>();
  device_rows_ = nullptr;
  attached_ = {};
  if (rows.device != nullptr) return attach_device(rows, opt);
  RBM_EXPECTS(rows.pixels != nullptr || rows.values != nullptr);
  if (rows.pixels != nullptr)
    attach_pixels(rows);
  else
    attach_values(rows);
  attached_ = rows;
  return {};
}

void cuda_backend::attach_pixels(const rows_view& rows) {
  const std::size_t bytes = std::size_t(rows.rows) * rows.cols;
  if (!keeps_resident(bytes)) return;
  resident_data_ = device_buffer<std::uint8_t>(bytes, compute_.view());
  RBM_CUDA_CHECK(cudaMemcpyAsync(resident_data_.data(), rows.pixels, bytes, cudaMemcpyHostToDevice, compute_.get()));
  compute_.view().synchronize();  // pageable source: done before the caller may touch it
}

void cuda_backend::attach_values(const rows_view& rows) {
  const std::size_t count = std::size_t(rows.rows) * rows.cols;
  if (!keeps_resident(count * sizeof(float))) return;
  resident_values_ = device_buffer<float>(count, compute_.view());
  RBM_CUDA_CHECK(cudaMemcpyAsync(resident_values_.data(), rows.values, count * sizeof(float), cudaMemcpyHostToDevice,
                                 compute_.get()));
  compute_.view().synchronize();
  device_rows_ = resident_values_.data();
}

attach_summary cuda_backend::attach_device(const rows_view& rows, const attach_options& opt) {
  const int n = rows.rows, nv = rows.cols;
  RBM_EXPECTS(opt.head_rows >= 0 && opt.head_rows <= n);
  const int where = device_of(rows.device);
  if (where != gpu_.device)
    throw precondition_error(where < 0 ? std::string("the training rows are not in GPU memory")
                                       : "the training rows are on GPU " + std::to_string(where) +
                                             ", but training runs on GPU " + std::to_string(gpu_.device));
  attach_summary r;
  const value_summary v = summarize_values(rows.device, std::size_t(n) * nv, compute_.view());
  r.nonfinite = v.nonfinite;
  r.min = v.min;
  r.max = v.max;
  if (r.nonfinite > 0) return r;  // refused by the caller: nothing attached
  r.mean.resize(nv);
  r.sd.resize(nv);
  column_mean_sd(rows.device, n, nv, r.mean.data(), r.sd.data(), compute_.view());
  const float* data = rows.device;
  if (opt.standardize) {
    resident_values_ = device_buffer<float>(std::size_t(n) * nv, compute_.view());
    standardize_columns(data, n, nv, r.mean.data(), r.sd.data(), resident_values_.data(), compute_.view());
    data = resident_values_.data();
  }
  r.head.resize(std::size_t(opt.head_rows) * nv);
  if (opt.head_rows > 0) {
    RBM_CUDA_CHECK(cudaMemcpyAsync(r.head.data(), data, r.head.size() * sizeof(float), cudaMemcpyDeviceToHost,
                                   compute_.get()));
    compute_.view().synchronize();
  }
  attached_ = rows;
  attached_.device = data;
  device_rows_ = data;
  return r;
}

void cuda_backend::column_statistics(const float* data, int n, int d, std::vector<float>& mean, std::vector<float>& sd) {
  RBM_EXPECTS(data != nullptr && n > 0 && d > 0);
  const std::size_t bytes = std::size_t(n) * d * sizeof(float);
  std::size_t free_b = 0, total_b = 0;
  RBM_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  if (bytes > free_b / 2) {
    backend::column_statistics(data, n, d, mean, sd);
    return;
  }
  device_buffer<float> dev(std::size_t(n) * d, compute_.view());
  RBM_CUDA_CHECK(cudaMemcpyAsync(dev.data(), data, bytes, cudaMemcpyHostToDevice, compute_.get()));
  mean.resize(d);
  sd.resize(d);
  column_mean_sd(dev.data(), n, d, mean.data(), sd.data(), compute_.view());  // synchronises
}

template <class Fill>
void cuda_backend::stream_batch(int rows, Fill&& fill) {
  RBM_EXPECTS(rows > 0 && rows <= max_batch_);
  const int s = slot_;
  slot_ ^= 1;
  // The pinned buffer of this slot is free once its previous copy has finished (host waits for that one
  // event only); the device buffer once the update that read it has run (the copy stream waits for it).
  if (slot_used_[s]) {
    copied_[s].synchronize();
    consumed_[s].wait_on(copy_.view());
  }
  const std::size_t bytes = std::size_t(rows) * cfg_.nv;
  fill(staging_[s].data());
  RBM_CUDA_CHECK(cudaMemcpyAsync(dev_batch_[s].data(), staging_[s].data(), bytes, cudaMemcpyHostToDevice, copy_.get()));
  copied_[s].record(copy_.view());
  copied_[s].wait_on(compute_.view());
  model_.train_step_bytes(dev_batch_[s].data(), rows);
  consumed_[s].record(compute_.view());
  slot_used_[s] = true;
}

int cuda_backend::stage_indices(const int* idx, int rows, bool labels) {
  const int s = slot_;
  slot_ ^= 1;
  if (slot_used_[s]) copied_[s].synchronize();  // the pinned buffers' previous copies are done
  std::memcpy(idx_host_[s].data(), idx, std::size_t(rows) * sizeof(int));
  RBM_CUDA_CHECK(cudaMemcpyAsync(idx_dev_[s].data(), idx_host_[s].data(), std::size_t(rows) * sizeof(int),
                                 cudaMemcpyHostToDevice, compute_.get()));
  if (labels) {
    if (labels_host_[s].size() == 0) {
      labels_host_[s] = pinned_buffer<int>(std::size_t(max_batch_));
      labels_dev_[s] = device_buffer<int>(std::size_t(max_batch_), compute_.view());
    }
    for (int r = 0; r < rows; ++r) labels_host_[s].data()[r] = attached_.labels[idx[r]];
    RBM_CUDA_CHECK(cudaMemcpyAsync(labels_dev_[s].data(), labels_host_[s].data(), std::size_t(rows) * sizeof(int),
                                   cudaMemcpyHostToDevice, compute_.get()));
  }
  copied_[s].record(compute_.view());
  slot_used_[s] = true;
  return s;
}

void cuda_backend::gather_values(const int* idx, int rows, int slot) {
  const std::size_t nv = std::size_t(cfg_.nv);
  if (dev_values_.size() == 0) dev_values_ = device_buffer<float>(std::size_t(max_batch_) * nv, compute_.view());
  if (device_rows_ != nullptr) {
    gather_rows(device_rows_, idx_dev_[slot].data(), rows, cfg_.nv, dev_values_.data(), compute_.view());
  } else if (resident_data_.size() > 0) {
    gather_to_unit(resident_data_.data(), idx_dev_[slot].data(), rows, cfg_.nv, dev_values_.data(), compute_.view());
  } else {  // gathered on the host; from pageable memory the copy has the rows when it returns
    gathered_values_.resize(std::size_t(rows) * nv);
    for (int r = 0; r < rows; ++r) {
      float* dst = gathered_values_.data() + r * nv;
      const std::size_t at = std::size_t(idx[r]) * nv;
      if (attached_.values != nullptr)
        std::memcpy(dst, attached_.values + at, nv * sizeof(float));
      else
        for (std::size_t i = 0; i < nv; ++i) dst[i] = pixel_to_unit(attached_.pixels[at + i]);
    }
    RBM_CUDA_CHECK(cudaMemcpyAsync(dev_values_.data(), gathered_values_.data(), gathered_values_.size() * sizeof(float),
                                   cudaMemcpyHostToDevice, compute_.get()));
  }
}

void cuda_backend::step(const int* idx, int rows, const step_objective& objective) {
  check_indices(idx, rows);
  RBM_EXPECTS(rows <= max_batch_);
  if (objective.on_gradient && model_.classes() > 0)
    throw precondition_error("a gradient hook sees the CD step's gradient; a label group's update has none yet");
  use_hook(objective.on_gradient);
  if (model_.classes() > 0)
    label_step(idx, rows, objective);
  else if (objective.discriminative > 0)
    throw precondition_error("a discriminative update needs a model with a label group");
  else if (attached_.pixels != nullptr)
    pixel_step(idx, rows);
  else
    value_step(idx, rows);
}

void cuda_backend::use_hook(const gradient_hook& on_gradient) {
  const bool want = bool(on_gradient);
  host_hook_ = want ? &on_gradient : nullptr;
  if (want == hook_installed_) return;
  if (want)
    model_.set_gradient_hook([this](const model::gradient& g) { call_host_hook(g); });
  else
    model_.set_gradient_hook({});
  hook_installed_ = want;
}

void cuda_backend::call_host_hook(const model::gradient& g) {
  const std::pair<float*, std::vector<float>*> parts[] = {
      {g.w, &hook_w_}, {g.vb, &hook_vb_}, {g.hb, &hook_hb_}, {g.log_sigma, &hook_log_sigma_}};
  const std::size_t sizes[] = {std::size_t(g.nv) * g.nh, std::size_t(g.nv), std::size_t(g.nh),
                               g.log_sigma != nullptr ? std::size_t(g.nv) : 0};
  for (int i = 0; i < 4; ++i) {
    if (sizes[i] == 0) continue;
    parts[i].second->resize(sizes[i]);
    RBM_CUDA_CHECK(cudaMemcpyAsync(parts[i].second->data(), parts[i].first, sizes[i] * sizeof(float),
                                   cudaMemcpyDeviceToHost, g.stream.get()));
  }
  g.stream.synchronize();
  gradient_view v{hook_w_.data(), hook_vb_.data(), hook_hb_.data(),
                  g.log_sigma != nullptr ? hook_log_sigma_.data() : nullptr, g.nv, g.nh, g.rows};
  (*host_hook_)(v);
  // Stream-ordered: the next update's copies into these vectors come after these have read them.
  for (int i = 0; i < 4; ++i)
    if (sizes[i] > 0)
      RBM_CUDA_CHECK(cudaMemcpyAsync(parts[i].first, parts[i].second->data(), sizes[i] * sizeof(float),
                                   cudaMemcpyHostToDevice, g.stream.get()));
}

void cuda_backend::label_step(const int* idx, int rows, const step_objective& objective) {
  if (attached_.labels == nullptr) throw precondition_error("a label group's update needs the rows' labels attached");
  const int s = stage_indices(idx, rows, true);
  gather_values(idx, rows, s);
  model_.train_labeled_step(dev_values_.data(), labels_dev_[s].data(), rows, objective.discriminative,
                            objective.generative);
}

void cuda_backend::value_step(const int* idx, int rows) {
  const int s = device_rows_ != nullptr ? stage_indices(idx, rows, false) : -1;  // -1: gathered on the host
  gather_values(idx, rows, s);
  model_.train_step(dev_values_.data(), rows);  // copies the rows into the model's batch before returning work
}

void cuda_backend::pixel_step(const int* idx, int rows) {
  if (!resident()) {
    const std::size_t nv = std::size_t(cfg_.nv);
    stream_batch(rows, [&](std::uint8_t* dst) {
      for (int r = 0; r < rows; ++r) std::memcpy(dst + r * nv, attached_.pixels + std::size_t(idx[r]) * nv, nv);
    });
    return;
  }
  const int s = stage_indices(idx, rows, false);
  model_.train_step_gather(resident_data_.data(), idx_dev_[s].data(), rows);
}

train_sums cuda_backend::take_sums() {
  train_sums t;
  std::uint64_t pixels = 0, rows = 0;
  t.squared_error = model_.take_error_sum(pixels);
  t.values = double(pixels);
  t.class_loss = model_.take_class_loss_sum(rows);
  t.labeled_rows = double(rows);
  return t;
}

eval_result cuda_backend::evaluate(const rows_view& rows) {
  eval_result res;
  if (rows.rows <= 0) return res;
  RBM_EXPECTS(rows.device == nullptr && rows.cols == cfg_.nv && (rows.pixels != nullptr || rows.values != nullptr));
  if (rows.pixels == nullptr) {
    // Real-valued evaluation runs on the CPU for now, on the current parameters, with the evaluation
    // generator's draws (the same numbers a CPU backend gives), on OpenBLAS's thread count; the device
    // path is next.
    if (!eval_team_) eval_team_ = std::make_unique<cpu::thread_team>(openblas_get_num_threads());
    return evaluate_rows(params(), cfg_.seed, rows, eval_team_.get());
  }
  const std::size_t bytes = std::size_t(rows.rows) * cfg_.nv;
  // The resident training set is the attached rows, copied at attach time; anything else is the
  // caller's memory, whose contents may change between calls (or whose address may be reused for
  // other data): it is uploaded afresh each time into a buffer freed after the call, never cached.
  eval_sums sums;
  if (resident_data_.size() > 0 && rows.pixels == attached_.pixels && rows.rows <= attached_.rows) {
    sums = model_.evaluate(resident_data_.data(), rows.rows);
  } else {
    device_buffer<std::uint8_t> buf(bytes, compute_.view());
    RBM_CUDA_CHECK(cudaMemcpyAsync(buf.data(), rows.pixels, bytes, cudaMemcpyHostToDevice, compute_.get()));
    sums = model_.evaluate(buf.data(), rows.rows);  // synchronises: buf is freed after the work that read it
  }
  const double pixels = double(rows.rows) * cfg_.nv;
  res.err_sampled = sums.err_sampled / pixels;
  res.err_mean_field = sums.err_mean_field / pixels;
  res.free_energy = sums.free_energy / rows.rows;
  res.samples = rows.rows;
  return res;
}

ais_result cuda_backend::ais_log_z(const std::vector<float>& base_vb, const ais_options& opt) {
  if (cfg_.visible == unit_kind::bernoulli) return model_.ais_log_z(base_vb, opt);
  // Other visible kinds' AIS runs on the CPU for now, as real-valued evaluation does (the same draws).
  if (!eval_team_) eval_team_ = std::make_unique<cpu::thread_team>(openblas_get_num_threads());
  return rbm::ais_log_z(params(), base_vb, opt, eval_team_.get());
}

namespace detail {

// This build's GPU entry (backend_registry.hpp).
const gpu_backend_entry& gpu_backend() {
  static const gpu_backend_entry cuda{true, [](const cd_config& cfg, int max_batch, const gpu_options& gpu) {
                                        return std::unique_ptr<backend>(std::make_unique<cuda_backend>(cfg, max_batch, gpu));
                                      }};
  return cuda;
}

}  // namespace detail

}  // namespace rbm
