// Creation ops: constants, ranges, host data and random numbers.
#include <atomic>
#include <cmath>
#include <cstring>

#include "jit/backend.h"
#include "trace/ops_util.h"

namespace tj {

using ir::Op;

namespace {

struct Generator {
  std::atomic<uint64_t> seed{0};
  std::atomic<uint64_t> offset{0};
};
Generator& generator() {
  static Generator g;
  return g;
}

Device device_of(const TensorOptions& o) { return o.device_ ? *o.device_ : default_device(); }

void check_shape(std::string_view op, const Shape& s) { checked_numel(op, s); }

/// Fails for devices tilejit cannot place data on here.
void check_creation_device(std::string_view op, const Device& d) { trace::check_device(d, op); }

Tensor random(Op op, std::string_view name, const Shape& shape, TensorOptions opts) {
  check_shape(name, shape);
  DType t = opts.dtype_.value_or(DType::f32);
  Device dev = device_of(opts);
  check_creation_device(name, dev);
  if (!is_floating(t)) fail("{}: needs a floating-point dtype, got {}", name, dtype_name(t));
  Generator& g = generator();
  uint64_t n = static_cast<uint64_t>(shape_numel(shape));
  uint64_t offset = g.offset.fetch_add(n);
  auto seed = static_cast<int64_t>(g.seed.load());
  return trace::record(op,
                       {trace::scalar_tensor(seed, DType::i64, dev, /*shared=*/false),
                        trace::scalar_tensor(static_cast<int64_t>(offset), DType::i64, dev, false)},
                       {.dtype = t, .shape = shape}, name);
}

/// 0, 1, ..., n-1 on `dev`.
Tensor iota(int64_t n, DType t, std::string_view name, Device dev) {
  return trace::record(Op::Iota, {}, {.attrs = {0}, .dtype = t, .shape = {n}}, name, dev);
}

Tensor full_named(std::string_view name, const Shape& shape, Scalar value, TensorOptions opts) {
  check_shape(name, shape);
  DType t = opts.dtype_.value_or(value.default_dtype());
  Device dev = device_of(opts);
  check_creation_device(name, dev);
  return trace::record(Op::Expand, {trace::scalar_tensor(value, t, dev)}, {.shape = shape}, name);
}

}  // namespace

Tensor full(const Shape& shape, Scalar value, TensorOptions opts) {
  return full_named("full", shape, value, opts);
}
Tensor scalar_tensor(Scalar value, TensorOptions opts) {
  return full_named("scalar_tensor", {}, value, opts.dtype(opts.dtype_.value_or(DType::f32)));
}
Tensor zeros(const Shape& shape, TensorOptions opts) {
  return full_named("zeros", shape, 0, opts.dtype(opts.dtype_.value_or(DType::f32)));
}
Tensor ones(const Shape& shape, TensorOptions opts) {
  return full_named("ones", shape, 1, opts.dtype(opts.dtype_.value_or(DType::f32)));
}
Tensor zeros_like(const Tensor& t) {
  const auto& i = trace::impl_of(t, "zeros_like");
  return zeros(i->shape, TensorOptions(i->dtype).device(i->device));
}
Tensor ones_like(const Tensor& t) {
  const auto& i = trace::impl_of(t, "ones_like");
  return ones(i->shape, TensorOptions(i->dtype).device(i->device));
}
Tensor full_like(const Tensor& t, Scalar value) {
  const auto& i = trace::impl_of(t, "full_like");
  return full(i->shape, value, TensorOptions(i->dtype).device(i->device));
}

Tensor arange(Scalar end, TensorOptions opts) { return arange(0, end, 1, opts); }

Tensor arange(Scalar start, Scalar end, Scalar step, TensorOptions opts) {
  const bool all_int = start.kind() != Scalar::Kind::floating &&
                       end.kind() != Scalar::Kind::floating &&
                       step.kind() != Scalar::Kind::floating;
  DType t = opts.dtype_.value_or(all_int ? DType::i64 : DType::f32);
  Device dev = device_of(opts);
  check_creation_device("arange", dev);
  double s = start.to_double(), e = end.to_double(), st = step.to_double();
  if (st == 0) fail("arange: step must be nonzero");
  if (!std::isfinite(s) || !std::isfinite(e))
    fail("arange: start and end must be finite, got {} and {}", start.str(), end.str());
  if ((e > s && st < 0) || (e < s && st > 0))
    fail("arange: the step {} points away from end ({} -> {}); use a step of the other sign",
         step.str(), start.str(), end.str());
  int64_t n = all_int
                  ? (end.to_int() - start.to_int() + step.to_int() + (step.to_int() > 0 ? -1 : 1)) /
                        step.to_int()
                  : static_cast<int64_t>(std::ceil((e - s) / st));
  n = std::max<int64_t>(n, 0);
  if (all_int && !is_floating(t)) {
    Tensor i = iota(n, DType::i64, "arange", dev);
    return trace::cast_to(i * step.to_int() + start.to_int(), t);
  }
  Tensor i = iota(n, DType::f64, "arange", dev);
  Tensor v =
      i * trace::scalar_tensor(st, DType::f64, dev) + trace::scalar_tensor(s, DType::f64, dev);
  return trace::cast_to(v, t);
}

Tensor linspace(double start, double end, int64_t steps, TensorOptions opts) {
  if (steps < 0) fail("linspace: steps must be non-negative, got {}", steps);
  DType t = opts.dtype_.value_or(DType::f32);
  Device dev = device_of(opts);
  check_creation_device("linspace", dev);
  if (steps <= 1) return full({steps}, start, TensorOptions(t).device(dev));
  const double step = (end - start) / static_cast<double>(steps - 1);
  Tensor i = iota(steps, DType::f64, "linspace", dev);
  auto f64 = [&](double v) { return trace::scalar_tensor(v, DType::f64, dev); };
  // Like torch: the first half counts up from start, the second half down
  // from end, so both ends are exact.
  Tensor lo = i * f64(step) + f64(start);
  Tensor hi = f64(end) - (f64(static_cast<double>(steps - 1)) - i) * f64(step);
  Tensor v = where(i < f64(static_cast<double>(steps / 2)), lo, hi);
  return trace::cast_to(v, t);
}

Tensor rand(const Shape& shape, TensorOptions opts) {
  return random(Op::RandUniform, "rand", shape, opts);
}
Tensor randn(const Shape& shape, TensorOptions opts) {
  return random(Op::RandNormal, "randn", shape, opts);
}

void manual_seed(uint64_t seed) {
  generator().seed = seed;
  generator().offset = 0;
}

namespace {

void call_deleter(void* data, size_t, void* ctx) {
  auto* d = static_cast<std::function<void(void*)>*>(ctx);
  (*d)(data);
  delete d;
}

Tensor blob(void* data, const Shape& shape, Strides strides, TensorOptions opts,
            std::function<void(void*)> deleter) {
  check_shape("from_blob", shape);
  const DType t = opts.dtype_.value_or(DType::f32);
  const Device dev = opts.device_.value_or(Device::cpu());  // host memory
  if (!dev.is_cpu())
    fail(
        "from_blob: only host memory can be wrapped, got device {}; wrap it on the CPU and "
        "move it with .to({})",
        dev.str(), dev.str());
  const int64_t n = shape_numel(shape);
  if (strides.size() != shape.size())
    fail("from_blob: {} strides for shape {} ({} dims); give one stride per dim", strides.size(),
         shape_str(shape), shape.size());
  for (int64_t s : strides)
    if (s < 0) fail("from_blob: strides must not be negative, got {}", shape_str(strides));
  if (n > 0 && data == nullptr) fail("from_blob: data is null for shape {}", shape_str(shape));
  if (reinterpret_cast<uintptr_t>(data) % static_cast<uintptr_t>(dtype_size(t)) != 0)
    fail("from_blob: data {} is not aligned to its {}-byte {} elements", fmt::ptr(data),
         dtype_size(t), dtype_name(t));
  int64_t last = 0;  // the furthest element, to size the storage
  for (size_t d = 0; d < shape.size(); ++d)
    if (shape[d] > 0) last += (shape[d] - 1) * strides[d];
  auto st = std::make_shared<Storage>();
  st->data = data;
  st->bytes = n > 0 ? static_cast<size_t>((last + 1) * dtype_size(t)) : 0;
  st->device = Device::cpu();
  if (deleter) {
    st->release = call_deleter;
    st->release_ctx = new std::function<void(void*)>(std::move(deleter));
  }
  BufferView v;
  v.storage = std::move(st);
  v.dtype = t;
  v.shape = shape;
  v.strides = std::move(strides);
  return Tensor(trace::make_ready(std::move(v), Device::cpu()));
}

}  // namespace

Tensor from_blob(void* data, const Shape& shape, TensorOptions opts) {
  return blob(data, shape, contiguous_strides(shape), opts, nullptr);
}
Tensor from_blob(void* data, const Shape& shape, const Shape& strides, TensorOptions opts) {
  return blob(data, shape, strides, opts, nullptr);
}
Tensor from_blob(void* data, const Shape& shape, std::function<void(void*)> deleter,
                 TensorOptions opts) {
  return blob(data, shape, contiguous_strides(shape), opts, std::move(deleter));
}

template <class T>
Tensor from_vector(const std::vector<T>& data, const Shape& shape, Device device) {
  check_shape("from_vector", shape);
  check_creation_device("from_vector", device);
  const int64_t n = shape_numel(shape);
  if (static_cast<int64_t>(data.size()) != n)
    fail("from_vector: {} values do not fill shape {} ({} elements); pass exactly {} values",
         data.size(), shape_str(shape), n, n);
  constexpr DType t = dtype_of<T>();
  BufferView v;
  v.dtype = t;
  v.shape = shape;
  v.strides = contiguous_strides(shape);
  v.storage = jit::backend(Device::cpu()).alloc(static_cast<size_t>(n * dtype_size(t)));
  if constexpr (std::is_same_v<T, bool>) {
    for (int64_t i = 0; i < n; ++i) static_cast<uint8_t*>(v.storage->data)[i] = data[i] ? 1 : 0;
  } else {
    if (n) std::memcpy(v.storage->data, data.data(), static_cast<size_t>(n) * sizeof(T));
  }
  Tensor host(trace::make_ready(std::move(v), Device::cpu()));
  return device.is_cpu() ? host : host.to(device);
}

template Tensor from_vector<float>(const std::vector<float>&, const Shape&, Device);
template Tensor from_vector<double>(const std::vector<double>&, const Shape&, Device);
template Tensor from_vector<half>(const std::vector<half>&, const Shape&, Device);
template Tensor from_vector<bfloat16>(const std::vector<bfloat16>&, const Shape&, Device);
template Tensor from_vector<int32_t>(const std::vector<int32_t>&, const Shape&, Device);
template Tensor from_vector<int64_t>(const std::vector<int64_t>&, const Shape&, Device);
template Tensor from_vector<bool>(const std::vector<bool>&, const Shape&, Device);

}  // namespace tj
