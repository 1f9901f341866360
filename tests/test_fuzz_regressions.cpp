// Every input the fuzzers (tests/fuzz) found to crash, kept as a test: each must now be refused cleanly.
#include <gtest/gtest.h>

#include <filesystem>

#include "helpers.hpp"
#include "rbm/host/idx.hpp"
#include "rbm/host/tools.hpp"

namespace {

const std::filesystem::path regressions = std::filesystem::path(RBM_SOURCE_DIR) / "tests" / "fuzz" / "regressions";

TEST(FuzzRegressions, PnmWithAHugeWidthAndNoPixels) {
  // "P6 6666662 x 26" with a single data byte: stb_image read past the end of the buffer.
  const auto bytes = rbm_test::read_bytes(regressions / "image-pnm-huge-width");
  ASSERT_FALSE(bytes.empty());
  EXPECT_THROW(rbm::decode_picture("pnm", bytes, 28, 28, false), rbm::data_error);
}

}  // namespace
