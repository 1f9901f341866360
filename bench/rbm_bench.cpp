// Throughput of one CD-k update (samples/s and GFLOP/s from (6 + 4k) nv nh FLOPs per sample) across
// model and batch sizes, on the CPU backend and, where a GPU is usable, the device model; each beside
// the same BLAS's GEMM rate at the same shapes and at a large square size. Warm-up, median of repeats,
// device events on the GPU; a short table on stdout and every number as JSON.
#include <cblas.h>
#if RBM_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include "rbm/device_info.hpp"
#include "rbm/gemm.hpp"
#include "rbm/host/cpu_backend.hpp"
#include "rbm/host/evaluation.hpp"
#include "rbm/host/idx.hpp"
#include "rbm/host/shuffle.hpp"
#if RBM_HAVE_CUDA
#include "rbm/model.hpp"
#endif

namespace {

using clk = std::chrono::steady_clock;

struct stats {
  double median = 0, lo = 0, hi = 0;
};

stats summarise(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v.front(), v.back()};
}

double peak_rss_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;
}

std::vector<int> parse_list(const std::string& s) {
  std::vector<int> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) out.push_back(std::stoi(item));
  return out;
}

double cd_flops(int nv, int nh, int k) { return (6.0 + 4.0 * k) * nv * nh; }

// Median GFLOP/s of the CPU SGEMM: the forward product [batch, nv] x [nv, nh] and a square n^3.
double cpu_gemm_gflops(int m, int n, int k, int reps) {
  std::vector<float> a(std::size_t(m) * k, 0.5f), b(std::size_t(k) * n, 0.25f), c(std::size_t(m) * n);
  std::vector<double> rates;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1, a.data(), k, b.data(), n, 0, c.data(), n);
  for (int r = 0; r < reps; ++r) {
    const auto t0 = clk::now();
    int calls = 0;
    do {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1, a.data(), k, b.data(), n, 0, c.data(), n);
      ++calls;
    } while (std::chrono::duration<double>(clk::now() - t0).count() < 0.1);
    rates.push_back(2.0 * m * n * k * calls / std::chrono::duration<double>(clk::now() - t0).count() / 1e9);
  }
  return summarise(rates).median;
}

// After a threaded OpenBLAS call its worker threads spin for 2^28 cycles (~0.1 s) before sleeping, and
// would compete with the update's own threads: let them settle before timing the update.
void settle_openblas() { std::this_thread::sleep_for(std::chrono::milliseconds(150)); }

struct row {
  std::string impl;
  int nv, nh, batch, k;
  bool pcd;
  stats samples_per_s;
  double gflops, gemm_same_shape, gemm_square, rss_mib, device_mib;
  double non_gemm_share = -1;  // 1 - (time of the update's GEMMs alone) / (time of the update)
};

// Median seconds per update of the update's 3 + 2k SGEMMs alone, at their real shapes: forward
// [B, nv] x [nv, nh], k times (backward [B, nh] x [nh, nv]^T and forward), two gradient products.
double cpu_gemm_seconds_per_update(int batch, int nv, int nh, int k, int reps) {
  std::vector<float> v(std::size_t(batch) * nv, 0.5f), h(std::size_t(batch) * nh, 0.5f), w(std::size_t(nv) * nh, 0.01f),
      g(w.size());
  auto update = [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, batch, nh, nv, 1, v.data(), nv, w.data(), nh, 0, h.data(),
                nh);
    for (int s = 0; s < k; ++s) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, batch, nv, nh, 1, h.data(), nh, w.data(), nh, 0, v.data(),
                  nv);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, batch, nh, nv, 1, v.data(), nv, w.data(), nh, 0, h.data(),
                  nh);
    }
    for (int s = 0; s < 2; ++s)
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nv, nh, batch, 1, v.data(), nv, h.data(), nh, 1, g.data(),
                  nh);
  };
  update();
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = clk::now();
    int n = 0;
    do {
      update();
      ++n;
    } while (std::chrono::duration<double>(clk::now() - t0).count() < 0.1);
    t.push_back(std::chrono::duration<double>(clk::now() - t0).count() / n);
  }
  return summarise(t).median;
}

// The pixels as standardised real values (per-pixel mean 0, standard deviation 1; a constant pixel
// only centred): the data of the Gaussian rows.
std::vector<float> standardised(const rbm::dataset& d) {
  const int n = d.train.count, dim = d.train.dim();
  std::vector<float> v(d.train.pixels.size()), mean, sd;
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = rbm::pixel_to_unit(d.train.pixels[i]);
  rbm::fit_independent_gaussians(v.data(), n, dim, mean, sd);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = (v[i] - mean[i % dim]) / sd[i % dim];
  return v;
}

bool serve = false;  // --serve: see bench_cpu

row bench_cpu(const rbm::dataset& d, int nh, int batch, int k, bool pcd, int reps, double seconds, bool gauss) {
  rbm::cd_config c;
  c.nv = d.train.dim();
  c.nh = nh;
  c.k = k;
  c.pcd = pcd;
  if (gauss) c.visible = rbm::unit_kind::gaussian;
  rbm::cpu_backend be(c);
  const std::vector<float> values = gauss ? standardised(d) : std::vector<float>();
  if (gauss) {
    be.set_params(rbm::init_gaussian_params(c.nv, nh, values.data(), d.train.count, 1, false));
    be.attach(rbm::rows_view::of(values.data(), d.train.count, c.nv));
  } else {
    be.set_params(rbm::init_params(c.nv, nh, d.train.pixels.data(), d.train.count, 1, false));
    be.attach(rbm::rows_view::of(d.train.pixels.data(), d.train.count, c.nv));
  }
  std::vector<int> order(d.train.count);
  rbm::epoch_permutation(1, 1, order);
  const int nbatches = d.train.count / batch;
  int next = 0;
  auto one = [&] {
    be.step(order.data() + (next % nbatches) * batch, batch);
    ++next;
  };
  settle_openblas();
  // Warm-up: workspaces, threads, caches; at least 3 updates and 0.2 s.
  for (auto t0 = clk::now(); next < 3 || std::chrono::duration<double>(clk::now() - t0).count() < 0.2;) one();
  // samples/s of one timed repeat of about `seconds`.
  auto timed_repeat = [&] {
    const auto t0 = clk::now();
    long samples = 0;
    do {
      one();
      samples += batch;
    } while (std::chrono::duration<double>(clk::now() - t0).count() < seconds);
    return samples / std::chrono::duration<double>(clk::now() - t0).count();
  };
  if (serve) {  // bench/ab.py drives the repeats, one per line on stdin, interleaved with a peer's
    std::printf("ready\n");
    std::fflush(stdout);
    for (std::string line; std::getline(std::cin, line);) {
      std::printf("%.3f\n", timed_repeat());
      std::fflush(stdout);
    }
    std::exit(0);
  }
  // Each repeat times the update, then at once the same-shape GEMM and the update's GEMMs alone, so
  // that the ratios compare numbers taken under the same conditions (the machine may be shared).
  std::vector<double> rates, gemm_rates, shares;
  for (int r = 0; r < reps; ++r) {
    rates.push_back(timed_repeat());
    gemm_rates.push_back(cpu_gemm_gflops(batch, nh, c.nv, 1));
    shares.push_back(1.0 - cpu_gemm_seconds_per_update(batch, c.nv, nh, k, 1) * rates.back() / batch);
    settle_openblas();
  }
  row out{gauss ? "rbm cpu gauss" : "rbm cpu", c.nv, nh, batch, k, pcd, summarise(rates), 0, 0, 0, peak_rss_mib(), 0};
  out.gflops = out.samples_per_s.median * cd_flops(c.nv, nh, k) / 1e9;
  out.gemm_same_shape = summarise(gemm_rates).median;
  out.non_gemm_share = summarise(shares).median;
  return out;
}

#if RBM_HAVE_CUDA
double gpu_gemm_gflops(int m, int n, int k, int reps) {
  rbm::cuda_stream st;
  rbm::cublas_handle h(st.view());
  rbm::device_buffer<float> a(std::size_t(m) * k, st.view()), b(std::size_t(k) * n, st.view()),
      c(std::size_t(m) * n, st.view());
  RBM_CUDA_CHECK(cudaMemsetAsync(a.data(), 0, a.size() * 4, st.get()));
  RBM_CUDA_CHECK(cudaMemsetAsync(b.data(), 0, b.size() * 4, st.get()));
  rbm::cuda_event e0(true), e1(true);
  std::vector<double> rates;
  const int calls = std::max(10, int(2e11 / (2.0 * m * n * k)));  // ~0.1 s at 2 TFLOP/s
  for (int r = 0; r <= reps; ++r) {
    e0.record(st.view());
    for (int i = 0; i < calls; ++i)
      rbm::gemm_row_major(h, rbm::gemm_mode::fp32, false, false, m, n, k, 1, a.data(), k, b.data(), n, 0, c.data(), n);
    e1.record(st.view());
    e1.synchronize();
    if (r > 0) rates.push_back(2.0 * m * n * k * calls / (e1.ms_since(e0) * 1e-3) / 1e9);  // r = 0 warms up
  }
  return summarise(rates).median;
}

row bench_gpu(const rbm::dataset& d, int nh, int batch, int k, bool pcd, int reps, double seconds,
              rbm::gemm_mode mode, bool gauss) {
  std::size_t free0 = 0, total = 0;
  RBM_CUDA_CHECK(cudaMemGetInfo(&free0, &total));
  rbm::cuda_stream st;
  rbm::model_options o;
  o.cd.nv = d.train.dim();
  o.cd.nh = nh;
  o.cd.k = k;
  o.cd.pcd = pcd;
  o.mode = mode;
  o.max_batch = batch;
  if (gauss) o.cd.visible = rbm::unit_kind::gaussian;
  rbm::model m(o, st.view());
  const std::vector<float> values = gauss ? standardised(d) : std::vector<float>();
  const auto p = gauss ? rbm::init_gaussian_params(o.cd.nv, nh, values.data(), d.train.count, 1, false)
                       : rbm::init_params(o.cd.nv, nh, d.train.pixels.data(), d.train.count, 1, false);
  m.set_params(p.w.data(), p.vb.data(), p.hb.data());
  // Gaussian rows: the standardised set resident as floats, batches taken in file order (train_step
  // on a device pointer); the Bernoulli rows gather shuffled uint8 rows.
  rbm::device_buffer<float> fdata(values.size(), st.view());
  if (gauss)
    RBM_CUDA_CHECK(cudaMemcpyAsync(fdata.data(), values.data(), values.size() * sizeof(float), cudaMemcpyHostToDevice,
                                   st.get()));
  rbm::device_buffer<std::uint8_t> data(d.train.pixels.size(), st.view());
  RBM_CUDA_CHECK(
      cudaMemcpyAsync(data.data(), d.train.pixels.data(), d.train.pixels.size(), cudaMemcpyHostToDevice, st.get()));
  std::vector<int> order(d.train.count);
  rbm::epoch_permutation(1, 1, order);
  rbm::device_buffer<int> idx(order.size(), st.view());
  RBM_CUDA_CHECK(
      cudaMemcpyAsync(idx.data(), order.data(), order.size() * sizeof(int), cudaMemcpyHostToDevice, st.get()));
  const int nbatches = d.train.count / batch;
  int next = 0;
  auto one = [&] {
    if (gauss)
      m.train_step(fdata.data() + std::size_t(next % nbatches) * batch * o.cd.nv, batch);
    else
      m.train_step_gather(data.data(), idx.data() + std::size_t(next % nbatches) * batch, batch);
    ++next;
  };
  for (int i = 0; i < 5; ++i) one();  // warm-up, graph capture
  std::uint64_t px = 0;
  m.take_error_sum(px);
  std::size_t free1 = 0;
  RBM_CUDA_CHECK(cudaMemGetInfo(&free1, &total));
  // Size the timed loop from one probe so that a repeat lasts about `seconds`.
  rbm::cuda_event e0(true), e1(true);
  e0.record(st.view());
  for (int i = 0; i < 20; ++i) one();
  e1.record(st.view());
  e1.synchronize();
  const int steps = std::max(20, int(20 * seconds / std::max(1e-6, e1.ms_since(e0) * 1e-3)));
  std::vector<double> rates;
  for (int r = 0; r < reps; ++r) {
    e0.record(st.view());
    for (int i = 0; i < steps; ++i) one();
    e1.record(st.view());
    e1.synchronize();
    rates.push_back(double(steps) * batch / (e1.ms_since(e0) * 1e-3));
  }
  row out{std::string(gauss ? "rbm cuda gauss " : "rbm cuda ") + rbm::to_string(mode),
          o.cd.nv,
          nh,
          batch,
          k,
          pcd,
          summarise(rates),
          0,
          0,
          0,
          peak_rss_mib(),
          (free0 - free1) / 1048576.0};
  out.gflops = out.samples_per_s.median * cd_flops(o.cd.nv, nh, k) / 1e9;
  out.gemm_same_shape = gpu_gemm_gflops(batch, nh, o.cd.nv, 3);
  return out;
}

#else  // a build without the CUDA backend: main() has refused --device cuda before these run

double gpu_gemm_gflops(int, int, int, int) { throw rbm::error("this build has no CUDA backend"); }
row bench_gpu(const rbm::dataset&, int, int, int, bool, int, double, rbm::gemm_mode, bool) {
  throw rbm::error("this build has no CUDA backend");
}

#endif

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"rbm_bench: CD-k update throughput against the BLAS ceiling"};
  std::string device = "cpu", nhs = "50,500,2000", batches = "100,1000,4096", ks = "1,10", json_path,
              data_dir = RBM_DATA_DIR;
  std::string modes = "fp32";
  int reps = 5;
  double seconds = 0.3;
  bool pcd_too = false;
  std::string visible = "bernoulli";
  app.add_option("--device", device, "cpu | cuda")->capture_default_str();
  app.add_option("--hidden", nhs, "hidden sizes")->capture_default_str();
  app.add_option("--batch", batches, "batch sizes")->capture_default_str();
  app.add_option("--k", ks, "Gibbs steps")->capture_default_str();
  app.add_flag("--pcd", pcd_too, "also measure PCD");
  app.add_option("--visible", visible, "visible units: bernoulli | gaussian (standardised pixels as real values)")
      ->capture_default_str();
  app.add_option("--gemm", modes, "GPU GEMM modes, comma-separated (fp32,tf32,bf16)")->capture_default_str();
  app.add_option("--reps", reps, "timed repeats (median reported)")->capture_default_str();
  app.add_option("--seconds", seconds, "length of one timed repeat")->capture_default_str();
  app.add_option("--data", data_dir, "IDX data directory")->capture_default_str();
  app.add_option("--json", json_path, "write every measurement here");
  app.add_flag("--serve", serve,
               "CPU, one configuration (PCD when --pcd): after the warm-up print 'ready', then time one repeat per "
               "line read on stdin and print its samples/s (bench/ab.py interleaves these with a peer's)");
  CLI11_PARSE(app, argc, argv);

  try {
    const rbm::dataset d = rbm::load_dataset_dir(data_dir);
    std::vector<row> rows;
    double square = 0;
    const bool gpu = device == "cuda";
    if (gpu && rbm::query_devices().devices.empty()) {
      std::printf("rbm_bench: no usable GPU (%s)\n", rbm::query_devices().reason.c_str());
      return 2;
    }
    square = gpu ? gpu_gemm_gflops(8192, 8192, 8192, 3) : cpu_gemm_gflops(2048, 2048, 2048, 3);
    std::vector<rbm::gemm_mode> mode_list;
    std::stringstream ms(modes);
    for (std::string m; std::getline(ms, m, ',');) mode_list.push_back(rbm::parse_gemm_mode(m.c_str()));
    // A discarded pass over the first configuration: the first measurement of a process ran up to 2x
    // slow on the shared development VM (threads, page faults, frequency), whatever the warm-up inside.
    if (visible != "bernoulli" && visible != "gaussian") throw rbm::precondition_error("--visible must be bernoulli or gaussian");
    const bool gauss = visible == "gaussian";
    if (serve) {
      if (gpu) throw rbm::precondition_error("--serve measures the CPU backend");
      bench_cpu(d, parse_list(nhs).at(0), parse_list(batches).at(0), parse_list(ks).at(0), pcd_too, 1, seconds, gauss);
    }
    if (!gpu)
      bench_cpu(d, parse_list(nhs).at(0), parse_list(batches).at(0), parse_list(ks).at(0), false, 1, seconds, gauss);
    for (int nh : parse_list(nhs))
      for (int b : parse_list(batches))
        for (int k : parse_list(ks))
          for (int pcd = 0; pcd <= int(pcd_too); ++pcd) {
            if (gpu) {
              for (auto mode : mode_list) rows.push_back(bench_gpu(d, nh, b, k, pcd, reps, seconds, mode, gauss));
            } else {
              rows.push_back(bench_cpu(d, nh, b, k, pcd, reps, seconds, gauss));
            }
            rows.back().gemm_square = square;
          }
    const auto rep = rbm::query_devices();
    const std::string library = gpu ? "GPU " + rep.devices[0].name + "; cuBLAS"
                                    : "CPU; " + std::string(openblas_get_config()) + "; " +
                                          std::to_string(openblas_get_num_threads()) +
                                          " threads (rbm: a team of as many, each calling OpenBLAS on one thread)";
    std::printf("# %s\n", library.c_str());
    std::printf("# ceiling: square SGEMM %s = %.1f GFLOP/s; same-shape = [batch, nv] x [nv, nh]\n",
                gpu ? "8192^3" : "2048^3", square);
    std::printf("%-16s %5s %5s %5s %3s %4s %12s %8s %9s %9s %7s %7s %8s %8s\n", "impl", "nv", "nh", "batch", "k",
                "mode", "samples/s", "spread%", "GFLOP/s", "gemm", "%gemm", "%sq", "nonGEMM", "RSS MiB");
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : rows) {
      const double spread = 100.0 * (r.samples_per_s.hi - r.samples_per_s.lo) / r.samples_per_s.median;
      const std::string non_gemm =
          r.non_gemm_share >= 0 ? std::to_string(int(std::lround(100 * r.non_gemm_share))) + "%" : "-";
      std::printf("%-16s %5d %5d %5d %3d %4s %12.0f %8.1f %9.1f %9.1f %6.0f%% %6.0f%% %8s %8.0f\n", r.impl.c_str(),
                  r.nv, r.nh, r.batch, r.k, r.pcd ? "PCD" : "CD", r.samples_per_s.median, spread, r.gflops,
                  r.gemm_same_shape, 100 * r.gflops / r.gemm_same_shape, 100 * r.gflops / r.gemm_square,
                  non_gemm.c_str(), r.rss_mib);
      out.push_back({{"impl", r.impl},
                     {"nv", r.nv},
                     {"nh", r.nh},
                     {"batch", r.batch},
                     {"k", r.k},
                     {"pcd", r.pcd},
                     {"samples_per_s", r.samples_per_s.median},
                     {"samples_per_s_min", r.samples_per_s.lo},
                     {"samples_per_s_max", r.samples_per_s.hi},
                     {"gflops", r.gflops},
                     {"gemm_same_shape_gflops", r.gemm_same_shape},
                     {"gemm_square_gflops", r.gemm_square},
                     {"peak_rss_mib", r.rss_mib},
                     {"device_mib", r.device_mib},
                     {"library", library},
                     {"non_gemm_share", r.non_gemm_share >= 0 ? nlohmann::json(r.non_gemm_share) : nlohmann::json()}});
    }
    if (!json_path.empty()) std::ofstream(json_path) << out.dump(2) << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rbm_bench: error: %s\n", e.what());
    return 1;
  }
}
