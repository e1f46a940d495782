#include "jit/cuda/gemm.h"

#include "ir/check.h"

namespace tj::jit::cuda {

bool run_cublaslt(const ir::Kernel& k, const std::vector<void*>& ptrs, int dev, bool allow_tf32,
                  Epilogue epilogue, const void* bias) {
  const ir::Access& A = k.accesses[0];
  const ir::Access& B = k.accesses[1];
  const ir::Access& C = k.accesses[2];
  const DType t = C.dtype;
  if (!(A.dtype == t && B.dtype == t &&
        (t == DType::f32 || t == DType::f16 || t == DType::bf16 || t == DType::f64)))
    return false;
  const size_t n = k.domain.size();
  if (C.strides[n - 2] != 1 && k.domain[n - 2] > 1) return false;
  const int64_t es = dtype_size(t);
  Gemm g;
  g.dev = dev;
  g.a_dtype = g.b_dtype = g.c_dtype = t;
  g.m = k.domain[n - 3];
  g.n = k.domain[n - 2];
  g.k = k.domain[n - 1];
  g.a_row_stride = A.strides[n - 3];
  g.a_col_stride = A.strides[n - 1];
  g.b_row_stride = B.strides[n - 1];
  g.b_col_stride = B.strides[n - 2];
  g.c_row_stride = C.strides[n - 3];
  g.allow_tf32 = allow_tf32;
  g.epilogue = epilogue;
  g.bias = bias;
  // Batch dims: one uniform stride per operand when they collapse, else one
  // call per batch index.
  const size_t nb = n - 3;
  auto collapsible = [&](const ir::Access& x) {
    for (size_t d = 0; d + 1 < nb; ++d)
      if (k.domain[d] > 1 && x.strides[d] != x.strides[d + 1] * k.domain[d + 1]) return false;
    return true;
  };
  const int64_t batch = shape_numel(Shape(k.domain.begin(), k.domain.begin() + nb));
  auto at = [&](const ir::Access& x, int64_t off) {
    return static_cast<char*>(ptrs[x.arg]) + (x.offset + off) * es;
  };
  if (nb == 0 || (collapsible(A) && collapsible(B) && collapsible(C))) {
    g.batch = batch;
    g.a_batch_stride = nb ? A.strides[nb - 1] : 0;
    g.b_batch_stride = nb ? B.strides[nb - 1] : 0;
    g.c_batch_stride = nb ? C.strides[nb - 1] : 0;
    g.a = at(A, 0);
    g.b = at(B, 0);
    g.c = at(C, 0);
    return cublaslt_gemm(g);
  }
  g.batch = 1;
  for (int64_t b = 0; b < batch; ++b) {
    int64_t t2 = b, oa = 0, ob = 0, oc = 0;
    for (size_t d = nb; d-- > 0;) {
      const int64_t i = t2 % k.domain[d];
      t2 /= k.domain[d];
      oa += i * A.strides[d];
      ob += i * B.strides[d];
      oc += i * C.strides[d];
    }
    g.a = at(A, oa);
    g.b = at(B, ob);
    g.c = at(C, oc);
    // A refusal after some batches were queued is fine too: the generated
    // kernel that runs instead rewrites all of C, after them on the stream.
    if (!cublaslt_gemm(g)) return false;
  }
  return true;
}

std::optional<FusedGemm> match_epilogue(const sched::Plan& p, size_t s) {
  static const EpilogueRules rules{{DType::f32, DType::f16, DType::bf16}};
  return jit::match_epilogue(p, s, rules);
}

std::string gemm_epilogue_name(const sched::Plan& p, size_t s) {
  std::optional<FusedGemm> f = match_epilogue(p, s);
  return f ? epilogue_name(f->epilogue) : "";
}

}  // namespace tj::jit::cuda
