// Shape ops: narrow, select, split/chunk and meshgrid are views; flip, roll,
// pad, repeat and repeat_interleave read their input at a position computed
// from the output's (a gather whose indices are index arithmetic inside the
// kernel, so each is one kernel fused with its consumer, never a copy per
// piece); one_hot compares against the classes.
#include <algorithm>

#include "trace/ops_util.h"

namespace tj {

namespace {

/// The output index along `d` of a tensor of shape `out`, as i64 of that shape.
Tensor coordinate(const Shape& out, size_t d, Device device) {
  Shape lone(out.size(), 1);
  lone[d] = out[d];
  return arange(out[d], TensorOptions(DType::i64).device(device)).reshape(lone).expand(out);
}

/// x read at out-of-range-free source coordinates: `map[d]` gives, from the
/// output coordinate along d, the source coordinate (undefined: the same).
/// One remapped dim is a gather along it; several are one take over the
/// flattened input.
Tensor remap(const Tensor& x, const Shape& out, const std::vector<Tensor>& map) {
  std::vector<size_t> dims;
  for (size_t d = 0; d < map.size(); ++d)
    if (map[d].defined()) dims.push_back(d);
  if (dims.empty()) return x;
  const Shape& in = x.shape();
  bool same_elsewhere = true;
  for (size_t d = 0; d < in.size(); ++d)
    if (d != dims[0] && in[d] != out[d]) same_elsewhere = false;
  if (dims.size() == 1 && same_elsewhere) {
    const size_t d = dims[0];
    return gather(x, static_cast<int64_t>(d), map[d]);
  }
  const Strides st = contiguous_strides(in);
  Tensor flat;
  for (size_t d = 0; d < in.size(); ++d) {
    if (in[d] == 1 && !map[d].defined()) continue;  // coordinate 0
    Tensor c = map[d].defined() ? map[d] : coordinate(out, d, x.device());
    Tensor term = st[d] == 1 ? c : c * st[d];
    flat = flat.defined() ? flat + term : term;
  }
  if (!flat.defined()) flat = zeros(out, TensorOptions(DType::i64).device(x.device()));
  return take(x, flat);
}

int64_t dim_of(std::string_view op, int64_t dim, const Tensor& x) {
  return normalize_axis(op, dim, static_cast<int64_t>(x.dim()));
}

}  // namespace

Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  trace::impl_of(x, "narrow");
  if (x.dim() == 0) fail("narrow: cannot narrow a 0-dimensional tensor");
  const int64_t d = dim_of("narrow", dim, x), n = x.size(d);
  if (start < -n || start > n)
    fail("narrow: start {} is out of range for dimension {} of size {}", start, d, n);
  if (start < 0) start += n;
  if (length < 0 || start + length > n)
    fail("narrow: start ({}) + length ({}) exceeds dimension {} of size {}", start, length, d, n);
  return x.slice(d, start, start + length);
}

Tensor select(const Tensor& x, int64_t dim, int64_t index) {
  trace::impl_of(x, "select");
  if (x.dim() == 0) fail("select: cannot select from a 0-dimensional tensor");
  const int64_t d = dim_of("select", dim, x), n = x.size(d);
  if (index < -n || index >= n)
    fail("select: index {} is out of range for dimension {} with size {}", index, d, n);
  if (index < 0) index += n;
  return x.slice(d, index, index + 1).squeeze(d);
}

std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim) {
  trace::impl_of(x, "split");
  if (x.dim() == 0) fail("split: cannot split a 0-dimensional tensor");
  const int64_t d = dim_of("split", dim, x), n = x.size(d);
  if (split_size < 0 || (split_size == 0 && n != 0))
    fail("split: split_size must be positive, got {}", split_size);
  std::vector<Tensor> out;
  if (n == 0) return {x};
  for (int64_t s = 0; s < n; s += split_size)
    out.push_back(x.slice(d, s, std::min(n, s + split_size)));
  return out;
}

std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim) {
  trace::impl_of(x, "split");
  if (x.dim() == 0) fail("split: cannot split a 0-dimensional tensor");
  const int64_t d = dim_of("split", dim, x), n = x.size(d);
  int64_t total = 0;
  for (int64_t s : sizes) {
    if (s < 0) fail("split: sizes must not be negative, got {}", shape_str(sizes));
    total += s;
  }
  if (total != n)
    fail("split: sizes {} add up to {}, but dimension {} has size {}", shape_str(sizes), total, d,
         n);
  std::vector<Tensor> out;
  int64_t at = 0;
  for (int64_t s : sizes) {
    out.push_back(x.slice(d, at, at + s));
    at += s;
  }
  return out;
}

std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim) {
  trace::impl_of(x, "chunk");
  if (chunks <= 0) fail("chunk: chunks must be positive, got {}", chunks);
  if (x.dim() == 0) fail("chunk: cannot chunk a 0-dimensional tensor");
  const int64_t d = dim_of("chunk", dim, x), n = x.size(d);
  return split(x, std::max<int64_t>((n + chunks - 1) / chunks, n == 0 ? 0 : 1), d);
}

std::vector<Tensor> meshgrid(const std::vector<Tensor>& tensors, std::string_view indexing) {
  if (indexing != "ij" && indexing != "xy")
    fail("meshgrid: indexing must be \"ij\" or \"xy\", got \"{}\"", indexing);
  Shape out;
  for (const Tensor& t : tensors) {
    trace::impl_of(t, "meshgrid");
    if (t.dim() > 1)
      fail("meshgrid: expects 0- or 1-dimensional tensors, got shape {}", shape_str(t.shape()));
    out.push_back(t.numel());
  }
  const bool xy = indexing == "xy" && out.size() >= 2;
  if (xy) std::swap(out[0], out[1]);
  std::vector<Tensor> r;
  for (size_t i = 0; i < tensors.size(); ++i) {
    size_t at = i;
    if (xy && i < 2) at = 1 - i;
    Shape lone(out.size(), 1);
    lone[at] = out[at];
    r.push_back(tensors[i].reshape(lone).expand(out));
  }
  return r;
}

Tensor flip(const Tensor& x, const Axes& dims) {
  trace::impl_of(x, "flip");
  const Shape& s = x.shape();
  std::vector<Tensor> map(s.size());
  for (int64_t dim : dims) {
    const size_t d = static_cast<size_t>(dim_of("flip", dim, x));
    if (map[d].defined()) fail("flip: dimension {} is given twice in {}", d, shape_str(dims));
    map[d] = (s[d] - 1) - coordinate(s, d, x.device());
  }
  return remap(x, s, map);
}

Tensor roll(const Tensor& x, const std::vector<int64_t>& shifts, const Axes& dims) {
  trace::impl_of(x, "roll");
  if (dims.empty()) {
    if (shifts.size() != 1)
      fail("roll: without dims, give one shift (the flattened tensor is rolled), got {}",
           shape_str(shifts));
    return roll(x.reshape({-1}), shifts, {0}).reshape(x.shape());
  }
  if (shifts.size() != dims.size())
    fail("roll: {} shifts for {} dims; give one shift per dim", shifts.size(), dims.size());
  const Shape& s = x.shape();
  std::vector<Tensor> map(s.size());
  std::vector<int64_t> total(s.size(), 0);
  for (size_t k = 0; k < dims.size(); ++k) total[dim_of("roll", dims[k], x)] += shifts[k];
  for (size_t d = 0; d < s.size(); ++d) {
    if (s[d] == 0) continue;
    const int64_t sh = ((total[d] % s[d]) + s[d]) % s[d];
    if (sh == 0) continue;
    map[d] = remainder(coordinate(s, d, x.device()) + (s[d] - sh), s[d]);
  }
  return remap(x, s, map);
}

Tensor pad(const Tensor& x, const std::vector<int64_t>& pad, std::string_view mode, double value) {
  trace::impl_of(x, "pad");
  const bool constant = mode == "constant", reflect = mode == "reflect",
             replicate = mode == "replicate", circular = mode == "circular";
  if (!constant && !reflect && !replicate && !circular)
    fail("pad: mode must be \"constant\", \"reflect\", \"replicate\" or \"circular\", got \"{}\"",
         mode);
  const int64_t r = static_cast<int64_t>(x.dim());
  if (pad.size() % 2 != 0 || static_cast<int64_t>(pad.size()) > 2 * r)
    fail("pad: expects pairs (before, after) for at most {} dimensions, last first; got {}", r,
         shape_str(pad));
  const Shape& s = x.shape();
  Shape out = s;
  std::vector<int64_t> before(s.size(), 0);
  for (size_t k = 0; k < pad.size() / 2; ++k) {
    const size_t d = s.size() - 1 - k;
    before[d] = pad[2 * k];
    const int64_t after = pad[2 * k + 1];
    out[d] = s[d] + before[d] + after;
    if (out[d] < 0)
      fail("pad: padding {} and {} make dimension {} of size {} negative", before[d], after, d,
           s[d]);
    if (!constant && (before[d] < 0 || after < 0))
      fail("pad: negative padding is only for mode \"constant\", got {}", shape_str(pad));
    if (!constant && s[d] == 0 && out[d] > 0)
      fail("pad: mode \"{}\" needs a nonempty dimension {} to pad, got shape {}", mode, d,
           shape_str(s));
    if (reflect && (before[d] >= s[d] || after >= s[d]))
      fail("pad: reflect padding ({}, {}) must be smaller than dimension {} of size {}", before[d],
           after, d, s[d]);
  }
  if (shape_numel(out) == 0 || shape_numel(s) == 0)
    return full(out, value, TensorOptions(x.dtype()).device(x.device()));
  std::vector<Tensor> map(s.size());
  Tensor inside;
  for (size_t d = 0; d < s.size(); ++d) {
    if (before[d] == 0 && out[d] == s[d]) continue;
    Tensor t = coordinate(out, d, x.device()) - before[d];
    const int64_t n = s[d];
    if (constant) {
      Tensor in = (t >= 0) & (t < n);
      inside = inside.defined() ? inside & in : in;
      map[d] = clamp(t, 0, n - 1);
    } else if (replicate) {
      map[d] = clamp(t, 0, n - 1);
    } else if (circular) {
      map[d] = remainder(t, n);
    } else {  // reflect about the edges, not repeating them
      Tensor a = abs(t);
      map[d] = n == 1 ? a * 0 : (n - 1) - abs((n - 1) - a);
    }
  }
  Tensor v = remap(x, out, map);
  if (!inside.defined()) return v;
  return where(inside, v, trace::scalar_tensor(value, x.dtype(), x.device()));
}

Tensor repeat(const Tensor& x, const Shape& repeats) {
  trace::impl_of(x, "repeat");
  if (static_cast<int64_t>(repeats.size()) < x.dim())
    fail("repeat: {} repeats for a {}-d tensor; give at least one per dimension", repeats.size(),
         x.dim());
  for (int64_t k : repeats)
    if (k < 0) fail("repeat: repeats must not be negative, got {}", shape_str(repeats));
  Shape s(repeats.size() - static_cast<size_t>(x.dim()), 1);
  s.insert(s.end(), x.shape().begin(), x.shape().end());
  Tensor y = x.reshape(s);
  Shape out(s.size());
  for (size_t d = 0; d < s.size(); ++d) out[d] = s[d] * repeats[d];
  if (shape_numel(out) == 0) return zeros(out, TensorOptions(x.dtype()).device(x.device()));
  std::vector<Tensor> map(s.size());
  for (size_t d = 0; d < s.size(); ++d)
    if (repeats[d] != 1 && s[d] != 1) map[d] = remainder(coordinate(out, d, x.device()), s[d]);
  // Size-1 dims repeat as a broadcast.
  Shape mid = s;
  for (size_t d = 0; d < s.size(); ++d)
    if (s[d] == 1) mid[d] = out[d];
  return remap(y.expand(mid), out, map);
}

Tensor repeat_interleave(const Tensor& x, int64_t repeats, std::optional<int64_t> dim) {
  trace::impl_of(x, "repeat_interleave");
  if (repeats < 0) fail("repeat_interleave: repeats must not be negative, got {}", repeats);
  if (!dim) return repeat_interleave(x.reshape({-1}), repeats, 0);
  if (x.dim() == 0) return repeat_interleave(x.reshape({1}), repeats, 0);
  const size_t d = static_cast<size_t>(dim_of("repeat_interleave", *dim, x));
  Shape out = x.shape();
  out[d] *= repeats;
  if (shape_numel(out) == 0) return zeros(out, TensorOptions(x.dtype()).device(x.device()));
  if (repeats == 1) return x;
  std::vector<Tensor> map(out.size());
  map[d] = floor_divide(coordinate(out, d, x.device()), repeats);
  return remap(x, out, map);
}

Tensor one_hot(const Tensor& index, int64_t num_classes) {
  const auto& ix = trace::impl_of(index, "one_hot");
  if (ix->dtype != DType::i64 && ix->dtype != DType::i32)
    fail("one_hot: class values must be i64 or i32, got {}", dtype_name(ix->dtype));
  if (num_classes < -1) fail("one_hot: num_classes must be -1 or positive, got {}", num_classes);
  if (num_classes == -1) {
    if (index.numel() == 0) fail("one_hot: cannot infer num_classes of an empty tensor; give it");
    num_classes = index.max().item<int64_t>() + 1;  // reads the values, as torch does
  }
  if (index.numel() > 0) {
    const int64_t lo = index.min().item<int64_t>(), hi = index.max().item<int64_t>();
    if (lo < 0) fail("one_hot: class values must not be negative, got {}", lo);
    if (hi >= num_classes)
      fail("one_hot: class value {} is out of range for {} classes", hi, num_classes);
  }
  Tensor classes = arange(num_classes, TensorOptions(DType::i64).device(index.device()));
  return (index.unsqueeze(-1) == classes).to(DType::i64);
}

Tensor Tensor::narrow(int64_t dim, int64_t start, int64_t length) const {
  return tj::narrow(*this, dim, start, length);
}
Tensor Tensor::select(int64_t dim, int64_t index) const { return tj::select(*this, dim, index); }
std::vector<Tensor> Tensor::split(int64_t split_size, int64_t dim) const {
  return tj::split(*this, split_size, dim);
}
std::vector<Tensor> Tensor::chunk(int64_t chunks, int64_t dim) const {
  return tj::chunk(*this, chunks, dim);
}
Tensor Tensor::flip(const Axes& dims) const { return tj::flip(*this, dims); }
Tensor Tensor::roll(const std::vector<int64_t>& shifts, const Axes& dims) const {
  return tj::roll(*this, shifts, dims);
}
Tensor Tensor::repeat(const Shape& repeats) const { return tj::repeat(*this, repeats); }
Tensor Tensor::repeat_interleave(int64_t repeats, std::optional<int64_t> dim) const {
  return tj::repeat_interleave(*this, repeats, dim);
}

}  // namespace tj
