// Every input the fuzzers (tests/fuzz) found to crash, kept as a test: each must now be refused cleanly.
#include <gtest/gtest.h>

#include <filesystem>

#include "helpers.hpp"
#include "rbm/host/idx.hpp"
#include "rbm/host/npy.hpp"
#include "rbm/host/tools.hpp"

namespace {

const std::filesystem::path regressions = std::filesystem::path(RBM_SOURCE_DIR) / "tests" / "fuzz" / "regressions";

TEST(FuzzRegressions, PnmWithAHugeWidthAndNoPixels) {
  // "P6 6666662 x 26" with a single data byte: stb_image read past the end of the buffer.
  const auto bytes = rbm_test::read_bytes(regressions / "image-pnm-huge-width");
  ASSERT_FALSE(bytes.empty());
  EXPECT_THROW(rbm::decode_picture("pnm", bytes, 28, 28, false), rbm::data_error);
}

TEST(FuzzRegressions, NpyInt64NearTwoToThe63) {
  // An '<i8' value of 2^63 - 2^9 or so: the error message converted it back to int64 (undefined once
  // rounded to 2^63 as a double). Refused as beyond 2^24, its value written without the conversion.
  const auto bytes = rbm_test::read_bytes(regressions / "npy-int64-beyond-2p63");
  ASSERT_FALSE(bytes.empty());
  try {
    rbm::parse_npy_matrix("x.npy", bytes);
    ADD_FAILURE() << "accepted";
  } catch (const rbm::data_error& e) {
    EXPECT_NE(std::string(e.what()).find("2^24"), std::string::npos) << e.what();
  }
}

}  // namespace
