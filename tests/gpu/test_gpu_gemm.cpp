// The row-major cuBLAS wrapper against a naive double product, for every transpose combination;
// TF32 and BF16 within their stated error bounds.
#include "gpu_test.hpp"
#include "rbm/gemm.hpp"

using namespace rbm_gpu_test;

namespace {

// Relative error bound per mode for K-term dot products of values in [-1, 1], measured against the
// largest |C|: FP32 accumulates ~K * 2^-24; TF32 / BF16 round inputs to 2^-11 / 2^-8.
double bound(rbm::gemm_mode m) {
  switch (m) {
    case rbm::gemm_mode::fp32: return 1e-5;
    case rbm::gemm_mode::tf32: return 2e-3;
    case rbm::gemm_mode::bf16: return 1.5e-2;
  }
  return 0;
}

class GpuGemm : public ::testing::TestWithParam<rbm::gemm_mode> {};

TEST_P(GpuGemm, RowMajorMatchesNaiveProductForAllTransposes) {
  RBM_REQUIRE_GPU();
  rbm::cuda_stream st;
  auto s = st.view();
  rbm::cublas_handle h(s);
  std::mt19937 rng(5);
  const int m = 37, n = 53, k = 71;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      // op(A) is [m, k]: A is stored [m, k] or, transposed, [k, m]; likewise B.
      const auto a = random_vector(m * k, rng, -1, 1), b = random_vector(k * n, rng, -1, 1),
                 c0 = random_vector(m * n, rng, -1, 1);
      const int lda = ta ? m : k, ldb = tb ? k : n;
      auto d_a = upload(a, s), d_b = upload(b, s), d_c = upload(c0, s);
      rbm::gemm_row_major(h, GetParam(), ta, tb, m, n, k, 0.75f, d_a.data(), lda, d_b.data(), ldb, 0.5f, d_c.data(), n);
      const auto c = download(d_c, s);
      double worst = 0, scale = 0;
      for (int i = 0; i < m; ++i)
        for (int j = 0; j < n; ++j) {
          double x = 0;
          for (int l = 0; l < k; ++l) x += double(ta ? a[l * m + i] : a[i * k + l]) * (tb ? b[j * k + l] : b[l * n + j]);
          const double ref = 0.75 * x + 0.5 * c0[i * n + j];
          worst = std::max(worst, std::fabs(ref - c[i * n + j]));
          scale = std::max(scale, std::fabs(ref));
        }
      EXPECT_LT(worst / scale, bound(GetParam())) << "trans_a " << ta << " trans_b " << tb;
    }
}

// Proof that the reduced modes engage (cuBLAS's FAST_TF32 / FAST_16BF compute types permit tensor
// cores rather than require them, and there is no math mode to read back): every A element is
// 1 + 2^-12, exact in FP32 but rounded to 1 with TF32's 10 or BF16's 7 mantissa bits; B is all ones.
// FP32 gives exactly 256 (1 + 2^-12) = 256.0625 (every partial sum is a multiple of 2^-12 below 2^9);
// a reduced mode gives 256. The size is one cuBLAS runs on tensor cores.
TEST_P(GpuGemm, ReducedModesRoundTheirInputsAndFp32DoesNot) {
  RBM_REQUIRE_GPU();
  rbm::cuda_stream st;
  auto s = st.view();
  rbm::cublas_handle h(s);
  const int m = 256, n = 256, k = 256;
  const float a_value = 1.0f + 1.0f / 4096.0f;
  auto d_a = upload(std::vector<float>(std::size_t(m) * k, a_value), s);
  auto d_b = upload(std::vector<float>(std::size_t(k) * n, 1.0f), s);
  auto d_c = poisoned(std::size_t(m) * n, s);
  rbm::gemm_row_major(h, GetParam(), false, false, m, n, k, 1.0f, d_a.data(), k, d_b.data(), n, 0.0f, d_c.data(), n);
  const auto c = download(d_c, s);
  const float exact = 256.0625f;
  double worst = 0;
  for (float x : c) worst = std::max(worst, std::fabs(double(x) - exact));
  if (GetParam() == rbm::gemm_mode::fp32)
    EXPECT_EQ(worst, 0.0) << "FP32 must be exact here";
  else
    EXPECT_GT(worst, 0.03) << rbm::to_string(GetParam()) << " did not round its inputs: no tensor-core mode engaged";
}

INSTANTIATE_TEST_SUITE_P(Modes, GpuGemm,
                         ::testing::Values(rbm::gemm_mode::fp32, rbm::gemm_mode::tf32, rbm::gemm_mode::bf16),
                         [](const auto& info) { return std::string(rbm::to_string(info.param)); });

}  // namespace
