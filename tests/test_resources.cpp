// The parts of rbm::cuda's resource types that need no GPU: which streams count as default streams,
// and that a capture on one is refused before any CUDA call (GPU behaviour: tests/gpu/).
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include "rbm/error.hpp"
#include "rbm/resources.hpp"

namespace {

TEST(Resources, TheThreeDefaultStreamsAreRecognised) {
  EXPECT_TRUE(rbm::stream_view().is_default());
  EXPECT_TRUE(rbm::stream_view(nullptr).is_default());
  EXPECT_TRUE(rbm::stream_view(cudaStreamLegacy).is_default());
  EXPECT_TRUE(rbm::stream_view(cudaStreamPerThread).is_default());
  // Any other handle is a created stream (this one is never dereferenced).
  EXPECT_FALSE(rbm::stream_view(reinterpret_cast<cudaStream_t>(std::uintptr_t(0x1000))).is_default());
}

TEST(Resources, CaptureOnADefaultStreamIsRefusedWithAClearError) {
  for (cudaStream_t s : {cudaStream_t(nullptr), cudaStreamLegacy, cudaStreamPerThread}) {
    bool enqueued = false;
    try {
      rbm::cuda_graph::capture(rbm::stream_view(s), [&](rbm::stream_view) { enqueued = true; });
      FAIL() << "capture on a default stream was accepted";
    } catch (const rbm::precondition_error& e) {
      EXPECT_NE(std::string(e.what()).find("created stream"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(enqueued);
  }
}

}  // namespace
