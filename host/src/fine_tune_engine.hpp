// Fine-tuning's maths on one device, behind the epochs' loop of fine_tune.cpp: the CPU's
// (fine_tune_cpu.cpp: OpenBLAS and the thread team, the parameters trained in place) or the GPU's
// (fine_tune_cuda.cpp: rbm::feed_forward, the rows uploaded once). Private to host/src.
#pragma once

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "rbm/host/fine_tune.hpp"

namespace rbm::detail {

// What is fine-tuned: the layers (a classifier's head the top's label group) or, for a regressor, every
// layer and a linear head; the training and held-out rows (checked by the caller).
struct fine_tune_task {
  std::vector<model_params>* layers = nullptr;
  linear_head* head = nullptr;  // a regressor's; null: a classifier
  labelled_rows train, held;
  int up_layers() const { return int(layers->size()) - (head == nullptr ? 1 : 0); }  // below the head
  int outputs() const { return head == nullptr ? 0 : head->outputs; }                // 0 for a classifier
};

class fine_tune_engine {
 public:
  virtual ~fine_tune_engine() = default;
  // The epoch's order of the training rows (a permutation of 0 .. rows - 1); steps read it until the next.
  virtual void begin_epoch(const std::vector<int>& order) = 0;
  // One update on the training rows order[first, first + n).
  virtual void step(int first, int n) = 0;
  // The summed loss of the rows of every step since the last call, each before its update.
  virtual double take_train_loss() = 0;
  // The held-out rows' summed loss (-log p(y | x), or |out - t|^2 / 2) and number of right answers.
  virtual std::pair<double, double> held_out() = 0;
  // Keeps the parameters as they are now (the best epoch's so far); puts the kept ones back.
  virtual void keep() = 0;
  virtual void restore() = 0;
  // The trained parameters into the task's layers and head.
  virtual void finish() = 0;
  virtual bool on_gpu() const = 0;
};

// Adds the summed -log p(y | x) of `rows` rows of log-probabilities lp [rows, classes] with labels y to
// `sum`, and the rows whose most probable class is their label to `correct` (both engines' held-out
// figures).
inline void add_class_scores(const double* lp, const int* y, int rows, int classes, double& sum, double& correct) {
  for (int r = 0; r < rows; ++r) {
    const double* z = lp + std::size_t(r) * classes;
    sum -= z[y[r]];
    if (std::max_element(z, z + classes) - z == y[r]) correct += 1;
  }
}

// Throws precondition_error unless each layer's visible units are the hidden units below (sigma 1 above
// the bottom).
void check_joined(const std::vector<model_params>& layers);

std::unique_ptr<fine_tune_engine> make_cpu_fine_tune(const fine_tune_task& t, const fine_tune_options& o);
// On the GPU o.gpu.device, with o.gpu.mode's GEMMs. Throws precondition_error in a build without the
// CUDA backend, out_of_memory where the rows or the network do not fit.
std::unique_ptr<fine_tune_engine> make_cuda_fine_tune(const fine_tune_task& t, const fine_tune_options& o);

}  // namespace rbm::detail
