// The one place that maps row-major products onto column-major cuBLAS.
//
// A row-major [r, c] matrix is, byte for byte, a column-major [c, r] matrix: its transpose. So the
// row-major C = op(A) op(B) is the column-major C^T = op(B)^T op(A)^T, which is cuBLAS's
// gemm(opB, opA, n, m, k, B, ldb, A, lda, C, ldc): swap the operands and the m/n sizes, keep the
// transpose flags and leading dimensions as they are.
#include "rbm/gemm.hpp"

#include <cublas_v2.h>

#include <cstring>

#include "rbm/error.hpp"

namespace rbm {

void gemm_row_major(const cublas_handle& h, gemm_mode mode, bool trans_a, bool trans_b, int m, int n, int k,
                    float alpha, const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  RBM_EXPECTS(m > 0 && n > 0 && k > 0 && a != nullptr && b != nullptr && c != nullptr);
  const cublasComputeType_t compute = mode == gemm_mode::fp32   ? CUBLAS_COMPUTE_32F
                                      : mode == gemm_mode::tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32
                                                                : CUBLAS_COMPUTE_32F_FAST_16BF;
  RBM_CUBLAS_CHECK(cublasGemmEx(h.get(), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, n,
                                m, k, &alpha, b, CUDA_R_32F, ldb, a, CUDA_R_32F, lda, &beta, c, CUDA_R_32F, ldc,
                                compute, CUBLAS_GEMM_DEFAULT));
}

}  // namespace rbm
