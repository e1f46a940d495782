// Helpers shared by the public op implementations (trace/ops_*.cpp).
#pragma once

#include <initializer_list>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "ir/check.h"
#include "ir/op.h"
#include "tilejit/ops.h"
#include "trace/trace.h"

namespace tj::trace {

/// An operand of a pointwise op: a tensor or a (weakly typed) number.
struct Operand {
  const Tensor* tensor = nullptr;
  std::optional<Scalar> scalar;
  Operand(const Tensor& t) : tensor(&t) {}  // NOLINT
  Operand(Scalar s) : scalar(s) {}          // NOLINT
};

/// PyTorch's result type: dimensioned tensors decide first, then 0-d
/// tensors, then numbers, each only able to raise the category
/// (bool < integer < floating).
DType result_type(std::string_view op, std::span<const Operand> ops);
inline DType result_type(std::string_view op, std::initializer_list<Operand> ops) {
  return result_type(op, std::span<const Operand>(ops.begin(), ops.size()));
}

/// The operand as a tensor of dtype `t` on `device`.
Tensor operand_as(const Operand& o, DType t, Device device, std::string_view op);

/// `t` converted to dtype `to` (the same handle when it already is).
Tensor cast_to(const Tensor& t, DType to);

/// The device of the first tensor operand (default device if none).
Device operand_device(std::string_view op, std::span<const Operand> ops);
inline Device operand_device(std::string_view op, std::initializer_list<Operand> ops) {
  return operand_device(op, std::span<const Operand>(ops.begin(), ops.size()));
}

/// A unary floating-point op (a math row of ir/ops.def, reciprocal, gelu):
/// integer and bool inputs become f32 first, as in PyTorch.
Tensor unary_math(ir::Op op, std::string_view name, const Tensor& x);
/// A binary floating-point op: operands promoted like `+`, then to f32 when
/// not floating.
Tensor binary_math(ir::Op op, std::string_view name, const Operand& a, const Operand& b);

/// Axes for a reduction over a tensor of rank `rank`.
std::vector<int64_t> reduce_axes(std::string_view op, const Axes& axes, int64_t rank);

/// `x` with the (sorted) `axes` — which have size 1 — removed.
Tensor drop_axes(const Tensor& x, const std::vector<int64_t>& axes);

/// Every index of `index`, when it is a computed CPU tensor, within
/// [0, size) (with wrap: [-size, size)); else nothing (the kernel checks).
void check_known_indices(const Tensor& index, ir::IndexApi api, int64_t dim, int64_t size,
                         bool wrap);
/// Indices are i64 or i32.
void check_index_dtype(const Tensor& index, std::string_view op);

}  // namespace tj::trace
