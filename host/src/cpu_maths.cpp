// The CPU maths of one RBM layer that the backend, the evaluation, the classifier, the stack and the
// tools call: conditional means through OpenBLAS and the shared unit maths, and free energies.
#include "rbm/host/cpu_maths.hpp"

#include <cblas.h>

#include <vector>

#include "rbm/host/cpu_hidden_units.hpp"
#include "rbm/host/cpu_kernels.hpp"
#include "rbm/math.hpp"
#include "rbm/units.hpp"

namespace rbm {

void cpu_hidden_pre(const model_params& p, const float* v, int rows, float* out) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, p.nh, p.nv, 1.0f, v, p.nv, p.w.data(), p.nh, 0.0f, out,
              p.nh);
}

void cpu_visible_pre(const model_params& p, const float* h, int rows, float* out) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, p.nv, p.nh, 1.0f, h, p.nh, p.w.data(), p.nh, 0.0f, out,
              p.nv);
}

void cpu_hidden_probs(const model_params& p, const float* v, int rows, float* out) {
  std::vector<float> scaled;
  if (p.gaussian()) {  // the hidden layer sees v / sigma
    scaled.resize(std::size_t(rows) * p.nv);
    cpu::scale_by_sigma_rows(v, p.sigma.data(), rows, p.nv, scaled.data());
    v = scaled.data();
  }
  cpu_hidden_pre(p, v, rows, out);
  cpu::hidden_mean_rows(p.hidden, out, p.hb.data(), rows, p.nh);
}

void cpu_visible_probs(const model_params& p, const float* h, int rows, float* out) {
  cpu_visible_pre(p, h, rows, out);
  switch (p.visible) {
    case unit_kind::gaussian:
      cpu::gaussian_visible_rows(out, p.vb.data(), p.sigma.data(), nullptr, rows, p.nv);
      break;
    case unit_kind::categorical:
      cpu::categorical_mean_rows(out, p.vb.data(), rows, p.sites(), p.states);
      break;
    case unit_kind::bernoulli:
    case unit_kind::relu:  // not a visible kind (rbm/units.hpp's table)
      cpu::sigmoid_rows(out, p.vb.data(), rows, p.nv);
      break;
  }
}

// F(v) of each row from its hidden pre-activations pre = v W (without hb; v / sigma W for Gaussian
// visible units).
void cpu_free_energy_from_pre(const model_params& p, const float* v, const float* pre, int rows, double* out) {
  for (int r = 0; r < rows; ++r) {
    double f = 0;
    const float* vr = v + std::size_t(r) * p.nv;
    if (p.gaussian())
      for (int i = 0; i < p.nv; ++i) f += gaussian_units::free_energy_term(vr[i], p.vb[i], p.sigma[i]);
    else
      for (int i = 0; i < p.nv; ++i) f += bernoulli_units::free_energy_term(vr[i], p.vb[i]);
    const float* pr = pre + std::size_t(r) * p.nh;
    if (p.hidden == unit_kind::bernoulli)
      for (int j = 0; j < p.nh; ++j) f -= softplus(pr[j] + p.hb[j]);
    else
      for (int j = 0; j < p.nh; ++j) f -= hidden_log_integral(p.hidden, double(pr[j]) + p.hb[j]);
    out[r] = f;
  }
}

void cpu_free_energy(const model_params& p, const float* v, int rows, double* out) {
  std::vector<float> pre(std::size_t(rows) * p.nh), scaled;
  const float* in = v;
  if (p.gaussian()) {  // the hidden layer sees v / sigma
    scaled.resize(std::size_t(rows) * p.nv);
    cpu::scale_by_sigma_rows(v, p.sigma.data(), rows, p.nv, scaled.data());
    in = scaled.data();
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, p.nh, p.nv, 1.0f, in, p.nv, p.w.data(), p.nh, 0.0f,
              pre.data(), p.nh);
  cpu_free_energy_from_pre(p, v, pre.data(), rows, out);
}

}  // namespace rbm
