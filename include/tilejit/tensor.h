// tilejit — the Tensor handle.
//
// A `tj::Tensor` is a cheap handle to an n-dimensional array. Ops on it are
// recorded lazily in the calling thread's trace and computed together, fused,
// when a value is needed (a host read, `eval()`, `tj::sync()`) or the trace
// grows past its limit. Tensors have value semantics like ArrayFire arrays:
// copying a handle is cheap and shares the data; an in-place form such as
// `a += b` rebinds `a` to the new value and leaves every other handle, and
// every view taken earlier, with the value it had.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <vector>

#include "tilejit/device.h"
#include "tilejit/dtype.h"
#include "tilejit/error.h"

namespace tj {

namespace trace {
struct TensorImpl;
}

using Shape = std::vector<int64_t>;
using Axes = std::vector<int64_t>;

/// A number used as an operand: `x * 2`, `x + 0.5f`, `where(m, x, 0)`.
/// Like a Python number in PyTorch it does not widen the tensor's dtype
/// within a category (f16 tensor * 2.5 stays f16), but an integer tensor
/// times a floating scalar becomes f32.
class Scalar {
 public:
  enum class Kind : uint8_t { boolean, integer, floating };

  template <class T, std::enable_if_t<std::is_arithmetic_v<T>, int> = 0>
  Scalar(T v) {  // NOLINT: implicit on purpose
    if constexpr (std::is_same_v<T, bool>) {
      kind_ = Kind::boolean;
      i_ = v ? 1 : 0;
      d_ = i_;
    } else if constexpr (std::is_integral_v<T>) {
      kind_ = Kind::integer;
      i_ = static_cast<int64_t>(v);
      d_ = static_cast<double>(v);
    } else {
      kind_ = Kind::floating;
      d_ = static_cast<double>(v);
      i_ = static_cast<int64_t>(v);
    }
  }
  Scalar(half v) : Scalar(static_cast<float>(v)) {}      // NOLINT
  Scalar(bfloat16 v) : Scalar(static_cast<float>(v)) {}  // NOLINT

  Kind kind() const { return kind_; }
  double to_double() const { return d_; }
  int64_t to_int() const { return i_; }
  /// The dtype a lone scalar of this kind gets: bool_, i64 or f32.
  DType default_dtype() const;
  std::string str() const;

 private:
  Kind kind_ = Kind::integer;
  int64_t i_ = 0;
  double d_ = 0;
};

/// dtype and device for creation functions: `tj::zeros({2, 3}, tj::f16)`,
/// `tj::ones({4}, tj::Device::cpu())`, or
/// `tj::TensorOptions().dtype(tj::bf16).device(tj::Device::cuda())`.
struct TensorOptions {
  std::optional<DType> dtype_;
  std::optional<Device> device_;

  TensorOptions() = default;
  TensorOptions(DType t) : dtype_(t) {}    // NOLINT
  TensorOptions(Device d) : device_(d) {}  // NOLINT
  TensorOptions dtype(DType t) const {
    auto o = *this;
    o.dtype_ = t;
    return o;
  }
  TensorOptions device(Device d) const {
    auto o = *this;
    o.device_ = d;
    return o;
  }
};

class Tensor {
 public:
  /// An undefined tensor; every op on it throws tj::Error.
  Tensor() = default;
  Tensor(const Tensor& o);
  Tensor(Tensor&& o) noexcept;
  Tensor& operator=(const Tensor& o);
  Tensor& operator=(Tensor&& o) noexcept;
  ~Tensor();

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  const Shape& sizes() const { return shape(); }
  /// Size of one dimension; negative dims count from the end.
  int64_t size(int64_t dim) const;
  int64_t dim() const;
  int64_t numel() const;
  DType dtype() const;
  Device device() const;
  /// True when this tensor's value has been computed (not pending).
  bool is_materialized() const;
  /// True when computed and laid out row-major without gaps. A pending tensor
  /// will be contiguous once computed, so this is true for it as well.
  bool is_contiguous() const;
  /// Element strides of a computed tensor (row-major strides when pending).
  Shape strides() const;

  // ---- movement: views, no copy until needed --------------------------------
  /// A tensor with the same elements in row-major order and another shape;
  /// one entry may be -1 (inferred). A view when the layout allows.
  Tensor reshape(const Shape& shape) const;
  Tensor view(const Shape& shape) const { return reshape(shape); }
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor permute(const Axes& dims) const;
  Tensor transpose(int64_t dim0, int64_t dim1) const;
  /// transpose(0, 1) of a 2-D tensor (a 0-D or 1-D tensor is returned as is).
  Tensor t() const;
  /// Size-1 dims (or new leading dims) repeated to `shape`; -1 keeps a size.
  Tensor expand(const Shape& shape) const;
  Tensor broadcast_to(const Shape& shape) const { return expand(shape); }
  Tensor squeeze() const;
  Tensor squeeze(int64_t dim) const;
  Tensor unsqueeze(int64_t dim) const;
  /// Elements start, start+step, ... < end along `dim` (Python-style negative
  /// indices and clamping; step > 0).
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  /// Same values laid out contiguously (the same tensor when already so).
  Tensor contiguous() const;

  // ---- conversion ----------------------------------------------------------
  Tensor cast(DType dtype) const;
  Tensor to(DType dtype) const { return cast(dtype); }
  Tensor to(Device device) const;

  // ---- method forms of common ops ------------------------------------------
  Tensor sum(const Axes& axes = {}, bool keepdim = false) const;
  Tensor mean(const Axes& axes = {}, bool keepdim = false) const;
  Tensor max(const Axes& axes = {}, bool keepdim = false) const;
  Tensor min(const Axes& axes = {}, bool keepdim = false) const;
  Tensor prod(const Axes& axes = {}, bool keepdim = false) const;
  Tensor var(const Axes& axes = {}, bool unbiased = true, bool keepdim = false) const;
  Tensor std(const Axes& axes = {}, bool unbiased = true, bool keepdim = false) const;
  Tensor argmax(std::optional<int64_t> dim = {}, bool keepdim = false) const;
  Tensor argmin(std::optional<int64_t> dim = {}, bool keepdim = false) const;
  // x.exp(), x.log(), x.atan2(y), ...: one line each in math_ops.def.
#define TJ_MATH_FN(name) Tensor name() const;
#define TJ_MATH_FN2(name) Tensor name(const Tensor& other) const;
#include "tilejit/math_ops.def"
  Tensor abs() const;
  Tensor neg() const;
  Tensor relu() const;
  Tensor gelu(std::string_view approximate = "none") const;
  Tensor pow(const Tensor& exponent) const;
  Tensor pow(Scalar exponent) const;
  Tensor softmax(int64_t dim, std::optional<DType> dtype = {}) const;
  Tensor log_softmax(int64_t dim, std::optional<DType> dtype = {}) const;
  Tensor masked_fill(const Tensor& mask, Scalar value) const;
  Tensor masked_fill(const Tensor& mask, const Tensor& value) const;
  Tensor masked_scatter(const Tensor& mask, const Tensor& source) const;
  Tensor tril(int64_t diagonal = 0) const;
  Tensor triu(int64_t diagonal = 0) const;
  Tensor matmul(const Tensor& other) const;
  Tensor gather(int64_t dim, const Tensor& index) const;
  Tensor index_select(int64_t dim, const Tensor& index) const;
  Tensor take(const Tensor& index) const;
  Tensor scatter(int64_t dim, const Tensor& index, const Tensor& src) const;
  Tensor scatter(int64_t dim, const Tensor& index, Scalar value) const;
  Tensor scatter_add(int64_t dim, const Tensor& index, const Tensor& src) const;
  Tensor index_copy(int64_t dim, const Tensor& index, const Tensor& source) const;
  Tensor index_add(int64_t dim, const Tensor& index, const Tensor& source, Scalar alpha = 1) const;
  Tensor index_fill(int64_t dim, const Tensor& index, Scalar value) const;
  Tensor index_put(const std::vector<Tensor>& indices, const Tensor& values,
                   bool accumulate = false) const;
  Tensor slice_scatter(const Tensor& src, int64_t dim = 0, std::optional<int64_t> start = {},
                       std::optional<int64_t> end = {}, int64_t step = 1) const;
  Tensor select_scatter(const Tensor& src, int64_t dim, int64_t index) const;
  Tensor cumsum(int64_t dim, std::optional<DType> dtype = {}) const;
  Tensor cumprod(int64_t dim, std::optional<DType> dtype = {}) const;
  Tensor logcumsumexp(int64_t dim) const;
  Tensor multinomial(int64_t num_samples, bool replacement = false) const;
  Tensor bernoulli() const;
  Tensor argsort(int64_t dim = -1, bool descending = false) const;
  std::tuple<Tensor, Tensor> sort(int64_t dim = -1, bool descending = false) const;
  std::tuple<Tensor, Tensor> topk(int64_t k, int64_t dim = -1, bool largest = true,
                                  bool sorted = true) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor select(int64_t dim, int64_t index) const;
  std::vector<Tensor> split(int64_t split_size, int64_t dim = 0) const;
  std::vector<Tensor> chunk(int64_t chunks, int64_t dim = 0) const;
  Tensor flip(const Axes& dims) const;
  Tensor roll(const std::vector<int64_t>& shifts, const Axes& dims = {}) const;
  Tensor repeat(const Shape& repeats) const;
  Tensor repeat_interleave(int64_t repeats, std::optional<int64_t> dim = {}) const;

  // ---- in-place forms: rebind this handle to the new value -----------------
  Tensor& operator+=(const Tensor& o);
  Tensor& operator-=(const Tensor& o);
  Tensor& operator*=(const Tensor& o);
  Tensor& operator/=(const Tensor& o);
  Tensor& operator+=(Scalar s);
  Tensor& operator-=(Scalar s);
  Tensor& operator*=(Scalar s);
  Tensor& operator/=(Scalar s);
  /// Replaces this tensor's value with `src` broadcast to this shape and cast
  /// to this dtype (shape, dtype and device of this handle stay).
  Tensor& copy_(const Tensor& src);
  Tensor& scatter_(int64_t dim, const Tensor& index, const Tensor& src);
  Tensor& scatter_(int64_t dim, const Tensor& index, Scalar value);
  Tensor& scatter_add_(int64_t dim, const Tensor& index, const Tensor& src);
  Tensor& index_copy_(int64_t dim, const Tensor& index, const Tensor& source);
  Tensor& index_add_(int64_t dim, const Tensor& index, const Tensor& source, Scalar alpha = 1);
  Tensor& index_fill_(int64_t dim, const Tensor& index, Scalar value);
  Tensor& index_put_(const std::vector<Tensor>& indices, const Tensor& values,
                     bool accumulate = false);
  Tensor& masked_scatter_(const Tensor& mask, const Tensor& source);
  /// The running sum (product) in this tensor's dtype.
  Tensor& cumsum_(int64_t dim);
  Tensor& cumprod_(int64_t dim);
  /// Each element 1 with probability p, else 0.
  Tensor& bernoulli_(double p);

  // ---- autograd (tilejit/autograd.h) ---------------------------------------
  /// Marks this tensor (a floating-point leaf) as one whose gradient
  /// backward() computes; false turns that off again.
  Tensor& requires_grad_(bool requires_grad = true);
  /// True for a leaf marked with requires_grad_() and for the results of
  /// differentiable ops on such tensors (recorded with gradients on).
  bool requires_grad() const;
  /// True unless this tensor is the result of a recorded differentiable op.
  bool is_leaf() const;
  /// The gradient accumulated by backward() (undefined before the first).
  const Tensor& grad() const;
  /// The same, assignable: `t.mutable_grad() = tj::Tensor()` clears it.
  Tensor& mutable_grad();
  /// Computes the gradients of this tensor with respect to every leaf that
  /// requires grad and adds them to those leaves' grad(). `gradient` (this
  /// tensor's shape) is d output / d this; it may be left out for a tensor
  /// of one element. The graph is released afterwards unless retain_graph.
  void backward(const Tensor& gradient = Tensor(), bool retain_graph = false) const;
  /// The same values, cut off from the graph (a leaf that requires no grad).
  Tensor detach() const;

  // ---- host access: computes what is pending -------------------------------
  /// Computes this tensor now (with everything pending in this thread).
  Tensor eval() const;
  /// All elements in row-major order, converted to T.
  template <class T>
  std::vector<T> to_vector() const;
  /// The single element, converted to T; throws unless numel() == 1.
  template <class T>
  T item() const;
  /// The printed form, as `operator<<` writes it.
  std::string str() const;

  // internal
  explicit Tensor(std::shared_ptr<trace::TensorImpl> impl);
  const std::shared_ptr<trace::TensorImpl>& impl() const { return impl_; }

 private:
  std::shared_ptr<trace::TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// Explicitly instantiated in the library for float, double, half, bfloat16,
// int32_t, int64_t, bool, uint8_t.
extern template std::vector<float> Tensor::to_vector<float>() const;
extern template std::vector<double> Tensor::to_vector<double>() const;
extern template std::vector<half> Tensor::to_vector<half>() const;
extern template std::vector<bfloat16> Tensor::to_vector<bfloat16>() const;
extern template std::vector<int32_t> Tensor::to_vector<int32_t>() const;
extern template std::vector<int64_t> Tensor::to_vector<int64_t>() const;
extern template std::vector<bool> Tensor::to_vector<bool>() const;
extern template std::vector<uint8_t> Tensor::to_vector<uint8_t>() const;
extern template float Tensor::item<float>() const;
extern template double Tensor::item<double>() const;
extern template half Tensor::item<half>() const;
extern template bfloat16 Tensor::item<bfloat16>() const;
extern template int32_t Tensor::item<int32_t>() const;
extern template int64_t Tensor::item<int64_t>() const;
extern template bool Tensor::item<bool>() const;

}  // namespace tj
