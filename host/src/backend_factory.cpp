// Which backend trains: the CUDA one where it is built and a GPU is usable (or asked for), else the
// CPU one, refused up front where the machine's memory cannot hold the model. The one host file beside
// the backends' own that names them.
#include <unistd.h>

#include <cmath>
#include <memory>
#include <string>

#include "rbm/device_info.hpp"
#include "rbm/error.hpp"
#include "backend_registry.hpp"
#include "rbm/host/cpu_backend.hpp"
#include "train_parts.hpp"

namespace rbm {
using namespace detail;

bool cuda_backend_built() { return gpu_backend().built; }


namespace detail {

double host_bytes_needed(int nv, int nh, int rows) {
  return 4.0 * (3.0 * nv * double(nh) + 2.0 * rows * double(nv + nh));
}

double host_bytes_present() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? double(pages) * double(page) : 0.0;
}

}  // namespace detail

namespace {

void check_host_memory(const cd_config& cfg, int rows) {
  const double need = host_bytes_needed(cfg.nv, cfg.nh, rows), have = host_bytes_present();
  if (have > 0 && need > have)
    throw host_out_of_memory("a " + std::to_string(cfg.nv) + "x" + std::to_string(cfg.nh) + " model with batch " +
                                 std::to_string(rows) + " needs at least " + std::to_string(std::llround(need)) +
                                 " bytes (" + std::to_string(std::llround(need / 1048576.0)) + " MiB) of memory; this machine has " +
                                 std::to_string(std::llround(have / 1048576.0)) + " MiB",
                             std::size_t(need));
}

void check_device_name(const std::string& device) {
  if (device != "auto" && device != "cpu" && device != "cuda")
    throw precondition_error("the device must be auto, cpu or cuda (got '" + device + "')");
}
}  // namespace

bool gpu_chosen(const std::string& device) {
  check_device_name(device);
  if (device == "cpu") return false;
  const device_report rep = query_devices();
  if (cuda_backend_built() && !rep.devices.empty()) return true;
  if (device == "cuda") throw error("the device cuda was asked for, but no GPU is usable (" + rep.reason + ")");
  return false;
}

std::unique_ptr<backend> make_backend(const std::string& device, const cd_config& cfg, int max_batch,
                                      const gpu_options& gpu, std::string& why, int cpu_rows) {
  check_device_name(device);
  if (gpu.resident != "auto" && gpu.resident != "on" && gpu.resident != "off")
    throw precondition_error("data residency must be auto, on or off (got '" + gpu.resident + "')");
  std::string fallback;
  if (device != "cpu") {
    const device_report rep = query_devices();
    if (rep.devices.empty() || !gpu_backend().built) {
      if (device == "cuda") throw error("the device cuda was asked for, but no GPU is usable (" + rep.reason + ")");
      fallback = "no usable GPU (" + rep.reason + ")";
    } else {
      try {
        auto b = gpu_backend().make(cfg, max_batch, gpu);
        why = "using the CUDA backend (device " + device + "): " + b->name();
        return b;
      } catch (const out_of_memory& e) {
        throw out_of_memory("device " + device + ": a " + std::to_string(cfg.nv) + "x" + std::to_string(cfg.nh) +
                                " model with batch " + std::to_string(max_batch) + " does not fit on the GPU: " + e.what(),
                            e.code(), e.requested());
      } catch (const error& e) {
        if (device == "cuda") throw error(std::string("the device cuda was asked for, but the GPU cannot be used: ") + e.what());
        fallback = std::string("the GPU cannot be used (") + e.what() + ")";
      }
    }
  }
  check_host_memory(cfg, cpu_rows > 0 ? cpu_rows : max_batch);
  auto b = std::make_unique<cpu_backend>(cfg);
  why = device == "cpu" ? "using the CPU backend (device cpu): " + b->name()
                        : "using the CPU backend (device auto): " + fallback + "; " + b->name();
  return b;
}

}  // namespace rbm
