// Exact and annealed partition functions, likelihoods and pseudo-likelihoods on the CPU.
#include "rbm/host/evaluation.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "blas_threads.hpp"
#include "rbm/error.hpp"
#include "rbm/host/cpu_hidden_units.hpp"
#include "rbm/host/cpu_kernels.hpp"
#include "rbm/host/cpu_maths.hpp"
#include "rbm/host/idx.hpp"
#include "rbm/host/philox.hpp"
#include "rbm/host/thread_team.hpp"
#include "rbm/math.hpp"

namespace rbm {
double log_sum_exp(const std::vector<double>& x) {
  const double m = *std::max_element(x.begin(), x.end());
  if (!std::isfinite(m)) return m;
  double s = 0;
  for (double v : x) s += std::exp(v - m);
  return m + std::log(s);
}

void fit_independent_gaussians(const float* data, int rows, int dim, std::vector<float>& mean, std::vector<float>& sd) {
  RBM_EXPECTS(rows > 0 && dim > 0);
  std::vector<double> m(dim, 0.0), q(dim, 0.0);
  for (int r = 0; r < rows; ++r)
    for (int i = 0; i < dim; ++i) m[i] += data[std::size_t(r) * dim + i] / double(rows);
  for (int r = 0; r < rows; ++r)
    for (int i = 0; i < dim; ++i) {
      const double e = data[std::size_t(r) * dim + i] - m[i];
      q[i] += e * e / double(rows);
    }
  mean.assign(dim, 0.0f);
  sd.assign(dim, 1.0f);
  for (int i = 0; i < dim; ++i) {
    mean[i] = float(m[i]);
    if (q[i] > 1e-12) sd[i] = float(std::sqrt(q[i]));
  }
}

double independent_gaussians_log_likelihood(const float* train, int train_rows, const float* test, int test_rows,
                                            int dim) {
  RBM_EXPECTS(train_rows > 0 && test_rows > 0 && dim > 0);
  std::vector<float> m, sd;
  fit_independent_gaussians(train, train_rows, dim, m, sd);
  double total = 0;
  for (int r = 0; r < test_rows; ++r)
    for (int i = 0; i < dim; ++i) {
      const double var = double(sd[i]) * sd[i], e = test[std::size_t(r) * dim + i] - m[i];
      total += -0.5 * (e * e / var + std::log(2 * M_PI * var));
    }
  return total / test_rows;
}

std::vector<float> binarize(const std::uint8_t* data, std::size_t n) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = binary_pixel(data[i]) != 0 ? 1.0f : 0.0f;
  return v;
}


double mean_log_likelihood(const model_params& p, const float* v, int rows, double log_z) {
  RBM_EXPECTS(rows > 0);
  if (p.gaussian() || p.hidden != unit_kind::bernoulli) {  // -F(v) - log Z with F the units' own terms
    std::vector<double> f(rows);
    cpu_free_energy(p, v, rows, f.data());
    double total = 0;
    for (double x : f) total += -x - log_z;
    return total / rows;
  }
  std::vector<float> pre(std::size_t(rows) * p.nh);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, p.nh, p.nv, 1.0f, v, p.nv, p.w.data(), p.nh, 0.0f,
              pre.data(), p.nh);
  double total = 0;
  std::vector<double> x(p.nh);
  for (int r = 0; r < rows; ++r) {
    double fe = 0;
    for (int i = 0; i < p.nv; ++i) fe -= double(v[std::size_t(r) * p.nv + i]) * p.vb[i];
    for (int j = 0; j < p.nh; ++j) x[j] = double(pre[std::size_t(r) * p.nh + j]) + p.hb[j];
    fe -= cpu::softplus_sum(x.data(), p.nh);
    total += -fe - log_z;
  }
  return total / rows;
}

double pseudo_log_likelihood(const model_params& p, const float* v, int rows, cpu::thread_team* team) {
  RBM_EXPECTS(rows > 0);
  std::vector<float> pre(std::size_t(rows) * p.nh);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, p.nh, p.nv, 1.0f, v, p.nv, p.w.data(), p.nh, 0.0f,
              pre.data(), p.nh);
  // Rows split among the team, each part's sum kept apart and the parts added in order.
  const int parts = team != nullptr ? std::min(team->size(), rows) : 1;
  std::vector<double> sums(parts, 0.0);
  auto part = [&](int t) {
    const auto [r0, r1] = cpu::split(rows, parts, t);
    std::vector<double> x(p.nh);
    for (std::size_t r = r0; r < r1; ++r) {
      for (int j = 0; j < p.nh; ++j) x[j] = double(pre[r * p.nh + j]) + p.hb[j];
      sums[t] += cpu::pseudo_log_likelihood_row(p.hidden, v + r * p.nv, p.w.data(), p.vb.data(), x.data(), p.nv, p.nh);
    }
  };
  cpu::run_parts(team, parts, part);
  double total = 0;
  for (double s : sums) total += s;
  return total / rows;
}

std::vector<float> base_rate_bias(const float* v, int rows, int nv, float threshold) {
  std::vector<double> on(nv, 0.0);  // row by row (each column's sum in row order, as before)
  const bool thresholded = !std::isnan(threshold);
  for (int r = 0; r < rows; ++r) {
    const float* row = v + std::size_t(r) * nv;
    for (int i = 0; i < nv; ++i) on[i] += thresholded ? (row[i] >= threshold ? 1.0 : 0.0) : row[i];
  }
  std::vector<float> b(nv);
  for (int i = 0; i < nv; ++i) {
    const double q = (on[i] + 0.05 * 0.5) / (rows + 0.05);
    b[i] = static_cast<float>(std::log(q / (1 - q)));
  }
  return b;
}

ais_result ais_log_z(const model_params& p, const std::vector<float>& base_vb, const ais_options& opt,
                     cpu::thread_team* team) {
  RBM_EXPECTS(opt.runs > 0 && int(base_vb.size()) == p.nv && !p.gaussian());
  const int n = opt.runs, nv = p.nv, nh = p.nh;
  const bool categorical = p.categorical();
  const std::vector<double> beta = ais_betas(opt.steps);
  // log p*_b(v) = (1-b) v.bA + b v.vb + sum_j softplus(b x_j), x = hb + v W, up to a constant shared by
  // all b (the base model's hidden units contribute nh log 2 at b = 0, which log Z_A includes). So the
  // weight increment from b' to b is (b - b') v.(vb - bA) + sum_j [softplus(b x_j) - softplus(b' x_j)].
  std::vector<float> dvb(nv);
  for (int i = 0; i < nv; ++i) dvb[i] = p.vb[i] - base_vb[i];
  std::vector<double> logw(n, 0.0);

  // Every run is an independent chain, so each part anneals its own runs through all temperatures
  // with no synchronisation between steps. The uniforms are one sequence whatever the split: the
  // exact base-model samples take n·nv, then each transition n·nh for h and n·nv for v, run r using
  // its slice [r·width, (r + 1)·width) of each draw (the device's order, cuda/src/model.cpp).
  const int parts = team != nullptr ? std::min(team->size(), n) : 1;
  const cpu::blas_single_threaded blas_guard(parts > 1);
  auto anneal = [&](int t) {
    const auto range = cpu::split(n, parts, t);  // (not a structured binding: the lambdas below use it)
    const std::size_t r0 = range.first;
    const int m = int(range.second - r0);
    std::vector<float> v(std::size_t(m) * nv), h(std::size_t(m) * nh), pre(std::size_t(m) * nh),
        vpre(std::size_t(m) * nv), u(std::size_t(m) * std::max(nv, nh));
    std::uint64_t position = 0;  // where the next draw (of all n runs) starts
    auto draw = [&](int width) {
      cpu::philox_uniforms(opt.seed, position + r0 * width, u.data(), std::size_t(m) * width);
      position += std::uint64_t(n) * width;
    };
    auto hidden_pre = [&] {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, nh, nv, 1.0f, v.data(), nv, p.w.data(), nh, 0.0f,
                  pre.data(), nh);
    };
    // v ~ p_b(v | vpre) (b = 0: the base model; vpre unread): Bernoulli units by the shared kernel,
    // categorical ones site by site from softmax((1-b) bA + b (vpre + vb)), a row's sites drawing the
    // first uniforms of its slice of the draw.
    const std::vector<float> no_bias(categorical ? std::size_t(nv) : 0, 0.0f);
    auto sample_visible = [&](const float* vp, double b) {
      if (!categorical) {
        cpu::ais_sample_visible(vp, vp != nullptr ? p.vb.data() : nullptr, base_vb.data(), b, u.data(), m, nv, v.data());
        return;
      }
      for (int r = 0; r < m; ++r) {
        float* row = v.data() + std::size_t(r) * nv;
        for (int i = 0; i < nv; ++i)
          row[i] = vp == nullptr ? base_vb[i] : float(ais_visible_input(b, base_vb[i], vp[std::size_t(r) * nv + i], p.vb[i]));
        cpu::categorical_mean_rows(row, no_bias.data(), 1, p.sites(), p.states);
        cpu::categorical_draw_rows(row, u.data() + std::size_t(r) * nv, 1, p.sites(), p.states);
      }
    };
    draw(nv);  // exact samples from the base model
    sample_visible(nullptr, 0.0);
    hidden_pre();
    for (std::size_t k = 1; k < beta.size(); ++k) {
      const double b = beta[k];
      cpu::ais_add_hidden_log_weights(p.hidden, v.data(), dvb.data(), pre.data(), p.hb.data(), b, beta[k - 1], m, nv,
                                      nh, logw.data() + r0);
      if (k + 1 == beta.size()) break;  // the last weight needs no further transition
      // One Gibbs transition that leaves p_beta invariant: h ~ p_b(h | v), then v ~ p_b(v | h).
      draw(nh);
      cpu::ais_hidden_rows(p.hidden, pre.data(), p.hb.data(), b, u.data(), m, nh, h.data());
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, nv, nh, 1.0f, h.data(), nh, p.w.data(), nh, 0.0f,
                  vpre.data(), nv);
      draw(nv);
      sample_visible(vpre.data(), b);
      hidden_pre();
    }
  };
  cpu::run_parts(team, parts, anneal);
  if (!categorical) return ais_summarise(logw, base_vb, nh, int(beta.size()), p.hidden);
  // The base model of independent sites: log Z_A = each hidden unit's integral at input 0 (log 2 for
  // Bernoulli units) + sum over sites of log sum_q exp(bA).
  double log_z_base = nh * hidden_log_integral(p.hidden, 0.0);
  std::vector<double> a(static_cast<std::size_t>(p.states)), prob(a.size());
  for (int s = 0; s < p.sites(); ++s) {
    for (int k = 0; k < p.states; ++k) a[k] = base_vb[std::size_t(s) * p.states + k];
    log_z_base += softmax_units::mean(a.data(), p.states, prob.data());
  }
  return ais_summarise(logw, log_z_base, int(beta.size()));
}

ais_result ais_log_z_gaussian(const model_params& p, const std::vector<float>& base_mean,
                              const std::vector<float>& base_sd, const ais_options& opt, cpu::thread_team* team) {
  RBM_EXPECTS(p.gaussian() && opt.runs > 0 && int(base_mean.size()) == p.nv && int(base_sd.size()) == p.nv);
  for (float s : base_sd) RBM_EXPECTS(s > 0);
  const int n = opt.runs, nv = p.nv, nh = p.nh;
  const std::vector<double> beta = ais_betas(opt.steps);
  // Tempered model: log p*_b(v) = -(1-b) sum (v - bA)^2 / 2 sA^2 - b sum (v - vb)^2 / 2 sigma^2
  // + sum_j softplus(b x_j), x = hb + (v / sigma) W; at b = 0 its integral is the base model's
  // prod sqrt(2 pi) sA times 2^nh. Transitions: h ~ sigmoid(b x), then v ~ Normal(m, 1 / lambda) with
  // lambda = (1-b) / sA^2 + b / sigma^2 and m = ((1-b) bA / sA^2 + b vb / sigma^2 + b (h W^T) / sigma) / lambda.
  std::vector<double> logw(n, 0.0);
  // Draw widths padded to even, so that every normal draw starts on a pair of Philox words.
  const int wv = nv + (nv & 1), wh = nh + (nh & 1);
  const int parts = team != nullptr ? std::min(team->size(), n) : 1;
  const cpu::blas_single_threaded blas_guard(parts > 1);
  auto anneal = [&](int t) {
    const auto range = cpu::split(n, parts, t);
    const std::size_t r0 = range.first;
    const int m = int(range.second - r0);
    std::vector<float> v(std::size_t(m) * nv), s(v.size()), h(std::size_t(m) * nh), x(std::size_t(m) * nh),
        back(v.size()), draws(std::size_t(m) * std::max(wv, wh));
    std::uint64_t position = 0;
    auto normals = [&] {
      cpu::philox_normals(opt.seed, position + r0 * wv, draws.data(), std::size_t(m) * wv);
      position += std::uint64_t(n) * wv;
    };
    auto uniforms = [&] {
      cpu::philox_uniforms(opt.seed, position + r0 * wh, draws.data(), std::size_t(m) * wh);
      position += std::uint64_t(n) * wh;
    };
    auto hidden_input = [&] {  // x = (v / sigma) W, hb added where used
      cpu::scale_by_sigma_rows(v.data(), p.sigma.data(), m, nv, s.data());
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, nh, nv, 1.0f, s.data(), nv, p.w.data(), nh, 0.0f,
                  x.data(), nh);
    };
    normals();  // exact samples from the base model
    for (int r = 0; r < m; ++r)
      for (int i = 0; i < nv; ++i) v[std::size_t(r) * nv + i] = base_mean[i] + base_sd[i] * draws[std::size_t(r) * wv + i];
    hidden_input();
    for (std::size_t k = 1; k < beta.size(); ++k) {
      const double b = beta[k], b0 = beta[k - 1];
      for (int r = 0; r < m; ++r) {
        double lin = 0, hid = 0;
        for (int i = 0; i < nv; ++i) {
          const double vi = v[std::size_t(r) * nv + i], da = (vi - base_mean[i]) / base_sd[i], dm = (vi - p.vb[i]) / p.sigma[i];
          lin += 0.5 * (dm * dm - da * da);
        }
        for (int j = 0; j < nh; ++j) {
          const double xj = double(x[std::size_t(r) * nh + j]) + p.hb[j];
          hid += double(softplus(float(b * xj))) - double(softplus(float(b0 * xj)));
        }
        logw[r0 + r] += -(b - b0) * lin + hid;
      }
      if (k + 1 == beta.size()) break;
      uniforms();
      for (int r = 0; r < m; ++r)
        for (int j = 0; j < nh; ++j) {
          const double xj = double(x[std::size_t(r) * nh + j]) + p.hb[j];
          h[std::size_t(r) * nh + j] = bernoulli(sigmoid(float(b * xj)), draws[std::size_t(r) * wh + j]);
        }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, nv, nh, 1.0f, h.data(), nh, p.w.data(), nh, 0.0f,
                  back.data(), nv);
      normals();
      for (int r = 0; r < m; ++r)
        for (int i = 0; i < nv; ++i) {
          const double sa2 = double(base_sd[i]) * base_sd[i], sm2 = double(p.sigma[i]) * p.sigma[i];
          const double lambda = (1 - b) / sa2 + b / sm2;
          const double mean = ((1 - b) * base_mean[i] / sa2 + b * p.vb[i] / sm2 +
                               b * double(back[std::size_t(r) * nv + i]) / p.sigma[i]) / lambda;
          v[std::size_t(r) * nv + i] = float(mean + draws[std::size_t(r) * wv + i] / std::sqrt(lambda));
        }
      hidden_input();
    }
  };
  cpu::run_parts(team, parts, anneal);
  double log_z_base = nh * std::log(2.0);
  for (float sd : base_sd) log_z_base += std::log(2.5066282746310002 * sd);
  return ais_summarise(logw, log_z_base, int(beta.size()));
}

eval_result evaluate_rows(const model_params& p, std::uint64_t seed, const rows_view& given, cpu::thread_team* team) {
  eval_result res;
  const int rows = given.rows;
  if (rows <= 0) return res;
  RBM_EXPECTS(given.device == nullptr && given.cols == p.nv && (given.pixels != nullptr || given.values != nullptr));
  const int nv = p.nv, nh = p.nh, parts = team != nullptr ? team->size() : 1;
  const bool gauss = p.gaussian();
  // Rows start .. start + b - 1 of the set as floats (pixels / 255).
  auto fill = [&](int start, int b, float* v) {
    const std::size_t at = std::size_t(start) * nv, count = std::size_t(b) * nv;
    if (given.values != nullptr)
      std::copy_n(given.values + at, count, v);
    else
      cpu::scale_bytes(given.pixels + at, int(count), pixel_to_unit(1), v);
  };
  constexpr int chunk = eval_chunk;
  const int chunks = (rows + chunk - 1) / chunk;
  struct sums {
    double err_s = 0, err_mf = 0, fe = 0;
  };
  std::vector<sums> part(parts);
  const cpu::blas_single_threaded blas_guard(parts > 1);
  // A reconstruction from hidden values h [b, nh]: p(v | h) for Bernoulli units, the mean
  // vb + sigma h W^T for Gaussian ones (cpu_visible_probs knows the kind).
  auto reconstruct = [&](const float* h, int b, float* out) { cpu_visible_probs(p, h, b, out); };
  // Chunks of rows, dealt round-robin to the threads. Chunk c always draws elements c·chunk·(nh + nv)
  // onwards of the evaluation sequence (restarted at every call), whichever thread takes it.
  cpu::run_parts(team, parts, [&](int t) {
    std::vector<float> v(std::size_t(chunk) * nv), h(std::size_t(chunk) * nh), hs(h.size()), vr(v.size()),
        u(std::size_t(chunk) * (nh + nv)), scaled(gauss ? v.size() : 0);
    std::vector<double> fe(chunk);
    sums& acc = part[t];
    for (int c = t; c < chunks; c += parts) {
      const int start = c * chunk, b = std::min(chunk, rows - start);
      const std::size_t bv = std::size_t(b) * nv, bh = std::size_t(b) * nh;
      fill(start, b, v.data());
      const float* view = v.data();
      if (gauss) {
        cpu::scale_by_sigma_rows(v.data(), p.sigma.data(), b, nv, scaled.data());
        view = scaled.data();
      }
      // One product v W (v / sigma W) for both the free energy and p(h | v).
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, b, nh, nv, 1.0f, view, nv, p.w.data(), nh, 0.0f,
                  h.data(), nh);
      cpu_free_energy_from_pre(p, v.data(), h.data(), b, fe.data());
      for (int r = 0; r < b; ++r) acc.fe += fe[r];
      // h the hidden means, hs their draws (for Bernoulli units exactly sigmoid, then sample).
      cpu::philox_uniforms(seed ^ eval_seed_salt, std::uint64_t(start) * (nh + nv), u.data(), bh + bv);
      cpu::hidden_sample_rows(p.hidden, h.data(), p.hb.data(), u.data(), b, nh, hs.data());
      reconstruct(h.data(), b, vr.data());
      acc.err_mf += cpu::squared_error(v.data(), vr.data(), bv);
      reconstruct(hs.data(), b, vr.data());
      if (p.categorical())  // one uniform per site, the first b x sites of the chunk's visible draws
        cpu::categorical_draw_rows(vr.data(), u.data() + bh, b, p.sites(), p.states);
      else if (!gauss)
        cpu::sample(vr.data(), u.data() + bh, bv, vr.data());  // Gaussian: the mean, in data units
      acc.err_s += cpu::squared_error(v.data(), vr.data(), bv);
    }
  });
  double err_s = 0, err_mf = 0, fe_sum = 0;
  for (const sums& q : part) err_s += q.err_s, err_mf += q.err_mf, fe_sum += q.fe;
  const double pixels = double(rows) * nv;
  res.err_sampled = err_s / pixels;
  res.err_mean_field = err_mf / pixels;
  res.free_energy = fe_sum / rows;
  res.samples = rows;
  return res;
}


}  // namespace rbm
