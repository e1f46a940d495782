// Convolution: conv1d, conv2d, conv_transpose2d. Each is one Conv node
// (ir/ops.def) over 4-d operands read from buffers: on the CPU a oneDNN
// convolution where oneDNN is built in (jit/cpu/onednn.h), else a generated
// direct convolution; bias is part of the node. conv1d is conv2d over a height
// of 1; conv_transpose2d is a conv2d of the input spread out by the stride.
#include <fmt/format.h>

#include "trace/autocast.h"
#include "trace/ops_util.h"

namespace tj {

using ir::Op;

namespace {

/// A torch-style int list of 1 or `n` entries as `n` values.
std::vector<int64_t> expand_arg(std::string_view op, std::string_view what,
                                const std::vector<int64_t>& v, size_t n) {
  if (v.size() == n) return v;
  if (v.size() == 1) return std::vector<int64_t>(n, v[0]);
  fail("{}: {} needs 1 or {} values, got {}", op, what, n, v.size());
}

std::string list_str(const std::vector<int64_t>& v) { return shape_str(Shape(v.begin(), v.end())); }

/// The conv node of a 4-d input [N, C, H, W] (3-d [C, H, W]: unbatched).
Tensor conv_node(std::string_view op, const Tensor& x_in, const Tensor& w_in, const Tensor& b_in,
                 const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
                 const std::vector<int64_t>& dilation, int64_t groups) {
  const Tensor x0 = trace::autocast_for(Op::Conv, x_in), w = trace::autocast_for(Op::Conv, w_in),
               b = trace::autocast_for(Op::Conv, b_in);
  const auto& xi = trace::impl_of(x0, op);
  const auto& wi = trace::impl_of(w, op);
  if (b.defined()) trace::impl_of(b, op);
  if (xi->shape.size() != 3 && xi->shape.size() != 4)
    fail("{}: expects a 4-d input [N, C, H, W] (or 3-d [C, H, W] unbatched), got {}", op,
         shape_str(xi->shape));
  if (wi->shape.size() != 4)
    fail("{}: expects a 4-d weight [out_channels, in_channels / groups, kH, kW], got {}", op,
         shape_str(wi->shape));
  const bool unbatched = xi->shape.size() == 3;
  const Tensor x = unbatched ? x0.unsqueeze(0) : x0;
  std::vector<Tensor> in{x, w};
  if (b.defined()) in.push_back(b);
  std::vector<int64_t> attrs{stride[0],   stride[1],   padding[0], padding[1],
                             dilation[0], dilation[1], groups};
  Tensor y = trace::record(Op::Conv, in, {.attrs = attrs}, op);
  return unbatched ? y.squeeze(0) : y;
}

/// Padding for padding="same" (stride 1): total d (k - 1) per dim, the odd
/// one on the high side, as torch; the symmetric part goes to the conv node,
/// the rest is an explicit pad of the input. "valid" is no padding.
Tensor conv_padded(std::string_view op, const Tensor& x, const Tensor& w, const Tensor& b,
                   const std::vector<int64_t>& stride, std::string_view padding,
                   const std::vector<int64_t>& dilation, int64_t groups) {
  if (padding == "valid") return conv_node(op, x, w, b, stride, {0, 0}, dilation, groups);
  if (padding != "same")
    fail("{}: padding must be \"same\", \"valid\" or a list of sizes, got \"{}\"", op, padding);
  for (int64_t s : stride)
    if (s != 1)
      fail("{}: padding=\"same\" needs stride 1, got stride {} (give explicit padding instead)", op,
           list_str(stride));
  const auto& wi = trace::impl_of(w, op);
  if (wi->shape.size() != 4)
    fail("{}: expects a 4-d weight [out_channels, in_channels / groups, kH, kW], got {}", op,
         shape_str(wi->shape));
  std::vector<int64_t> sym(2, 0), extra;  // extra: F.pad's (left, right) pairs, last dim first
  for (size_t q = 2; q-- > 0;) {
    const int64_t total = dilation[q] * (wi->shape[2 + q] - 1);
    sym[q] = total / 2;
    extra.push_back(0);
    extra.push_back(total % 2);
  }
  const bool uneven = extra[1] != 0 || extra[3] != 0;
  return conv_node(op, uneven ? pad(x, extra) : x, w, b, stride, sym, dilation, groups);
}

}  // namespace

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias,
              const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
              const std::vector<int64_t>& dilation, int64_t groups) {
  constexpr std::string_view op = "conv2d";
  return conv_node(op, input, weight, bias, expand_arg(op, "stride", stride, 2),
                   expand_arg(op, "padding", padding, 2), expand_arg(op, "dilation", dilation, 2),
                   groups);
}

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias,
              const std::vector<int64_t>& stride, PaddingMode padding,
              const std::vector<int64_t>& dilation, int64_t groups) {
  constexpr std::string_view op = "conv2d";
  return conv_padded(op, input, weight, bias, expand_arg(op, "stride", stride, 2), padding.name,
                     expand_arg(op, "dilation", dilation, 2), groups);
}

namespace {

/// conv1d as conv2d over a height of 1: x [N, C, L] -> [N, C, 1, L], w [O, C/g, K] -> [O, C/g, 1,
/// K].
template <class Pad>
Tensor conv1d_as_2d(const Tensor& input, const Tensor& weight, const Tensor& bias,
                    const std::vector<int64_t>& stride, Pad padding,
                    const std::vector<int64_t>& dilation, int64_t groups) {
  constexpr std::string_view op = "conv1d";
  const auto& xi = trace::impl_of(input, op);
  const auto& wi = trace::impl_of(weight, op);
  if (xi->shape.size() != 2 && xi->shape.size() != 3)
    fail("{}: expects a 3-d input [N, C, L] (or 2-d [C, L] unbatched), got {}", op,
         shape_str(xi->shape));
  if (wi->shape.size() != 3)
    fail("{}: expects a 3-d weight [out_channels, in_channels / groups, k], got {}", op,
         shape_str(wi->shape));
  const int64_t hd = static_cast<int64_t>(xi->shape.size()) - 1;  // where the height goes
  const std::vector<int64_t> s{1, expand_arg(op, "stride", stride, 1)[0]};
  const std::vector<int64_t> d{1, expand_arg(op, "dilation", dilation, 1)[0]};
  Tensor y;
  if constexpr (std::is_same_v<Pad, std::string_view>)
    y = conv_padded(op, input.unsqueeze(hd), weight.unsqueeze(2), bias, s, padding, d, groups);
  else
    y = conv_node(op, input.unsqueeze(hd), weight.unsqueeze(2), bias, s,
                  {0, expand_arg(op, "padding", padding, 1)[0]}, d, groups);
  return y.squeeze(hd);
}

}  // namespace

Tensor conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias,
              const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
              const std::vector<int64_t>& dilation, int64_t groups) {
  return conv1d_as_2d(input, weight, bias, stride, padding, dilation, groups);
}

Tensor conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias,
              const std::vector<int64_t>& stride, PaddingMode padding,
              const std::vector<int64_t>& dilation, int64_t groups) {
  return conv1d_as_2d(input, weight, bias, stride, padding.name, dilation, groups);
}

Tensor conv_transpose2d(const Tensor& input, const Tensor& weight, const Tensor& bias,
                        const std::vector<int64_t>& stride_in,
                        const std::vector<int64_t>& padding_in,
                        const std::vector<int64_t>& output_padding_in, int64_t groups,
                        const std::vector<int64_t>& dilation_in) {
  constexpr std::string_view op = "conv_transpose2d";
  const std::vector<int64_t> stride = expand_arg(op, "stride", stride_in, 2),
                             padding = expand_arg(op, "padding", padding_in, 2),
                             out_pad = expand_arg(op, "output_padding", output_padding_in, 2),
                             dilation = expand_arg(op, "dilation", dilation_in, 2);
  const auto& xi = trace::impl_of(input, op);
  const auto& wi = trace::impl_of(weight, op);
  if (xi->shape.size() != 3 && xi->shape.size() != 4)
    fail("{}: expects a 4-d input [N, C, H, W] (or 3-d [C, H, W] unbatched), got {}", op,
         shape_str(xi->shape));
  if (wi->shape.size() != 4)
    fail("{}: expects a 4-d weight [in_channels, out_channels / groups, kH, kW], got {}", op,
         shape_str(wi->shape));
  if (groups < 1) fail("{}: groups must be positive, got {}", op, groups);
  const bool unbatched = xi->shape.size() == 3;
  const Tensor x = unbatched ? input.unsqueeze(0) : input;
  const Shape xs = unbatched ? Shape{1, xi->shape[0], xi->shape[1], xi->shape[2]} : xi->shape;
  const int64_t C = xs[1], Og = wi->shape[1];
  if (wi->shape[0] != C || C % groups != 0)
    fail("{}: weight {} expects {} input channels (in groups of {}) but the input {} has {}", op,
         shape_str(wi->shape), wi->shape[0], groups, shape_str(xi->shape), C);
  for (int q = 0; q < 2; ++q) {
    if (stride[q] < 1 || dilation[q] < 1 || padding[q] < 0 || out_pad[q] < 0)
      fail(
          "{}: stride and dilation must be positive and padding non-negative, got stride {}, "
          "padding {}, dilation {}, output_padding {}",
          op, list_str(stride), list_str(padding), list_str(dilation), list_str(out_pad));
    if (out_pad[q] >= stride[q] && out_pad[q] >= dilation[q])
      fail("{}: output_padding ({}) must be smaller than the stride ({}) or the dilation ({})", op,
           list_str(out_pad), list_str(stride), list_str(dilation));
  }
  // The input spread out: stride - 1 zeros between neighbours and a full
  // padding of d (k - 1) - p on each side (output_padding more at the end; a
  // negative one crops), written into zeros by two strided slice_scatters
  // (one kernel when traced); then a stride-1 conv2d with the weight flipped
  // and its channel roles swapped within each group.
  int64_t lo[2], hi[2], size[2];
  for (int q = 0; q < 2; ++q) {
    const int64_t full = dilation[q] * (wi->shape[2 + q] - 1) - padding[q];
    lo[q] = full;
    hi[q] = full + out_pad[q];
    size[q] =
        (xs[2 + q] - 1) * stride[q] + 1 + std::max<int64_t>(lo[q], 0) + std::max<int64_t>(hi[q], 0);
  }
  const int64_t h0 = std::max<int64_t>(lo[0], 0), w0 = std::max<int64_t>(lo[1], 0);
  const int64_t hn = h0 + (xs[2] - 1) * stride[0] + 1, wn = w0 + (xs[3] - 1) * stride[1] + 1;
  Tensor z =
      zeros({xs[0], xs[1], size[0], size[1]}, TensorOptions().dtype(x.dtype()).device(x.device()));
  Tensor rows = z.slice(2, h0, hn, stride[0]).slice_scatter(x, 3, w0, wn, stride[1]);
  Tensor s = z.slice_scatter(rows, 2, h0, hn, stride[0]);
  if (lo[0] < 0 || hi[0] < 0)
    s = s.slice(2, std::max<int64_t>(-lo[0], 0), size[0] - std::max<int64_t>(-hi[0], 0));
  if (lo[1] < 0 || hi[1] < 0)
    s = s.slice(3, std::max<int64_t>(-lo[1], 0), size[1] - std::max<int64_t>(-hi[1], 0));
  const Shape& ws = wi->shape;  // [C, Og, KH, KW] -> [groups * Og, C / groups, KH, KW]
  Tensor wt = weight.reshape({groups, C / groups, Og, ws[2], ws[3]})
                  .transpose(1, 2)
                  .reshape({groups * Og, C / groups, ws[2], ws[3]})
                  .flip({2, 3});
  Tensor y = conv_node(op, s, wt, bias, {1, 1}, {0, 0}, dilation, groups);
  return unbatched ? y.squeeze(0) : y;
}

}  // namespace tj
