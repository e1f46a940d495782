#include "jit/cpu/blas.h"

#include <algorithm>

#include "tilejit_build_config.h"

#if TJ_HAVE_CBLAS
#include <cblas.h>
#endif

namespace tj::jit::cpu {

#if TJ_HAVE_CBLAS
namespace {

/// Transposition and leading dimension for a rows x cols operand with element
/// strides (s_row, s_col); false when a GEMM cannot read it.
bool blas_layout(int64_t rows, int64_t cols, int64_t s_row, int64_t s_col, CBLAS_TRANSPOSE* t,
                 int64_t* ld) {
  if (cols <= 1 || s_col == 1) {
    *t = CblasNoTrans;
    *ld = rows <= 1 ? std::max<int64_t>(cols, 1) : s_row;
    return *ld >= std::max<int64_t>(cols, 1);
  }
  if (rows <= 1 || s_row == 1) {
    *t = CblasTrans;
    *ld = cols <= 1 ? std::max<int64_t>(rows, 1) : s_col;
    return *ld >= std::max<int64_t>(rows, 1);
  }
  return false;
}

}  // namespace

bool run_blas(const ir::Kernel& k, const std::vector<void*>& ptrs) {
  const ir::Access& A = k.accesses[0];
  const ir::Access& B = k.accesses[1];
  const ir::Access& C = k.accesses[2];
  if (!(A.dtype == C.dtype && B.dtype == C.dtype &&
        (C.dtype == DType::f32 || C.dtype == DType::f64)))
    return false;
  const size_t n = k.domain.size();
  const int64_t M = k.domain[n - 3], N = k.domain[n - 2], K = k.domain[n - 1];
  CBLAS_TRANSPOSE ta, tb;
  int64_t lda, ldb;
  if (!blas_layout(M, K, A.strides[n - 3], A.strides[n - 1], &ta, &lda)) return false;
  if (!blas_layout(K, N, B.strides[n - 1], B.strides[n - 2], &tb, &ldb)) return false;
  const int64_t batch = shape_numel(Shape(k.domain.begin(), k.domain.end() - 3));
  const int64_t es = dtype_size(C.dtype);
  for (int64_t b = 0; b < batch; ++b) {
    int64_t t = b, oa = A.offset, ob = B.offset, oc = C.offset;
    for (size_t d = n - 3; d-- > 0;) {
      int64_t i = t % k.domain[d];
      t /= k.domain[d];
      oa += i * A.strides[d];
      ob += i * B.strides[d];
      oc += i * C.strides[d];
    }
    char* pa = static_cast<char*>(ptrs[A.arg]) + oa * es;
    char* pb = static_cast<char*>(ptrs[B.arg]) + ob * es;
    char* pc = static_cast<char*>(ptrs[C.arg]) + oc * es;
    if (C.dtype == DType::f32)
      cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, 1.0f, reinterpret_cast<float*>(pa), lda,
                  reinterpret_cast<float*>(pb), ldb, 0.0f, reinterpret_cast<float*>(pc),
                  std::max<int64_t>(N, 1));
    else
      cblas_dgemm(CblasRowMajor, ta, tb, M, N, K, 1.0, reinterpret_cast<double*>(pa), lda,
                  reinterpret_cast<double*>(pb), ldb, 0.0, reinterpret_cast<double*>(pc),
                  std::max<int64_t>(N, 1));
  }
  return true;
}
bool have_blas() { return true; }
#else
bool run_blas(const ir::Kernel&, const std::vector<void*>&) { return false; }
bool have_blas() { return false; }
#endif

}  // namespace tj::jit::cpu
