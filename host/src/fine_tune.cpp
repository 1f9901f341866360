// Fine-tuning's options and checks, the epochs' loop and the choice of the device that runs the maths
// (rbm/host/fine_tune.hpp; the maths: fine_tune_cpu.cpp and fine_tune_cuda.cpp behind fine_tune_engine.hpp).
#include "rbm/host/fine_tune.hpp"

#include <chrono>
#include <cmath>
#include <limits>
#include <string>

#include "fine_tune_engine.hpp"
#include "rbm/error.hpp"
#include "rbm/host/shuffle.hpp"
#include "rbm/host/trainer.hpp"

namespace rbm {
namespace {

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

// The epochs: shuffled batches, held-out figures, the best epoch kept, interruption.
std::vector<fine_tune_epoch> run(detail::fine_tune_engine& engine, const detail::fine_tune_task& t,
                                 const fine_tune_options& o) {
  const auto start = std::chrono::steady_clock::now();
  const int rows = t.train.rows, outputs = t.outputs();
  std::vector<fine_tune_epoch> history;
  std::vector<int> order;
  double best_acc = -1, best_loss = std::numeric_limits<double>::infinity();
  int since_best = 0;
  bool kept = false;
  for (int e = 1; e <= o.epochs; ++e) {
    order.resize(std::size_t(rows));  // epoch_permutation permutes as many as order holds
    epoch_permutation(o.seed, e, order);
    engine.begin_epoch(order);
    fine_tune_epoch fe;
    fe.epoch = e;
    fe.on_gpu = engine.on_gpu();
    for (int first = 0; first < rows; first += o.batch) {
      engine.step(first, std::min(o.batch, rows - first));
      if (o.stop != nullptr && o.stop->load())
        throw interrupted("fine-tuning interrupted in epoch " + std::to_string(e), std::string());
    }
    fe.train_loss = engine.take_train_loss() / rows;
    if (outputs > 0) fe.train_loss *= 2.0 / outputs;
    fe.held_out_loss = fe.held_out_accuracy = std::nan("");
    if (t.held.rows > 0) {
      const auto [sum, correct] = engine.held_out();
      fe.held_out_loss = outputs > 0 ? 2 * sum / (double(t.held.rows) * outputs) : sum / t.held.rows;
      if (outputs == 0) fe.held_out_accuracy = correct / t.held.rows;
    }
    if (!std::isfinite(fe.train_loss))
      throw error("fine-tuning diverged at epoch " + std::to_string(e) + " (the training loss is not finite: is the "
                  "learning rate too large?)");
    fe.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    history.push_back(fe);
    if (o.on_epoch) o.on_epoch(fe);
    if (t.held.rows == 0) continue;
    const double acc = outputs > 0 ? 0.0 : fe.held_out_accuracy;
    if (acc > best_acc || (acc == best_acc && fe.held_out_loss < best_loss)) {
      best_acc = acc;
      best_loss = fe.held_out_loss;
      since_best = 0;
      engine.keep();
      kept = true;
    } else if (o.patience > 0 && ++since_best >= o.patience) {
      break;
    }
  }
  if (kept) engine.restore();
  engine.finish();
  return history;
}

// The engine for o.device: the GPU's where one is chosen ("auto" falls back to the CPU where the rows
// or the network do not fit in its memory), else the CPU's.
std::vector<fine_tune_epoch> fine_tune(const detail::fine_tune_task& t, const fine_tune_options& o) {
  std::unique_ptr<detail::fine_tune_engine> engine;
  if (gpu_chosen(o.device)) {
    try {
      engine = detail::make_cuda_fine_tune(t, o);
    } catch (const out_of_memory&) {
      if (o.device != "auto") throw;
    }
  }
  if (!engine) engine = detail::make_cpu_fine_tune(t, o);
  return run(*engine, t, o);
}

}  // namespace

namespace detail {

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

}  // namespace detail

std::vector<fine_tune_epoch> fine_tune_classifier(std::vector<model_params>& layers, const labelled_rows& train,
                                                  const labelled_rows& held_out_rows, const fine_tune_options& o) {
  check_options(o, train);
  detail::check_joined(layers);
  model_params& top = layers.back();
  if (!top.labeled()) throw precondition_error("fine-tuning a classifier needs a label group on the top layer");
  for (std::size_t i = 0; i + 1 < layers.size(); ++i)
    if (layers[i].labeled()) throw precondition_error("a label group below the top layer");
  for (const labelled_rows* rows : {&train, &held_out_rows})
    for (int r = 0; r < rows->rows; ++r)
      if (rows->y == nullptr || rows->y[r] < 0 || rows->y[r] >= top.classes)
        throw precondition_error("fine-tuning: label " + std::to_string(rows->y ? rows->y[r] : -1) + " of row " +
                                 std::to_string(r) + " is outside [0, " + std::to_string(top.classes) + ")");
  return fine_tune({&layers, nullptr, train, held_out_rows}, o);
}

std::vector<fine_tune_epoch> fine_tune_regressor(std::vector<model_params>& layers, linear_head& head_params,
                                                 const labelled_rows& train, const labelled_rows& held_out_rows,
                                                 const fine_tune_options& o) {
  check_options(o, train);
  detail::check_joined(layers);
  for (const model_params& p : layers)
    if (p.labeled()) throw precondition_error("a regressor's stack has no label group");
  if (head_params.inputs != layers.back().nh || head_params.outputs < 1 ||
      head_params.w.size() != std::size_t(head_params.inputs) * head_params.outputs ||
      head_params.b.size() != std::size_t(head_params.outputs))
    throw precondition_error("the linear head must take the top layer's " + std::to_string(layers.back().nh) +
                             " hidden units (w [inputs, outputs], b [outputs])");
  if (train.t == nullptr || (held_out_rows.rows > 0 && held_out_rows.t == nullptr))
    throw precondition_error("fine-tuning a regressor needs targets");
  return fine_tune({&layers, &head_params, train, held_out_rows}, o);
}

}  // namespace rbm

#ifndef RBM_HAVE_CUDA
namespace rbm::detail {
std::unique_ptr<fine_tune_engine> make_cuda_fine_tune(const fine_tune_task&, const fine_tune_options&) {
  throw precondition_error("this build has no CUDA backend: fine-tuning runs on the CPU");
}
}  // namespace rbm::detail
#endif
