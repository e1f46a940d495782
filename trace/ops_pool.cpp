// Pooling, batch and group normalization, interpolation: compositions of
// traced ops that fuse. A pool is separable: its taps along W (strided views
// of the input, padded where a window overhangs) combined pointwise, then
// those along H: at most two kernels, each reading K taps from cache.
#include <cmath>
#include <limits>

#include "trace/autocast.h"
#include "trace/ops_util.h"

namespace tj {

namespace {

std::vector<int64_t> pair_arg(std::string_view op, std::string_view what,
                              const std::vector<int64_t>& v, const std::vector<int64_t>& dflt) {
  const std::vector<int64_t>& u = v.empty() ? dflt : v;
  if (u.size() == 2) return u;
  if (u.size() == 1) return {u[0], u[0]};
  fail("{}: {} needs 1 or 2 values, got {}", op, what, u.size());
}

void require_floating_4d(std::string_view op, const Tensor& x, bool allow_3d = true) {
  const auto& xi = trace::impl_of(x, op);
  if (xi->shape.size() != 4 && !(allow_3d && xi->shape.size() == 3))
    fail("{}: expects a 4-d input [N, C, H, W]{}, got {}", op,
         allow_3d ? " (or 3-d [C, H, W] unbatched)" : "", shape_str(xi->shape));
  if (!is_floating(xi->dtype))
    fail("{}: needs a floating-point input, got {} (cast it first, e.g. x.to(tj::f32))", op,
         dtype_name(xi->dtype));
}

/// Windows of a 2-d pooling: sizes, the output size and the padding on each side.
struct Windows {
  int64_t k[2], s[2], p[2], d[2], out[2];
};

Windows windows(std::string_view op, const Shape& xs, const std::vector<int64_t>& kernel_size,
                const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
                const std::vector<int64_t>& dilation, bool ceil_mode) {
  const auto k = pair_arg(op, "kernel_size", kernel_size, {});
  const auto s = pair_arg(op, "stride", stride, k);
  const auto p = pair_arg(op, "padding", padding, {0});
  const auto d = pair_arg(op, "dilation", dilation, {1});
  Windows w{};
  const size_t r = xs.size();
  for (int q = 0; q < 2; ++q) {
    if (k[q] < 1 || s[q] < 1 || d[q] < 1)
      fail(
          "{}: kernel_size, stride and dilation must be positive, got kernel_size [{}, {}], "
          "stride [{}, {}], dilation [{}, {}]",
          op, k[0], k[1], s[0], s[1], d[0], d[1]);
    const int64_t eff = d[q] * (k[q] - 1) + 1;
    if (p[q] < 0 || 2 * p[q] > eff)
      fail("{}: padding ({}) must be non-negative and at most half the kernel size ({}); input {}",
           op, p[q], eff, shape_str(xs));
    const int64_t in = xs[r - 2 + q], span = in + 2 * p[q] - eff;
    if (span < 0)
      fail("{}: the window ({}) is larger than the padded input ({}); input {}", op, eff,
           in + 2 * p[q], shape_str(xs));
    int64_t out = (ceil_mode ? (span + s[q] - 1) / s[q] : span / s[q]) + 1;
    // With ceil_mode the last window still starts inside the input or the left padding.
    if (ceil_mode && (out - 1) * s[q] >= in + p[q]) --out;
    w.k[q] = k[q];
    w.s[q] = s[q];
    w.p[q] = p[q];
    w.d[q] = d[q];
    w.out[q] = out;
  }
  return w;
}

/// Tap i along spatial dim q (0: H, 1: W) of every window of x: x at
/// a s - p + i d for every output a of that dim, `value` where that is
/// outside x. A strided view of x, padded where some windows overhang (a pad
/// reads its input at computed positions in the kernel that uses it, so the
/// taps of one dim fuse into one kernel); undefined when every window's tap
/// is outside x.
Tensor tap(const Tensor& x, const Windows& w, int q, int64_t i, double value) {
  const int64_t dim = x.dim() - 2 + q;
  const int64_t in = x.shape()[dim], off = i * w.d[q] - w.p[q];
  // Outputs a in [lo, hi) read inside x: 0 <= a s + off < in.
  const int64_t lo = off >= 0 ? 0 : (-off + w.s[q] - 1) / w.s[q];
  const int64_t hi = std::min<int64_t>(w.out[q], in - off <= 0 ? 0 : (in - 1 - off) / w.s[q] + 1);
  if (lo >= hi) return Tensor();
  Tensor t = x.slice(dim, lo * w.s[q] + off, (hi - 1) * w.s[q] + off + 1, w.s[q]);
  if (lo == 0 && hi == w.out[q]) return t;
  std::vector<int64_t> pads(2 * (x.dim() - dim), 0);  // F.pad's pairs, last dim first
  pads[pads.size() - 2] = lo;
  pads[pads.size() - 1] = w.out[q] - hi;
  return pad(t, pads, "constant", value);
}

/// A pool is separable: `combine` over the taps along W, then over those along H
/// (two kernels, each reading K taps).
template <class Combine>
Tensor separable_pool(const Tensor& x, const Windows& w, double pad_value, Combine&& combine) {
  Tensor y = x;
  for (int q = 2; q-- > 0;) {
    Tensor acc;
    for (int64_t i = 0; i < w.k[q]; ++i) {
      Tensor t = tap(y, w, q, i, pad_value);
      if (t.defined()) acc = acc.defined() ? combine(acc, t) : t;
    }
    // Every window holds at least one element of x (padding is at most half
    // the window, and a ceil_mode window starts inside x or its left padding).
    TJ_CHECK(acc.defined(), "pooling: no window reads the input");
    y = acc;
  }
  return y;
}

/// A CPU constant [rows, cols] of doubles as dtype `t` on `dev`.
Tensor host_matrix(const std::vector<double>& v, const Shape& shape, DType t, Device dev) {
  return from_vector(v, shape).to(t).to(dev);
}

/// An input [N, C, ...] of a per-channel normalization, floating, with
/// per-channel parameters (when defined) of shape [C].
void check_channels(std::string_view op, const Shape& xs, DType t,
                    std::initializer_list<std::pair<const Tensor*, const char*>> params) {
  if (xs.size() < 2)
    fail("{}: expects an input [N, C, ...] of at least 2 dims, got {}", op, shape_str(xs));
  if (!is_floating(t)) fail("{}: needs a floating-point input, got {}", op, dtype_name(t));
  const int64_t C = xs[1];
  for (const auto& [p, name] : params)
    if (p->defined() && p->shape() != Shape{C})
      fail("{}: {} must have shape [{}] (one value per channel of the input {}), got {}", op, name,
           C, shape_str(xs), shape_str(p->shape()));
}

/// y * weight + bias per channel (dim 1), in y's dtype; either may be undefined.
Tensor channel_affine(Tensor y, const Tensor& weight, const Tensor& bias) {
  Shape bshape(static_cast<size_t>(y.dim()), 1);
  bshape[1] = y.shape()[1];
  if (weight.defined()) y = y * trace::cast_to(weight, y.dtype()).reshape(bshape);
  if (bias.defined()) y = y + trace::cast_to(bias, y.dtype()).reshape(bshape);
  return y;
}

}  // namespace

Tensor max_pool2d(const Tensor& x, const std::vector<int64_t>& kernel_size,
                  const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
                  const std::vector<int64_t>& dilation, bool ceil_mode) {
  constexpr std::string_view op = "max_pool2d";
  require_floating_4d(op, x);
  const Windows w = windows(op, x.shape(), kernel_size, stride, padding, dilation, ceil_mode);
  const Shape& xs = x.shape();
  const int64_t r = static_cast<int64_t>(xs.size());
  if (w.p[0] == 0 && w.p[1] == 0 && w.d[0] == 1 && w.d[1] == 1 && w.s[0] == w.k[0] &&
      w.s[1] == w.k[1] && xs[r - 2] == w.out[0] * w.k[0] && xs[r - 1] == w.out[1] * w.k[1]) {
    // Windows that tile the input: a max over two dims of a reshape (a row
    // kernel reading the input contiguously).
    Shape s(xs.begin(), xs.end() - 2);
    s.insert(s.end(), {w.out[0], w.k[0], w.out[1], w.k[1]});
    return max(x.reshape(s), {r - 1, r + 1});
  }
  return separable_pool(x, w, -std::numeric_limits<double>::infinity(),
                        [](const Tensor& a, const Tensor& b) { return maximum(a, b); });
}

Tensor avg_pool2d(const Tensor& x, const std::vector<int64_t>& kernel_size,
                  const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
                  bool ceil_mode, bool count_include_pad, std::optional<int64_t> divisor_override) {
  constexpr std::string_view op = "avg_pool2d";
  require_floating_4d(op, x);
  if (divisor_override && *divisor_override == 0) fail("{}: divisor_override must not be 0", op);
  const Shape& xs = x.shape();
  const Windows w = windows(op, xs, kernel_size, stride, padding, {1}, ceil_mode);
  const DType t = x.dtype(), wt = t == DType::f64 ? DType::f64 : DType::f32;
  const Tensor s = separable_pool(trace::cast_to(x, wt), w, 0.0,
                                  [](const Tensor& a, const Tensor& b) { return a + b; });
  // The divisor of each window, as torch: the window clipped to the padded
  // input (count_include_pad) or to the input itself.
  const int64_t H = xs[xs.size() - 2], W = xs.back();
  std::vector<double> inv;
  for (int64_t a = 0; a < w.out[0]; ++a)
    for (int64_t b = 0; b < w.out[1]; ++b) {
      double div = 0;
      if (divisor_override) {
        div = static_cast<double>(*divisor_override);
      } else {
        int64_t hs = a * w.s[0] - w.p[0], ws = b * w.s[1] - w.p[1];
        int64_t he = std::min(hs + w.k[0], H + w.p[0]), we = std::min(ws + w.k[1], W + w.p[1]);
        const int64_t full = (he - hs) * (we - ws);
        hs = std::max<int64_t>(hs, 0);
        ws = std::max<int64_t>(ws, 0);
        he = std::min(he, H);
        we = std::min(we, W);
        div = static_cast<double>(count_include_pad ? full : (he - hs) * (we - ws));
      }
      inv.push_back(1.0 / div);
    }
  return trace::cast_to(s * host_matrix(inv, {w.out[0], w.out[1]}, wt, x.device()), t);
}

Tensor adaptive_avg_pool2d(const Tensor& x, const std::vector<int64_t>& output_size) {
  constexpr std::string_view op = "adaptive_avg_pool2d";
  require_floating_4d(op, x);
  const auto o = pair_arg(op, "output_size", output_size, {});
  const Shape& xs = x.shape();
  const int64_t r = static_cast<int64_t>(xs.size()), H = xs[r - 2], W = xs[r - 1];
  if (o[0] < 1 || o[1] < 1) fail("{}: output_size must be positive, got [{}, {}]", op, o[0], o[1]);
  if (H == 0 || W == 0) fail("{}: the input {} has no elements to average over", op, shape_str(xs));
  if (H % o[0] == 0 && W % o[1] == 0) {  // equal windows: a reshape and a mean
    Shape s(xs.begin(), xs.end() - 2);
    s.insert(s.end(), {o[0], H / o[0], o[1], W / o[1]});
    return mean(x.reshape(s), {r - 1, r + 1});
  }
  // Windows [floor(i H / OH), ceil((i + 1) H / OH)) of unequal sizes: two
  // averaging matrices, out = Ph x Pw^T.
  auto pooling = [](int64_t in, int64_t out) {
    std::vector<double> m(static_cast<size_t>(in * out), 0.0);
    for (int64_t i = 0; i < out; ++i) {
      const int64_t a = (i * in) / out, b = ((i + 1) * in + out - 1) / out;
      for (int64_t k = a; k < b; ++k) m[i * in + k] = 1.0 / static_cast<double>(b - a);
    }
    return m;
  };
  const DType t = x.dtype();
  const Tensor ph = host_matrix(pooling(H, o[0]), {o[0], H}, t, x.device());
  const Tensor pw = host_matrix(pooling(W, o[1]), {o[1], W}, t, x.device());
  return matmul(matmul(ph, x), pw.t());
}

Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight, const Tensor& bias, bool training, double momentum,
                  double eps) {
  constexpr std::string_view op = "batch_norm";
  const Tensor x = trace::autocast_f32(input);
  const auto& xi = trace::impl_of(x, op);
  check_channels(op, xi->shape, xi->dtype,
                 {{&running_mean, "running_mean"},
                  {&running_var, "running_var"},
                  {&weight, "weight"},
                  {&bias, "bias"}});
  const int64_t C = xi->shape[1];
  if (!training && (!running_mean.defined() || !running_var.defined()))
    fail("{}: evaluation (training=false) needs running_mean and running_var", op);
  const DType t = xi->dtype, wt = t == DType::f64 ? DType::f64 : DType::f32;
  Axes axes{0};
  int64_t count = xi->shape[0];
  for (size_t d = 2; d < xi->shape.size(); ++d) {
    axes.push_back(static_cast<int64_t>(d));
    count *= xi->shape[d];
  }
  Shape bshape(xi->shape.size(), 1);  // [1, C, 1, ...]
  bshape[1] = C;
  const Tensor w = trace::cast_to(x, wt);
  Tensor m, v;
  if (training) {
    if (count < 2 && (running_mean.defined() || count == 0))
      fail("{}: training needs more than 1 value per channel, got input {}", op,
           shape_str(xi->shape));
    m = mean(w, axes);
    Tensor d = w - m.reshape(bshape);
    v = mean(d * d, axes);
    if (running_mean.defined()) {
      Tensor& rm = const_cast<Tensor&>(running_mean);
      rm.copy_(trace::cast_to(trace::cast_to(rm, wt) * (1 - momentum) + m * momentum, rm.dtype()));
    }
    if (running_var.defined()) {
      Tensor& rv = const_cast<Tensor&>(running_var);
      const double unbias = static_cast<double>(count) / static_cast<double>(count - 1);
      rv.copy_(trace::cast_to(trace::cast_to(rv, wt) * (1 - momentum) + v * (momentum * unbias),
                              rv.dtype()));
    }
  } else {
    m = trace::cast_to(running_mean, wt);
    v = trace::cast_to(running_var, wt);
  }
  const Tensor y = (w - m.reshape(bshape)) * rsqrt(v + eps).reshape(bshape);
  return trace::cast_to(channel_affine(y, weight, bias), t);
}

Tensor group_norm(const Tensor& input, int64_t num_groups, const Tensor& weight, const Tensor& bias,
                  double eps) {
  constexpr std::string_view op = "group_norm";
  const Tensor x = trace::autocast_f32(input);
  const auto& xi = trace::impl_of(x, op);
  check_channels(op, xi->shape, xi->dtype, {{&weight, "weight"}, {&bias, "bias"}});
  const int64_t N = xi->shape[0], C = xi->shape[1];
  if (num_groups < 1 || C % num_groups != 0)
    fail("{}: num_groups ({}) must divide the number of channels ({}) of the input {}", op,
         num_groups, C, shape_str(xi->shape));
  const DType t = xi->dtype, wt = t == DType::f64 ? DType::f64 : DType::f32;
  Tensor g = trace::cast_to(x, wt).reshape({N, num_groups, -1});
  Tensor d = g - mean(g, {2}, true);
  const Tensor y = (d * rsqrt(mean(d * d, {2}, true) + eps)).reshape(xi->shape);
  return trace::cast_to(channel_affine(y, weight, bias), t);
}

Tensor interpolate(const Tensor& x, const std::vector<int64_t>& size,
                   const std::vector<double>& scale_factor, std::string_view mode,
                   std::optional<bool> align_corners) {
  constexpr std::string_view op = "interpolate";
  const auto& xi = trace::impl_of(x, op);
  if (xi->shape.size() != 4)
    fail("{}: expects a 4-d input [N, C, H, W], got {}", op, shape_str(xi->shape));
  if (!is_floating(xi->dtype))
    fail("{}: needs a floating-point input, got {}", op, dtype_name(xi->dtype));
  const bool bilinear = mode == "bilinear";
  if (!bilinear && mode != "nearest")
    fail("{}: mode must be \"nearest\" or \"bilinear\", got \"{}\"", op, mode);
  if (align_corners && !bilinear) fail("{}: align_corners applies to mode \"bilinear\" only", op);
  if (size.empty() == scale_factor.empty())
    fail("{}: give exactly one of size and scale_factor", op);
  const Shape& xs = xi->shape;
  int64_t out[2];
  double scale[2];  // input coordinate per output coordinate
  for (int q = 0; q < 2; ++q) {
    const int64_t in = xs[2 + q];
    if (!size.empty()) {
      if (size.size() != 1 && size.size() != 2)
        fail("{}: size needs 1 or 2 values, got {}", op, size.size());
      out[q] = size[size.size() == 1 ? 0 : q];
      if (out[q] < 1) fail("{}: size must be positive, got {}", op, out[q]);
      scale[q] = static_cast<double>(in) / static_cast<double>(out[q]);
    } else {
      if (scale_factor.size() != 1 && scale_factor.size() != 2)
        fail("{}: scale_factor needs 1 or 2 values, got {}", op, scale_factor.size());
      const double f = scale_factor[scale_factor.size() == 1 ? 0 : q];
      if (!(f > 0)) fail("{}: scale_factor must be positive, got {}", op, f);
      out[q] = static_cast<int64_t>(std::floor(static_cast<double>(in) * f));
      if (out[q] < 1)
        fail("{}: scale_factor {} leaves no output of the input {}", op, f, shape_str(xs));
      scale[q] = 1.0 / f;
    }
    if (in == 0) fail("{}: the input {} is empty", op, shape_str(xs));
  }
  const Device dev = x.device();
  auto indices = [&](const std::vector<int64_t>& v) {
    return from_vector(v, {static_cast<int64_t>(v.size())}).to(dev);
  };
  if (!bilinear) {  // src = min(floor(dst * scale), in - 1)
    Tensor y = x;
    for (int q = 0; q < 2; ++q) {
      std::vector<int64_t> idx;
      for (int64_t i = 0; i < out[q]; ++i)
        idx.push_back(std::min(static_cast<int64_t>(std::floor(static_cast<double>(i) * scale[q])),
                               xs[2 + q] - 1));
      y = index_select(y, 2 + q, indices(idx));
    }
    return y;
  }
  // Bilinear, one dim after the other: two neighbours and their weights.
  const bool corners = align_corners.value_or(false);
  const DType t = xi->dtype, wt = t == DType::f64 ? DType::f64 : DType::f32;
  Tensor y = trace::cast_to(x, wt);
  for (int q = 0; q < 2; ++q) {
    const int64_t in = xs[2 + q];
    std::vector<int64_t> i0, i1;
    std::vector<double> l0, l1;
    for (int64_t i = 0; i < out[q]; ++i) {
      double src = corners ? (out[q] > 1 ? static_cast<double>(i) * static_cast<double>(in - 1) /
                                               static_cast<double>(out[q] - 1)
                                         : 0.0)
                           : std::max((static_cast<double>(i) + 0.5) * scale[q] - 0.5, 0.0);
      const int64_t a = std::min(static_cast<int64_t>(std::floor(src)), in - 1);
      const int64_t b = std::min(a + 1, in - 1);
      const double l = src - static_cast<double>(a);
      i0.push_back(a);
      i1.push_back(b);
      l0.push_back(1.0 - l);
      l1.push_back(l);
    }
    Shape ws{out[q], 1};
    if (q == 1) ws = {out[q]};
    y = index_select(y, 2 + q, indices(i0)) * host_matrix(l0, ws, wt, dev) +
        index_select(y, 2 + q, indices(i1)) * host_matrix(l1, ws, wt, dev);
  }
  return trace::cast_to(y, t);
}

}  // namespace tj
