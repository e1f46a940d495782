#include "ir/infer.h"

#include <algorithm>

#include "ir/check.h"

namespace tj::ir {

namespace {

std::string_view dt(DType t) { return dtype_name(t); }

void check_arity(std::string_view name, Op op, size_t n) {
  int arity = op_info(op).arity;
  if (arity < 0 ? n == 0 : static_cast<int>(n) != arity)
    fail("{}: expects {} input(s), got {}", name, arity < 0 ? 1 : arity, n);
}

TypeShape infer_pointwise(std::string_view name, Op op, std::span<const TypeRef> in,
                          const OpArgs& args) {
  // Operands that broadcast to the first one's shape (the common case: equal
  // shapes, a 0-d scalar, a bias) cost one copy of it, no more.
  auto fits = [](const Shape& into, const Shape& b) {
    if (b.size() > into.size()) return false;
    const size_t off = into.size() - b.size();
    for (size_t d = 0; d < b.size(); ++d)
      if (b[d] != 1 && b[d] != into[off + d]) return false;
    return true;
  };
  Shape shape = in[0].shape;
  for (size_t i = 1; i < in.size(); ++i)
    if (!fits(shape, in[i].shape)) shape = broadcast_shapes(name, shape, in[i].shape);
  const DType a = in[0].dtype;
  auto require_same = [&](size_t from) {
    for (size_t i = from + 1; i < in.size(); ++i)
      if (in[i].dtype != in[from].dtype)
        fail("{}: operands must have one dtype here, got {} and {} (cast one of them)", name,
             dt(in[from].dtype), dt(in[i].dtype));
  };
  switch (op_info(op).rule) {
    case DTypeRule::Any:  // Cast
      return {args.dtype, std::move(shape)};
    case DTypeRule::Float:
      require_same(0);
      if (!is_floating(a))
        fail("{}: needs a floating-point input, got {} (cast it to f32 first)", name, dt(a));
      return {a, std::move(shape)};
    case DTypeRule::Bool:
      require_same(0);
      if ((op == Op::LogicalNot || op == Op::LogicalAnd || op == Op::LogicalOr ||
           op == Op::LogicalXor) &&
          a != DType::bool_)
        fail("{}: needs bool inputs, got {}", name, dt(a));
      return {DType::bool_, std::move(shape)};
    case DTypeRule::Index:
      break;
    case DTypeRule::Same:
      if (op == Op::Where) {
        if (in[0].dtype != DType::bool_)
          fail("{}: the condition must be bool, got {} (compare it, e.g. x > 0)", name,
               dt(in[0].dtype));
        require_same(1);
        return {in[1].dtype, std::move(shape)};
      }
      require_same(0);
      if (a == DType::bool_ && (op == Op::Neg || op == Op::Sub))
        fail(
            "{}: not defined for bool tensors; use logical_not / logical_xor, or cast to an "
            "integer dtype first",
            name);
      return {a, std::move(shape)};
  }
  TJ_CHECK(false, "pointwise op {} has rule Index", op_name(op));
}

TypeShape infer_reduce(std::string_view name, Op op, const TypeRef& x, const OpArgs& args) {
  Shape shape = x.shape;
  int64_t prev = -1;
  for (int64_t a : args.attrs) {
    if (a <= prev || a >= static_cast<int64_t>(shape.size()))
      fail("{}: invalid reduction axes for shape {}", name, shape_str(x.shape));
    prev = a;
    shape[a] = 1;
  }
  if (op == Op::ArgMax || op == Op::ArgMin) return {DType::i64, shape};
  return {x.dtype, shape};
}

TypeShape infer_movement(std::string_view name, Op op, std::span<const TypeRef> in,
                         const OpArgs& args) {
  const TypeRef& x = in[0];
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  switch (op) {
    case Op::Reshape:
      if (checked_numel(name, args.shape) != shape_numel(x.shape))
        fail("{}: cannot reshape a tensor of shape {} ({} elements) to {} ({} elements)", name,
             shape_str(x.shape), shape_numel(x.shape), shape_str(args.shape),
             shape_numel(args.shape));
      return {x.dtype, args.shape};
    case Op::Permute: {
      std::vector<int64_t> seen(rank, 0);
      bool ok = static_cast<int64_t>(args.attrs.size()) == rank;
      for (int64_t p : args.attrs) ok = ok && p >= 0 && p < rank && !seen[p]++;
      if (!ok)
        fail("{}: {} is not a permutation of the {} dimensions of a tensor of shape {}", name,
             shape_str(args.attrs), rank, shape_str(x.shape));
      Shape s(rank);
      for (int64_t i = 0; i < rank; ++i) s[i] = x.shape[args.attrs[i]];
      return {x.dtype, s};
    }
    case Op::Expand: {
      const Shape& to = args.shape;
      bool ok = to.size() >= x.shape.size();
      size_t lead = ok ? to.size() - x.shape.size() : 0;
      for (size_t i = 0; ok && i < x.shape.size(); ++i)
        ok = x.shape[i] == to[lead + i] || x.shape[i] == 1;
      if (!ok)
        fail(
            "{}: cannot expand shape {} to {}: only size-1 dimensions (or new leading ones) can "
            "be expanded",
            name, shape_str(x.shape), shape_str(to));
      return {x.dtype, to};
    }
    case Op::Slice: {
      const Shape& out = args.shape;
      bool ok = static_cast<int64_t>(out.size()) == rank &&
                static_cast<int64_t>(args.attrs.size()) == 2 * rank;
      for (int64_t d = 0; ok && d < rank; ++d) {
        int64_t start = args.attrs[d], step = args.attrs[rank + d], last = 0;
        ok = step > 0 && start >= 0 && out[d] >= 0 &&
             (out[d] == 0 || (!__builtin_mul_overflow(out[d] - 1, step, &last) &&
                              !__builtin_add_overflow(start, last, &last) && last < x.shape[d]));
      }
      if (!ok) fail("{}: invalid slice of a tensor of shape {}", name, shape_str(x.shape));
      return {x.dtype, out};
    }
    case Op::Cat: {
      TJ_CHECK(args.attrs.size() == 1);
      int64_t axis = args.attrs[0];
      if (axis < 0 || axis >= rank) fail("{}: invalid axis {} for rank {}", name, axis, rank);
      Shape s = x.shape;
      s[axis] = 0;
      for (const TypeRef& t : in) {
        bool ok = t.shape.size() == x.shape.size() && t.dtype == x.dtype;
        for (int64_t d = 0; ok && d < rank; ++d) ok = d == axis || t.shape[d] == x.shape[d];
        if (!ok)
          fail(
              "{}: tensors must have the same dtype and the same shape except in dimension {}; "
              "got {} {} and {} {}",
              name, axis, dt(x.dtype), shape_str(x.shape), dt(t.dtype), shape_str(t.shape));
        s[axis] = checked_add(name, "the concatenated size", s[axis], t.shape[axis]);
      }
      return {x.dtype, s};
    }
#define TJ_OP(name, ...) \
  case Op::name:         \
    not_a(op, "movement op");
#define TJ_MOVEMENT(name, ...)
#include "ir/ops.def"
  }
  TJ_CHECK(false, "not a movement op: {}", op_name(op));
}

TypeShape infer_matmul(std::string_view name, const TypeRef& a, const TypeRef& b) {
  if (a.dtype != b.dtype)
    fail("{}: operands must have one dtype, got {} and {}", name, dt(a.dtype), dt(b.dtype));
  if (a.dtype == DType::bool_)
    fail("{}: not defined for bool tensors (cast to a number type)", name);
  size_t ra = a.shape.size(), rb = b.shape.size();
  if (ra < 2 || ra != rb)
    fail("{}: expects operands of equal rank >= 2, got {} and {}", name, shape_str(a.shape),
         shape_str(b.shape));
  for (size_t i = 0; i + 2 < ra; ++i)
    if (a.shape[i] != b.shape[i])
      fail("{}: batch dimensions differ: {} and {}", name, shape_str(a.shape), shape_str(b.shape));
  if (a.shape[ra - 1] != b.shape[rb - 2])
    fail(
        "{}: shapes {} and {} cannot be multiplied: the last dimension of the first ({}) must "
        "equal the second-to-last dimension of the second ({})",
        name, shape_str(a.shape), shape_str(b.shape), a.shape[ra - 1], b.shape[rb - 2]);
  Shape s = a.shape;
  s[ra - 1] = b.shape[rb - 1];
  return {a.dtype, s};
}

/// Conv(x, w[, bias]) with attrs [sh, sw, ph, pw, dh, dw, groups] (see ir/ops.def).
TypeShape infer_conv(std::string_view name, std::span<const TypeRef> in, const OpArgs& args) {
  if (in.size() != 2 && in.size() != 3)
    fail("{}: expects an input, a weight and an optional bias, got {} tensors", name, in.size());
  const TypeRef& x = in[0];
  const TypeRef& w = in[1];
  for (const TypeRef& t : in)
    if (t.dtype != x.dtype)
      fail("{}: input, weight and bias must have one dtype, got {} and {} (cast one of them)", name,
           dt(x.dtype), dt(t.dtype));
  if (!is_floating(x.dtype))
    fail("{}: needs floating-point tensors, got {} (cast them first, e.g. x.to(tj::f32))", name,
         dt(x.dtype));
  if (args.attrs.size() != 7)
    fail("{}: needs attrs [stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, groups]",
         name);
  if (x.shape.size() != 4 || w.shape.size() != 4)
    fail(
        "{}: expects a 4-d input [N, C, H, W] and a 4-d weight [O, C/groups, KH, KW], got {} "
        "and {}",
        name, shape_str(x.shape), shape_str(w.shape));
  const auto& a = args.attrs;
  for (int q = 0; q < 2; ++q) {
    if (a[q] < 1) fail("{}: stride must be positive, got {}", name, a[q]);
    if (a[2 + q] < 0) fail("{}: padding must be non-negative, got {}", name, a[2 + q]);
    if (a[4 + q] < 1) fail("{}: dilation must be positive, got {}", name, a[4 + q]);
  }
  const int64_t groups = a[6], C = x.shape[1], O = w.shape[0];
  if (groups < 1) fail("{}: groups must be positive, got {}", name, groups);
  if (C % groups != 0 || O % groups != 0)
    fail(
        "{}: groups ({}) must divide both the input channels ({}) and the output channels "
        "({}); input {}, weight {}",
        name, groups, C, O, shape_str(x.shape), shape_str(w.shape));
  if (w.shape[1] * groups != C)
    fail(
        "{}: weight {} expects {} input channels ({} per group x {} groups) but the input {} "
        "has {}",
        name, shape_str(w.shape), w.shape[1] * groups, w.shape[1], groups, shape_str(x.shape), C);
  if (in.size() == 3 && (in[2].shape.size() != 1 || in[2].shape[0] != O))
    fail("{}: bias must have shape [{}] (one value per output channel), got {}", name, O,
         shape_str(in[2].shape));
  Shape out{x.shape[0], O, 0, 0};
  for (int q = 0; q < 2; ++q) {
    const int64_t size = x.shape[2 + q] + 2 * a[2 + q],
                  window = a[4 + q] * (w.shape[2 + q] - 1) + 1;
    if (w.shape[2 + q] < 1 || size < window)
      fail(
          "{}: the kernel {} (dilated to {}) is larger than the padded input ({} after padding "
          "{}); input {}, weight {}",
          name, w.shape[2 + q], window, size, a[2 + q], shape_str(x.shape), shape_str(w.shape));
    out[2 + q] = (size - window) / a[q] + 1;
  }
  return {x.dtype, out};
}

/// Gather(src, index) with attrs [axis, api, wrap] (see ir/ops.def).
TypeShape infer_gather(std::string_view name, const TypeRef& src, const TypeRef& index,
                       const OpArgs& args) {
  if (args.attrs.size() != 3)
    fail("{}: needs attrs [axis, api, wrap], got {}", name, args.attrs.size());
  if (index.dtype != DType::i64 && index.dtype != DType::i32)
    fail("{}: indices must be i64 or i32, got {} (cast them with .to(tj::kLong))", name,
         dt(index.dtype));
  const size_t r = src.shape.size();
  const int64_t axis = args.attrs[0];
  if (r == 0 || axis < 0 || axis >= static_cast<int64_t>(r))
    fail("{}: dimension {} is out of range for a tensor of shape {}", name, axis,
         shape_str(src.shape));
  if (index.shape.size() != r)
    fail(
        "{}: the index must have the input's rank: got an index of shape {} for an input of "
        "shape {}",
        name, shape_str(index.shape), shape_str(src.shape));
  for (size_t d = 0; d < r; ++d)
    if (static_cast<int64_t>(d) != axis && index.shape[d] > src.shape[d])
      fail(
          "{}: the index of shape {} is larger than the input of shape {} in dimension {} ({} > "
          "{}); only dimension {} may differ",
          name, shape_str(index.shape), shape_str(src.shape), d, index.shape[d], src.shape[d],
          axis);
  return {src.dtype, index.shape};
}

/// Scatter(dst, index, src) with attrs [axis, api, wrap, accumulate] (see ir/ops.def).
TypeShape infer_scatter(std::string_view name, const TypeRef& dst, const TypeRef& index,
                        const TypeRef& src, const OpArgs& args) {
  if (args.attrs.size() != 4)
    fail("{}: needs attrs [axis, api, wrap, accumulate], got {}", name, args.attrs.size());
  if (index.dtype != DType::i64 && index.dtype != DType::i32)
    fail("{}: indices must be i64 or i32, got {} (cast them with .to(tj::kLong))", name,
         dt(index.dtype));
  if (src.dtype != dst.dtype)
    fail(
        "{}: the source must have the destination's dtype: got {} for a {} tensor (cast it with "
        ".to())",
        name, dt(src.dtype), dt(dst.dtype));
  if (args.attrs[3] != 0 && dst.dtype == DType::bool_)
    fail("{}: accumulating is not defined for bool tensors", name);
  const size_t r = dst.shape.size();
  const int64_t axis = args.attrs[0];
  if (r == 0 || axis < 0 || axis >= static_cast<int64_t>(r))
    fail("{}: dimension {} is out of range for a tensor of shape {}", name, axis,
         shape_str(dst.shape));
  if (index.shape.size() != r || src.shape.size() != r)
    fail(
        "{}: the index and the source must have the destination's rank: got an index of shape "
        "{} and a source of shape {} for a destination of shape {}",
        name, shape_str(index.shape), shape_str(src.shape), shape_str(dst.shape));
  for (size_t d = 0; d < r; ++d) {
    if (index.shape[d] > src.shape[d])
      fail(
          "{}: the index of shape {} is larger than the source of shape {} in dimension {} ({} > "
          "{})",
          name, shape_str(index.shape), shape_str(src.shape), d, index.shape[d], src.shape[d]);
    if (static_cast<int64_t>(d) != axis && index.shape[d] > dst.shape[d])
      fail(
          "{}: the index of shape {} is larger than the destination of shape {} in dimension {} "
          "({} > {}); only dimension {} may differ",
          name, shape_str(index.shape), shape_str(dst.shape), d, index.shape[d], dst.shape[d],
          axis);
  }
  return {dst.dtype, dst.shape};
}

/// A scan along attrs[0] (see ir/ops.def).
TypeShape infer_scan(std::string_view name, Op op, const TypeRef& x, const OpArgs& args) {
  const int64_t r = static_cast<int64_t>(x.shape.size());
  if (args.attrs.size() != 1 || args.attrs[0] < 0 || args.attrs[0] >= r)
    fail("{}: needs one dimension within the shape {}", name, shape_str(x.shape));
  if (x.dtype == DType::bool_)
    fail("{}: is not defined for bool tensors; cast the input first (x.to(tj::kLong))", name);
  if (op_info(op).rule == DTypeRule::Float && !is_floating(x.dtype))
    fail("{}: needs a floating-point tensor, got {} (shape {}); cast it first (x.to(tj::f32))",
         name, dt(x.dtype), shape_str(x.shape));
  return {x.dtype, x.shape};
}

/// ArgSort along attrs[0], descending when attrs[1] (see ir/ops.def).
TypeShape infer_sort(std::string_view name, const TypeRef& x, const OpArgs& args) {
  const int64_t r = static_cast<int64_t>(x.shape.size());
  if (args.attrs.size() != 2 || args.attrs[0] < 0 || args.attrs[0] >= r)
    fail("{}: needs one dimension within the shape {} and an order", name, shape_str(x.shape));
  return {DType::i64, x.shape};
}

TypeShape infer_unchecked(std::string_view name, Op op, std::span<const TypeRef> in,
                          const OpArgs& args) {
  switch (op_info(op).kind) {
    case OpKind::Source:
      if (op == Op::RandUniform || op == Op::RandNormal) {
        if (!is_floating(args.dtype))
          fail("{}: needs a floating-point dtype, got {}", name, dt(args.dtype));
        if (in[0].dtype != DType::i64 || in[1].dtype != DType::i64 || !in[0].shape.empty() ||
            !in[1].shape.empty())
          fail("{}: seed and offset must be i64 scalars", name);
      }
      if (op == Op::Iota) {
        if (args.attrs.size() != 1 || args.attrs[0] < 0 ||
            args.attrs[0] >= static_cast<int64_t>(args.shape.size()))
          fail("{}: needs one axis within the shape {}", name, shape_str(args.shape));
      }
      for (int64_t d : args.shape)
        if (d < 0) fail("{}: negative size in shape {}", name, shape_str(args.shape));
      return {args.dtype, args.shape};
    case OpKind::Unary:
    case OpKind::Binary:
    case OpKind::Ternary:
      return infer_pointwise(name, op, in, args);
    case OpKind::Reduce:
      return infer_reduce(name, op, in[0], args);
    case OpKind::Movement:
      return infer_movement(name, op, in, args);
    case OpKind::Matmul:
      return infer_matmul(name, in[0], in[1]);
    case OpKind::Conv:
      return infer_conv(name, in, args);
    case OpKind::Index:
      if (op == Op::Scatter) return infer_scatter(name, in[0], in[1], in[2], args);
      return infer_gather(name, in[0], in[1], args);
    case OpKind::Scan:
      return infer_scan(name, op, in[0], args);
    case OpKind::Sort:
      return infer_sort(name, in[0], args);
  }
  TJ_CHECK(false);
}

}  // namespace

TypeShape infer(Op op, std::span<const TypeRef> in, const OpArgs& args, std::string_view user_op) {
  std::string_view name = user_op.empty() ? op_name(op) : user_op;
  check_arity(name, op, in.size());
  TypeShape t = infer_unchecked(name, op, in, args);
  checked_numel(name, t.shape);  // no result of any op wraps its element count around
  return t;
}

}  // namespace tj::ir
