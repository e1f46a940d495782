// The math functions of the op table (TJ_MATH1 / TJ_MATH2 rows of
// ir/ops.def marked Gen), free functions and Tensor methods, generated from
// their rows; include/tilejit/math_ops.def declares them.
#include "trace/autocast.h"
#include "trace/ops_util.h"

namespace tj {

namespace trace {

Tensor unary_math(ir::Op op, std::string_view name, const Tensor& x) {
  const DType t = impl_ref(x, name).dtype;
  return record(op, {cast_to(x, is_floating(t) ? t : DType::f32)}, {}, name);
}

Tensor binary_math(ir::Op op, std::string_view name, const Operand& a, const Operand& b) {
  DType t = result_type(name, {a, b});
  if (!is_floating(t)) t = DType::f32;
  const Device dev = operand_device(name, {a, b});
  return record(op, {operand_as(a, t, dev, name), operand_as(b, t, dev, name)}, {}, name);
}

namespace {

/// An operand under autocast: tensors by the op's Autocast column, numbers as they are.
Operand autocast_operand(ir::Op op, const Tensor& t, Tensor* keep) {
  *keep = autocast_for(op, t);
  return Operand(*keep);
}
Operand autocast_operand(ir::Op, Scalar s, Tensor*) { return Operand(s); }

template <class A, class B>
Tensor binary(ir::Op op, std::string_view name, const A& a, const B& b) {
  Tensor ka, kb;
  return binary_math(op, name, autocast_operand(op, a, &ka), autocast_operand(op, b, &kb));
}

}  // namespace

}  // namespace trace

#define TJ_MATH1(name, api, ac, gen, fn, ref) TJ_MATH1_##gen(name, api)
#define TJ_MATH1_Gen(name, api)                                                         \
  Tensor api(const Tensor& x) {                                                         \
    return trace::unary_math(ir::Op::name, #api, trace::autocast_for(ir::Op::name, x)); \
  }                                                                                     \
  Tensor Tensor::api() const { return tj::api(*this); }
#define TJ_MATH1_Custom(name, api)
#define TJ_MATH2(name, api, ac, gen, fn, ref) TJ_MATH2_##gen(name, api)
#define TJ_MATH2_Gen(name, api)                                                                    \
  Tensor api(const Tensor& a, const Tensor& b) { return trace::binary(ir::Op::name, #api, a, b); } \
  Tensor api(const Tensor& a, Scalar b) { return trace::binary(ir::Op::name, #api, a, b); }        \
  Tensor api(Scalar a, const Tensor& b) { return trace::binary(ir::Op::name, #api, a, b); }        \
  Tensor Tensor::api(const Tensor& other) const { return tj::api(*this, other); }
#define TJ_MATH2_Custom(name, api)
#define TJ_OP(...)
#include "ir/ops.def"
#undef TJ_MATH1_Gen
#undef TJ_MATH1_Custom
#undef TJ_MATH2_Gen
#undef TJ_MATH2_Custom

// Every function math_ops.def declares has a Gen row (a Gen row missing
// from math_ops.def fails above: its Tensor method is not declared).
namespace generated {
#define TJ_MATH1(name, api, ac, gen, fn, ref) TJ_GEN_##gen(api)
#define TJ_MATH2(name, api, ac, gen, fn, ref) TJ_GEN_##gen(api)
#define TJ_GEN_Gen(api) constexpr bool api = true;
#define TJ_GEN_Custom(api)
#define TJ_OP(...)
#include "ir/ops.def"
#define TJ_MATH_FN(api) \
  static_assert(generated::api, "math_ops.def declares " #api " without a Gen row");
#define TJ_MATH_FN2(api) \
  static_assert(generated::api, "math_ops.def declares " #api " without a Gen row");
#include "tilejit/math_ops.def"
}  // namespace generated

}  // namespace tj
