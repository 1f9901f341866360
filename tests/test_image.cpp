// Pictures: PNGs decode to the sizes promised; filter tiles are scaled per tile like tile_raster_images.
#include <gtest/gtest.h>

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

  const rbm::raster plot = rbm::plot_curves({{"a", {0.5, 0.2, 0.1}, 255, 0, 0}}, "t", "epoch");
  rbm::write_png((dir / "plot.png").string(), plot);
  const rbm::raster pb = rbm::read_png((dir / "plot.png").string());
  EXPECT_EQ(pb.channels, 3);
  EXPECT_EQ(pb.width, plot.width);
  EXPECT_EQ(pb.height, plot.height);
  // The curve is drawn: some pixel is pure red.
  bool red = false;
  for (std::size_t i = 0; i + 2 < pb.pixels.size(); i += 3)
    red |= pb.pixels[i] == 255 && pb.pixels[i + 1] == 0 && pb.pixels[i + 2] == 0;
  EXPECT_TRUE(red);

  rbm_test::write_bytes(dir / "bad.png", {1, 2, 3});
  EXPECT_THROW(rbm::read_png((dir / "bad.png").string()), rbm::data_error);
}

}  // namespace
