// Pointwise ops: promotion of operands, then one recorded node.
#include "trace/autocast.h"
#include "trace/ops_util.h"

namespace tj {

using ir::Op;
using trace::Operand;

namespace {

/// Arithmetic on the promoted dtype (add, mul, maximum, ...).
Tensor arith(Op op, std::string_view name, const Operand& a, const Operand& b) {
  DType t = trace::result_type(name, {a, b});
  if (op == Op::Div && !is_floating(t)) t = DType::f32;  // true division
  Device dev = trace::operand_device(name, {a, b});
  return trace::record(op, {trace::operand_as(a, t, dev, name), trace::operand_as(b, t, dev, name)},
                       {}, name);
}

/// Comparisons: operands promoted to a common dtype, bool result.
Tensor compare(Op op, std::string_view name, const Operand& a, const Operand& b) {
  return arith(op, name, a, b);
}

Tensor unary_same(Op op, std::string_view name, const Tensor& x) {
  trace::impl_ref(x, name);
  return trace::record(op, {x}, {}, name);
}

Tensor as_bool(const Tensor& x, std::string_view name) {
  trace::impl_ref(x, name);
  return trace::cast_to(x, DType::bool_);
}

Tensor logical(Op op, std::string_view name, const Tensor& a, const Tensor& b) {
  return trace::record(op, {as_bool(a, name), as_bool(b, name)}, {}, name);
}

Tensor bool_only(Op op, std::string_view name, const Tensor& a, const Tensor& b) {
  if (trace::impl_of(a, name)->dtype != DType::bool_ ||
      trace::impl_of(b, name)->dtype != DType::bool_)
    fail("{}: defined for bool tensors only, got {} and {}; use logical_{} for other dtypes", name,
         dtype_name(a.dtype()), dtype_name(b.dtype()),
         name == "operator&"   ? "and"
         : name == "operator|" ? "or"
                               : "xor");
  return trace::record(op, {a, b}, {}, name);
}

Tensor where_impl(const Tensor& c, const Operand& a, const Operand& b) {
  const auto& ci = trace::impl_of(c, "where");
  if (ci->dtype != DType::bool_)
    fail("where: the condition must be a bool tensor, got {}; compare it first, e.g. x > 0",
         dtype_name(ci->dtype));
  DType t = trace::result_type("where", {a, b});
  Device dev = ci->device;
  return trace::record(
      Op::Where, {c, trace::operand_as(a, t, dev, "where"), trace::operand_as(b, t, dev, "where")},
      {}, "where");
}

}  // namespace

DType Scalar::default_dtype() const {
  switch (kind_) {
    case Kind::boolean:
      return DType::bool_;
    case Kind::integer:
      return DType::i64;
    case Kind::floating:
      return DType::f32;
  }
  return DType::f32;
}

std::string Scalar::str() const {
  switch (kind_) {
    case Kind::boolean:
      return i_ ? "true" : "false";
    case Kind::integer:
      return std::to_string(i_);
    case Kind::floating:
      return fmt::format("{}", d_);
  }
  return "?";
}

Tensor operator+(const Tensor& a, const Tensor& b) { return arith(Op::Add, "add", a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return arith(Op::Sub, "sub", a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return arith(Op::Mul, "mul", a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return arith(Op::Div, "div", a, b); }
Tensor operator+(const Tensor& a, Scalar b) { return arith(Op::Add, "add", a, b); }
Tensor operator-(const Tensor& a, Scalar b) { return arith(Op::Sub, "sub", a, b); }
Tensor operator*(const Tensor& a, Scalar b) { return arith(Op::Mul, "mul", a, b); }
Tensor operator/(const Tensor& a, Scalar b) { return arith(Op::Div, "div", a, b); }
Tensor operator+(Scalar a, const Tensor& b) { return arith(Op::Add, "add", a, b); }
Tensor operator-(Scalar a, const Tensor& b) { return arith(Op::Sub, "sub", a, b); }
Tensor operator*(Scalar a, const Tensor& b) { return arith(Op::Mul, "mul", a, b); }
Tensor operator/(Scalar a, const Tensor& b) { return arith(Op::Div, "div", a, b); }
Tensor operator-(const Tensor& a) { return neg(a); }

Tensor add(const Tensor& a, const Tensor& b) { return a + b; }
Tensor sub(const Tensor& a, const Tensor& b) { return a - b; }
Tensor mul(const Tensor& a, const Tensor& b) { return a * b; }
Tensor div(const Tensor& a, const Tensor& b) { return a / b; }
Tensor floor_divide(const Tensor& a, const Tensor& b) {
  return arith(Op::FloorDiv, "floor_divide", a, b);
}
Tensor floor_divide(const Tensor& a, Scalar b) { return arith(Op::FloorDiv, "floor_divide", a, b); }
Tensor remainder(const Tensor& a, const Tensor& b) {
  return arith(Op::Remainder, "remainder", a, b);
}
Tensor remainder(const Tensor& a, Scalar b) { return arith(Op::Remainder, "remainder", a, b); }
Tensor operator%(const Tensor& a, const Tensor& b) { return remainder(a, b); }
Tensor operator%(const Tensor& a, Scalar b) { return remainder(a, b); }
Tensor pow(const Tensor& a, const Tensor& b) {
  return arith(Op::Pow, "pow", trace::autocast_for(Op::Pow, a), trace::autocast_for(Op::Pow, b));
}
Tensor pow(const Tensor& a, Scalar b) {
  return arith(Op::Pow, "pow", trace::autocast_for(Op::Pow, a), b);
}
Tensor pow(Scalar a, const Tensor& b) {
  return arith(Op::Pow, "pow", a, trace::autocast_for(Op::Pow, b));
}
Tensor maximum(const Tensor& a, const Tensor& b) { return arith(Op::Maximum, "maximum", a, b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return arith(Op::Minimum, "minimum", a, b); }
Tensor maximum(const Tensor& a, Scalar b) { return arith(Op::Maximum, "maximum", a, b); }
Tensor minimum(const Tensor& a, Scalar b) { return arith(Op::Minimum, "minimum", a, b); }

Tensor clamp(const Tensor& x, std::optional<Scalar> lo, std::optional<Scalar> hi) {
  const auto& xi = trace::impl_of(x, "clamp");
  if (!lo && !hi) fail("clamp: give at least one of the bounds lo and hi");
  std::vector<Operand> ops{x};
  if (lo) ops.emplace_back(*lo);
  if (hi) ops.emplace_back(*hi);
  DType t = trace::result_type("clamp", ops);
  Tensor r = trace::cast_to(x, t);
  if (lo)
    r = trace::record(Op::Maximum, {r, trace::scalar_tensor(*lo, t, xi->device)}, {}, "clamp");
  if (hi)
    r = trace::record(Op::Minimum, {r, trace::scalar_tensor(*hi, t, xi->device)}, {}, "clamp");
  return r;
}

Tensor where(const Tensor& c, const Tensor& a, const Tensor& b) { return where_impl(c, a, b); }
Tensor where(const Tensor& c, const Tensor& a, Scalar b) { return where_impl(c, a, b); }
Tensor where(const Tensor& c, Scalar a, const Tensor& b) { return where_impl(c, a, b); }
Tensor where(const Tensor& c, Scalar a, Scalar b) { return where_impl(c, a, b); }

namespace {

Tensor masked_fill_impl(const Tensor& x, const Tensor& mask, const Operand& value) {
  const auto& xi = trace::impl_of(x, "masked_fill");
  const auto& mi = trace::impl_of(mask, "masked_fill");
  if (mi->dtype != DType::bool_)
    fail(
        "masked_fill: the mask must be a bool tensor, got {} (shape {}); compare it first, "
        "e.g. x > 0",
        dtype_name(mi->dtype), shape_str(mi->shape));
  return trace::record(Op::Where,
                       {mask, trace::operand_as(value, xi->dtype, xi->device, "masked_fill"), x},
                       {}, "masked_fill");
}

}  // namespace

Tensor masked_fill(const Tensor& x, const Tensor& mask, Scalar value) {
  return masked_fill_impl(x, mask, value);
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, const Tensor& value) {
  const auto& vi = trace::impl_of(value, "masked_fill");
  if (!vi->shape.empty())
    fail(
        "masked_fill: the value must be a 0-dim tensor, got shape {}; for a tensor of values "
        "use where(mask, value, x)",
        shape_str(vi->shape));
  return masked_fill_impl(x, mask, value);
}

namespace {

Tensor triangle(std::string_view name, const Tensor& x, int64_t diagonal, bool lower) {
  const auto& xi = trace::impl_of(x, name);
  const size_t n = xi->shape.size();
  if (n < 2)
    fail("{}: the input must have at least 2 dimensions, got shape {}", name, shape_str(xi->shape));
  const TensorOptions idx = TensorOptions(DType::i64).device(xi->device);
  Tensor row = arange(xi->shape[n - 2], idx).unsqueeze(1);
  Tensor col = arange(xi->shape[n - 1], idx);
  Tensor keep = lower ? (col - row) <= diagonal : (col - row) >= diagonal;
  return where(keep, x, full({}, 0, TensorOptions(xi->dtype).device(xi->device)));
}

}  // namespace

Tensor tril(const Tensor& x, int64_t diagonal) { return triangle("tril", x, diagonal, true); }
Tensor triu(const Tensor& x, int64_t diagonal) { return triangle("triu", x, diagonal, false); }

Tensor neg(const Tensor& x) { return unary_same(Op::Neg, "neg", x); }
Tensor abs(const Tensor& x) { return unary_same(Op::Abs, "abs", x); }
Tensor relu(const Tensor& x) { return unary_same(Op::Relu, "relu", x); }
Tensor gelu(const Tensor& x, std::string_view approximate) {
  if (approximate == "none") return trace::unary_math(Op::GeluErf, "gelu", x);
  if (approximate == "tanh") return trace::unary_math(Op::GeluTanh, "gelu", x);
  fail("gelu: approximate must be \"none\" or \"tanh\", got \"{}\"", approximate);
}
Tensor floor(const Tensor& x) { return unary_same(Op::Floor, "floor", x); }
Tensor ceil(const Tensor& x) { return unary_same(Op::Ceil, "ceil", x); }
Tensor round(const Tensor& x) { return unary_same(Op::Round, "round", x); }
Tensor reciprocal(const Tensor& x) {
  return trace::unary_math(Op::Reciprocal, "reciprocal", trace::autocast_for(Op::Reciprocal, x));
}
Tensor square(const Tensor& x) {
  trace::impl_of(x, "square");
  if (x.dtype() == DType::bool_)
    return trace::record(Op::Mul, {trace::cast_to(x, DType::i64), trace::cast_to(x, DType::i64)},
                         {}, "square");
  return trace::record(Op::Mul, {x, x}, {}, "square");
}

Tensor operator==(const Tensor& a, const Tensor& b) { return compare(Op::Eq, "eq", a, b); }
Tensor operator!=(const Tensor& a, const Tensor& b) { return compare(Op::Ne, "ne", a, b); }
Tensor operator<(const Tensor& a, const Tensor& b) { return compare(Op::Lt, "lt", a, b); }
Tensor operator<=(const Tensor& a, const Tensor& b) { return compare(Op::Le, "le", a, b); }
Tensor operator>(const Tensor& a, const Tensor& b) { return compare(Op::Gt, "gt", a, b); }
Tensor operator>=(const Tensor& a, const Tensor& b) { return compare(Op::Ge, "ge", a, b); }
Tensor operator==(const Tensor& a, Scalar b) { return compare(Op::Eq, "eq", a, b); }
Tensor operator!=(const Tensor& a, Scalar b) { return compare(Op::Ne, "ne", a, b); }
Tensor operator<(const Tensor& a, Scalar b) { return compare(Op::Lt, "lt", a, b); }
Tensor operator<=(const Tensor& a, Scalar b) { return compare(Op::Le, "le", a, b); }
Tensor operator>(const Tensor& a, Scalar b) { return compare(Op::Gt, "gt", a, b); }
Tensor operator>=(const Tensor& a, Scalar b) { return compare(Op::Ge, "ge", a, b); }
Tensor eq(const Tensor& a, const Tensor& b) { return a == b; }
Tensor ne(const Tensor& a, const Tensor& b) { return a != b; }
Tensor lt(const Tensor& a, const Tensor& b) { return a < b; }
Tensor le(const Tensor& a, const Tensor& b) { return a <= b; }
Tensor gt(const Tensor& a, const Tensor& b) { return a > b; }
Tensor ge(const Tensor& a, const Tensor& b) { return a >= b; }

Tensor logical_and(const Tensor& a, const Tensor& b) {
  return logical(Op::LogicalAnd, "logical_and", a, b);
}
Tensor logical_or(const Tensor& a, const Tensor& b) {
  return logical(Op::LogicalOr, "logical_or", a, b);
}
Tensor logical_xor(const Tensor& a, const Tensor& b) {
  return logical(Op::LogicalXor, "logical_xor", a, b);
}
Tensor logical_not(const Tensor& x) {
  return trace::record(Op::LogicalNot, {as_bool(x, "logical_not")}, {}, "logical_not");
}
Tensor operator&(const Tensor& a, const Tensor& b) {
  return bool_only(Op::LogicalAnd, "operator&", a, b);
}
Tensor operator|(const Tensor& a, const Tensor& b) {
  return bool_only(Op::LogicalOr, "operator|", a, b);
}
Tensor operator^(const Tensor& a, const Tensor& b) {
  return bool_only(Op::LogicalXor, "operator^", a, b);
}
Tensor operator~(const Tensor& x) {
  if (trace::impl_of(x, "operator~")->dtype != DType::bool_)
    fail("operator~: defined for bool tensors only, got {}; use logical_not for other dtypes",
         dtype_name(x.dtype()));
  return trace::record(Op::LogicalNot, {x}, {}, "operator~");
}

}  // namespace tj
