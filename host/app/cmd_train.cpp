// `rbm train` and `rbm info`.
#include <cblas.h>
#if RBM_HAVE_CUDA
#include <curand.h>
#endif
#include <png.h>
#include <zlib.h>

#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cli.hpp"
#include "progress.hpp"
#include "rbm/device_info.hpp"
#include "rbm/error.hpp"
#include "rbm/gemm.hpp"
#include "rbm/host/stack.hpp"
#include "rbm/host/limits.hpp"
#include "rbm/host/trainer.hpp"
#include "rbm/version.hpp"

#ifndef RBM_DATA_DIR
#define RBM_DATA_DIR "data/mnist"
#endif

namespace rbm_cli {
namespace {

std::string timestamp_dir() {
  const std::time_t t = std::time(nullptr);
  char buf[64];
  std::strftime(buf, sizeof buf, "runs/%Y%m%d-%H%M%S", std::localtime(&t));
  return buf;
}

void print_info() {
  std::printf("rbm %s\n", rbm::version);
#if RBM_HAVE_CUDA
  std::printf("backends: cpu (OpenBLAS %s, %d threads); cuda (cuBLAS + cuRAND, built for %s)\n", openblas_get_config(),
              openblas_get_num_threads(), RBM_CUDA_ARCHS);
  int curand_version = 0;
  curandGetVersion(&curand_version);
  std::printf("libraries: cuRAND %d, zlib %s, libpng %s\n", curand_version, zlibVersion(), png_get_libpng_ver(nullptr));
#else
  std::printf("backends: cpu (OpenBLAS %s, %d threads); cuda: not built (configured without a CUDA toolkit)\n",
              openblas_get_config(), openblas_get_num_threads());
  std::printf("libraries: zlib %s, libpng %s\n", zlibVersion(), png_get_libpng_ver(nullptr));
#endif
  const rbm::device_report rep = rbm::query_devices();
  if (rbm::cuda_backend_built())
    std::printf(
      "CUDA runtime %d.%d, driver %s\n", rep.runtime_version / 1000, (rep.runtime_version % 1000) / 10,
      rep.driver_version
          ? (std::to_string(rep.driver_version / 1000) + "." + std::to_string((rep.driver_version % 1000) / 10)).c_str()
          : "none");
  if (rep.devices.empty()) {
    std::printf("GPUs: none usable (%s)\n", rep.reason.c_str());
  } else {
    for (const auto& d : rep.devices)
      std::printf("GPU %d: %s, compute capability %d.%d, %.1f GiB\n", d.index, d.name.c_str(), d.major, d.minor,
                  d.total_memory / 1073741824.0);
  }
  std::printf("built-in data: %s\n", RBM_DATA_DIR);
}

std::atomic<bool> stop_requested{false};
void request_stop(int) { stop_requested.store(true); }  // lock-free atomic: safe in a handler

struct train_state {
  rbm::train_options opt;
  data_options data;
  std::string preset, gemm = "fp32", visible = rbm::to_string(rbm::unit_kind::bernoulli),
                      hidden_units = rbm::to_string(rbm::unit_kind::bernoulli);
  std::string optimizer = rbm::to_string(rbm::optimizer::sgd);
  std::string hidden, epochs, lr, k, pcd;  // one value, or one per layer of a stack
  std::vector<rbm::unit_kind> hidden_kinds;  // --hidden-units: one kind, or one per layer of a stack
  bool propagate_samples = false;
  rbm::fine_tune_options fine_tune;
  int threads = 0;  // not given: OpenBLAS's own count
  bool quiet = false;
  CLI::Option *o_epochs, *o_threads, *o_hidden, *o_lr, *o_k, *o_pcd, *o_batch, *o_objective, *o_alpha, *o_lr_decay, *o_optimizer,
      *o_tempering;
};

// `rbm train` of a stack: greedy layers (and fine-tuning), the summary lines.
int train_stack_run(const train_state& s, rbm::stack_options& stack, const rbm::dataset& ds) {
  stack.base = s.opt;
  stack.propagate_samples = s.propagate_samples;
  stack.fine_tune = s.fine_tune;
  const bool quiet = s.quiet;
  stack.on_layer = [quiet](int layer, int layers) {
    if (!quiet && layer < layers) std::fprintf(stderr, "layer %d of %d\n", layer + 1, layers);
  };
  if (!quiet)
    stack.fine_tune.on_epoch = [](const rbm::fine_tune_epoch& e) {
      std::fprintf(stderr, "fine-tuning epoch %d: training loss %.5f", e.epoch, e.train_loss);
      if (std::isfinite(e.held_out_accuracy))
        std::fprintf(stderr, ", validation accuracy %.4f, loss %.5f", e.held_out_accuracy, e.held_out_loss);
      std::fprintf(stderr, " (%.1f s)\n", e.seconds);
    };
  const rbm::stack_result r = rbm::train_stack(ds, stack);
  std::string shape = std::to_string(r.model.layers[0].nv);
  for (const auto& p : r.model.layers) shape += "-" + std::to_string(p.nh);
  const auto& top = r.layers.back();
  std::printf("trained a %zu-layer stack %s (propagation %.1f s of it); the top layer: ", r.model.layers.size(),
              shape.c_str(), r.propagate_seconds);
  if (top.params.labeled())
    std::printf("accuracy %.4f training, %.4f held-out", top.history.back().train_accuracy,
                top.history.back().test_accuracy);
  else
    std::printf("reconstruction error %.6f", top.history.back().train.err_sampled);
  std::printf("; wrote %s/{model.safetensors,metrics.csv,stack.json,filters-layer*.png,layer*/%s}\n",
              s.opt.out_dir.c_str(), r.fine_tune_history.empty() ? "" : ",fine_tune.csv");
  if (!r.fine_tune_history.empty())
    std::printf("fine-tuned %zu epochs on the %s%s\n", r.fine_tune_history.size(),
                r.fine_tune_history.front().on_gpu ? "GPU" : "CPU",
                s.opt.validation > 0 ? " (the best validation epoch kept)" : "");
  if (top.test_count > 0)
    std::printf("test set (%d images, not used in training): accuracy %.4f, mean log p(y | x) %.5f\n",
                top.test_count, top.test_accuracy, top.test_class_ll);
  return 0;
}

// The model: its shape, unit kinds, data reading and the label group.
void add_model_options(CLI::App* train, const std::shared_ptr<train_state>& s) {
  s->o_hidden = train->add_option("--hidden", s->hidden,
                                  "hidden units; a list trains a stack (a deep belief network) greedily, bottom "
                                  "up, e.g. 500,500,2000")
                     ->default_str(std::to_string(s->opt.cd.nh));
  s->o_k = train->add_option("--k", s->k, "Gibbs steps per update (CD-k); a list: one per layer")
               ->default_str(std::to_string(s->opt.cd.k));
  s->o_pcd = train->add_option("--pcd", s->pcd,
                               "persistent contrastive divergence (chains kept across batches); a list of 0 and 1: "
                               "one per layer of a stack (--pcd alone: every layer)")
                ->expected(0, 1);
  s->o_tempering = train->add_option("--tempering", s->opt.cd.tempering,
                    "parallel tempering: N persistent chains per batch row at inverse temperatures 0, 1/(N-1), .., 1, "
                    "k sweeps each and neighbour swaps per update; the beta = 1 chain is the negative phase (0: "
                    "none; instead of --pcd)")
      ->capture_default_str()
      ->check(integer_in(0, rbm::max_tempering));
  train->add_option("--visible", s->visible,
                    "visible units: bernoulli | gaussian (real-valued data) | categorical (integer states per "
                    "column of a .npy matrix, one-hot)")
      ->capture_default_str();
  train->add_option("--hidden-units", s->hidden_units,
                    "hidden units: bernoulli | gaussian (Normal(input, 1)) | relu (the same, kept >= 0); the last "
                    "two with Bernoulli or categorical visible units; a list: one per layer of a stack (a layer "
                    "above gaussian or relu units has Gaussian visible units and Bernoulli hidden units)")
      ->capture_default_str();
  train->add_option("--states", s->opt.cd.states,
                    "categorical visible units: states per site (0: the data's largest value + 1)")
      ->capture_default_str()
      ->check(integer_in(0, rbm::max_states));
  train->add_flag("--visible-sample", s->opt.cd.visible_sample,
                  "Gaussian visible units: sample the reconstructions instead of using their mean");
  train->add_flag("--learn-sigma", s->opt.cd.learn_sigma,
                  "Gaussian visible units: learn each unit's standard deviation (its variance by natural-gradient "
                  "steps; implies --visible-sample, and unless given --tempering " +
                      std::to_string(rbm::learned_sigma_defaults::tempering) + " (not with --pcd) and --lr " +
                      std::to_string(rbm::learned_sigma_defaults::lr).substr(0, 5) + ")");
  train->add_option("--sigma-floor", s->opt.cd.sigma_floor, "the smallest standard deviation --learn-sigma reaches")
      ->capture_default_str()
      ->check(finite_in(0, HUGE_VAL));
  train->add_flag("--standardize", s->opt.standardize,
                  "Gaussian visible units: scale each feature to mean 0, standard deviation 1 (training set's)");
  train->add_flag("--binarize", s->opt.binarize,
                  "train on binary pixels (>= 128 -> 1) instead of grey values, as likelihood studies do");
  train->add_flag("--labels", s->opt.labels,
                  "train a label group (a classification RBM) on the label file beside the training images");
  train->add_option("--classes", s->opt.classes, "the number of classes K (default: the largest label + 1)")
      ->check(integer_in(0, rbm::max_classes));
  s->o_objective = train->add_option("--objective", s->opt.objective,
                                     "with --labels: generative (CD on the joint of pixels and class), discriminative "
                                     "(the exact gradient of log p(y | x)) or hybrid (discriminative + --alpha x "
                                     "generative); a single RBM's default: " +
                                         std::string(rbm::classifier_defaults::objective) + ", a stack's top: generative");
  s->o_alpha = train->add_option("--alpha", s->opt.alpha, "hybrid objective: weight of the generative term")
                   ->capture_default_str()
                   ->check(finite_in(0, HUGE_VAL));
}

// The schedule: epochs, batches, rates, regularisers, the validation split, early stopping, fine-tuning.
void add_schedule_options(CLI::App* train, const std::shared_ptr<train_state>& s) {
  s->o_epochs = train->add_option("--epochs", s->epochs, "passes over the training set; a list: one per layer")
                    ->default_str(std::to_string(s->opt.epochs));
  s->o_batch = train->add_option("--batch", s->opt.batch, "samples per update (a single RBM with --labels, unless generative: " +
                                 std::to_string(rbm::classifier_defaults::batch) + ")")
                   ->capture_default_str()
                   ->check(integer_in(1, int_max));
  s->o_lr = train->add_option("--lr", s->lr, "learning rate; a list: one per layer (a single RBM with --labels, unless "
                              "generative: " + std::to_string(rbm::classifier_defaults::lr).substr(0, 3) +
                              "; --hidden-units gaussian: " +
                              std::to_string(rbm::default_sgd_lr(rbm::unit_kind::gaussian)).substr(0, 5) + ", relu: " +
                              std::to_string(rbm::default_sgd_lr(rbm::unit_kind::relu)).substr(0, 4) + ")")
                 ->default_str("0.1");
  s->o_optimizer = train->add_option("--optimizer", s->optimizer,
                                     "how the gradient moves the parameters: sgd (with --momentum) or adam (Kingma & Ba; "
                                     "--lr then defaults to " + std::to_string(rbm::adam_defaults::lr).substr(0, 5) +
                                     ", --momentum is unused, --weight-decay is decoupled)")
                       ->capture_default_str()
                       ->check(CLI::IsMember(std::vector<std::string>(std::begin(rbm::optimizer_names),
                                                                      std::end(rbm::optimizer_names))));
  train->add_option("--momentum", s->opt.cd.momentum, "momentum")->capture_default_str()
      ->check(finite_in(0, 1, true));
  train->add_option("--initial-momentum", s->opt.initial_momentum,
                    "momentum of the first --momentum-epochs epochs (e.g. 0.5, then --momentum 0.9)")
      ->check(finite_in(0, 1, true));
  train->add_option("--momentum-epochs", s->opt.momentum_epochs, "epochs at --initial-momentum")->capture_default_str()
      ->check(integer_in(0, int_max));
  s->o_lr_decay = train->add_option("--lr-decay", s->opt.lr_decay,
                                    "learning rate of epoch e is lr * decay^(e-1) (a single RBM with --labels, unless generative: " +
                                        std::to_string(rbm::classifier_defaults::lr_decay).substr(0, 3) + ")")
      ->capture_default_str()
      ->check(finite_in(0, HUGE_VAL));
  train->add_option("--weight-decay", s->opt.cd.weight_decay, "L2 weight decay on W")->capture_default_str()
      ->check(finite_in(0, HUGE_VAL));
  train->add_option("--sparsity-target", s->opt.cd.sparsity_target,
                    "target mean hidden activation (with --sparsity-cost)")
      ->check(finite_in(0, 1, true));
  train->add_option("--sparsity-cost", s->opt.cd.sparsity_cost, "weight of the sparsity penalty (0: off)")
      ->check(finite_in(0, HUGE_VAL));
  train->add_option("--seed", s->opt.cd.seed, "random seed (initialisation, shuffling, sampling)")
      ->capture_default_str()
      ->check(seed_value());
  train->add_option("--validation", s->opt.validation,
                    "hold out the last N training images as the validation set: held-out metrics and --early-stop "
                    "use it, never the test set (classified once at the end, with --labels)")
      ->check(integer_in(0, int_max));
  train
      ->add_option("--early-stop", s->opt.early_stop,
                   "stop once the held-out minus training free-energy gap has grown N epochs in a row (with "
                   "--labels: once held-out accuracy has not improved for N epochs; 0: never)")
      ->capture_default_str()
      ->check(integer_in(0, int_max));
  train->add_option("--fine-tune", s->fine_tune.epochs,
                    "a stack with --labels: after the greedy layers, fine-tune the whole stack as a classifier by "
                    "backpropagation for up to N epochs (the best --validation epoch kept; 0: no fine-tuning)")
      ->capture_default_str()
      ->check(integer_in(0, 100000));
  train->add_option("--fine-tune-lr", s->fine_tune.lr, "fine-tuning: learning rate (Adam, batch 100)")
      ->capture_default_str()
      ->check(finite_in(0, HUGE_VAL));
  train->add_option("--propagate", [s](const CLI::results_t& r) {
        if (r[0] != "probabilities" && r[0] != "sample") return false;
        s->propagate_samples = r[0] == "sample";
        return true;
      }, "a stack's layers train on the hidden probabilities of the layer below (probabilities) or on states "
         "drawn from them (sample)")->default_str("probabilities");
}

// The run: where it computes, what it writes and monitors, where it starts from.
void add_run_options(CLI::App* train, const std::shared_ptr<train_state>& s) {
  train->add_option("--device", s->opt.device, "auto | cpu | cuda")->capture_default_str();
  s->o_threads = train->add_option(
      "--threads", s->threads,
      "CPU threads, the CPU backend's and OpenBLAS's (default: OPENBLAS_NUM_THREADS, else the cores)");
  train->add_option("--gemm", s->gemm, "GPU GEMM precision: fp32 | tf32 | bf16")->capture_default_str();
  train->add_option("--resident", s->opt.gpu.resident, "keep the training set on the GPU: auto | on | off")
      ->capture_default_str();
  train->add_flag("!--no-graph", s->opt.gpu.use_graph,
                  "launch each GPU update eagerly instead of replaying a CUDA graph");
  train->add_option("--out", s->opt.out_dir, "output directory (default: runs/<timestamp>)");
  train->add_option("--init-from", s->opt.init_from, "continue training from this model.safetensors");
  train->add_option(
      "--resume", s->opt.resume,
      "continue the run in this --out directory from its last checkpoint, exactly as if it had not stopped "
      "(its settings are kept; --epochs sets the new total)");


  train->add_option("--preset", s->preset,
                    "'seed': the tutorial's run exactly (784x50, CD-1, zero init, batch 100, "
                    "5 epochs, lr 0.01 on the summed gradient, file order)");
  train->add_flag("--quiet", s->quiet, "no progress output");
  train->add_option("--eval-limit", s->opt.eval_limit, "training samples evaluated after each epoch (0: all)")
      ->capture_default_str()
      ->check(integer_in(0, int_max));
  train->add_option("--snapshot-every", s->opt.snapshot_every, "write filters-epoch-NNN.png every N epochs (0: never)")
      ->capture_default_str()
      ->check(integer_in(0, int_max));
  train
      ->add_option("--eval-every", s->opt.eval_every,
                   "AIS log-likelihood of the held-out set every N epochs (0: never)")
      ->capture_default_str()
      ->check(integer_in(0, int_max));
  train->add_option("--ais-runs", s->opt.ais.runs, "AIS runs for --eval-every")->capture_default_str()
      ->check(integer_in(1, rbm::max_ais_runs));
  train->add_option("--ais-steps", s->opt.ais.steps, "AIS temperatures for --eval-every")->capture_default_str()
      ->check(integer_in(10, rbm::max_ais_steps));
}

// --preset: its settings come from one place, rbm::seed_preset(); every option given on the command
// line is then applied again on top of them, so the options given next to it win.
void apply_preset(train_state& s, CLI::App* train) {
  if (s.preset.empty()) return;
  if (s.preset != "seed") throw rbm::precondition_error("--preset: unknown preset '" + s.preset + "' (known: seed)");
  s.opt = rbm::seed_preset();
  for (CLI::Option* o : train->get_options())
    if (o->count() > 0) o->run_callback();
}

// SIGINT / SIGTERM (finish the batch, write a checkpoint, exit 130 saying how to resume), the GEMM mode,
// the visible kind, the thread count.
void apply_run_settings(train_state& s) {
  s.opt.stop = &stop_requested;
  std::signal(SIGINT, request_stop);
  std::signal(SIGTERM, request_stop);
  s.opt.gpu.mode = rbm::parse_gemm_mode(s.gemm.c_str());
  if (!rbm::parse_unit_kind(s.visible, s.opt.cd.visible))
    throw rbm::precondition_error("--visible must be " + rbm::unit_kind_list() + " (got '" + s.visible + "')");
  s.hidden_kinds.clear();
  std::stringstream kinds(s.hidden_units);
  for (std::string name; std::getline(kinds, name, ',');)
    if (!rbm::parse_unit_kind(name, s.hidden_kinds.emplace_back(), rbm::layer_side::hidden))
      throw rbm::precondition_error("--hidden-units must be " + rbm::unit_kind_list(rbm::layer_side::hidden) +
                                    ", or one per layer of a stack (got '" + s.hidden_units + "')");
  if (s.hidden_kinds.empty()) throw rbm::precondition_error("--hidden-units: no kind given");
  s.opt.cd.hidden = s.hidden_kinds.front();  // a list: per_layer_lists
  // Learning sigma: tempered chains at its own rate unless told otherwise (rbm::learned_sigma_defaults).
  const bool sigma_defaults = s.opt.cd.learn_sigma && s.opt.resume.empty() && s.preset.empty();
  if (sigma_defaults && s.o_tempering->count() == 0 && s.o_pcd->count() == 0)
    s.opt.cd.tempering = rbm::learned_sigma_defaults::tempering;
  // Learning sigma and tempered chains need sampled Gaussian states (a chain of means samples nothing).
  if (s.opt.cd.learn_sigma || (rbm::replicas_of(s.opt.cd) > 1 && s.opt.cd.visible == rbm::unit_kind::gaussian))
    s.opt.cd.visible_sample = true;
  rbm::parse_optimizer(s.optimizer, s.opt.cd.update_rule);  // a name CLI::IsMember has checked
  if (s.opt.cd.update_rule == rbm::optimizer::adam && s.o_lr->count() == 0) s.opt.cd.lr = rbm::adam_defaults::lr;
  else if (sigma_defaults && s.o_lr->count() == 0) s.opt.cd.lr = rbm::learned_sigma_defaults::lr;
  else if (s.opt.cd.hidden != rbm::unit_kind::bernoulli && s.o_lr->count() == 0)
    s.opt.cd.lr = rbm::default_sgd_lr(s.opt.cd.hidden);
  if (s.o_threads->count() > 0) {
    if (s.threads < 1 || s.threads > 4096)
      throw rbm::precondition_error("--threads must be between 1 and 4096 (got " + std::to_string(s.threads) + ")");
    openblas_set_num_threads(s.threads);
  }
}

// --hidden, --epochs, --k, --lr, --pcd: one value sets the option; several make a stack (one per layer).
rbm::stack_options per_layer_lists(train_state& s) {
  rbm::stack_options stack;
  auto ints = [](CLI::Option* given, const std::string& text, const char* name, auto& one, std::vector<int>& each) {
    if (given->count() == 0) return;
    const auto v = parse_ints(text, name);
    if (v.size() == 1) one = v[0];
    else each = v;
  };
  ints(s.o_hidden, s.hidden, "--hidden", s.opt.cd.nh, stack.hidden);
  ints(s.o_epochs, s.epochs, "--epochs", s.opt.epochs, stack.epochs);
  ints(s.o_k, s.k, "--k", s.opt.cd.k, stack.k);
  if (s.o_lr->count() > 0) {
    const auto v = parse_floats(s.lr, "--lr");
    if (v.size() == 1) s.opt.cd.lr = v[0];
    else stack.lr = v;
  }
  if (s.hidden_kinds.size() > 1) {
    stack.hidden_units = s.hidden_kinds;
    if (s.o_lr->count() == 0 && s.opt.cd.update_rule == rbm::optimizer::sgd)
      for (std::size_t i = 0; i < s.hidden_kinds.size(); ++i)
        stack.lr.push_back(rbm::default_layer_sgd_lr(i > 0 ? s.hidden_kinds[i - 1] : rbm::unit_kind::bernoulli,
                                                     s.hidden_kinds[i], s.opt.labels && i + 1 == s.hidden_kinds.size()));
  }
  if (s.o_pcd->count() > 0) {
    const auto v = s.pcd.empty() ? std::vector<int>{1} : parse_ints(s.pcd, "--pcd");
    for (int x : v)
      if (x != 0 && x != 1) throw rbm::precondition_error("--pcd takes 0 or 1 per layer (got " + std::to_string(x) + ")");
    if (v.size() == 1) s.opt.cd.pcd = v[0] == 1;
    else stack.pcd = v;
  }
  return stack;
}

// Whether this run trains a stack (a --hidden list, or resuming one), refusing what only the other
// takes; the output directory (--resume's, else a new timestamped one).
bool choose_stack(train_state& s, const rbm::stack_options& stack) {
  const bool stacked = stack.hidden.size() > 1 ||
                       (!s.opt.resume.empty() && std::filesystem::exists(std::filesystem::path(s.opt.resume) / "stack.json"));
  if (stacked && !s.opt.resume.empty() && s.o_epochs->count() > 0)
    throw rbm::precondition_error("--epochs with --resume of a stack: a stack resumes its own plan (" + s.opt.resume +
                                  "/stack.json) and cannot be extended, as each layer trained on the one below as it "
                                  "was; train a new stack to train longer");
  if (!stacked && s.fine_tune.epochs > 0)
    throw rbm::precondition_error("--fine-tune is for a stack (--hidden with a list); a single RBM trains its classifier "
                                  "directly with --objective discriminative");
  if (!stacked && (!stack.epochs.empty() || !stack.k.empty() || !stack.lr.empty() || !stack.pcd.empty() ||
                   !stack.hidden_units.empty()))
    throw rbm::precondition_error("lists of --epochs, --k, --lr, --pcd or --hidden-units are per layer of a stack: "
                                  "give --hidden a list too");
  if (!s.opt.resume.empty()) {
    s.opt.out_dir = s.opt.resume;
    if (s.o_epochs->count() == 0) s.opt.epochs = 0;  // the checkpoint's own total
  }
  if (s.opt.out_dir.empty()) s.opt.out_dir = timestamp_dir();
  return stacked;
}

void describe_data(const train_state& s, const rbm::dataset& ds) {
  if (s.opt.validation > 0)
    std::fprintf(stderr, "data: %s (%d training images, the last %d of them the validation set; %d test images "
                         "of %dx%d, not seen until the end)\n",
                 ds.name.c_str(), ds.train.count, s.opt.validation, ds.test.count, ds.train.rows, ds.train.cols);
  else
    std::fprintf(stderr, "data: %s (%d training, %d held-out images of %dx%d)\n", ds.name.c_str(), ds.train.count,
                 ds.test.count, ds.train.rows, ds.train.cols);
}

// A single RBM with labels: the classifier's own defaults (rbm::classifier_defaults) where none was given.
void apply_classifier_defaults(train_state& s) {
  if (!s.opt.labels || !s.opt.resume.empty() || !s.preset.empty()) return;
  using d = rbm::classifier_defaults;
  if (s.o_objective->count() == 0) s.opt.objective = d::objective;
  if (!d::apply_to(s.opt.objective)) return;
  if (s.o_alpha->count() == 0) s.opt.alpha = d::alpha;
  if (s.o_batch->count() == 0) s.opt.batch = d::batch;
  if (s.o_lr->count() == 0 && s.opt.cd.update_rule == rbm::optimizer::sgd) s.opt.cd.lr = d::lr;
  if (s.o_lr_decay->count() == 0) s.opt.lr_decay = d::lr_decay;
}

// The summary lines of a single RBM's run.
void report_single(const train_state& s, const rbm::train_result& r) {
  const auto& last = r.history.back();
  std::string written = "model.safetensors,metrics.csv";
  for (const char* f : {"filters.png", "error.png", "likelihood.png"})
    if (std::filesystem::exists(std::filesystem::path(s.opt.out_dir) / f)) written += std::string(",") + f;
  if (!r.params.labeled()) {
    std::printf("trained %dx%d for %d epochs: reconstruction error %.6f; wrote %s/{%s}\n", r.params.nv, r.params.nh,
                last.epoch, last.train.err_sampled, s.opt.out_dir.c_str(), written.c_str());
    return;
  }
  std::printf("trained %dx%d with %d classes for %d epochs: accuracy %.4f training, %s %s; wrote %s/{%s}\n",
              r.params.nv, r.params.nh, r.params.classes, last.epoch, last.train_accuracy,
              std::isfinite(last.test_accuracy) ? std::to_string(last.test_accuracy).substr(0, 6).c_str() : "no",
              s.opt.validation > 0 ? "validation" : "held-out", s.opt.out_dir.c_str(), written.c_str());
  if (r.test_count > 0)
    std::printf("test set (%d images, not used in training): accuracy %.4f, mean log p(y | x) %.5f\n", r.test_count,
                r.test_accuracy, r.test_class_ll);
}

}  // namespace

void register_train(CLI::App& app, command_list& out) {
  auto s = std::make_shared<train_state>();
  auto* train = app.add_subcommand("train", "train an RBM (on the built-in MNIST digits unless told otherwise)");
  add_data_options(train, s->data);
  add_model_options(train, s);
  add_schedule_options(train, s);
  add_run_options(train, s);
  out.emplace_back(train, [s, train] {
    apply_preset(*s, train);
    apply_run_settings(*s);
    rbm::stack_options stack = per_layer_lists(*s);
    const bool stacked = choose_stack(*s, stack);
    const rbm::dataset ds = load_data(s->data);
    if (!s->quiet) describe_data(*s, ds);
    progress prog(s->quiet);
    install_progress(prog, s->opt);
    if (stacked) return train_stack_run(*s, stack, ds);
    apply_classifier_defaults(*s);
    report_single(*s, rbm::train(ds, s->opt));
    return 0;
  });
}

void register_info(CLI::App& app, command_list& out) {
  auto* info = app.add_subcommand("info", "versions, backends and the GPUs this machine has");
  out.emplace_back(info, [] {
    print_info();
    return 0;
  });
}

}  // namespace rbm_cli
