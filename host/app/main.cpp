// The `rbm` command-line program: `rbm train` and `rbm info`. The only place that catches and prints.
#include <cblas.h>
#include <curand.h>
#include <png.h>
#include <zlib.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <exception>
#include <string>

#include "rbm/device_info.hpp"
#include "rbm/error.hpp"
#include "rbm/gemm.hpp"
#include "rbm/host/idx.hpp"
#include "rbm/host/trainer.hpp"

#ifndef RBM_DATA_DIR
#define RBM_DATA_DIR "data/mnist"
#endif

namespace {

constexpr const char* fashion_dir = "/usr/share/datasets/fashion-mnist";

std::string timestamp_dir() {
  const std::time_t t = std::time(nullptr);
  char buf[64];
  std::strftime(buf, sizeof buf, "runs/%Y%m%d-%H%M%S", std::localtime(&t));
  return buf;
}

struct data_options {
  std::string dir, train_images, test_images;
  int train_limit = 0, test_limit = 0;
};

rbm::dataset load_data(const data_options& d) {
  rbm::dataset ds;
  if (!d.train_images.empty()) {
    ds = rbm::load_dataset_files(d.train_images, d.test_images);
  } else {
    std::string dir = d.dir.empty() ? std::string(RBM_DATA_DIR) : d.dir;
    if (dir == "fashion-mnist" || dir == "fashion") dir = fashion_dir;
    ds = rbm::load_dataset_dir(dir);
  }
  rbm::truncate(ds.train, d.train_limit);
  rbm::truncate(ds.test, d.test_limit);
  return ds;
}

void print_info() {
  std::printf("rbm 0.1.0\n");
  std::printf("backends: cpu (OpenBLAS %s, %d threads); cuda (cuBLAS + cuRAND, built for %s)\n",
              openblas_get_config(), openblas_get_num_threads(), RBM_CUDA_ARCHS);
  int curand_version = 0;
  curandGetVersion(&curand_version);
  std::printf("libraries: cuRAND %d, zlib %s, libpng %s\n", curand_version, zlibVersion(), png_get_libpng_ver(nullptr));
  const rbm::device_report rep = rbm::query_devices();
  std::printf("CUDA runtime %d.%d, driver %s\n", rep.runtime_version / 1000, (rep.runtime_version % 1000) / 10,
              rep.driver_version ? (std::to_string(rep.driver_version / 1000) + "." +
                                    std::to_string((rep.driver_version % 1000) / 10)).c_str()
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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"rbm: Restricted Boltzmann Machines trained with contrastive divergence, on the GPU or the CPU"};
  app.require_subcommand(1);

  rbm::train_options opt;
  data_options data;
  std::string preset;
  auto* train = app.add_subcommand("train", "train an RBM (on the built-in MNIST digits unless told otherwise)");
  train->add_option("--data", data.dir,
                    "directory with train-images-idx3-ubyte[.gz] (or train-10k-...) and t10k-images-idx3-ubyte[.gz]; "
                    "'fashion-mnist' means " + std::string(fashion_dir) + " (default: the built-in MNIST digits)");
  train->add_option("--train-images", data.train_images, "IDX image file to train on (instead of --data)");
  train->add_option("--test-images", data.test_images, "IDX image file held out for evaluation (with --train-images)");
  train->add_option("--train-limit", data.train_limit, "use only the first N training images");
  train->add_option("--test-limit", data.test_limit, "use only the first N held-out images");
  auto* o_hidden = train->add_option("--hidden", opt.cd.nh, "hidden units")->capture_default_str();
  auto* o_k = train->add_option("--k", opt.cd.k, "Gibbs steps per update (CD-k)")->capture_default_str();
  train->add_flag("--pcd", opt.cd.pcd, "persistent contrastive divergence (chains kept across batches)");
  auto* o_epochs = train->add_option("--epochs", opt.epochs, "passes over the training set")->capture_default_str();
  auto* o_batch = train->add_option("--batch", opt.batch, "samples per update")->capture_default_str();
  auto* o_lr = train->add_option("--lr", opt.cd.lr, "learning rate")->capture_default_str();
  auto* o_mom = train->add_option("--momentum", opt.cd.momentum, "momentum")->capture_default_str();
  auto* o_wd = train->add_option("--weight-decay", opt.cd.weight_decay, "L2 weight decay on W")->capture_default_str();
  train->add_option("--sparsity-target", opt.cd.sparsity_target, "target mean hidden activation (with --sparsity-cost)");
  train->add_option("--sparsity-cost", opt.cd.sparsity_cost, "weight of the sparsity penalty (0: off)");
  train->add_option("--seed", opt.cd.seed, "random seed (initialisation, shuffling, sampling)")->capture_default_str();
  train->add_option("--device", opt.device, "auto | cpu | cuda")->capture_default_str();
  std::string gemm = "fp32";
  train->add_option("--gemm", gemm, "GPU GEMM precision: fp32 | tf32 | bf16")->capture_default_str();
  train->add_option("--resident", opt.gpu.resident, "keep the training set on the GPU: auto | on | off")
      ->capture_default_str();
  train->add_flag("!--no-graph", opt.gpu.use_graph, "launch each GPU update eagerly instead of replaying a CUDA graph");
  train->add_option("--out", opt.out_dir, "output directory (default: runs/<timestamp>)");
  train->add_option("--init-from", opt.init_from, "continue training from this model.safetensors");
  train->add_option("--eval-limit", opt.eval_limit, "training samples evaluated after each epoch (0: all)")
      ->capture_default_str();
  train->add_option("--preset", preset, "'seed': the tutorial's run exactly (784x50, CD-1, zero init, batch 100, "
                                        "5 epochs, lr 0.01 on the summed gradient, file order)");
  train->add_flag("--quiet", opt.quiet, "no progress output");

  auto* info = app.add_subcommand("info", "versions, backends and the GPUs this machine has");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  try {
    if (info->parsed()) {
      print_info();
      return 0;
    }
    if (!preset.empty()) {
      if (preset != "seed") throw rbm::precondition_error("--preset: unknown preset '" + preset + "' (known: seed)");
      // The tutorial's settings, except where the user gave an option explicitly.
      auto unless = [](CLI::Option* o, auto& field, auto value) { if (o->count() == 0) field = value; };
      unless(o_hidden, opt.cd.nh, 50);
      unless(o_k, opt.cd.k, 1);
      unless(o_epochs, opt.epochs, 5);
      unless(o_batch, opt.batch, 100);
      unless(o_lr, opt.cd.lr, 0.01f);
      unless(o_mom, opt.cd.momentum, 0.0f);
      unless(o_wd, opt.cd.weight_decay, 0.0f);
      opt.zero_init = true;
      opt.tutorial_batches = true;
      opt.cd.sum_weight_gradient = true;
      opt.cd.hidden_bias_from_states = true;
      opt.eval_limit = 0;  // the tutorial's error is over the whole training set
      opt.preset = preset;
    }
    opt.gpu.mode = rbm::parse_gemm_mode(gemm.c_str());
    if (opt.out_dir.empty()) opt.out_dir = timestamp_dir();
    const rbm::dataset ds = load_data(data);
    if (!opt.quiet)
      std::fprintf(stderr, "data: %s (%d training, %d held-out images of %dx%d)\n", ds.name.c_str(), ds.train.count,
                 ds.test.count, ds.train.rows, ds.train.cols);
    const rbm::train_result r = rbm::train(ds, opt);
    const auto& last = r.history.back();
    std::printf("trained %dx%d for %d epochs: reconstruction error %.6f; wrote %s/{model.safetensors,metrics.csv,"
                "filters.png,error.png}\n",
                r.params.nv, r.params.nh, last.epoch, last.train.err_sampled, opt.out_dir.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rbm: error: %s\n", e.what());
    return 1;
  }
}
