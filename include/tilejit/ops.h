// tilejit — tensor operations.
//
// Free functions in namespace tj, named and shaped like libtorch's. All of
// them broadcast like NumPy/PyTorch and promote dtypes like PyTorch.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "tilejit/tensor.h"

namespace tj {

// ---- creation ---------------------------------------------------------------
Tensor zeros(const Shape& shape, TensorOptions opts = {});
Tensor ones(const Shape& shape, TensorOptions opts = {});
/// dtype defaults to the value's kind: bool_, i64 or f32.
Tensor full(const Shape& shape, Scalar value, TensorOptions opts = {});
/// A 0-dim tensor holding `value`, f32 unless `opts` says otherwise (as
/// torch::scalar_tensor).
Tensor scalar_tensor(Scalar value, TensorOptions opts = {});
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor full_like(const Tensor& t, Scalar value);
/// 0, 1, ..., end-1. dtype: i64 when all bounds are integers, else f32.
Tensor arange(Scalar end, TensorOptions opts = {});
Tensor arange(Scalar start, Scalar end, Scalar step = 1, TensorOptions opts = {});
/// `steps` points from start to end inclusive (f32 by default).
Tensor linspace(double start, double end, int64_t steps, TensorOptions opts = {});
/// Copies host data into a new tensor of the matching dtype.
template <class T>
Tensor from_vector(const std::vector<T>& data, const Shape& shape,
                   Device device = default_device());
template <class T>
Tensor from_vector(const std::vector<T>& data) {
  return from_vector(data, Shape{static_cast<int64_t>(data.size())});
}
/// A CPU tensor over `data`, not copied (as torch::from_blob): dtype from
/// `opts` (f32 by default), row-major unless `strides` (in elements) are
/// given. tilejit never writes into it (in-place ops rebind the handle). The
/// memory must stay valid and unchanged while this tensor, or anything
/// pending computed from it, exists; `deleter`, when given, is called with
/// `data` once nothing refers to it any more.
Tensor from_blob(void* data, const Shape& shape, TensorOptions opts = {});
Tensor from_blob(void* data, const Shape& shape, const Shape& strides, TensorOptions opts = {});
Tensor from_blob(void* data, const Shape& shape, std::function<void(void*)> deleter,
                 TensorOptions opts = {});
/// Uniform in [0, 1) and standard normal, from a counter-based Philox
/// generator: the same seed gives the same numbers on every backend.
Tensor rand(const Shape& shape, TensorOptions opts = {});
Tensor randn(const Shape& shape, TensorOptions opts = {});
/// Restarts the random stream from `seed`.
void manual_seed(uint64_t seed);

// ---- pointwise ----------------------------------------------------------------
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
/// True division: integer inputs give f32.
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, Scalar b);
Tensor operator-(const Tensor& a, Scalar b);
Tensor operator*(const Tensor& a, Scalar b);
Tensor operator/(const Tensor& a, Scalar b);
Tensor operator+(Scalar a, const Tensor& b);
Tensor operator-(Scalar a, const Tensor& b);
Tensor operator*(Scalar a, const Tensor& b);
Tensor operator/(Scalar a, const Tensor& b);
Tensor operator-(const Tensor& a);

Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
/// Division rounded toward negative infinity, as torch.floor_divide.
Tensor floor_divide(const Tensor& a, const Tensor& b);
Tensor floor_divide(const Tensor& a, Scalar b);
/// Remainder with the sign of the divisor, as torch.remainder.
Tensor remainder(const Tensor& a, const Tensor& b);
Tensor remainder(const Tensor& a, Scalar b);
/// remainder(a, b)
Tensor operator%(const Tensor& a, const Tensor& b);
Tensor operator%(const Tensor& a, Scalar b);
Tensor pow(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, Scalar b);
Tensor pow(Scalar a, const Tensor& b);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor maximum(const Tensor& a, Scalar b);
Tensor minimum(const Tensor& a, Scalar b);
/// min(max(x, lo), hi); either bound may be left out.
Tensor clamp(const Tensor& x, std::optional<Scalar> lo, std::optional<Scalar> hi);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
Tensor where(const Tensor& cond, const Tensor& a, Scalar b);
Tensor where(const Tensor& cond, Scalar a, const Tensor& b);
Tensor where(const Tensor& cond, Scalar a, Scalar b);
/// x with `value` where the bool `mask` is true (mask and x broadcast), in
/// x's dtype, as torch.masked_fill; a tensor value must have 0 dimensions.
Tensor masked_fill(const Tensor& x, const Tensor& mask, Scalar value);
Tensor masked_fill(const Tensor& x, const Tensor& mask, const Tensor& value);
/// The lower (upper) triangle of the last two dims: elements with
/// col - row <= diagonal (>= diagonal) kept, the others 0, as torch.tril/triu.
Tensor tril(const Tensor& x, int64_t diagonal = 0);
Tensor triu(const Tensor& x, int64_t diagonal = 0);

// exp, log, sqrt, sin, atan2, ...: one line each in math_ops.def.
#define TJ_MATH_FN(name) Tensor name(const Tensor& x);
#define TJ_MATH_FN2(name)                        \
  Tensor name(const Tensor& a, const Tensor& b); \
  Tensor name(const Tensor& a, Scalar b);        \
  Tensor name(Scalar a, const Tensor& b);
#include "tilejit/math_ops.def"

Tensor neg(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor relu(const Tensor& x);
/// approximate: "none" (erf form) or "tanh".
Tensor gelu(const Tensor& x, std::string_view approximate = "none");
Tensor floor(const Tensor& x);
Tensor ceil(const Tensor& x);
/// Rounds half to even, as torch.round.
Tensor round(const Tensor& x);
Tensor reciprocal(const Tensor& x);
Tensor square(const Tensor& x);

// comparisons → bool_
Tensor operator==(const Tensor& a, const Tensor& b);
Tensor operator!=(const Tensor& a, const Tensor& b);
Tensor operator<(const Tensor& a, const Tensor& b);
Tensor operator<=(const Tensor& a, const Tensor& b);
Tensor operator>(const Tensor& a, const Tensor& b);
Tensor operator>=(const Tensor& a, const Tensor& b);
Tensor operator==(const Tensor& a, Scalar b);
Tensor operator!=(const Tensor& a, Scalar b);
Tensor operator<(const Tensor& a, Scalar b);
Tensor operator<=(const Tensor& a, Scalar b);
Tensor operator>(const Tensor& a, Scalar b);
Tensor operator>=(const Tensor& a, Scalar b);
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);

// logical ops: any dtype, nonzero is true → bool_
Tensor logical_and(const Tensor& a, const Tensor& b);
Tensor logical_or(const Tensor& a, const Tensor& b);
Tensor logical_xor(const Tensor& a, const Tensor& b);
Tensor logical_not(const Tensor& x);
/// On bool_ tensors: logical and, or, xor, not.
Tensor operator&(const Tensor& a, const Tensor& b);
Tensor operator|(const Tensor& a, const Tensor& b);
Tensor operator^(const Tensor& a, const Tensor& b);
Tensor operator~(const Tensor& x);

// ---- movement -----------------------------------------------------------------
Tensor reshape(const Tensor& x, const Shape& shape);
Tensor permute(const Tensor& x, const Axes& dims);
Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1);
Tensor expand(const Tensor& x, const Shape& shape);
Tensor broadcast_to(const Tensor& x, const Shape& shape);
Tensor squeeze(const Tensor& x);
Tensor squeeze(const Tensor& x, int64_t dim);
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step = 1);
Tensor contiguous(const Tensor& x);
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);
/// The shape that `a` and `b` broadcast to; throws tj::Error if they don't.
Shape broadcast_shapes(const Shape& a, const Shape& b);

// ---- reductions (empty axes = all axes) -----------------------------------------
/// Integer and bool inputs are summed (and multiplied) in i64.
Tensor sum(const Tensor& x, const Axes& axes = {}, bool keepdim = false);
Tensor sum(const Tensor& x, int64_t dim, bool keepdim = false);
/// Floating dtypes only.
Tensor mean(const Tensor& x, const Axes& axes = {}, bool keepdim = false);
Tensor mean(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor prod(const Tensor& x, const Axes& axes = {}, bool keepdim = false);
Tensor max(const Tensor& x, const Axes& axes = {}, bool keepdim = false);
Tensor max(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor min(const Tensor& x, const Axes& axes = {}, bool keepdim = false);
Tensor min(const Tensor& x, int64_t dim, bool keepdim = false);
/// Index of the first maximum along `dim` (of the flattened tensor when no
/// dim is given), as i64.
Tensor argmax(const Tensor& x, std::optional<int64_t> dim = {}, bool keepdim = false);
Tensor argmin(const Tensor& x, std::optional<int64_t> dim = {}, bool keepdim = false);
/// Variance with Bessel's correction when `unbiased`. Floating dtypes only.
Tensor var(const Tensor& x, const Axes& axes = {}, bool unbiased = true, bool keepdim = false);
Tensor std(const Tensor& x, const Axes& axes = {}, bool unbiased = true, bool keepdim = false);

// ---- composites ---------------------------------------------------------------
/// Floating input, or any input with `dtype` (x is cast to it first), as
/// torch.softmax; an integer input without `dtype` is an error.
Tensor softmax(const Tensor& x, int64_t dim, std::optional<DType> dtype = {});
Tensor log_softmax(const Tensor& x, int64_t dim, std::optional<DType> dtype = {});
/// Normalises over the trailing dims given by `normalized_shape`, then scales
/// by `weight` and shifts by `bias` when they are defined.
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = {},
                  const Tensor& bias = {}, double eps = 1e-5);
Tensor rms_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = {},
                double eps = 1e-6);

// ---- matmul -------------------------------------------------------------------
/// torch.matmul: 1-D, 2-D and batched operands, batch dims broadcast.
Tensor matmul(const Tensor& a, const Tensor& b);
/// x @ w^T + b, with w of shape [out_features, in_features].
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b = {});

// ---- evaluation -------------------------------------------------------------------
/// Computes everything pending in the calling thread's trace.
void sync();

}  // namespace tj
