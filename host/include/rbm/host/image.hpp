// Pictures a run writes: PNG files through libpng, the filter tiles of the tutorial's tile_raster_images
// and a small line plot of the error curves.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rbm/host/backend.hpp"

namespace rbm {

struct raster {
  int width = 0, height = 0, channels = 1;  // 1 = grey, 3 = RGB
  std::vector<std::uint8_t> pixels;          // [height, width, channels]

  raster() = default;
  raster(int w, int h, int c, std::uint8_t fill = 0)
      : width(w), height(h), channels(c), pixels(std::size_t(w) * h * c, fill) {}
};

// Atomic write (temporary file + rename). Throws data_error naming the file.
void write_png(const std::string& path, const raster& img);
// Decodes a PNG to grey or RGB (as stored, alpha dropped). Throws data_error naming the file.
raster read_png(const std::string& path);

// One rows x cols tile per hidden unit (all units, or those listed), each scaled to its own range,
// 1-pixel black gaps, in a near-square grid. Throws precondition_error when nv != rows * cols.
raster tile_filters(const model_params& p, int rows, int cols, const std::vector<int>& units = {});

struct curve {
  std::string label;
  std::vector<double> y;        // one value per x = 0, 1, 2, ...
  std::uint8_t r, g, b;
};

// A line plot of the curves against their index, with axes, ticks, labels and a legend.
raster plot_curves(const std::vector<curve>& curves, const std::string& title, const std::string& xlabel);

}  // namespace rbm
