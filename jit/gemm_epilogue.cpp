#include "jit/gemm_epilogue.h"

#include <algorithm>

namespace tj::jit {

bool has_bias(Epilogue e) {
  return e == Epilogue::bias || e == Epilogue::bias_relu || e == Epilogue::bias_gelu ||
         e == Epilogue::bias_gelu_erf;
}

const char* epilogue_name(Epilogue e) {
  switch (e) {
    case Epilogue::none:
      return "none";
    case Epilogue::bias:
      return "bias";
    case Epilogue::relu:
      return "relu";
    case Epilogue::bias_relu:
      return "bias_relu";
    case Epilogue::gelu:
      return "gelu";
    case Epilogue::bias_gelu:
      return "bias_gelu";
    case Epilogue::gelu_erf:
      return "gelu_erf";
    case Epilogue::bias_gelu_erf:
      return "bias_gelu_erf";
  }
  return "none";
}

std::optional<FusedGemm> match_epilogue(const sched::Plan& p, size_t s,
                                        const EpilogueRules& rules) {
  if (s + 1 >= p.steps.size()) return std::nullopt;
  const sched::Step& sm = p.steps[s];
  const sched::Step& se = p.steps[s + 1];
  const ir::Kernel& mm = p.kernels[sm.kernel];
  const ir::Kernel& ep = p.kernels[se.kernel];
  if (mm.kind != ir::Kernel::Kind::matmul || ep.kind != ir::Kernel::Kind::pointwise)
    return std::nullopt;
  const size_t n = mm.domain.size();
  if (n != 3 && !rules.batched) return std::nullopt;  // batched GEMMs keep their epilogue kernel
  // The output shape [batch..., M, N], stored densely.
  const Shape out(mm.domain.begin(), mm.domain.end() - 1);
  const int64_t N = out.back(), total = shape_numel(out);
  auto dense_in = [](const Shape& shape, const Strides& strides) {
    int64_t want = 1;
    for (size_t d = shape.size(); d-- > 0;) {
      if (shape[d] > 1 && strides[d] != want) return false;  // a size-1 dim's stride is moot
      want *= shape[d];
    }
    return true;
  };
  const ir::Access& C = mm.accesses[2];
  const DType t = C.dtype;
  if (std::find(rules.dtypes.begin(), rules.dtypes.end(), t) == rules.dtypes.end())
    return std::nullopt;
  if (C.offset != 0 || !dense_in(out, C.strides)) return std::nullopt;
  const int32_t cbuf = sm.args[C.arg];
  const sched::PlanBuffer& cb = p.buffers[cbuf];
  if (cb.kind != sched::PlanBuffer::Kind::temp || cb.last_use != static_cast<int>(s + 1))
    return std::nullopt;
  // The epilogue walks the same elements in the same order, in any shape
  // (coalescing merges the rows of a batched output); a bias needs the last
  // dimension to be N.
  const Shape& dom = ep.domain;
  if (shape_numel(dom) != total || dom.empty()) return std::nullopt;
  auto dense = [&](const ir::Access& a) {
    return a.offset == 0 && a.dtype == t && dense_in(dom, a.strides);
  };
  auto is_bias = [&](const ir::Access& a) {
    if (a.offset != 0 || dom.back() != N || N == 0) return false;
    for (size_t d = 0; d + 1 < dom.size(); ++d)
      if (dom[d] > 1 && a.strides[d] != 0) return false;
    return N == 1 || a.strides.back() == 1;
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
        } else if (se.args[a.arg] != cbuf && is_bias(a) &&
                   (a.dtype == t || (rules.f32_bias && a.dtype == DType::f32)) && bias_val < 0) {
          bias_val = me;
          f.bias_arg = a.arg;
          f.bias_dtype = a.dtype;
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
      case ir::KOp::Unary: {
        const bool ok = in.op == ir::Op::Relu || in.op == ir::Op::GeluTanh ||
                        (in.op == ir::Op::GeluErf && rules.gelu_erf);
        if (!ok || act_val >= 0 || in.a != (sum_val >= 0 ? sum_val : c_val)) return std::nullopt;
        act_val = me;
        f.epilogue = in.op == ir::Op::Relu       ? Epilogue::relu
                     : in.op == ir::Op::GeluTanh ? Epilogue::gelu
                                                 : Epilogue::gelu_erf;
        break;
      }
      case ir::KOp::Store: {
        const ir::Access& a = ep.accesses[in.access];
        const int32_t last = act_val >= 0 ? act_val : sum_val >= 0 ? sum_val : c_val;
        if (!dense(a) || in.a != last || f.out_arg >= 0 || se.args[a.arg] == cbuf)
          return std::nullopt;
        f.out_arg = a.arg;
        break;
      }
      case ir::KOp::Cast:
        // The f32 bias rounded to C's dtype before the add.
        if (in.a != bias_val || f.bias_dtype == t || in.dtype != t || sum_val >= 0)
          return std::nullopt;
        bias_val = me;
        break;
      case ir::KOp::Param:
      case ir::KOp::Index:
      case ir::KOp::Rand:
      case ir::KOp::Where:
      case ir::KOp::Gather:
      case ir::KOp::Scatter:
      case ir::KOp::Scan:
      case ir::KOp::Sort:
      case ir::KOp::Reduced:
        return std::nullopt;
    }
  }
  if (f.out_arg < 0 || c_val < 0 || (bias_val >= 0) != (sum_val >= 0)) return std::nullopt;
  if (f.bias_arg >= 0 && f.bias_dtype != t &&
      ep.body[static_cast<size_t>(bias_val)].kop != ir::KOp::Cast)
    return std::nullopt;
  if (f.bias_arg >= 0)
    f.epilogue = f.epilogue == Epilogue::relu       ? Epilogue::bias_relu
                 : f.epilogue == Epilogue::gelu     ? Epilogue::bias_gelu
                 : f.epilogue == Epilogue::gelu_erf ? Epilogue::bias_gelu_erf
                                                    : Epilogue::bias;
  if (f.epilogue == Epilogue::none) return std::nullopt;  // a plain copy: nothing to gain
  return f;
}

}  // namespace tj::jit
