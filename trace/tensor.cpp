// The tj::Tensor handle: metadata, in-place forms, host access.
#include <ostream>

#include "ir/dtype.h"
#include "jit/backend.h"
#include "tilejit/autograd.h"
#include "trace/autograd.h"
#include "trace/ops_util.h"

namespace tj {

namespace {

void retain(const std::shared_ptr<trace::TensorImpl>& p) {
  if (!p) return;
  p->handles.fetch_add(1, std::memory_order_relaxed);
  if (p->autograd) [[unlikely]]
    trace::autograd::handle_added(*p);
}
void release(const std::shared_ptr<trace::TensorImpl>& p) {
  if (!p) return;
  p->handles.fetch_sub(1, std::memory_order_relaxed);
  if (p->autograd) [[unlikely]]
    trace::autograd::handle_dropped(*p);
}

const trace::TensorImpl& ready_impl(const Tensor& t, std::string_view op) {
  const auto& impl = trace::impl_of(t, op);
  trace::ensure_ready(impl, FlushReason::host_read);
  return *impl;
}

/// In-place ops keep the tensor's dtype: a result that cannot be cast back
/// safely (float into an integer tensor, anything but bool into bool) is an
/// error, as in PyTorch.
bool can_cast_in_place(DType from, DType to) {
  if (from == to) return true;
  if (to == DType::bool_) return false;
  if (is_floating(from) && !is_floating(to)) return false;
  return true;
}

}  // namespace

Tensor::Tensor(std::shared_ptr<trace::TensorImpl> impl) : impl_(std::move(impl)) { retain(impl_); }
Tensor::Tensor(const Tensor& o) : impl_(o.impl_) { retain(impl_); }
Tensor::Tensor(Tensor&& o) noexcept : impl_(std::move(o.impl_)) {}
Tensor& Tensor::operator=(const Tensor& o) {
  if (this == &o) return *this;
  retain(o.impl_);
  release(impl_);
  impl_ = o.impl_;
  return *this;
}
Tensor& Tensor::operator=(Tensor&& o) noexcept {
  if (this == &o) return *this;
  release(impl_);
  impl_ = std::move(o.impl_);
  return *this;
}
Tensor::~Tensor() { release(impl_); }

const Shape& Tensor::shape() const { return trace::impl_ref(*this, "shape").shape; }
int64_t Tensor::size(int64_t dim) const {
  const Shape& s = shape();
  if (s.empty()) fail("size: a 0-d tensor has no dimension {}", dim);
  return s[normalize_axis("size", dim, static_cast<int64_t>(s.size()))];
}
int64_t Tensor::dim() const { return static_cast<int64_t>(shape().size()); }
int64_t Tensor::numel() const { return shape_numel(shape()); }
DType Tensor::dtype() const { return trace::impl_ref(*this, "dtype").dtype; }
Device Tensor::device() const { return trace::impl_ref(*this, "device").device; }
bool Tensor::is_materialized() const {
  return trace::impl_of(*this, "is_materialized")->is_ready();
}
bool Tensor::is_contiguous() const {
  const auto& i = trace::impl_of(*this, "is_contiguous");
  return !i->is_ready() || i->value.contiguous();
}
Shape Tensor::strides() const {
  const auto& i = trace::impl_of(*this, "strides");
  return i->is_ready() ? i->value.strides : contiguous_strides(i->shape);
}

Tensor Tensor::cast(DType dtype) const {
  trace::impl_of(*this, "cast");
  return trace::cast_to(*this, dtype);
}

Tensor Tensor::to(Device device) const {
  const auto& i = trace::impl_of(*this, "to");
  if (i->device == device) return *this;
  trace::check_device(device, "to");
  if (trace::autograd::requires_grad(*i) && GradMode::is_enabled())
    fail(
        "to: moving a tensor that requires grad to {} is not differentiable yet; move the leaves "
        "(parameters, inputs) to the device first and compute there, or move it under "
        "tj::NoGradGuard",
        device.str());
  // A transfer is not traced: the value is computed, made dense on its own
  // device, then copied (the copy waits for the kernels that produced it).
  trace::ensure_ready(i, FlushReason::untraceable);
  Tensor src = *this;
  if (!i->value.contiguous()) {
    src = trace::record(ir::Op::Copy, {*this}, {}, "to");
    trace::ensure_ready(src.impl(), FlushReason::untraceable);
  }
  const BufferView& v = src.impl()->value;
  const size_t bytes = static_cast<size_t>(v.numel() * dtype_size(v.dtype));
  BufferView out;
  out.dtype = v.dtype;
  out.shape = v.shape;
  out.strides = contiguous_strides(v.shape);
  out.storage = jit::transfer(v.data(), i->device, device, bytes);
  return Tensor(trace::make_ready(std::move(out), device));
}

Tensor Tensor::sum(const Axes& a, bool k) const { return tj::sum(*this, a, k); }
Tensor Tensor::mean(const Axes& a, bool k) const { return tj::mean(*this, a, k); }
Tensor Tensor::max(const Axes& a, bool k) const { return tj::max(*this, a, k); }
Tensor Tensor::min(const Axes& a, bool k) const { return tj::min(*this, a, k); }
Tensor Tensor::prod(const Axes& a, bool k) const { return tj::prod(*this, a, k); }
Tensor Tensor::var(const Axes& a, bool u, bool k) const { return tj::var(*this, a, u, k); }
Tensor Tensor::std(const Axes& a, bool u, bool k) const { return tj::std(*this, a, u, k); }
Tensor Tensor::argmax(std::optional<int64_t> d, bool k) const { return tj::argmax(*this, d, k); }
Tensor Tensor::argmin(std::optional<int64_t> d, bool k) const { return tj::argmin(*this, d, k); }
Tensor Tensor::abs() const { return tj::abs(*this); }
Tensor Tensor::neg() const { return tj::neg(*this); }
Tensor Tensor::relu() const { return tj::relu(*this); }
Tensor Tensor::gelu(std::string_view approximate) const { return tj::gelu(*this, approximate); }
Tensor Tensor::pow(const Tensor& exponent) const { return tj::pow(*this, exponent); }
Tensor Tensor::pow(Scalar exponent) const { return tj::pow(*this, exponent); }
Tensor Tensor::softmax(int64_t dim, std::optional<DType> dtype) const {
  return tj::softmax(*this, dim, dtype);
}
Tensor Tensor::log_softmax(int64_t dim, std::optional<DType> dtype) const {
  return tj::log_softmax(*this, dim, dtype);
}
Tensor Tensor::masked_fill(const Tensor& mask, Scalar value) const {
  return tj::masked_fill(*this, mask, value);
}
Tensor Tensor::masked_fill(const Tensor& mask, const Tensor& value) const {
  return tj::masked_fill(*this, mask, value);
}
Tensor Tensor::tril(int64_t diagonal) const { return tj::tril(*this, diagonal); }
Tensor Tensor::triu(int64_t diagonal) const { return tj::triu(*this, diagonal); }

namespace {

Tensor& assign_in_place(Tensor& self, Tensor result, std::string_view op) {
  const auto& si = trace::impl_of(self, op);
  if (result.shape() != si->shape)
    fail(
        "{}: the result has shape {} but the tensor has shape {}; an in-place op cannot change "
        "the shape (write x = x op y instead)",
        op, shape_str(result.shape()), shape_str(si->shape));
  if (!can_cast_in_place(result.dtype(), si->dtype))
    fail(
        "{}: the result has dtype {}, which cannot be stored in this {} tensor in place (write "
        "x = x op y instead, or cast)",
        op, dtype_name(result.dtype()), dtype_name(si->dtype));
  return trace::autograd::rebind(self, trace::cast_to(result, si->dtype), op);
}

}  // namespace

Tensor& Tensor::operator+=(const Tensor& o) { return assign_in_place(*this, *this + o, "add_"); }
Tensor& Tensor::operator-=(const Tensor& o) { return assign_in_place(*this, *this - o, "sub_"); }
Tensor& Tensor::operator*=(const Tensor& o) { return assign_in_place(*this, *this * o, "mul_"); }
Tensor& Tensor::operator/=(const Tensor& o) { return assign_in_place(*this, *this / o, "div_"); }
Tensor& Tensor::operator+=(Scalar s) { return assign_in_place(*this, *this + s, "add_"); }
Tensor& Tensor::operator-=(Scalar s) { return assign_in_place(*this, *this - s, "sub_"); }
Tensor& Tensor::operator*=(Scalar s) { return assign_in_place(*this, *this * s, "mul_"); }
Tensor& Tensor::operator/=(Scalar s) { return assign_in_place(*this, *this / s, "div_"); }

Tensor& Tensor::copy_(const Tensor& src) {
  const auto& si = trace::impl_of(*this, "copy_");
  const auto& ri = trace::impl_of(src, "copy_");
  if (ri->device != si->device)
    fail("copy_: the source is on {} and the tensor on {}; move it with .to(device) first",
         ri->device.str(), si->device.str());
  Shape b = tj::broadcast_shapes("copy_", ri->shape, si->shape);
  if (b != si->shape)
    fail("copy_: the source of shape {} cannot be broadcast to the tensor's shape {}",
         shape_str(ri->shape), shape_str(si->shape));
  Tensor v = trace::cast_to(src, si->dtype).expand(si->shape);
  // A broadcast view is made contiguous so the tensor owns dense values.
  if (v.impl()->is_ready() && !v.impl()->value.contiguous())
    v = trace::record(ir::Op::Copy, {v}, {}, "copy_");
  return trace::autograd::rebind(*this, std::move(v), "copy_");
}

Tensor Tensor::eval() const {
  trace::ensure_ready(trace::impl_of(*this, "eval"), FlushReason::sync);
  return *this;
}

void sync() { trace::flush(FlushReason::sync); }

namespace {

template <class T>
T convert(const BufferView& v, int64_t off) {
  const void* base = v.storage->data;
  const int64_t i = v.offset + off;
  if constexpr (std::is_same_v<T, half> || std::is_same_v<T, bfloat16>) {
    return T(static_cast<float>(load_as_double(base, i, v.dtype)));
  } else if constexpr (std::is_same_v<T, bool>) {
    return is_floating(v.dtype) ? load_as_double(base, i, v.dtype) != 0
                                : load_as_int(base, i, v.dtype) != 0;
  } else if constexpr (std::is_floating_point_v<T>) {
    return static_cast<T>(load_as_double(base, i, v.dtype));
  } else {
    // A float saturates to T's range (NaN: 0), as a cast to an integer dtype does.
    return static_cast<T>(is_floating(v.dtype)
                              ? double_to_int(load_as_double(base, i, v.dtype),
                                              sizeof(T) == 4 ? DType::i32 : DType::i64)
                              : load_as_int(base, i, v.dtype));
  }
}

/// Calls fn(offset) for every element of the view in row-major order.
template <class Fn>
void for_each_offset(const BufferView& v, Fn&& fn) {
  const int64_t n = v.numel();
  const size_t r = v.shape.size();
  std::vector<int64_t> idx(r, 0);
  int64_t off = 0;
  for (int64_t k = 0; k < n; ++k) {
    fn(off);
    for (size_t d = r; d-- > 0;) {
      ++idx[d];
      off += v.strides[d];
      if (idx[d] < v.shape[d]) break;
      off -= v.strides[d] * idx[d];
      idx[d] = 0;
    }
  }
}

}  // namespace

template <class T>
std::vector<T> Tensor::to_vector() const {
  if (trace::impl_of(*this, "to_vector")->device.is_cuda()) return to(Device::cpu()).to_vector<T>();
  const trace::TensorImpl& impl = ready_impl(*this, "to_vector");
  std::vector<T> out;
  out.reserve(static_cast<size_t>(impl.value.numel()));
  for_each_offset(impl.value, [&](int64_t off) { out.push_back(convert<T>(impl.value, off)); });
  return out;
}

template <class T>
T Tensor::item() const {
  const auto& i = trace::impl_of(*this, "item");
  if (shape_numel(i->shape) != 1)
    fail(
        "item: the tensor has {} elements (shape {}); item() needs exactly one — reduce it "
        "first, e.g. x.sum().item<float>()",
        shape_numel(i->shape), shape_str(i->shape));
  if (i->device.is_cuda()) return to(Device::cpu()).item<T>();
  const trace::TensorImpl& impl = ready_impl(*this, "item");
  return convert<T>(impl.value, 0);
}

template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<half> Tensor::to_vector<half>() const;
template std::vector<bfloat16> Tensor::to_vector<bfloat16>() const;
template std::vector<int32_t> Tensor::to_vector<int32_t>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;
template std::vector<bool> Tensor::to_vector<bool>() const;
template std::vector<uint8_t> Tensor::to_vector<uint8_t>() const;
template float Tensor::item<float>() const;
template double Tensor::item<double>() const;
template half Tensor::item<half>() const;
template bfloat16 Tensor::item<bfloat16>() const;
template int32_t Tensor::item<int32_t>() const;
template int64_t Tensor::item<int64_t>() const;
template bool Tensor::item<bool>() const;

}  // namespace tj
