// Shapes and strides: row-major sizes of n-dimensional arrays, broadcasting
// and axis normalisation shared by every layer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tj {

using Shape = std::vector<int64_t>;
using Strides = std::vector<int64_t>;

/// "[2, 3]"; "[]" for a 0-d shape.
std::string shape_str(const Shape& s);
/// The product of the sizes. Shapes in graphs and tensors are valid
/// (checked_numel passed), so it does not overflow.
int64_t shape_numel(const Shape& s);

/// The most elements a tensor may have: its bytes (8 per element at most)
/// and every offset into it then fit in int64.
inline constexpr int64_t kMaxElements = int64_t{1} << 60;
/// The number of elements of `s`; throws tj::Error naming `op` when a size is
/// negative or the shape has more than kMaxElements elements (no product
/// ever wraps around).
int64_t checked_numel(std::string_view op, const Shape& s);
/// a + b and a * b; throws tj::Error naming `op` and `what` when the result
/// does not fit in int64.
int64_t checked_add(std::string_view op, std::string_view what, int64_t a, int64_t b);
int64_t checked_mul(std::string_view op, std::string_view what, int64_t a, int64_t b);
/// Row-major element strides of a contiguous array of this shape.
Strides contiguous_strides(const Shape& s);
/// True when (shape, strides) addresses memory row-major without gaps
/// (size-1 dims may have any stride).
bool is_contiguous(const Shape& shape, const Strides& strides);

/// Strides that view a (shape, strides) layout as `to` without copying, as
/// torch's computeStride does; nullopt when a copy is needed.
std::optional<Strides> reshape_strides(const Shape& from, const Strides& strides, const Shape& to);

/// NumPy broadcasting of two shapes; throws tj::Error naming `op` otherwise.
Shape broadcast_shapes(std::string_view op, const Shape& a, const Shape& b);

/// Maps `axis` in [-rank, rank) to [0, rank); throws naming `op` otherwise.
/// A 0-d tensor accepts axis 0 and -1 like PyTorch.
int64_t normalize_axis(std::string_view op, int64_t axis, int64_t rank);
/// Normalised, sorted, de-duplicated axes; empty input means all axes.
std::vector<int64_t> normalize_axes(std::string_view op, const std::vector<int64_t>& axes,
                                    int64_t rank);

}  // namespace tj
