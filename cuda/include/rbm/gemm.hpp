// Row-major single-precision GEMM on cuBLAS, with the compute mode an explicit parameter.
#pragma once

#include "rbm/resources.hpp"

namespace rbm {

// FP32: exact IEEE single precision (tests, default). TF32 / BF16: tensor-core inputs rounded to
// 10 / 7 mantissa bits with FP32 accumulation; faster, less accurate (bounds in tests/test_gpu_gemm).
enum class gemm_mode { fp32, tf32, bf16 };

const char* to_string(gemm_mode m);
// "fp32" | "tf32" | "bf16"; throws precondition_error otherwise.
gemm_mode parse_gemm_mode(const char* s);

// C[m, n] = alpha * op(A) op(B) + beta * C, all row-major: op(A) is [m, k], op(B) is [k, n].
// A is [m, k] (lda >= k) or, transposed, [k, m] (lda >= m); likewise B. Asynchronous on the handle's
// stream. Throws cublas_error.
void gemm_row_major(const cublas_handle& h, gemm_mode mode, bool trans_a, bool trans_b, int m, int n, int k,
                    float alpha, const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc);

}  // namespace rbm
