// Pictures: PNGs decode to the sizes promised; filter tiles are scaled per tile like tile_raster_images.
#include <gtest/gtest.h>
#include <array>
#include <cmath>

#include "helpers.hpp"
#include "rbm/host/image.hpp"
#include "rbm/host/idx.hpp"

namespace {

TEST(Image, FilterTilesAreScaledPerTileAndLaidOutInAGrid) {
  rbm::model_params p(6, 5);  // 2x3 tiles, 5 units -> 3 columns x 2 rows of tiles
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 5; ++j) p.w[i * 5 + j] = float(i) * (j + 1) * (j % 2 ? -1.0f : 1.0f);
  const rbm::raster img = rbm::tile_filters(p, 2, 3);
  EXPECT_EQ(img.width, 3 * 4 - 1);
  EXPECT_EQ(img.height, 2 * 3 - 1);
  // Unit 0: weights 0..5 -> 0..255 in reading order.
  EXPECT_EQ(img.pixels[0], 0);
  EXPECT_EQ(img.pixels[1 * img.width + 2], 255);
  // Unit 1 (negated, scaled x2) occupies tile 1: its largest weight is at pixel (0, 0).
  EXPECT_EQ(img.pixels[4], 255);
  EXPECT_EQ(img.pixels[1 * img.width + 6], 0);
  // Gap column between tiles stays black.
  EXPECT_EQ(img.pixels[3], 0);
  EXPECT_THROW(rbm::tile_filters(p, 3, 3), rbm::precondition_error);
  EXPECT_THROW(rbm::tile_filters(p, 2, 3, {7}), rbm::precondition_error);
}

TEST(Image, PngRoundTripAndPlotSize) {
  const auto dir = rbm_test::fresh_dir();
  rbm::raster g(13, 7, 1);
  for (std::size_t i = 0; i < g.pixels.size(); ++i) g.pixels[i] = static_cast<std::uint8_t>(i * 3);
  rbm::write_png((dir / "g.png").string(), g);
  const rbm::raster back = rbm::read_png((dir / "g.png").string());
  EXPECT_EQ(back.width, 13);
  EXPECT_EQ(back.height, 7);
  EXPECT_EQ(back.channels, 1);
  EXPECT_EQ(back.pixels, g.pixels);

  rbm_test::write_bytes(dir / "bad.png", {1, 2, 3});
  EXPECT_THROW(rbm::read_png((dir / "bad.png").string()), rbm::data_error);
}

}  // namespace

namespace {

TEST(Plot, TicksAreRoundNumbersThatCoverTheRange) {
  // The range of a run's error curve, which the hand-drawn plot labelled 0.002605 ... 0.04223.
  const std::vector<double> t = rbm::nice_ticks(0.002605, 0.04223, 7);
  ASSERT_GE(t.size(), 3u);
  EXPECT_LE(t.front(), 0.002605);
  EXPECT_GE(t.back(), 0.04223);
  EXPECT_LE(t.size(), 8u);
  const double step = t[1] - t[0];
  EXPECT_NEAR(step, 0.01, 1e-12);
  std::vector<std::string> labels;
  for (double v : t) labels.push_back(rbm::tick_label(v, step));
  EXPECT_EQ(labels, (std::vector<std::string>{"0.00", "0.01", "0.02", "0.03", "0.04", "0.05"}));
  // Log-likelihoods: negative whole numbers at a step of 10; "0" not "-0".
  const std::vector<double> n = rbm::nice_ticks(-112.3, -86.2, 7);
  EXPECT_EQ(rbm::tick_label(n.front(), n[1] - n[0]), "-120");
  EXPECT_EQ(rbm::tick_label(n.back(), n[1] - n[0]), "-80");
  EXPECT_EQ(n.size(), 5u);
  EXPECT_EQ(rbm::tick_label(-1e-17, 0.5), "0.0");
  // One value still gets a range around it.
  const std::vector<double> one = rbm::nice_ticks(3.0, 3.0);
  EXPECT_LT(one.front(), 3.0);
  EXPECT_GT(one.back(), 3.0);
  for (double v : one) EXPECT_EQ(v, std::round(v * 10) / 10);  // exactly the decimal it reads as
}

TEST(Plot, DrawsCurvesTextAndLegendWherePlotsAreBuilt) {
  if (!rbm::can_plot()) GTEST_SKIP() << "this build has no plotting library (cairo, RBM_PLOTS)";
  const rbm::raster plot = rbm::plot_curves({{"falling", {0.5, 0.2, 0.1, NAN, 0.05}, 255, 0, 0, {1, 2, 3, 4, 5}},
                                             {"flat", {0.3, 0.3, 0.3}, 0, 0, 255}},
                                            "reconstruction error", "epoch", "error");
  ASSERT_EQ(plot.channels, 3);
  auto colour_at = [&](int x, int y) {
    const std::uint8_t* p = &plot.pixels[(std::size_t(y) * plot.width + x) * 3];
    return std::array<int, 3>{p[0], p[1], p[2]};
  };
  long red = 0, blue = 0, dark_title = 0, dark_bottom = 0, grey = 0;
  for (int y = 0; y < plot.height; ++y)
    for (int x = 0; x < plot.width; ++x) {
      const auto c = colour_at(x, y);
      red += c[0] > 200 && c[1] < 60 && c[2] < 60;
      blue += c[2] > 200 && c[0] < 60 && c[1] < 60;
      const bool dark = c[0] < 90 && c[1] < 90 && c[2] < 90;
      dark_title += dark && y < 36;
      dark_bottom += dark && y > plot.height - 50;
      grey += c[0] == c[1] && c[1] == c[2] && c[0] > 200 && c[0] < 240;
    }
  EXPECT_GT(red, 300);         // the falling curve and its legend sample, 2 px wide
  EXPECT_GT(blue, 300);        // the flat one
  EXPECT_GT(dark_title, 200);  // the title is written in the band above the plot
  EXPECT_GT(dark_bottom, 60);  // x tick labels and the axis label
  EXPECT_GT(grey, 1000);       // the grid
  // The falling curve starts high on the left and ends low on the right: red pixels in the upper left.
  long red_upper_left = 0, red_lower_left = 0;
  for (int y = 0; y < plot.height; ++y)
    for (int x = 0; x < plot.width / 3; ++x) {
      const auto c = colour_at(x, y);
      if (c[0] > 200 && c[1] < 60 && c[2] < 60) (y < plot.height / 3 ? red_upper_left : red_lower_left) += 1;
    }
  EXPECT_GT(red_upper_left, 20);
  EXPECT_EQ(red_lower_left, 0);
}

TEST(Plot, SaysWhenTheBuildDrawsNone) {
  if (rbm::can_plot()) GTEST_SKIP() << "this build draws plots (cairo)";
  EXPECT_THROW(rbm::plot_curves({}, "t", "x"), rbm::error);
}

}  // namespace
