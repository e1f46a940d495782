#include "trace/autograd.h"

#include <cmath>
#include <unordered_map>

#include "ir/check.h"
#include "ir/dtype.h"
#include "tilejit/autograd.h"
#include "tilejit/ops.h"
#include "trace/ops_util.h"
#include "trace/trace.h"

namespace tj {

namespace {
thread_local bool grad_enabled = true;
}  // namespace

bool GradMode::is_enabled() { return grad_enabled; }
void GradMode::set_enabled(bool enabled) { grad_enabled = enabled; }
NoGradGuard::NoGradGuard() : prev_(grad_enabled) { grad_enabled = false; }
NoGradGuard::~NoGradGuard() { grad_enabled = prev_; }
AutoGradMode::AutoGradMode(bool enabled) : prev_(grad_enabled) { grad_enabled = enabled; }
AutoGradMode::~AutoGradMode() { grad_enabled = prev_; }

}  // namespace tj

namespace tj::trace::autograd {

using ir::Op;

namespace {

/// Whether the gradient formula of `op` reads input `i`'s value.
bool reads_input(Op op, size_t i) {
  switch (op) {
    case Op::Add:
    case Op::Sub:
    case Op::Neg:
    case Op::Copy:
    case Op::Cast:
    case Op::Reshape:
    case Op::Permute:
    case Op::Expand:
    case Op::Slice:
    case Op::Cat:
    case Op::Sum:
    case Op::CumSum:
    case Op::Floor:
    case Op::Ceil:
    case Op::Round:
    case Op::FloorDiv:
      return false;
    case Op::Where:
    case Op::Gather:
    case Op::Scatter:
      return i == (op == Op::Where ? 0 : 1);
    case Op::Conv:
      return i < 2;  // not the bias
    default:
      return true;
  }
}

/// Ops whose floating result has no gradient (integer, index or sampled results).
bool has_gradient(Op op) {
  return !ir::is_source(op) && op != Op::ArgMax && op != Op::ArgMin && op != Op::ArgSort;
}

[[noreturn]] void unsupported(const Node& n) {
  fail(
      "backward: the gradient of {} is not available yet (its forward pass works: compute it "
      "under tj::NoGradGuard, or detach() its input, when no gradient has to flow through it)",
      ir::op_name(n.op));
}

/// `g` summed over the dims that broadcasting added or expanded, back to `shape`.
Tensor sum_to(Tensor g, const Shape& shape) {
  if (g.shape() == shape) return g;
  const int64_t lead = g.dim() - static_cast<int64_t>(shape.size());
  TJ_CHECK(lead >= 0, "gradient of rank {} for an input of rank {}", g.dim(), shape.size());
  Axes axes;
  for (int64_t d = 0; d < lead; ++d) axes.push_back(d);
  for (size_t d = 0; d < shape.size(); ++d)
    if (shape[d] == 1 && g.shape()[d + lead] != 1) axes.push_back(static_cast<int64_t>(d) + lead);
  if (!axes.empty()) g = tj::sum(g, axes, /*keepdim=*/true);
  return g.reshape(shape);
}

/// `g` placed at elements start[d] + i * step[d] of a zero tensor of `shape`.
Tensor unslice(Tensor g, const Shape& shape, const std::vector<int64_t>& start,
               const std::vector<int64_t>& step) {
  const TensorOptions opts = TensorOptions(g.dtype()).device(g.device());
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    const int64_t n = g.shape()[d];
    if (n == shape[d]) continue;
    if (n == 0) return zeros(shape, opts);
    Shape full = g.shape();
    full[d] = shape[d];
    g = slice_scatter(zeros(full, opts), g, d, start[d], start[d] + step[d] * (n - 1) + 1, step[d]);
  }
  return g;
}

/// An index of Gather/Scatter with negative entries counted from the end (wrap).
Tensor wrapped(const Tensor& index, const Node& n, size_t sized_input) {
  if (n.attrs[2] == 0) return index;
  const int64_t size = n.in_shapes[sized_input][static_cast<size_t>(n.attrs[0])];
  return where(index < 0, index + size, index);
}

constexpr double kPi = 3.14159265358979323846;

/// A tensor whose last two dims are swapped: the transpose of a row-major
/// matrix (or batch of them) in memory, or a pending permute that swaps
/// them. Decided the same way whether or not the tensor is computed yet, so
/// a program's results do not depend on when it synchronizes.
bool transposed_view(const Tensor& t) {
  if (!t.defined() || t.dim() < 2) return false;
  const Shape sz = t.shape();
  const size_t n = sz.size();
  if (sz[n - 1] < 2 || sz[n - 2] < 2) return false;
  const TensorImpl::Ptr i = impl_of(t, "backward");
  if (!i->is_ready()) {
    if (i->op != Op::Permute || i->attrs.size() != n) return false;
    for (size_t d = 0; d + 2 < n; ++d)
      if (i->attrs[d] != static_cast<int64_t>(d)) return false;
    return i->attrs[n - 2] == static_cast<int64_t>(n - 1) &&
           i->attrs[n - 1] == static_cast<int64_t>(n - 2);
  }
  const Strides& st = i->value.strides;
  return st[n - 2] == 1 && st[n - 1] == sz[n - 2];
}

/// The gradient of each input of `n` (undefined where `need` is false) given
/// the gradient `g` of its result.
std::vector<Tensor> input_grads(const Node& n, const Tensor& g, const std::vector<bool>& need) {
  const std::vector<Tensor>& v = n.saved;
  const Tensor& x = v[0];
  const Tensor y = v.size() > 1 ? v[1] : Tensor();
  const std::vector<Shape>& s = n.in_shapes;
  std::vector<Tensor> out(n.inputs.size());
  auto set = [&](size_t i, auto&& make) {
    if (need[i]) out[i] = sum_to(make(), s[i]);
  };
  switch (n.op) {
    case Op::Cast:
    case Op::Copy:
      set(0, [&] { return g; });
      break;
    case Op::Neg:
      set(0, [&] { return -g; });
      break;
    case Op::Abs:
      set(0, [&] { return where(x > 0, g, where(x < 0, -g, 0.0)); });
      break;
    case Op::Relu:
      set(0, [&] { return where(x > 0, g, 0.0); });
      break;
    case Op::Floor:
    case Op::Ceil:
    case Op::Round:
      set(0, [&] { return zeros_like(g); });
      break;
    case Op::Reciprocal:
      set(0, [&] { return -g / (x * x); });
      break;
    case Op::Exp:
      set(0, [&] { return g * exp(x); });
      break;
    case Op::Exp2:
      set(0, [&] { return g * exp2(x) * std::log(2.0); });
      break;
    case Op::Log:
      set(0, [&] { return g / x; });
      break;
    case Op::Log2:
      set(0, [&] { return g / (x * std::log(2.0)); });
      break;
    case Op::Log1p:
      set(0, [&] { return g / (x + 1.0); });
      break;
    case Op::Expm1:
      set(0, [&] { return g * exp(x); });
      break;
    case Op::Sqrt:
      set(0, [&] { return g / (sqrt(x) * 2.0); });
      break;
    case Op::Rsqrt:
      set(0, [&] { return g * rsqrt(x) / x * -0.5; });
      break;
    case Op::Sin:
      set(0, [&] { return g * cos(x); });
      break;
    case Op::Cos:
      set(0, [&] { return -g * sin(x); });
      break;
    case Op::Atan:
      set(0, [&] { return g / (x * x + 1.0); });
      break;
    case Op::Tanh:
      set(0, [&] {
        Tensor t = tanh(x);
        return g * (1.0 - t * t);
      });
      break;
    case Op::Sigmoid:
      set(0, [&] {
        Tensor sg = sigmoid(x);
        return g * sg * (1.0 - sg);
      });
      break;
    case Op::Silu:
      set(0, [&] {
        Tensor sg = sigmoid(x);
        return g * sg * (x * (1.0 - sg) + 1.0);
      });
      break;
    case Op::Erf:
      set(0, [&] { return g * exp(-(x * x)) * (2.0 / std::sqrt(kPi)); });
      break;
    case Op::GeluErf:
      set(0, [&] {
        Tensor cdf = (erf(x * (1.0 / std::sqrt(2.0))) + 1.0) * 0.5;
        Tensor pdf = exp(x * x * -0.5) * (1.0 / std::sqrt(2.0 * kPi));
        return g * (cdf + x * pdf);
      });
      break;
    case Op::GeluTanh:
      set(0, [&] {
        const double k = std::sqrt(2.0 / kPi), c = 0.044715;
        Tensor x2 = x * x;
        Tensor t = tanh((x + x2 * x * c) * k);
        return g * ((t + 1.0) * 0.5 + x * 0.5 * (1.0 - t * t) * ((x2 * (3 * c) + 1.0) * k));
      });
      break;
    case Op::Add:
      set(0, [&] { return g; });
      set(1, [&] { return g; });
      break;
    case Op::Sub:
      set(0, [&] { return g; });
      set(1, [&] { return -g; });
      break;
    case Op::Mul:
      set(0, [&] { return g * y; });
      set(1, [&] { return g * x; });
      break;
    case Op::Div:
      set(0, [&] { return g / y; });
      set(1, [&] { return -g * x / (y * y); });
      break;
    case Op::FloorDiv:
      set(0, [&] { return zeros_like(g); });
      set(1, [&] { return zeros_like(g); });
      break;
    case Op::Remainder:
      set(0, [&] { return g; });
      set(1, [&] { return -g * floor(x / y); });
      break;
    case Op::Pow:
      set(0, [&] { return where(y == 0, 0.0, g * y * pow(x, y - 1.0)); });
      set(1, [&] { return where(logical_and(x == 0, y >= 0), 0.0, g * pow(x, y) * log(x)); });
      break;
    case Op::Maximum:
    case Op::Minimum: {
      // Ties share the gradient, as in torch.
      auto wins = [&](const Tensor& a, const Tensor& b) {
        return n.op == Op::Maximum ? a > b : a < b;
      };
      set(0, [&] { return where(wins(x, y), g, where(x == y, g * 0.5, 0.0)); });
      set(1, [&] { return where(wins(y, x), g, where(x == y, g * 0.5, 0.0)); });
      break;
    }
    case Op::Atan2:
      set(0, [&] { return g * y / (x * x + y * y); });
      set(1, [&] { return -g * x / (x * x + y * y); });
      break;
    case Op::Where:
      set(1, [&] { return where(x, g, 0.0); });
      set(2, [&] { return where(x, 0.0, g); });
      break;
    case Op::Sum:
      set(0, [&] { return g.expand(s[0]); });
      break;
    case Op::Prod:
      set(0, [&] {
        // Exact with zeros: an element's gradient is the product of the others.
        const Axes& axes = n.attrs;
        Tensor zero = x == 0;
        Tensor p = prod(where(zero, 1.0, x), axes, true);
        Tensor count = zero.cast(x.dtype()).sum(axes, true);
        Tensor others = where(zero, where(count == 1, p, 0.0), where(count == 0, p / x, 0.0));
        return g.expand(s[0]) * others;
      });
      break;
    case Op::Max:
    case Op::Min:
      set(0, [&] {
        // Ties share the gradient, as torch's amax/amin.
        Tensor best = n.op == Op::Max ? max(x, n.attrs, true) : min(x, n.attrs, true);
        Tensor hit = (x == best).cast(g.dtype());
        return g.expand(s[0]) * hit / hit.sum(n.attrs, true);
      });
      break;
    case Op::Reshape:
      set(0, [&] { return g.reshape(s[0]); });
      break;
    case Op::Permute:
      set(0, [&] {
        Axes inverse(n.attrs.size());
        for (size_t i = 0; i < n.attrs.size(); ++i) inverse[n.attrs[i]] = static_cast<int64_t>(i);
        return g.permute(inverse);
      });
      break;
    case Op::Expand:
      set(0, [&] { return g; });
      break;
    case Op::Slice:
      set(0, [&] {
        const size_t r = s[0].size();
        std::vector<int64_t> start(n.attrs.begin(), n.attrs.begin() + r);
        std::vector<int64_t> step(n.attrs.begin() + r, n.attrs.end());
        return unslice(g, s[0], start, step);
      });
      break;
    case Op::Cat: {
      const int64_t axis = n.attrs[0];
      int64_t at = 0;
      for (size_t i = 0; i < s.size(); ++i) {
        const int64_t len = s[i][static_cast<size_t>(axis)];
        set(i, [&] { return g.slice(axis, at, at + len); });
        at += len;
      }
      break;
    }
    case Op::Gather:
      set(0, [&] {
        const TensorOptions opts = TensorOptions(g.dtype()).device(g.device());
        const int64_t axis = n.attrs[0];
        const Shape& in = s[0];
        const Shape ix = y.shape();
        // One index per line along the axis (cross entropy's target): each
        // element gets the gradient where its position is the index, a
        // pointwise select that fuses into its consumers instead of a
        // scatter into zeros. The same values: one term or none per element.
        bool one = ix.size() == in.size() && ix[static_cast<size_t>(axis)] == 1 && in[axis] > 1;
        for (size_t d = 0; one && d < in.size(); ++d)
          one = static_cast<int64_t>(d) == axis || ix[d] == in[d];
        if (one) {
          Shape at(in.size(), 1);
          at[static_cast<size_t>(axis)] = in[axis];
          const Tensor pos =
              arange(in[axis], TensorOptions(y.dtype()).device(y.device())).reshape(at);
          return where(wrapped(y, n, 0) == pos, g, 0.0);
        }
        return scatter_add(zeros(in, opts), axis, wrapped(y, n, 0), g);
      });
      break;
    case Op::Scatter: {
      if (n.attrs[1] == static_cast<int64_t>(ir::IndexApi::masked_scatter)) unsupported(n);
      const int64_t axis = n.attrs[0];
      const bool accumulate = n.attrs[3] != 0;
      const Tensor index = need[0] || need[2] ? wrapped(y, n, 0) : Tensor();
      set(0, [&] { return accumulate ? g : scatter(g, axis, index, 0.0); });
      set(2, [&] {
        Tensor picked = gather(g, axis, index);
        return unslice(picked, s[2], std::vector<int64_t>(s[2].size(), 0),
                       std::vector<int64_t>(s[2].size(), 1));
      });
      break;
    }
    case Op::CumSum: {
      const int64_t axis = n.attrs[0];
      set(0, [&] { return flip(cumsum(flip(g, {axis}), axis), {axis}); });
      break;
    }
    case Op::Matmul:
      // Each gradient in the layout of its operand: for an operand that is a
      // transposed view of a matrix (linear's weight), the transposed
      // product, so that the gradient of the view is the product itself,
      // not a transposed copy of it.
      set(0, [&] {
        return transposed_view(x) ? matmul(y, g.transpose(-1, -2)).transpose(-1, -2)
                                  : matmul(g, y.transpose(-1, -2));
      });
      set(1, [&] {
        return transposed_view(y) ? matmul(g.transpose(-1, -2), x).transpose(-1, -2)
                                  : matmul(x.transpose(-1, -2), g);
      });
      break;
    case Op::Conv: {
      // x [N, C, H, W], w [O, C / groups, KH, KW], g [N, O, OH, OW].
      const std::vector<int64_t>& a = n.attrs;
      const std::vector<int64_t> stride{a[0], a[1]}, padding{a[2], a[3]}, dilation{a[4], a[5]};
      const int64_t groups = a[6];
      const Shape &xs = s[0], &ws = s[1];
      set(0, [&] {
        // The transposed convolution, with the output padding that gives back H and W.
        std::vector<int64_t> out_pad(2);
        for (int q = 0; q < 2; ++q)
          out_pad[q] = xs[2 + q] + 2 * padding[q] - dilation[q] * (ws[2 + q] - 1) - 1 -
                       (n.out_shape[2 + q] - 1) * stride[q];
        return conv_transpose2d(g, y, {}, stride, padding, out_pad, groups, dilation);
      });
      set(1, [&] {
        // Per group, a convolution of the input by the gradient with the batch
        // as channels (stride and dilation trade places), cropped to the kernel.
        const int64_t cg = ws[1], og = ws[0] / groups;
        std::vector<Tensor> parts;
        for (int64_t gi = 0; gi < groups; ++gi) {
          Tensor xg = x.slice(1, gi * cg, (gi + 1) * cg).transpose(0, 1);
          Tensor gg = g.slice(1, gi * og, (gi + 1) * og).transpose(0, 1);
          Tensor r = conv2d(xg, gg, {}, dilation, padding, stride);
          parts.push_back(r.slice(2, 0, ws[2]).slice(3, 0, ws[3]).transpose(0, 1));
        }
        return parts.size() == 1 ? parts[0] : cat(parts, 0);
      });
      set(2, [&] { return g.sum({0, 2, 3}); });
      break;
    }
    default:
      unsupported(n);
  }
  return out;
}

void accumulate(Meta& m, Tensor g) {
  std::lock_guard lock(m.mu);
  m.grad = m.grad.defined() ? m.grad + g : std::move(g);
}

}  // namespace

Node::~Node() {
  // Released iteratively (release_inputs): a long chain of recorded ops must
  // not free itself recursively.
  std::vector<TensorImpl::Ptr> drop = std::move(inputs);
  for (Tensor& t : saved) {
    if (!t.defined()) continue;
    drop.push_back(t.impl());
    t = Tensor();
  }
  release_inputs(std::move(drop));
}

TensorImpl::Ptr newest(const TensorImpl::Ptr& p) {
  Meta& m = *p->autograd;
  if (m.grad_fn) return p;
  std::lock_guard lock(m.mu);
  return m.current ? m.current : p;
}

void handle_added(TensorImpl& impl) { impl.autograd->handles.fetch_add(1); }

void handle_dropped(TensorImpl& impl) {
  std::shared_ptr<Meta> m = impl.autograd;  // may outlive `impl` below
  if (m->handles.fetch_sub(1) != 1) return;
  TensorImpl::Ptr last;
  {
    std::lock_guard lock(m->mu);
    last = std::move(m->current);  // freed outside the lock
  }
}

bool in_use(const TensorImpl& impl) {
  if (impl.handles.load(std::memory_order_relaxed) > 0) return true;
  Meta* m = impl.autograd.get();
  if (!m || m->handles.load() <= 0) return false;
  std::lock_guard lock(m->mu);
  return m->current.get() == &impl;
}

bool superseded(const TensorImpl& impl) {
  Meta* m = impl.autograd.get();
  if (!m) return false;
  std::lock_guard lock(m->mu);
  return m->current && m->current.get() != &impl;
}

void attach(TensorImpl& impl, std::shared_ptr<Meta> m) {
  m->handles.fetch_add(impl.handles.load());
  impl.autograd = std::move(m);
}

void on_record(Op op, const std::vector<TensorImpl::Ptr>& inputs, const std::vector<int64_t>& attrs,
               const Tensor& out) {
  if (!GradMode::is_enabled()) return;
  bool any = false;
  for (const TensorImpl::Ptr& t : inputs) any = any || requires_grad(*t);
  if (!any) return;
  TensorImpl& o = *out.impl();
  if (!is_floating(o.dtype) || !has_gradient(op)) return;
  auto n = std::make_shared<Node>();
  n->op = op;
  n->attrs = attrs;
  n->out_shape = o.shape;
  n->out_dtype = o.dtype;
  n->saved.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const TensorImpl& in = *inputs[i];
    n->inputs.push_back(inputs[i]);
    n->in_shapes.push_back(in.shape);
    n->in_dtypes.push_back(in.dtype);
    if (reads_input(op, i)) n->saved[i] = Tensor(inputs[i]);
  }
  auto m = std::make_shared<Meta>();
  m->requires_grad = true;
  m->grad_fn = std::move(n);
  attach(o, std::move(m));
}

Tensor& rebind(Tensor& self, Tensor value, std::string_view op) {
  const TensorImpl::Ptr old = impl_of(self, op);
  std::shared_ptr<Meta> meta = old->autograd;
  if (!meta || meta->grad_fn || !meta->requires_grad) {
    self = std::move(value);
    return self;
  }
  if (GradMode::is_enabled())
    fail(
        "{}: this tensor is a leaf that requires grad (shape {}), and changing it in place while "
        "gradients are recorded would lose its gradient; make the update under tj::NoGradGuard "
        "(as an optimizer step does), or write y = x op z for a new tensor",
        op, shape_str(old->shape));
  // The leaf keeps its identity: its gradient and requires_grad move to the
  // new value, which must be an impl of its own.
  const TensorImpl::Ptr vi = impl_of(value, op);
  if (vi->autograd || vi->handles.load(std::memory_order_relaxed) > 1 || vi->is_ready())
    value = record(Op::Copy, {value}, {}, op);
  TensorImpl::Ptr previous;  // freed outside the lock
  {
    std::lock_guard lock(meta->mu);
    previous = std::move(meta->current);
    meta->current = value.impl();
  }
  attach(*value.impl(), std::move(meta));
  self = std::move(value);
  return self;
}

void run_backward(const Tensor& root, const Tensor& gradient, bool retain_graph) {
  constexpr std::string_view op = "backward";
  const TensorImpl::Ptr ri = impl_of(root, op);
  if (!requires_grad(*ri))
    fail(
        "backward: this tensor (shape {}) does not require grad: none of the tensors it was "
        "computed from had requires_grad_() when its ops were recorded, or they were recorded "
        "under tj::NoGradGuard",
        shape_str(ri->shape));
  Tensor g0;
  if (gradient.defined()) {
    if (gradient.shape() != ri->shape)
      fail("backward: the gradient has shape {} but the tensor has shape {}; pass one of its shape",
           shape_str(gradient.shape()), shape_str(ri->shape));
    g0 = gradient.detach().cast(ri->dtype);
  } else {
    if (shape_numel(ri->shape) != 1)
      fail(
          "backward: a gradient can be left out only for a tensor of one element (a loss); this "
          "one has shape {}: pass backward(gradient) with a tensor of that shape",
          shape_str(ri->shape));
    g0 = ones(ri->shape, TensorOptions(ri->dtype).device(ri->device));
  }
  NoGradGuard no_grad;  // formulas are recorded as plain ops
  Meta& rm = *ri->autograd;
  if (!rm.grad_fn) {
    accumulate(rm, g0);
    return;
  }
  // Nodes in reverse topological order: a node after every node that uses its result.
  std::vector<Node*> order;
  {
    std::unordered_map<Node*, bool> seen;
    std::vector<std::pair<Node*, size_t>> stack{{rm.grad_fn.get(), 0}};
    seen[rm.grad_fn.get()] = true;
    while (!stack.empty()) {
      auto& [node, next] = stack.back();
      if (next < node->inputs.size()) {
        const TensorImpl& in = *node->inputs[next++];
        if (in.autograd && in.autograd->grad_fn && !seen[in.autograd->grad_fn.get()]) {
          seen[in.autograd->grad_fn.get()] = true;
          stack.push_back({in.autograd->grad_fn.get(), 0});
        }
        continue;
      }
      order.push_back(node);
      stack.pop_back();
    }
  }
  std::unordered_map<Node*, Tensor> grads{{rm.grad_fn.get(), g0}};
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node& n = **it;
    auto gi = grads.find(&n);
    if (gi == grads.end()) continue;
    Tensor g = std::move(gi->second);
    grads.erase(gi);
    std::lock_guard lock(n.mu);
    if (n.released)
      fail(
          "backward: the graph behind this tensor was released by an earlier backward(); call "
          "that one with retain_graph=true to run backward through it again");
    std::vector<bool> need(n.inputs.size());
    for (size_t i = 0; i < n.inputs.size(); ++i)
      need[i] = requires_grad(*n.inputs[i]) && is_floating(n.in_dtypes[i]);
    std::vector<Tensor> in_grads = input_grads(n, g, need);
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      if (!need[i] || !in_grads[i].defined()) continue;
      Tensor gi_t = cast_to(in_grads[i], n.in_dtypes[i]);
      TJ_CHECK(gi_t.shape() == n.in_shapes[i], "gradient of {} has shape {}, its input {}",
               ir::op_name(n.op), shape_str(gi_t.shape()), shape_str(n.in_shapes[i]));
      Meta& m = *n.inputs[i]->autograd;
      if (m.grad_fn) {
        Tensor& slot = grads[m.grad_fn.get()];
        slot = slot.defined() ? slot + gi_t : gi_t;
      } else {
        accumulate(m, std::move(gi_t));
      }
    }
    if (!retain_graph) {
      n.released = true;
      for (Tensor& t : n.saved) t = Tensor();
    }
  }
}

}  // namespace tj::trace::autograd

namespace tj {

using trace::autograd::Meta;

Tensor& Tensor::requires_grad_(bool on) {
  const auto& impl = trace::impl_of(*this, "requires_grad_");
  if (impl->autograd && impl->autograd->grad_fn) {
    if (!on)
      fail(
          "requires_grad_(false): this tensor is the result of recorded ops, not a leaf; use "
          "detach() for a copy without gradients");
    return *this;
  }
  if (on && !is_floating(impl->dtype))
    fail("requires_grad_: only floating-point tensors can require gradients; this one is {} {}",
         dtype_name(impl->dtype), shape_str(impl->shape));
  std::lock_guard lock(impl->mu);
  if (!impl->autograd) trace::autograd::attach(*impl, std::make_shared<Meta>());
  impl->autograd->requires_grad = on;
  return *this;
}

bool Tensor::requires_grad() const {
  return trace::autograd::requires_grad(*trace::impl_of(*this, "requires_grad"));
}

bool Tensor::is_leaf() const {
  const auto& impl = trace::impl_of(*this, "is_leaf");
  return !(impl->autograd && impl->autograd->grad_fn);
}

const Tensor& Tensor::grad() const {
  static const Tensor none;
  const auto& impl = trace::impl_of(*this, "grad");
  return impl->autograd ? impl->autograd->grad : none;
}

Tensor& Tensor::mutable_grad() {
  const auto& impl = trace::impl_of(*this, "mutable_grad");
  std::lock_guard lock(impl->mu);
  if (!impl->autograd) trace::autograd::attach(*impl, std::make_shared<Meta>());
  return impl->autograd->grad;
}

void Tensor::backward(const Tensor& gradient, bool retain_graph) const {
  trace::autograd::run_backward(*this, gradient, retain_graph);
}

Tensor Tensor::detach() const {
  const auto& impl = trace::impl_of(*this, "detach");
  if (!impl->autograd) return *this;
  if (impl->is_ready()) return Tensor(trace::make_ready(impl->value, impl->device));
  NoGradGuard no_grad;
  return trace::record(ir::Op::Copy, {*this}, {}, "detach");
}

}  // namespace tj
