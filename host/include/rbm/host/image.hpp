// Pictures a run writes: PNG files through libpng, the filter tiles of the tutorial's tile_raster_images
// and line plots of the per-epoch curves (drawn with cairo, plot.cpp).
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
  std::vector<double> y;        // the values
  std::uint8_t r, g, b;
  std::vector<double> x = {};   // their x positions; empty: 0, 1, 2, ...
};

// Round tick positions covering [lo, hi] ("nice numbers": steps of 1, 2 or 5 times a power of ten),
// at most about `max_ticks` of them, from at or below lo to at or above hi.
std::vector<double> nice_ticks(double lo, double hi, int max_ticks = 6);
// A tick's label: as many decimals as the step needs, no more (0.015 at a step of 0.005, 20 at 10).
std::string tick_label(double value, double step);

// Whether this build draws plots (it has cairo; CMake option RBM_PLOTS).
bool can_plot();
// A line plot of the curves, with axes, round ticks, a grid, axis labels and a legend, antialiased text
// and lines (cairo). Non-finite values are gaps. Throws error when the build has no plotting library.
raster plot_curves(const std::vector<curve>& curves, const std::string& title, const std::string& xlabel,
                   const std::string& ylabel = "");

}  // namespace rbm
