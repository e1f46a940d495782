// Matmul on CUDA through cuBLASLt, opened with dlopen at run time.
//
// One call computes C[b] = epilogue(A[b] @ B[b] (+ bias)) for a batch of
// row-major matrices given by element strides, in f32 (TF32 only when
// allowed), f16 or bf16 with f32 accumulation (f64 in f64). Returns false,
// without side effects, when cuBLASLt is missing or cannot take this layout
// or epilogue; the caller then runs a generated kernel.
#pragma once

#include <cstdint>
#include <string>

#include "jit/gemm_epilogue.h"
#include "tilejit/dtype.h"

namespace tj::jit::cuda {

using jit::Epilogue;

struct Gemm {
  int dev = 0;
  DType a_dtype = DType::f32, b_dtype = DType::f32, c_dtype = DType::f32;
  int64_t m = 0, n = 0, k = 0, batch = 1;
  // Element strides: A is m x k, B is k x n, C is m x n (C contiguous rows:
  // c_row_stride >= n, c_col_stride == 1).
  const void* a = nullptr;
  int64_t a_row_stride = 0, a_col_stride = 0, a_batch_stride = 0;
  const void* b = nullptr;
  int64_t b_row_stride = 0, b_col_stride = 0, b_batch_stride = 0;
  void* c = nullptr;
  int64_t c_row_stride = 0, c_batch_stride = 0;
  Epilogue epilogue = Epilogue::none;
  const void* bias = nullptr;  // n elements of c_dtype, broadcast over rows
  bool allow_tf32 = false;
};

/// True when the GEMM was queued on the device's tilejit stream.
bool cublaslt_gemm(const Gemm& g);

/// Whether cuBLASLt could be loaded, and if not, why.
bool cublaslt_available(std::string* reason = nullptr);

}  // namespace tj::jit::cuda
