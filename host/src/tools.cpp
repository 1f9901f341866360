// Pictures in and out, reconstructions, Gibbs sample sheets, features and a softmax classifier.
#include "rbm/host/tools.hpp"


#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "rbm/error.hpp"
#include "rbm/units.hpp"
#include "rbm/host/cpu_hidden_units.hpp"
#include "rbm/host/cpu_kernels.hpp"
#include "rbm/host/cpu_maths.hpp"
#include "rbm/host/idx.hpp"
#include "rbm/host/philox.hpp"
#include "rbm/host/safetensors.hpp"
#include "rbm/host/shuffle.hpp"
#include "rbm/math.hpp"

namespace rbm {


void erase_values(std::vector<float>& image, int rows, int cols, const rect& r) {
  for (int y = std::max(0, r.y0); y < std::min(rows, r.y1); ++y)
    for (int x = std::max(0, r.x0); x < std::min(cols, r.x1); ++x) image[std::size_t(y) * cols + x] = 0;
}

std::vector<float> hidden_probabilities(const model_params& p, const std::uint8_t* v, int rows) {
  std::vector<float> vf(std::size_t(rows) * p.nv), h(std::size_t(rows) * p.nh);
  for (std::size_t i = 0; i < vf.size(); ++i) vf[i] = pixel_to_unit(v[i]);
  cpu_hidden_probs(p, vf.data(), rows, h.data());
  return h;
}

std::vector<float> hidden_probabilities_values(const model_params& p, const float* v, int rows) {
  std::vector<float> h(std::size_t(rows) * p.nh);
  cpu_hidden_probs(p, v, rows, h.data());
  return h;
}

std::vector<float> visible_probabilities(const model_params& p, const float* h, int rows) {
  std::vector<float> v(std::size_t(rows) * p.nv);
  cpu_visible_probs(p, h, rows, v.data());
  return v;
}

reconstruction reconstruct_values(const model_params& p, const float* v) {
  reconstruction r;
  r.input.assign(v, v + p.nv);
  r.hidden = hidden_probabilities_values(p, v, 1);
  std::vector<float> rounded(p.nh);
  for (int j = 0; j < p.nh; ++j) rounded[j] = std::round(r.hidden[j]);  // tf.round, as the tutorial
  r.tutorial = visible_probabilities(p, rounded.data(), 1);
  r.mean_field = visible_probabilities(p, r.hidden.data(), 1);
  return r;
}

reconstruction reconstruct(const model_params& p, const std::uint8_t* image) {
  std::vector<float> v(p.nv);
  for (int i = 0; i < p.nv; ++i) v[i] = pixel_to_unit(image[i]);
  return reconstruct_values(p, v.data());
}

grey_range range_of(const std::vector<float>& values) {
  grey_range g{std::numeric_limits<float>::max(), std::numeric_limits<float>::lowest()};
  for (float x : values)
    if (std::isfinite(x)) g.lo = std::min(g.lo, x), g.hi = std::max(g.hi, x);
  if (g.lo > g.hi) return {};
  if (g.hi - g.lo < 1e-12f) g.lo -= 0.5f, g.hi += 0.5f;
  return g;
}

namespace {

// Draws values as a grey (w x h) block at (x0, y0), each value a zoom x zoom square.
void blit(raster& img, int x0, int y0, const float* v, int w, int h, int zoom, grey_range g = {}) {
  for (int y = 0; y < h * zoom; ++y)
    for (int x = 0; x < w * zoom; ++x) {
      const float a = std::clamp((v[(y / zoom) * w + x / zoom] - g.lo) / (g.hi - g.lo), 0.0f, 1.0f);
      img.pixels[std::size_t(y0 + y) * img.width + x0 + x] = static_cast<std::uint8_t>(std::lround(255 * a));
    }
}

}  // namespace

raster reconstruction_sheet(const std::vector<reconstruction>& rows_of, int rows, int cols, int zoom, grey_range grey) {
  RBM_EXPECTS(!rows_of.empty() && zoom > 0 && grey.hi > grey.lo);
  const int nh = int(rows_of[0].hidden.size());
  const int hc = int(std::ceil(std::sqrt(double(nh)))), hr = (nh + hc - 1) / hc;
  // Hidden grid cells are sized so that the grid is about as tall as a digit.
  const int hz = std::max(1, rows * zoom / std::max(hr, 1));
  const int gap = 2 * zoom;
  const int width = 3 * cols * zoom + hc * hz + 4 * gap + gap;
  const int band = std::max(rows * zoom, hr * hz);
  raster img(width, int(rows_of.size()) * (band + gap) + gap, 1, 64);
  for (std::size_t k = 0; k < rows_of.size(); ++k) {
    const auto& r = rows_of[k];
    const int y = gap + int(k) * (band + gap);
    int x = gap;
    blit(img, x, y, r.input.data(), cols, rows, zoom, grey);
    x += cols * zoom + gap;
    std::vector<float> grid(std::size_t(hr) * hc, 0.0f);
    std::copy(r.hidden.begin(), r.hidden.end(), grid.begin());
    blit(img, x, y, grid.data(), hc, hr, hz);  // probabilities: always [0, 1]
    x += hc * hz + gap;
    blit(img, x, y, r.tutorial.data(), cols, rows, zoom, grey);
    x += cols * zoom + gap;
    blit(img, x, y, r.mean_field.data(), cols, rows, zoom, grey);
  }
  return img;
}

namespace {

// Categorical rows [chains, sites * q] (one-hot) as state numbers [chains, sites].
std::vector<float> site_states(const model_params& p, const std::vector<float>& v) {
  const int q = p.states;
  std::vector<float> x(v.size() / std::size_t(q));
  for (std::size_t g = 0; g < x.size(); ++g)
    x[g] = float(std::max_element(v.begin() + std::ptrdiff_t(g * q), v.begin() + std::ptrdiff_t((g + 1) * q)) -
                 (v.begin() + std::ptrdiff_t(g * q)));
  return x;
}

// The chains' starting rows from noise: fair coins, vb + sigma N(0, 1), or a uniform state per site.
void noise_rows(const model_params& p, cpu::philox_stream& gen, std::vector<float>& v, std::vector<float>& u) {
  const std::size_t cv = v.size();
  if (p.gaussian()) {
    gen.normal(u.data(), cv, 0.0f, 1.0f);
    for (std::size_t i = 0; i < cv; ++i) v[i] = gaussian_units::sample(p.vb[i % p.nv], p.sigma[i % p.nv], u[i]);
  } else if (p.categorical()) {
    const std::size_t groups = cv / std::size_t(p.states);
    gen.uniform(u.data(), groups);
    std::fill(v.begin(), v.end(), 0.0f);
    for (std::size_t g = 0; g < groups; ++g)
      v[g * p.states + std::min(p.states - 1, int(u[g] * float(p.states)))] = 1.0f;
  } else {
    gen.uniform(u.data(), cv);
    for (std::size_t i = 0; i < cv; ++i) v[i] = bernoulli(0.5f, u[i]);
  }
}

// h ~ p(h | v) of the hidden units' kind, h [chains, nh].
void draw_hidden(const model_params& p, cpu::philox_stream& gen, const std::vector<float>& v, int chains,
                 std::vector<float>& u, std::vector<float>& h) {
  const std::size_t ch = h.size();
  if (p.hidden == unit_kind::bernoulli) {
    h = hidden_probabilities_values(p, v.data(), chains);
    gen.uniform(u.data(), ch);
    for (std::size_t i = 0; i < ch; ++i) h[i] = bernoulli(h[i], u[i]);
    return;
  }
  std::vector<float> mean(ch);  // a draw of each unit's kind from its input (v W)
  cpu_hidden_pre(p, v.data(), chains, mean.data());
  gen.uniform(u.data(), ch);
  cpu::hidden_sample_rows(p.hidden, mean.data(), p.hb.data(), u.data(), chains, p.nh, h.data());
}

// v ~ p(v | h) from its means vp: a Bernoulli draw, a normal around the Gaussian mean, a state per site.
void draw_visible(const model_params& p, cpu::philox_stream& gen, const std::vector<float>& vp, int chains,
                  std::vector<float>& u, std::vector<float>& v) {
  const std::size_t cv = v.size();
  if (p.gaussian()) {
    gen.normal(u.data(), cv, 0.0f, 1.0f);
    for (std::size_t i = 0; i < cv; ++i) v[i] = gaussian_units::sample(vp[i], p.sigma[i % p.nv], u[i]);
  } else if (p.categorical()) {
    gen.uniform(u.data(), std::size_t(chains) * p.sites());
    v = vp;
    cpu::categorical_draw_rows(v.data(), u.data(), chains, p.sites(), p.states);
  } else {
    gen.uniform(u.data(), cv);
    for (std::size_t i = 0; i < cv; ++i) v[i] = bernoulli(vp[i], u[i]);
  }
}

}  // namespace

std::vector<std::vector<float>> gibbs_snapshots(const model_params& p, int chains, int steps, int every,
                                                const float* start, std::uint64_t seed) {
  RBM_EXPECTS(chains > 0 && steps >= 0 && every > 0);
  cpu::philox_stream gen(seed);
  const std::size_t cv = std::size_t(chains) * p.nv, ch = std::size_t(chains) * p.nh;
  std::vector<float> v(cv), u(std::max(cv, ch)), h(ch), vp;
  if (start != nullptr)
    std::copy_n(start, cv, v.begin());
  else
    noise_rows(p, gen, v, u);
  std::vector<std::vector<float>> snaps{p.categorical() ? site_states(p, v) : v};
  for (int step = 1; step <= steps; ++step) {
    // v is data at the start and a sample afterwards; h ~ p(h | v), v ~ p(v | h).
    draw_hidden(p, gen, v, chains, u, h);
    vp = visible_probabilities(p, h.data(), chains);
    draw_visible(p, gen, vp, chains, u, v);
    // The visible means, as deeplearning.net shows (categorical units: the states drawn).
    if (step % every == 0) snaps.push_back(p.categorical() ? site_states(p, v) : vp);
  }
  return snaps;
}

raster snapshot_sheet(const std::vector<std::vector<float>>& snapshots, int rows, int cols, grey_range grey) {
  RBM_EXPECTS(!snapshots.empty() && rows > 0 && cols > 0 && snapshots[0].size() % (std::size_t(rows) * cols) == 0 &&
              grey.hi > grey.lo);
  const int nv = rows * cols, chains = int(snapshots[0].size() / nv), snaps = int(snapshots.size()), gap = 1;
  raster img(snaps * (cols + gap) + gap, chains * (rows + gap) + gap, 1, 0);
  for (int s = 0; s < snaps; ++s)
    for (int c = 0; c < chains; ++c)
      blit(img, gap + s * (cols + gap), gap + c * (rows + gap), &snapshots[s][std::size_t(c) * nv], cols, rows, 1, grey);
  return img;
}

raster sample_sheet(const model_params& p, int rows, int cols, int chains, int steps, int every,
                    const std::uint8_t* start, std::uint64_t seed) {
  RBM_EXPECTS(chains > 0 && rows * cols == p.nv);
  std::vector<float> v;
  if (start != nullptr) {
    v.resize(std::size_t(chains) * p.nv);
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = pixel_to_unit(start[i]);
  }
  return snapshot_sheet(gibbs_snapshots(p, chains, steps, every, start != nullptr ? v.data() : nullptr, seed), rows, cols);
}

void write_matrix(const std::string& path, const std::string& name, const std::vector<float>& m, int rows, int cols) {
  RBM_EXPECTS(m.size() == std::size_t(rows) * cols);
  const std::string ext = std::filesystem::path(path).extension().string();
  if (ext == ".npy") {
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(rows) + ", " +
                         std::to_string(cols) + "), }";
    const std::size_t total = 10 + header.size() + 1;
    header.append((64 - total % 64) % 64, ' ');
    header += '\n';
    std::string out("\x93NUMPY\x01\x00", 8);
    out += static_cast<char>(header.size() & 0xFF);
    out += static_cast<char>(header.size() >> 8);
    out += header;
    out.append(reinterpret_cast<const char*>(m.data()), m.size() * sizeof(float));
    write_file_atomic(path, out);
    return;
  }
  tensor_file f;
  f.tensors[name] = {{rows, cols}, m};
  write_tensors(path, f);
}

double softmax_accuracy(const std::vector<float>& train_x, const std::vector<std::uint8_t>& train_y,
                        const std::vector<float>& test_x, const std::vector<std::uint8_t>& test_y, int d, int classes,
                        int epochs, std::uint64_t seed) {
  const int n = int(train_y.size()), nt = int(test_y.size());
  RBM_EXPECTS(n > 0 && nt > 0 && train_x.size() == std::size_t(n) * d && test_x.size() == std::size_t(nt) * d);
  // Standardise each feature with the training statistics: pixels and probabilities alike then suit
  // one learning rate.
  std::vector<float> mu(d, 0.0f), sd(d, 0.0f);
  for (int r = 0; r < n; ++r)
    for (int k = 0; k < d; ++k) mu[k] += train_x[std::size_t(r) * d + k] / n;
  for (int r = 0; r < n; ++r)
    for (int k = 0; k < d; ++k) sd[k] += std::pow(train_x[std::size_t(r) * d + k] - mu[k], 2) / n;
  for (auto& s : sd) s = std::sqrt(s) + 1e-3f;
  auto standardise = [&](const std::vector<float>& x, int rows) {
    std::vector<float> z(x.size());
    for (int r = 0; r < rows; ++r)
      for (int k = 0; k < d; ++k) z[std::size_t(r) * d + k] = (x[std::size_t(r) * d + k] - mu[k]) / sd[k];
    return z;
  };
  const std::vector<float> x = standardise(train_x, n), xt = standardise(test_x, nt);
  std::vector<float> w(std::size_t(d) * classes, 0.0f), b(classes, 0.0f), vw(w.size(), 0.0f), vbias(classes, 0.0f);
  const int batch = 100;
  std::vector<float> logits(std::size_t(batch) * classes), xb(std::size_t(batch) * d), gw(w.size());
  std::vector<int> order(n);
  for (int e = 0; e < epochs; ++e) {
    epoch_permutation(seed, e, order);
    const float lr = 0.05f / (1.0f + 0.1f * e), mom = 0.9f, l2 = 1e-4f;
    for (int first = 0; first < n; first += batch) {
      const int m = std::min(batch, n - first);
      for (int r = 0; r < m; ++r) std::copy_n(&x[std::size_t(order[first + r]) * d], d, &xb[std::size_t(r) * d]);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, classes, d, 1.0f, xb.data(), d, w.data(), classes, 0.0f,
                  logits.data(), classes);
      std::vector<float> gb(classes, 0.0f);
      for (int r = 0; r < m; ++r) {  // softmax - one-hot, in place
        float* l = &logits[std::size_t(r) * classes];
        float mx = l[0];
        for (int c = 0; c < classes; ++c) mx = std::max(mx, l[c] + b[c]);
        float s = 0;
        for (int c = 0; c < classes; ++c) s += (l[c] = std::exp(l[c] + b[c] - mx));
        for (int c = 0; c < classes; ++c) l[c] = l[c] / s - (c == train_y[order[first + r]] ? 1.0f : 0.0f);
        for (int c = 0; c < classes; ++c) gb[c] += l[c] / m;
      }
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, classes, m, 1.0f / m, xb.data(), d, logits.data(), classes,
                  0.0f, gw.data(), classes);
      for (std::size_t i = 0; i < w.size(); ++i) w[i] += (vw[i] = mom * vw[i] - lr * (gw[i] + l2 * w[i]));
      for (int c = 0; c < classes; ++c) b[c] += (vbias[c] = mom * vbias[c] - lr * gb[c]);
    }
  }
  std::vector<float> lt(std::size_t(nt) * classes);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nt, classes, d, 1.0f, xt.data(), d, w.data(), classes, 0.0f,
              lt.data(), classes);
  int correct = 0;
  for (int r = 0; r < nt; ++r) {
    int best = 0;
    for (int c = 1; c < classes; ++c)
      if (lt[std::size_t(r) * classes + c] + b[c] > lt[std::size_t(r) * classes + best] + b[best]) best = c;
    correct += best == test_y[r];
  }
  return double(correct) / nt;
}

}  // namespace rbm
