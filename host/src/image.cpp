// PNG I/O (libpng's simplified API), filter tiles and the error plot (text drawn with stb_easy_font).
#include "rbm/host/image.hpp"

#include <png.h>
#include <stb/stb_easy_font.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "rbm/error.hpp"
#include "rbm/host/idx.hpp"
#include "rbm/host/safetensors.hpp"

namespace rbm {

void write_png(const std::string& path, const raster& img) {
  RBM_EXPECTS(img.width > 0 && img.height > 0 && (img.channels == 1 || img.channels == 3));
  png_image pi{};
  pi.version = PNG_IMAGE_VERSION;
  pi.width = static_cast<png_uint_32>(img.width);
  pi.height = static_cast<png_uint_32>(img.height);
  pi.format = img.channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  png_alloc_size_t size = 0;
  if (!png_image_write_to_memory(&pi, nullptr, &size, 0, img.pixels.data(), 0, nullptr))
    throw data_error(path + ": cannot encode PNG (" + pi.message + ")");
  std::string buf(size, '\0');
  if (!png_image_write_to_memory(&pi, buf.data(), &size, 0, img.pixels.data(), 0, nullptr))
    throw data_error(path + ": cannot encode PNG (" + pi.message + ")");
  buf.resize(size);
  write_file_atomic(path, buf);
}

raster read_png(const std::string& path) {
  png_image pi{};
  pi.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&pi, path.c_str()))
    throw data_error(path + ": not a readable PNG (" + pi.message + ")");
  const bool colour = (pi.format & PNG_FORMAT_FLAG_COLOR) != 0;
  pi.format = colour ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
  raster img(static_cast<int>(pi.width), static_cast<int>(pi.height), colour ? 3 : 1);
  if (!png_image_finish_read(&pi, nullptr, img.pixels.data(), 0, nullptr)) {
    png_image_free(&pi);
    throw data_error(path + ": corrupt PNG (" + pi.message + ")");
  }
  return img;
}

raster tile_filters(const model_params& p, int rows, int cols, const std::vector<int>& units) {
  if (rows <= 0 || cols <= 0 || rows * cols != p.nv)
    throw precondition_error("cannot draw filters as " + std::to_string(rows) + "x" + std::to_string(cols) +
                             " tiles: the model has " + std::to_string(p.nv) + " visible units");
  std::vector<int> which = units;
  if (which.empty())
    for (int j = 0; j < p.nh; ++j) which.push_back(j);
  for (int j : which)
    if (j < 0 || j >= p.nh)
      throw precondition_error("hidden unit " + std::to_string(j) + " does not exist (the model has " +
                               std::to_string(p.nh) + ")");
  const int n = static_cast<int>(which.size());
  const int grid_cols = static_cast<int>(std::ceil(std::sqrt(double(n))));
  const int grid_rows = (n + grid_cols - 1) / grid_cols;
  raster img(grid_cols * (cols + 1) - 1, grid_rows * (rows + 1) - 1, 1, 0);
  for (int t = 0; t < n; ++t) {
    const int j = which[t];
    float lo = std::numeric_limits<float>::max(), hi = std::numeric_limits<float>::lowest();
    for (int i = 0; i < p.nv; ++i) {
      const float w = p.w[std::size_t(i) * p.nh + j];
      lo = std::min(lo, w);
      hi = std::max(hi, w);
    }
    const float range = hi - lo > 1e-12f ? hi - lo : 1.0f;
    const int x0 = (t % grid_cols) * (cols + 1), y0 = (t / grid_cols) * (rows + 1);
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < cols; ++c) {
        const float w = p.w[std::size_t(r * cols + c) * p.nh + j];
        img.pixels[std::size_t(y0 + r) * img.width + x0 + c] =
            static_cast<std::uint8_t>(std::lround(255.0f * (w - lo) / range));
      }
  }
  return img;
}

namespace {

void put(raster& img, int x, int y, std::uint8_t r, std::uint8_t g, std::uint8_t b) {
  if (x < 0 || y < 0 || x >= img.width || y >= img.height) return;
  std::uint8_t* px = &img.pixels[(std::size_t(y) * img.width + x) * 3];
  px[0] = r;
  px[1] = g;
  px[2] = b;
}

void line(raster& img, double x0, double y0, double x1, double y1, std::uint8_t r, std::uint8_t g, std::uint8_t b) {
  const int steps = static_cast<int>(std::max(std::fabs(x1 - x0), std::fabs(y1 - y0))) + 1;
  for (int s = 0; s <= steps; ++s) {
    const double t = double(s) / steps;
    const int x = static_cast<int>(std::lround(x0 + t * (x1 - x0))), y = static_cast<int>(std::lround(y0 + t * (y1 - y0)));
    put(img, x, y, r, g, b);
    put(img, x, y + 1, r, g, b);  // 2-pixel lines read better
  }
}

// Text at (x, y) top-left, in stb_easy_font's 1x bitmap font scaled by `scale`.
void text(raster& img, int x, int y, const std::string& s, int scale = 1) {
  static char buf[60000];
  const int quads = stb_easy_font_print(0, 0, const_cast<char*>(s.c_str()), nullptr, buf, sizeof buf);
  const float* v = reinterpret_cast<const float*>(buf);
  for (int q = 0; q < quads; ++q) {
    const float* quad = v + q * 16;  // 4 vertices of (x, y, z, rgba)
    const int qx0 = static_cast<int>(quad[0]), qy0 = static_cast<int>(quad[1]);
    const int qx1 = static_cast<int>(quad[8]), qy1 = static_cast<int>(quad[9]);
    for (int yy = qy0 * scale; yy < qy1 * scale; ++yy)
      for (int xx = qx0 * scale; xx < qx1 * scale; ++xx) put(img, x + xx, y + yy, 0, 0, 0);
  }
}

std::string fmt_num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.4g", v);
  return b;
}

}  // namespace

raster plot_curves(const std::vector<curve>& curves, const std::string& title, const std::string& xlabel) {
  const int W = 720, H = 440, left = 70, right = 20, top = 40, bottom = 60;
  raster img(W, H, 3, 255);
  double lo = std::numeric_limits<double>::max(), hi = std::numeric_limits<double>::lowest();
  std::size_t npts = 0;
  for (const auto& c : curves) {
    npts = std::max(npts, c.y.size());
    for (double y : c.y)
      if (std::isfinite(y)) lo = std::min(lo, y), hi = std::max(hi, y);
  }
  if (npts == 0 || lo > hi) lo = 0, hi = 1;
  if (hi - lo < 1e-12) hi = lo + 1e-3;
  const double pad = 0.05 * (hi - lo);
  lo -= pad;
  hi += pad;
  const int pw = W - left - right, ph = H - top - bottom;
  const double xmax = npts > 1 ? double(npts - 1) : 1.0;
  auto X = [&](double x) { return left + x / xmax * pw; };
  auto Y = [&](double y) { return top + (hi - y) / (hi - lo) * ph; };

  line(img, left, top, left, top + ph, 0, 0, 0);
  line(img, left, top + ph, left + pw, top + ph, 0, 0, 0);
  for (int t = 0; t <= 4; ++t) {
    const double yv = lo + (hi - lo) * t / 4.0;
    line(img, left - 5, Y(yv), left, Y(yv), 0, 0, 0);
    text(img, 4, static_cast<int>(Y(yv)) - 4, fmt_num(yv));
  }
  const int xticks = static_cast<int>(std::min<std::size_t>(npts > 0 ? npts - 1 : 1, 10));
  for (int t = 0; t <= xticks; ++t) {
    const double xv = xticks > 0 ? std::round(xmax * t / xticks) : 0;
    line(img, X(xv), top + ph, X(xv), top + ph + 5, 0, 0, 0);
    text(img, static_cast<int>(X(xv)) - 3, top + ph + 9, fmt_num(xv));
  }
  text(img, left, 12, title, 2);
  text(img, left + pw / 2 - 3 * static_cast<int>(xlabel.size()), H - 22, xlabel);

  int legend_y = top + 6;
  for (const auto& c : curves) {
    for (std::size_t i = 1; i < c.y.size(); ++i)
      if (std::isfinite(c.y[i - 1]) && std::isfinite(c.y[i]))
        line(img, X(double(i - 1)), Y(c.y[i - 1]), X(double(i)), Y(c.y[i]), c.r, c.g, c.b);
    if (c.y.size() == 1) line(img, X(0) - 2, Y(c.y[0]), X(0) + 2, Y(c.y[0]), c.r, c.g, c.b);
    line(img, left + pw - 200, legend_y + 3, left + pw - 180, legend_y + 3, c.r, c.g, c.b);
    text(img, left + pw - 174, legend_y - 1, c.label);
    legend_y += 14;
  }
  return img;
}

}  // namespace rbm
