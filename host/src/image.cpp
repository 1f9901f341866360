// PNG I/O (libpng's simplified API) and filter tiles. The plots are in plot.cpp.
#include "rbm/host/image.hpp"

#include <png.h>

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

}  // namespace rbm
