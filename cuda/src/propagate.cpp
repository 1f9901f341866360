// A stack's propagation between layers on the device: one GEMM and the fused sigmoid(-and-sample) pass
// per chunk of rows.
#include "rbm/propagate.hpp"

#include <algorithm>
#include <optional>

#include "rbm/curand_generator.hpp"
#include "rbm/error.hpp"
#include "rbm/kernels.hpp"

namespace rbm {

void propagate_rows(const cublas_handle& h, gemm_mode mode, const layer_view& layer, const float* v, int rows,
                    bool sample, std::uint64_t seed, std::uint64_t first_draw, float* out, stream_view s) {
  RBM_EXPECTS(layer.nv > 0 && layer.nh > 0 && layer.w != nullptr && layer.hb != nullptr && rows >= 0);
  RBM_EXPECTS(rows == 0 || (v != nullptr && out != nullptr));
  RBM_EXPECTS(first_draw % 4 == 0);
  if (rows == 0) return;
  const int nv = layer.nv, nh = layer.nh;
  // A chunk a multiple of 4 rows, so that each chunk's draws start on a multiple of 4 (set_offset).
  const int chunk = std::min(rows, 16384);
  device_buffer<float> scaled, u;
  if (layer.sigma != nullptr) scaled = device_buffer<float>(std::size_t(chunk) * nv, s);
  std::optional<philox_generator> gen;
  if (sample) {
    u = device_buffer<float>(std::size_t(chunk) * nh, s);
    gen.emplace(philox_generator::where::device, seed, first_draw, s.get());
  }
  for (int first = 0; first < rows; first += chunk) {
    const int n = std::min(chunk, rows - first);
    const float* x = v + std::size_t(first) * nv;
    float* o = out + std::size_t(first) * nh;
    if (layer.sigma != nullptr) {
      scale_by_sigma(x, layer.sigma, n, nv, scaled.data(), s);
      x = scaled.data();
    }
    gemm_row_major(h, mode, false, false, n, nh, nv, 1.0f, x, nv, layer.w, nh, 0.0f, o, nh);
    if (sample) {
      gen->set_offset(first_draw + std::uint64_t(first) * nh);
      gen->uniform(u.data(), std::size_t(n) * nh);
    }
    sigmoid_sample(o, layer.hb, sample ? u.data() : nullptr, o, sample ? o : nullptr, n, nh, s);
  }
}

}  // namespace rbm
