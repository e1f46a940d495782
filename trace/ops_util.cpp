#include "trace/ops_util.h"

#include <algorithm>

namespace tj::trace {

namespace {

enum Cat { kNone = -1, kBool = 0, kInt = 1, kFloat = 2 };
Cat category(DType t) { return t == DType::bool_ ? kBool : is_floating(t) ? kFloat : kInt; }

struct Partial {
  std::optional<DType> t;
  void add(DType d) { t = t ? promote_types(*t, d) : d; }
};

std::optional<DType> combine(std::optional<DType> higher, std::optional<DType> lower) {
  if (!higher) return lower;
  if (!lower) return higher;
  if (category(*higher) == kFloat) return higher;
  if (*higher == DType::bool_ || category(*lower) == kFloat) return promote_types(*higher, *lower);
  return higher;
}

}  // namespace

DType result_type(std::string_view op, std::span<const Operand> ops) {
  Partial dim, zero, wrapped;
  for (const Operand& o : ops) {
    if (o.tensor) {
      const TensorImpl& impl = impl_ref(*o.tensor, op);
      (impl.shape.empty() ? zero : dim).add(impl.dtype);
    } else {
      wrapped.add(o.scalar->default_dtype());
    }
  }
  auto r = combine(dim.t, combine(zero.t, wrapped.t));
  TJ_CHECK(r.has_value(), "{}: no operands", op);
  return *r;
}

Device operand_device(std::string_view op, std::span<const Operand> ops) {
  for (const Operand& o : ops)
    if (o.tensor) return impl_ref(*o.tensor, op).device;
  return default_device();
}

Tensor cast_to(const Tensor& t, DType to) {
  if (impl_ref(t, "cast").dtype == to) return t;
  return record(ir::Op::Cast, {t}, {.dtype = to}, "cast");
}

Tensor operand_as(const Operand& o, DType t, Device device, std::string_view op) {
  if (o.tensor) {
    impl_ref(*o.tensor, op);
    return cast_to(*o.tensor, t);
  }
  return scalar_tensor(*o.scalar, t, device);
}

std::vector<int64_t> reduce_axes(std::string_view op, const Axes& axes, int64_t rank) {
  return normalize_axes(op, axes, rank);
}

Tensor drop_axes(const Tensor& x, const std::vector<int64_t>& axes) {
  if (axes.empty()) return x;
  Shape s;
  const Shape& in = x.shape();
  for (int64_t d = 0; d < static_cast<int64_t>(in.size()); ++d)
    if (std::find(axes.begin(), axes.end(), d) == axes.end()) s.push_back(in[d]);
  return x.reshape(s);
}

}  // namespace tj::trace
