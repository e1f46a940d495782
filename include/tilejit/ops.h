// tilejit — tensor operations.
//
// Free functions in namespace tj, named and shaped like libtorch's. All of
// them broadcast like NumPy/PyTorch and promote dtypes like PyTorch.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <tuple>
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

// ---- indexing: reads at positions another tensor gives ---------------------------
// Indices are i64 or i32 tensors. The read fuses into the kernel that uses it
// (the indices may be computed in that kernel too). An index out of range is
// a tj::Error naming the op, the index and the size: at the call when the
// indices are a computed CPU tensor, otherwise when the flush that ran the
// kernel ends (the elements read at a bad index are then 0).
/// out[i][j][k] = input[index[i][j][k]][j][k] for dim 0, and so on, as
/// torch.gather: index has input's rank, and no larger size except in `dim`.
Tensor gather(const Tensor& input, int64_t dim, const Tensor& index);
/// The slices of `input` along `dim` at the positions of the vector `index`.
Tensor index_select(const Tensor& input, int64_t dim, const Tensor& index);
/// `input` read as a flat row-major vector at `index` (negative indices
/// count from the end); the result has index's shape.
Tensor take(const Tensor& input, const Tensor& index);
/// Rows of `weight` ([num_embeddings, embedding_dim]) at `indices`: shape
/// indices.shape + [embedding_dim], as torch::embedding. `padding_idx`,
/// `scale_grad_by_freq` and `sparse` only change gradients.
Tensor embedding(const Tensor& weight, const Tensor& indices, int64_t padding_idx = -1,
                 bool scale_grad_by_freq = false, bool sparse = false);

// ---- writes at positions another tensor gives -------------------------------------
// Each returns a new value (the `_` methods of Tensor rebind the handle): the
// tensor with the source written at the indices. Along the written dimension
// the writes happen in index order on every backend, so a repeated index is
// deterministic: the last write wins, and sums are added in that order. An
// index out of range is reported as for the reads above, and writes nothing.
/// out[index[i][j]][j] = src[i][j] for dim 0, and so on, as torch.scatter:
/// index has input's rank, is no larger than src, nor than input except in `dim`.
Tensor scatter(const Tensor& input, int64_t dim, const Tensor& index, const Tensor& src);
Tensor scatter(const Tensor& input, int64_t dim, const Tensor& index, Scalar value);
/// As scatter, adding src to what is there.
Tensor scatter_add(const Tensor& input, int64_t dim, const Tensor& index, const Tensor& src);
/// The slices of `source` along `dim` written at the positions of the vector `index`.
Tensor index_copy(const Tensor& input, int64_t dim, const Tensor& index, const Tensor& source);
/// As index_copy, adding alpha * source.
Tensor index_add(const Tensor& input, int64_t dim, const Tensor& index, const Tensor& source,
                 Scalar alpha = 1);
/// The slices along `dim` at `index` (negative ones count from the end) set to `value`.
Tensor index_fill(const Tensor& input, int64_t dim, const Tensor& index, Scalar value);
/// As torch.masked_scatter: the elements where `mask` (broadcast to input's
/// shape) is true, in row-major order, take the source's elements in order;
/// the source (input's dtype, any shape) needs at least as many elements.
Tensor masked_scatter(const Tensor& input, const Tensor& mask, const Tensor& source);
/// input[indices] = values (or +=, with accumulate), as torch.index_put: one
/// integer index tensor (negative entries count from the end) or bool mask,
/// after undefined tensors that select whole dimensions, e.g. {Tensor(), idx}
/// for x[:, idx]. values broadcast to the indexed shape. A mask with more
/// than one value reads the mask (a flush): the count sets the shape.
Tensor index_put(const Tensor& input, const std::vector<Tensor>& indices, const Tensor& values,
                 bool accumulate = false);
/// input with input.slice(dim, start, end, step) replaced by src, as torch.slice_scatter.
Tensor slice_scatter(const Tensor& input, const Tensor& src, int64_t dim = 0,
                     std::optional<int64_t> start = {}, std::optional<int64_t> end = {},
                     int64_t step = 1);
/// input with input.select(dim, index) replaced by src.
Tensor select_scatter(const Tensor& input, const Tensor& src, int64_t dim, int64_t index);

// ---- shapes: views, and reads at computed positions -------------------------------
/// `length` entries of `dim` from `start` (a view; negative start from the end).
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length);
/// The slice at `index` of `dim`, without that dim (a view).
Tensor select(const Tensor& x, int64_t dim, int64_t index);
/// Views of `split_size` entries of `dim` each (the last may be smaller), or of the given sizes.
std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim = 0);
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim = 0);
/// At most `chunks` views of ceil(size / chunks) entries each, as torch.chunk.
std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim = 0);
/// 0-d or 1-d tensors broadcast to the grid of their sizes (views), "ij" or "xy" indexing.
std::vector<Tensor> meshgrid(const std::vector<Tensor>& tensors, std::string_view indexing = "ij");
// flip, roll, pad, repeat and repeat_interleave read x at positions computed
// in the kernel that uses the result: one kernel with their consumer.
Tensor flip(const Tensor& x, const Axes& dims);
/// Entries shifted by shifts[k] along dims[k], wrapping around; with no
/// dims, of the flattened tensor (one shift).
Tensor roll(const Tensor& x, const std::vector<int64_t>& shifts, const Axes& dims = {});
/// As torch.nn.functional.pad: `pad` holds (before, after) pairs from the last
/// dimension backwards; mode "constant" (`value`; negative pads crop),
/// "reflect", "replicate" or "circular".
Tensor pad(const Tensor& x, const std::vector<int64_t>& pad, std::string_view mode = "constant",
           double value = 0);
/// x tiled repeats[d] times along each dimension (extra leading repeats add dimensions).
Tensor repeat(const Tensor& x, const Shape& repeats);
/// Each entry repeated `repeats` times along `dim` (of the flattened tensor without a dim).
Tensor repeat_interleave(const Tensor& x, int64_t repeats, std::optional<int64_t> dim = {});
/// i64 of shape index.shape + [num_classes], 1 at each class value; with
/// num_classes -1, max + 1. Reads the values (a flush) to check their range.
Tensor one_hot(const Tensor& index, int64_t num_classes = -1);

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

// ---- scans and sampling ---------------------------------------------------------
/// Running sums along `dim`, as torch.cumsum: out[i] = x[0] + ... + x[i].
/// Integer and bool inputs are summed in i64; `dtype` casts the input first.
/// One kernel walks each line in order, with the ops producing x fused in.
Tensor cumsum(const Tensor& x, int64_t dim, std::optional<DType> dtype = {});
/// Running products along `dim`, as torch.cumprod (integers in i64).
Tensor cumprod(const Tensor& x, int64_t dim, std::optional<DType> dtype = {});
/// log(exp(x[0]) + ... + exp(x[i])) along `dim`, without overflow. Floating only.
Tensor logcumsumexp(const Tensor& x, int64_t dim);
/// As torch.multinomial: `num_samples` category indices (i64) per row of the
/// non-negative weights `probs` ([categories] or [rows, categories]; they
/// need not sum to 1), drawn with Philox uniforms (manual_seed fixes them).
/// Without replacement a category is drawn at most once per row. Weights
/// that are already on the host are checked (negative, non-finite, a row
/// without a positive weight); weights still pending in the trace are not,
/// and such a row draws an index within range.
Tensor multinomial(const Tensor& probs, int64_t num_samples, bool replacement = false);
/// 1 with probability p[i], else 0, in p's dtype, as torch.bernoulli.
Tensor bernoulli(const Tensor& p);
/// x's shape and dtype, each element 1 with probability p.
Tensor bernoulli(const Tensor& x, double p);

// ---- sorting ---------------------------------------------------------------------
// Stable on every backend: equal values keep their order; NaN sorts above
// every number (last ascending, first descending), as in torch. One kernel
// sorts each line (one thread per line); the values are read at the sorted
// positions by whatever uses them.
/// The positions (i64) that sort x along `dim`.
Tensor argsort(const Tensor& x, int64_t dim = -1, bool descending = false);
/// {values, indices} of x sorted along `dim`, as torch.sort.
std::tuple<Tensor, Tensor> sort(const Tensor& x, int64_t dim = -1, bool descending = false);
/// {values, indices} of the k largest (smallest) along `dim`, in order, as
/// torch.topk; equal values come in order of position.
std::tuple<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim = -1, bool largest = true,
                                bool sorted = true);

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

// ---- convolution ----------------------------------------------------------------
// As torch::conv1d/conv2d/conv_transpose2d: floating inputs; stride, padding
// and dilation take 1 value (every spatial dim) or one per dim; an input
// without the batch dim is unbatched. Bias is fused. On the CPU through
// oneDNN when built with it, else a generated direct convolution.
/// input [N, C, H, W], weight [O, C / groups, kH, kW], bias [O] -> [N, O, OH, OW],
/// OH = (H + 2 padding - dilation (kH - 1) - 1) / stride + 1.
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias = {},
              const std::vector<int64_t>& stride = {1}, const std::vector<int64_t>& padding = {0},
              const std::vector<int64_t>& dilation = {1}, int64_t groups = 1);
/// A padding given by name: "same" (stride 1; an odd total padding puts the
/// extra row and column at the end, as torch) or "valid" (none); also
/// tj::kSame and tj::kValid. Only a string literal converts, so that
/// conv2d(x, w, {}, {1}, {0}) still means padding 0.
struct PaddingMode {
  template <size_t N>
  PaddingMode(const char (&s)[N]) : name(s, N - 1) {}  // NOLINT: "same", "valid"
  std::string_view name;
};
inline const PaddingMode kSame{"same"}, kValid{"valid"};
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias,
              const std::vector<int64_t>& stride, PaddingMode padding,
              const std::vector<int64_t>& dilation = {1}, int64_t groups = 1);
/// input [N, C, L], weight [O, C / groups, k] -> [N, O, OL].
Tensor conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias = {},
              const std::vector<int64_t>& stride = {1}, const std::vector<int64_t>& padding = {0},
              const std::vector<int64_t>& dilation = {1}, int64_t groups = 1);
Tensor conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias,
              const std::vector<int64_t>& stride, PaddingMode padding,
              const std::vector<int64_t>& dilation = {1}, int64_t groups = 1);
/// The gradient of conv2d with respect to its input (a "deconvolution"):
/// input [N, C, H, W], weight [C, O / groups, kH, kW] -> [N, O, OH, OW],
/// OH = (H - 1) stride - 2 padding + dilation (kH - 1) + output_padding + 1.
/// Computed as a conv2d of the input spread out by the stride.
Tensor conv_transpose2d(const Tensor& input, const Tensor& weight, const Tensor& bias = {},
                        const std::vector<int64_t>& stride = {1},
                        const std::vector<int64_t>& padding = {0},
                        const std::vector<int64_t>& output_padding = {0}, int64_t groups = 1,
                        const std::vector<int64_t>& dilation = {1});

// ---- pooling, normalization, interpolation -----------------------------------------
// As torch.nn.functional's, on floating inputs [N, C, H, W] (pools also [C, H, W]).
// kernel_size, stride (empty: kernel_size), padding and dilation take 1 or 2
// values. Each pool is one fused kernel over kH x kW strided views.
/// NaN in a window gives NaN; padding is -inf.
Tensor max_pool2d(const Tensor& x, const std::vector<int64_t>& kernel_size,
                  const std::vector<int64_t>& stride = {},
                  const std::vector<int64_t>& padding = {0},
                  const std::vector<int64_t>& dilation = {1}, bool ceil_mode = false);
Tensor avg_pool2d(const Tensor& x, const std::vector<int64_t>& kernel_size,
                  const std::vector<int64_t>& stride = {},
                  const std::vector<int64_t>& padding = {0}, bool ceil_mode = false,
                  bool count_include_pad = true, std::optional<int64_t> divisor_override = {});
/// Windows [floor(i H / OH), ceil((i + 1) H / OH)): a mean when they are equal, else two
/// averaging GEMMs.
Tensor adaptive_avg_pool2d(const Tensor& x, const std::vector<int64_t>& output_size);
/// Normalizes each channel (dim 1) of [N, C, ...]: with the batch's statistics
/// when training (running_mean and running_var, when given, updated in place
/// with `momentum`: the variance unbiased; as every in-place op, through the
/// handles passed, other handles keeping the old values), else with the running ones.
Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight = {}, const Tensor& bias = {}, bool training = false,
                  double momentum = 0.1, double eps = 1e-5);
/// Normalizes each group of C / num_groups channels of [N, C, ...], then the per-channel affine.
Tensor group_norm(const Tensor& input, int64_t num_groups, const Tensor& weight = {},
                  const Tensor& bias = {}, double eps = 1e-5);
/// Resizes H and W of [N, C, H, W] to `size`, or by `scale_factor` (one of the two):
/// mode "nearest" (src = floor(dst * scale)) or "bilinear" (align_corners as torch,
/// default false).
Tensor interpolate(const Tensor& x, const std::vector<int64_t>& size,
                   const std::vector<double>& scale_factor = {}, std::string_view mode = "nearest",
                   std::optional<bool> align_corners = {});

// ---- losses ------------------------------------------------------------------------
// As torch.nn.functional's, differentiable (tilejit/autograd.h), each one
// fused with the ops around it.
/// How a loss reduces its per-element values: as torch's reduction="none", "mean", "sum".
enum class Reduction : uint8_t { none, mean, sum };
/// (input - target)^2, target broadcast to input.
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean);
/// Negative log-likelihood of log-probabilities `input` ([N, C], [C], or
/// [N, C, d...]) at integer class `target` ([N], [], or [N, d...]): targets
/// equal to ignore_index count for nothing; `weight` ([C]) weighs each class,
/// and the mean divides by the weights of the counted targets.
Tensor nll_loss(const Tensor& input, const Tensor& target, const Tensor& weight = {},
                int64_t ignore_index = -100, Reduction reduction = Reduction::mean);
/// nll_loss of log_softmax(input, 1), as one row kernel, with torch's label
/// smoothing. `target` may also be class probabilities of input's shape.
Tensor cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight = {},
                     int64_t ignore_index = -100, Reduction reduction = Reduction::mean,
                     double label_smoothing = 0.0);
/// Sigmoid and binary cross-entropy in one, stable for large |input|;
/// `pos_weight` weighs the positive term (broadcast along the last dim).
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        const Tensor& weight = {},
                                        Reduction reduction = Reduction::mean,
                                        const Tensor& pos_weight = {});

// ---- attention and dropout -----------------------------------------------------
/// As torch.nn.functional.dropout: each element zeroed with probability p
/// (Philox, so manual_seed fixes the mask), the others scaled by 1 / (1 - p);
/// x itself when not training.
Tensor dropout(const Tensor& x, double p = 0.5, bool training = true);
/// As torch.nn.functional.scaled_dot_product_attention: softmax(q k^T * scale
/// + mask) v over [..., L, E] queries, [..., S, E] keys and [..., S, Ev]
/// values; scale defaults to 1 / sqrt(E); attn_mask is bool (true: attend) or
/// floating (added), broadcast to [..., L, S]; is_causal masks keys after the
/// query (top-left aligned); with enable_gqa, key and value heads (dim -3)
/// are shared by groups of query heads. A row with every key masked is NaN.
/// Two GEMMs and one row kernel: the [..., L, S] scores are materialized.
Tensor scaled_dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                    const Tensor& attn_mask = {}, double dropout_p = 0.0,
                                    bool is_causal = false, std::optional<double> scale = {},
                                    bool enable_gqa = false);

// ---- evaluation -------------------------------------------------------------------
/// Computes everything pending in the calling thread's trace.
void sync();

}  // namespace tj
