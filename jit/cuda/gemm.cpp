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
  // K = 0: C is zeros; the generated kernel writes them (cuBLASLt's handling
  // of an empty K is not relied on).
  if (g.k == 0) return false;
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
  if (s + 1 >= p.steps.size()) return std::nullopt;
  const sched::Step& sm = p.steps[s];
  const sched::Step& se = p.steps[s + 1];
  const ir::Kernel& mm = p.kernels[sm.kernel];
  const ir::Kernel& ep = p.kernels[se.kernel];
  if (mm.kind != ir::Kernel::Kind::matmul || ep.kind != ir::Kernel::Kind::pointwise)
    return std::nullopt;
  if (mm.domain.size() != 3) return std::nullopt;  // batched GEMMs keep their epilogue kernel
  const int64_t M = mm.domain[0], N = mm.domain[1];
  const ir::Access& C = mm.accesses[2];
  const DType t = C.dtype;
  if (!(t == DType::f32 || t == DType::f16 || t == DType::bf16)) return std::nullopt;
  if (C.offset != 0 || C.strides[0] != N || C.strides[1] != 1) return std::nullopt;
  const int32_t cbuf = sm.args[C.arg];
  const sched::PlanBuffer& cb = p.buffers[cbuf];
  if (cb.kind != sched::PlanBuffer::Kind::temp || cb.last_use != static_cast<int>(s + 1))
    return std::nullopt;
  // The epilogue's domain is [M, N], or [M * N] when nothing broadcasts.
  const bool flat = ep.domain == Shape{M * N};
  if (ep.domain != Shape{M, N} && !flat) return std::nullopt;
  auto dense = [&](const ir::Access& a) {
    return a.offset == 0 && a.strides == (flat ? Strides{1} : Strides{N, 1}) && a.dtype == t;
  };
  FusedGemm f;
  int32_t c_val = -1, bias_val = -1, sum_val = -1, act_val = -1;
  for (size_t i = 0; i < ep.body.size(); ++i) {
    const ir::KInstr& in = ep.body[i];
    const auto me = static_cast<int32_t>(i);
    switch (in.kop) {
      case ir::KOp::Load: {
        const ir::Access& a = ep.accesses[in.access];
        if (se.args[a.arg] == cbuf && dense(a) && c_val < 0) {
          c_val = me;
        } else if (se.args[a.arg] != cbuf && !flat && a.offset == 0 && a.strides == Strides{0, 1} &&
                   a.dtype == t && bias_val < 0) {
          bias_val = me;
          f.bias_arg = a.arg;
        } else {
          return std::nullopt;
        }
        break;
      }
      case ir::KOp::Binary:
        if (in.op != ir::Op::Add || sum_val >= 0 || c_val < 0 || bias_val < 0 ||
            !((in.a == c_val && in.b == bias_val) || (in.a == bias_val && in.b == c_val)))
          return std::nullopt;
        sum_val = me;
        break;
      case ir::KOp::Unary:
        if ((in.op != ir::Op::Relu && in.op != ir::Op::GeluTanh) || act_val >= 0 ||
            in.a != (sum_val >= 0 ? sum_val : c_val))
          return std::nullopt;
        act_val = me;
        f.epilogue = in.op == ir::Op::Relu ? Epilogue::relu : Epilogue::gelu;
        break;
      case ir::KOp::Store: {
        const ir::Access& a = ep.accesses[in.access];
        const int32_t last = act_val >= 0 ? act_val : sum_val >= 0 ? sum_val : c_val;
        if (!dense(a) || in.a != last || f.out_arg >= 0 || se.args[a.arg] == cbuf)
          return std::nullopt;
        f.out_arg = a.arg;
        break;
      }
      case ir::KOp::Param:
      case ir::KOp::Index:
      case ir::KOp::Rand:
      case ir::KOp::Where:
      case ir::KOp::Cast:
      case ir::KOp::Reduced:
        return std::nullopt;
    }
  }
  if (f.out_arg < 0 || c_val < 0 || (bias_val >= 0) != (sum_val >= 0)) return std::nullopt;
  if (f.bias_arg >= 0)
    f.epilogue = f.epilogue == Epilogue::relu   ? Epilogue::bias_relu
                 : f.epilogue == Epilogue::gelu ? Epilogue::bias_gelu
                                                : Epilogue::bias;
  if (f.epilogue == Epilogue::none) return std::nullopt;  // a plain copy: nothing to gain
  return f;
}

std::string gemm_epilogue_name(const sched::Plan& p, size_t s) {
  std::optional<FusedGemm> f = match_epilogue(p, s);
  if (!f) return "";
  static constexpr const char* kNames[] = {"none",      "bias", "relu",
                                           "bias_relu", "gelu", "bias_gelu"};
  return kNames[static_cast<int>(f->epilogue)];
}

}  // namespace tj::jit::cuda
