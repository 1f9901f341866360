// Supervised fine-tuning of a stack (Hinton & Salakhutdinov 2006): the greedily trained layers become a
// feed-forward network, trained as a whole by backpropagation with minibatch SGD and momentum (or
// Adam), with early stopping on held-out rows. On the CPU (OpenBLAS for the products, a thread team for
// the rows) or on a GPU (cuBLAS and small kernels; fine_tune_options::device).
//
// The network is the stack's up-pass, x_{l+1} = sigmoid(hb_l + x_l' W_l) (x' = x / sigma at a Gaussian
// bottom; sigma and the visible biases stay as they are), and a head:
//  - classification: the top layer's label group, i.e. the class RBM's exact p(y | x) over the layer
//    below's output (a softmax over the classes of b_y + sum_j softplus(c_j + U_yj + (x W)_j)), trained
//    on cross-entropy. The tuned stack has the stack's own shapes, so everything that classifies with
//    a stack (features_at, class_log_probs) classifies with it unchanged.
//  - regression: a linear layer on the top layer's hidden units, trained on squared error.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "rbm/host/gpu_options.hpp"
#include "rbm/host/model_params.hpp"
#include "rbm/optimizer.hpp"

namespace rbm {

struct fine_tune_epoch {
  int epoch = 0;
  double train_loss = 0;           // mean loss of the epoch's updates (before each update)
  double held_out_loss = 0;        // mean -log p(y | x) or mean squared error per output; NaN without held-out rows
  double held_out_accuracy = 0;    // classification only; NaN otherwise
  double seconds = 0;              // since fine-tuning started
  bool on_gpu = false;             // whether the epoch ran on the GPU
};

// Fine-tuning moves the parameters by rbm::optimizer (rbm/optimizer.hpp) on the batch mean of the
// gradient: SGD with momentum (vel = momentum vel - lr (g + decay w); w += vel), or Adam.

struct fine_tune_options {
  int epochs = 0;                  // passes over the training rows (0: no fine-tuning)
  int batch = 100;
  optimizer method = optimizer::adam;
  float lr = 0.001f;
  float momentum = 0.9f;           // sgd
  float weight_decay = 0.0f;       // L2 on the weights (not the biases)
  // With held-out rows: the parameters of the best held-out epoch are kept (accuracy for a classifier,
  // ties by loss; squared error for a regressor), and training stops once `patience` epochs in a row
  // have not improved on it (0: run every epoch).
  int patience = 10;
  std::uint64_t seed = 1;          // the order of the rows in each epoch
  int threads = 0;                 // the CPU's row loops' threads (0: the machine's)
  // Where the maths runs, as rbm::train's device: "auto" (a usable GPU, else the CPU; also the CPU where
  // the rows or the network do not fit in the GPU's memory), "cpu" or "cuda". On the GPU (cuBLAS and
  // small kernels, rbm/feed_forward.hpp) the rows are copied to the device once and the parameters
  // back at the end; gpu.device and gpu.mode (the GEMMs' precision) apply. Equal to the CPU's up to
  // the GEMMs' summation order and the device's expf and logf.
  std::string device = "auto";
  gpu_options gpu;
  const std::atomic<bool>* stop = nullptr;  // set: stop after the current batch and throw rbm::interrupted
  std::function<void(const fine_tune_epoch&)> on_epoch;
};

// The output layer of a regressor: out [rows, outputs] = x [rows, inputs] w + b, w [inputs, outputs].
struct linear_head {
  int inputs = 0, outputs = 0;
  std::vector<float> w, b;
};

// Rows of the network's input as the bottom layer reads them, targets beside them.
struct labelled_rows {
  const float* x = nullptr;        // [rows, nv of the bottom layer]
  const int* y = nullptr;          // classification: [rows] in [0, classes)
  const float* t = nullptr;        // regression: [rows, outputs]
  int rows = 0;
};

// Fine-tunes `layers` (a stack whose top layer has a label group) as a classifier on `train`, early
// stopping on `held_out` (rows 0: none). Returns every epoch's figures. Throws precondition_error for
// a stack that does not join or has no label group on top, or bad options; rbm::interrupted on stop.
std::vector<fine_tune_epoch> fine_tune_classifier(std::vector<model_params>& layers, const labelled_rows& train,
                                                  const labelled_rows& held_out, const fine_tune_options& o);

// Fine-tunes the up-pass through every layer of `layers` (none with a label group) and `head`
// (head.inputs = the top layer's nh; its start is the caller's: the Python regressor fits it by ridge
// regression on the greedy stack's features) as a regressor on `train`'s targets.
std::vector<fine_tune_epoch> fine_tune_regressor(std::vector<model_params>& layers, linear_head& head,
                                                 const labelled_rows& train, const labelled_rows& held_out,
                                                 const fine_tune_options& o);

// The regressor's outputs [rows, head.outputs] for rows x of the bottom layer's input.
std::vector<float> regress(const std::vector<model_params>& layers, const linear_head& head, const float* x, int rows);

}  // namespace rbm
