#include "ir/reference_eval.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "ir/check.h"
#include "ir/dtype.h"
#include "ir/philox.h"

namespace tj::ir {

namespace {

RefValue make_value(DType t, const Shape& s) {
  RefValue v;
  v.dtype = t;
  v.shape = s;
  if (is_floating(t))
    v.f.assign(shape_numel(s), 0.0);
  else
    v.i.assign(shape_numel(s), 0);
  return v;
}

/// Wraps an i64 result to the integer dtype it is stored in.
int64_t wrap_int(int64_t v, DType t) {
  switch (t) {
    case DType::i32:
      return static_cast<int32_t>(static_cast<uint32_t>(v));
    case DType::bool_:
      return v != 0;
    case DType::i64:
    case DType::f32:
    case DType::f16:
    case DType::bf16:
    case DType::f64:
      return v;
  }
  return v;
}

// ---- element semantics: one switch per arity over the whole op table ----------

double unary_f(Op op, double x) {
  switch (op) {
#define TJ_OP(name, ...) \
  case Op::name:         \
    not_a(op, "unary op");
#define TJ_UNARY(name, ...)
#define TJ_MATH1(name, api, ac, gen, fn, ref) \
  case Op::name:                              \
    return ref;
#include "ir/ops.def"
    case Op::Copy:
      return x;
    case Op::Neg:
      return -x;
    case Op::Abs:
      return std::fabs(x);
    case Op::Relu:
      return std::isnan(x) ? x : (x > 0 ? x : 0.0);
    case Op::Floor:
      return std::floor(x);
    case Op::Ceil:
      return std::ceil(x);
    case Op::Round:
      return std::nearbyint(x);
    case Op::Reciprocal:
      return 1.0 / x;
    case Op::LogicalNot:
      return x == 0 ? 1.0 : 0.0;
    case Op::Cast:  // evaluated by eval_pointwise
      break;
  }
  TJ_CHECK(false, "{} is not a unary op", op_name(op));
}

int64_t unary_i(Op op, int64_t x) {
  switch (op) {
#define TJ_OP(name, ...) \
  case Op::name:         \
    not_a(op, "unary op with an integer form");
#define TJ_UNARY(name, ...)
#include "ir/ops.def"
    case Op::Copy:
    case Op::Floor:
    case Op::Ceil:
    case Op::Round:
      return x;
    case Op::Neg:
      return static_cast<int64_t>(0ull - static_cast<uint64_t>(x));
    case Op::Abs:
      return x < 0 ? static_cast<int64_t>(0ull - static_cast<uint64_t>(x)) : x;
    case Op::Relu:
      return x > 0 ? x : 0;
    case Op::LogicalNot:
      return x == 0;
    case Op::Cast:
    case Op::Reciprocal:
      break;
  }
  TJ_CHECK(false, "{} has no integer form", op_name(op));
}

double binary_f(Op op, double a, double b) {
  switch (op) {
#define TJ_OP(name, ...) \
  case Op::name:         \
    not_a(op, "binary op");
#define TJ_BINARY(name, ...)
#define TJ_MATH2(name, api, ac, gen, fn, ref) \
  case Op::name:                              \
    return ref;
#include "ir/ops.def"
    case Op::Add:
      return a + b;
    case Op::Sub:
      return a - b;
    case Op::Mul:
      return a * b;
    case Op::Div:
      return a / b;
    case Op::FloorDiv: {
      if (b == 0) return a / b;
      double mod = std::fmod(a, b);
      double q = (a - mod) / b;
      if (mod != 0 && ((b < 0) != (mod < 0))) q -= 1.0;
      if (q == 0) return std::copysign(0.0, a / b);
      double fq = std::floor(q);
      return q - fq > 0.5 ? fq + 1.0 : fq;
    }
    case Op::Remainder: {
      double r = std::fmod(a, b);
      if (r != 0 && ((r < 0) != (b < 0))) r += b;
      return r;
    }
    case Op::Pow:
      return std::pow(a, b);
    case Op::Maximum:
      return std::isnan(a) || std::isnan(b) ? NAN : (a > b ? a : b);
    case Op::Minimum:
      return std::isnan(a) || std::isnan(b) ? NAN : (a < b ? a : b);
    case Op::Eq:
      return a == b;
    case Op::Ne:
      return a != b;
    case Op::Lt:
      return a < b;
    case Op::Le:
      return a <= b;
    case Op::Gt:
      return a > b;
    case Op::Ge:
      return a >= b;
    case Op::LogicalAnd:
      return (a != 0) && (b != 0);
    case Op::LogicalOr:
      return (a != 0) || (b != 0);
    case Op::LogicalXor:
      return (a != 0) != (b != 0);
  }
  TJ_CHECK(false, "{} is not a binary op", op_name(op));
}

int64_t ipow(int64_t a, int64_t b) {
  if (b < 0) return a == 1 ? 1 : (a == -1 ? (b % 2 ? -1 : 1) : 0);
  uint64_t r = 1, base = static_cast<uint64_t>(a);
  while (b) {
    if (b & 1) r *= base;
    base *= base;
    b >>= 1;
  }
  return static_cast<int64_t>(r);
}

int64_t binary_i(Op op, int64_t a, int64_t b) {
  auto ua = static_cast<uint64_t>(a), ub = static_cast<uint64_t>(b);
  switch (op) {
#define TJ_OP(name, ...) \
  case Op::name:         \
    not_a(op, "binary op with an integer form");
#define TJ_BINARY(name, ...)
#include "ir/ops.def"
    case Op::Div:
      break;
    case Op::Add:
      return static_cast<int64_t>(ua + ub);
    case Op::Sub:
      return static_cast<int64_t>(ua - ub);
    case Op::Mul:
      return static_cast<int64_t>(ua * ub);
    case Op::FloorDiv: {
      // Integer division by zero gives 0 (it cannot raise inside a kernel).
      if (b == 0) return 0;
      if (b == -1) return static_cast<int64_t>(0ull - ua);
      int64_t q = a / b;
      if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
      return q;
    }
    case Op::Remainder: {
      if (b == 0 || b == -1) return 0;
      int64_t r = a % b;
      if (r != 0 && ((r < 0) != (b < 0))) r += b;
      return r;
    }
    case Op::Pow:
      return ipow(a, b);
    case Op::Maximum:
      return a > b ? a : b;
    case Op::Minimum:
      return a < b ? a : b;
    case Op::Eq:
      return a == b;
    case Op::Ne:
      return a != b;
    case Op::Lt:
      return a < b;
    case Op::Le:
      return a <= b;
    case Op::Gt:
      return a > b;
    case Op::Ge:
      return a >= b;
    case Op::LogicalAnd:
      return (a != 0) && (b != 0);
    case Op::LogicalOr:
      return (a != 0) || (b != 0);
    case Op::LogicalXor:
      return (a != 0) != (b != 0);
  }
  TJ_CHECK(false, "{} has no integer form", op_name(op));
}

// ---- indexing helpers -------------------------------------------------------

/// Strides (in elements of a row-major `in` array) that read `in` broadcast
/// to `out` (right-aligned, 0 for broadcast dims).
Strides broadcast_strides(const Shape& in, const Shape& out) {
  Strides cs = contiguous_strides(in);
  Strides st(out.size(), 0);
  size_t lead = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i) st[lead + i] = in[i] == 1 ? 0 : cs[i];
  return st;
}

/// Calls fn(k, offs) for every row-major position k of `shape`, where offs[j]
/// = sum(index[d] * strides[j][d]).
template <class Fn>
void for_each_index(const Shape& shape, const std::vector<Strides>& strides, Fn&& fn) {
  const int64_t n = shape_numel(shape);
  const size_t r = shape.size(), m = strides.size();
  std::vector<int64_t> idx(r, 0), offs(m, 0);
  for (int64_t k = 0; k < n; ++k) {
    fn(k, offs);
    for (size_t d = r; d-- > 0;) {
      ++idx[d];
      for (size_t j = 0; j < m; ++j) offs[j] += strides[j][d];
      if (idx[d] < shape[d]) break;
      for (size_t j = 0; j < m; ++j) offs[j] -= strides[j][d] * idx[d];
      idx[d] = 0;
    }
  }
}

double round_f(double v, DType t) { return round_to_dtype(v, t); }

// ---- per-kind evaluation ------------------------------------------------------

RefValue eval_buffer(const BufferView& b) {
  RefValue v = make_value(b.dtype, b.shape);
  const void* base = b.data();
  for_each_index(b.shape, {b.strides}, [&](int64_t k, const std::vector<int64_t>& o) {
    if (v.floating())
      v.f[k] = load_as_double(base, o[0], b.dtype);
    else
      v.i[k] = load_as_int(base, o[0], b.dtype);
  });
  return v;
}

RefValue eval_source(const Graph& g, const Node& n, const std::vector<const RefValue*>& in) {
  RefValue v = make_value(n.dtype, n.shape);
  switch (n.op) {
#define TJ_OP(name, ...) \
  case Op::name:         \
    not_a(n.op, "source");
#define TJ_SOURCE(name, ...)
#include "ir/ops.def"
    case Op::Buffer:
      return eval_buffer(g.buffers()[n.slot]);
    case Op::Scalar: {
      const ScalarValue& s = g.scalars()[n.slot];
      if (v.floating())
        v.f[0] = round_f(s.f, n.dtype);
      else
        v.i[0] = wrap_int(s.i, n.dtype);
      return v;
    }
    case Op::Iota: {
      int64_t axis = n.attrs[0];
      Strides st(n.shape.size(), 0);
      st[axis] = 1;
      for_each_index(n.shape, {st}, [&](int64_t k, const std::vector<int64_t>& o) {
        if (v.floating())
          v.f[k] = round_f(static_cast<double>(o[0]), n.dtype);
        else
          v.i[k] = wrap_int(o[0], n.dtype);
      });
      return v;
    }
    case Op::RandUniform:
    case Op::RandNormal: {
      auto seed = static_cast<uint64_t>(in[0]->i[0]);
      auto offset = static_cast<uint64_t>(in[1]->i[0]);
      for (int64_t k = 0; k < v.numel(); ++k) {
        uint64_t c = offset + static_cast<uint64_t>(k);
        double x =
            n.op == Op::RandUniform ? philox::uniform(c, seed, n.dtype) : philox::normal(c, seed);
        v.f[k] = round_f(x, n.dtype);
      }
      return v;
    }
  }
  TJ_CHECK(false, "{} is not a source", op_name(n.op));
}

RefValue eval_pointwise(const Node& n, const std::vector<const RefValue*>& in) {
  RefValue v = make_value(n.dtype, n.shape);
  std::vector<Strides> st;
  for (const RefValue* x : in) st.push_back(broadcast_strides(x->shape, n.shape));
  // Inputs of Same/Float/Bool ops share one dtype (Where: a and b), so one
  // domain is chosen per node: f64 when the operands are floating.
  const RefValue& a = *in[n.op == Op::Where ? 1 : 0];
  const bool fdom = a.floating();
  for_each_index(n.shape, st, [&](int64_t k, const std::vector<int64_t>& o) {
    if (n.op == Op::Cast) {
      if (v.floating())
        v.f[k] = round_f(a.as_double(o[0]), n.dtype);
      else if (a.floating())
        v.i[k] = n.dtype == DType::bool_ ? (a.f[o[0]] != 0) : double_to_int(a.f[o[0]], n.dtype);
      else
        v.i[k] = wrap_int(a.i[o[0]], n.dtype);
      return;
    }
    if (n.op == Op::Where) {
      bool c = in[0]->i[o[0]] != 0;
      if (v.floating())
        v.f[k] = c ? in[1]->f[o[1]] : in[2]->f[o[2]];
      else
        v.i[k] = c ? in[1]->i[o[1]] : in[2]->i[o[2]];
      return;
    }
    if (in.size() == 1) {
      if (fdom) {
        double r = unary_f(n.op, a.f[o[0]]);
        if (v.floating())
          v.f[k] = round_f(r, n.dtype);
        else
          v.i[k] = r != 0;
      } else {
        v.i[k] = wrap_int(unary_i(n.op, a.i[o[0]]), n.dtype);
      }
      return;
    }
    if (fdom) {
      double r = binary_f(n.op, a.f[o[0]], in[1]->f[o[1]]);
      if (v.floating())
        v.f[k] = round_f(r, n.dtype);
      else
        v.i[k] = r != 0;
    } else {
      v.i[k] = wrap_int(binary_i(n.op, a.i[o[0]], in[1]->i[o[1]]), n.dtype);
    }
  });
  return v;
}

RefValue eval_reduce(const Node& n, const RefValue& x) {
  RefValue v = make_value(n.dtype, n.shape);
  const int64_t count = v.numel();
  // Output strides over the input's index space: 0 along reduced axes.
  Strides out_st = contiguous_strides(n.shape);
  for (int64_t a : n.attrs) out_st[a] = 0;
  std::vector<double> acc(count);
  std::vector<int64_t> iacc(count), arg(count, 0), seen(count, 0);
  const bool fl = x.floating();
  double init = 0;
  switch (n.op) {
#define TJ_OP(name, ...) \
  case Op::name:         \
    not_a(n.op, "reduction");
#define TJ_REDUCE(name, ...)
#include "ir/ops.def"
    case Op::Sum:
      init = 0;
      break;
    case Op::Prod:
      init = 1;
      break;
    case Op::Max:
    case Op::ArgMax:
      init = -std::numeric_limits<double>::infinity();
      break;
    case Op::Min:
    case Op::ArgMin:
      init = std::numeric_limits<double>::infinity();
      break;
  }
  std::fill(acc.begin(), acc.end(), init);
  std::fill(iacc.begin(), iacc.end(), n.op == Op::Prod ? 1 : 0);
  // Position of each input element along the reduced axes (for argmax).
  Strides red_st(x.shape.size(), 0);
  {
    int64_t m = 1;
    for (size_t d = x.shape.size(); d-- > 0;)
      if (std::find(n.attrs.begin(), n.attrs.end(), static_cast<int64_t>(d)) != n.attrs.end()) {
        red_st[d] = m;
        m *= x.shape[d];
      }
  }
  for_each_index(x.shape, {out_st, red_st}, [&](int64_t k, const std::vector<int64_t>& o) {
    const int64_t j = o[0];
    switch (n.op) {
      case Op::Sum:
        if (fl)
          acc[j] += x.f[k];
        else
          iacc[j] =
              static_cast<int64_t>(static_cast<uint64_t>(iacc[j]) + static_cast<uint64_t>(x.i[k]));
        return;
      case Op::Prod:
        if (fl)
          acc[j] *= x.f[k];
        else
          iacc[j] =
              static_cast<int64_t>(static_cast<uint64_t>(iacc[j]) * static_cast<uint64_t>(x.i[k]));
        return;
      case Op::Max:
      case Op::Min:
      case Op::ArgMax:
      case Op::ArgMin: {
        const bool want_max = n.op == Op::Max || n.op == Op::ArgMax;
        if (fl) {
          double e = x.f[k];
          if (std::isnan(acc[j]) && seen[j]) return;  // NaN wins and stays
          bool better = !seen[j] || std::isnan(e) || (want_max ? e > acc[j] : e < acc[j]);
          if (better) {
            acc[j] = e;
            arg[j] = o[1];
          }
        } else {
          int64_t e = x.i[k];
          bool better = !seen[j] || (want_max ? e > iacc[j] : e < iacc[j]);
          if (better) {
            iacc[j] = e;
            arg[j] = o[1];
          }
        }
        seen[j] = 1;
        return;
      }
#define TJ_OP(name, ...) \
  case Op::name:         \
    not_a(n.op, "reduction");
#define TJ_REDUCE(name, ...)
#include "ir/ops.def"
    }
  });
  for (int64_t j = 0; j < count; ++j) {
    if (n.op == Op::ArgMax || n.op == Op::ArgMin)
      v.i[j] = arg[j];
    else if (v.floating())
      v.f[j] = round_f(acc[j], n.dtype);
    else
      v.i[j] = wrap_int(iacc[j], n.dtype);
  }
  return v;
}

RefValue eval_movement(const Node& n, const std::vector<const RefValue*>& in) {
  const RefValue& x = *in[0];
  RefValue v = make_value(n.dtype, n.shape);
  auto copy_from = [&](const Strides& st, int64_t base) {
    for_each_index(n.shape, {st}, [&](int64_t k, const std::vector<int64_t>& o) {
      if (v.floating())
        v.f[k] = x.f[base + o[0]];
      else
        v.i[k] = x.i[base + o[0]];
    });
  };
  const Strides xs = contiguous_strides(x.shape);
  switch (n.op) {
#define TJ_OP(name, ...) \
  case Op::name:         \
    not_a(n.op, "movement op");
#define TJ_MOVEMENT(name, ...)
#include "ir/ops.def"
    case Op::Reshape:
      v.f = x.f;
      v.i = x.i;
      return v;
    case Op::Permute: {
      Strides st(n.shape.size());
      for (size_t d = 0; d < st.size(); ++d) st[d] = xs[n.attrs[d]];
      copy_from(st, 0);
      return v;
    }
    case Op::Expand:
      copy_from(broadcast_strides(x.shape, n.shape), 0);
      return v;
    case Op::Slice: {
      size_t r = n.shape.size();
      Strides st(r);
      int64_t base = 0;
      for (size_t d = 0; d < r; ++d) {
        st[d] = xs[d] * n.attrs[r + d];
        base += xs[d] * n.attrs[d];
      }
      if (v.numel() > 0) copy_from(st, base);
      return v;
    }
    case Op::Cat: {
      const int64_t axis = n.attrs[0];
      Strides vs = contiguous_strides(n.shape);
      int64_t at = 0;
      for (const RefValue* part : in) {
        Strides dst = vs;  // write part into v at offset `at` along axis
        Strides src = contiguous_strides(part->shape);
        int64_t base = at * vs[axis];
        for_each_index(part->shape, {dst, src}, [&](int64_t, const std::vector<int64_t>& o) {
          if (v.floating())
            v.f[base + o[0]] = part->f[o[1]];
          else
            v.i[base + o[0]] = part->i[o[1]];
        });
        at += part->shape[axis];
      }
      return v;
    }
  }
  TJ_CHECK(false, "{} is not a movement op", op_name(n.op));
}

RefValue eval_matmul(const Node& n, const RefValue& a, const RefValue& b) {
  RefValue v = make_value(n.dtype, n.shape);
  const size_t r = n.shape.size();
  const int64_t M = a.shape[r - 2], K = a.shape[r - 1], N = b.shape[r - 1];
  const int64_t batch = M * N == 0 ? 0 : v.numel() / (M * N);
  for (int64_t bt = 0; bt < batch; ++bt) {
    const int64_t ao = bt * M * K, bo = bt * K * N, vo = bt * M * N;
    for (int64_t m = 0; m < M; ++m)
      for (int64_t k = 0; k < K; ++k) {
        if (v.floating()) {
          double s = a.f[ao + m * K + k];
          for (int64_t j = 0; j < N; ++j) v.f[vo + m * N + j] += s * b.f[bo + k * N + j];
        } else {
          uint64_t s = static_cast<uint64_t>(a.i[ao + m * K + k]);
          for (int64_t j = 0; j < N; ++j)
            v.i[vo + m * N + j] =
                static_cast<int64_t>(static_cast<uint64_t>(v.i[vo + m * N + j]) +
                                     s * static_cast<uint64_t>(b.i[bo + k * N + j]));
        }
      }
  }
  for (double& e : v.f) e = round_f(e, n.dtype);
  for (int64_t& e : v.i) e = wrap_int(e, n.dtype);
  return v;
}

/// Gather (see ir/ops.def); an index out of range is a tj::Error, as the
/// kernels report it after their run.
RefValue eval_gather(const Node& n, const RefValue& src, const RefValue& index) {
  RefValue v = make_value(n.dtype, n.shape);
  const int64_t axis = n.attrs[0];
  const auto api = static_cast<IndexApi>(n.attrs[1]);
  const bool wrap = n.attrs[2] != 0;
  const int64_t size = src.shape[axis];
  const Strides ss = contiguous_strides(src.shape);
  Strides st = ss;
  st[axis] = 0;
  for_each_index(n.shape, {st}, [&](int64_t k, const std::vector<int64_t>& o) {
    int64_t j = index.i[k];
    const int64_t raw = j;
    if (wrap && j < 0) j += size;
    if (j < 0 || j >= size) fail("{}", index_error(api, raw, axis, size, wrap));
    const int64_t at = o[0] + j * ss[axis];
    if (v.floating())
      v.f[k] = src.f[at];
    else
      v.i[k] = src.i[at];
  });
  return v;
}

/// Scatter (see ir/ops.def): the points of the index in row-major order,
/// which visits each line of the axis in order; an index out of range is a
/// tj::Error, as the kernels report it after their run.
RefValue eval_scatter(const Node& n, const RefValue& dst, const RefValue& index,
                      const RefValue& src) {
  RefValue v = dst;
  const int64_t axis = n.attrs[0];
  const auto api = static_cast<IndexApi>(n.attrs[1]);
  const bool wrap = n.attrs[2] != 0, acc = n.attrs[3] != 0;
  const int64_t size = dst.shape[axis];
  const Strides ds = contiguous_strides(dst.shape);
  Strides dst_st = ds;
  dst_st[axis] = 0;
  for_each_index(index.shape, {dst_st, contiguous_strides(src.shape)},
                 [&](int64_t k, const std::vector<int64_t>& o) {
                   int64_t j = index.i[k];
                   const int64_t raw = j;
                   if (wrap && j < 0) j += size;
                   if (j < 0 || j >= size) fail("{}", index_error(api, raw, axis, size, wrap));
                   const int64_t at = o[0] + j * ds[axis];
                   if (v.floating())
                     v.f[at] = acc ? round_f(v.f[at] + src.f[o[1]], n.dtype) : src.f[o[1]];
                   else
                     v.i[at] =
                         acc ? wrap_int(static_cast<int64_t>(static_cast<uint64_t>(v.i[at]) +
                                                             static_cast<uint64_t>(src.i[o[1]])),
                                        n.dtype)
                             : src.i[o[1]];
                 });
  return v;
}

/// log(exp(a) + exp(b)) without overflow; infinities and NaN as the kernels'
/// tj_logaddexp.
double log_add_exp(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return a + b;
  const double m = std::max(a, b), l = std::min(a, b);
  if (std::isinf(m)) return m;
  return m + std::log1p(std::exp(l - m));
}

/// A scan (see ir/ops.def): each element after the first of its line
/// combines the running value with the input, in f64 (integers wrap); only
/// the results are rounded to the dtype, not the running value.
RefValue eval_scan(const Node& n, const RefValue& x) {
  RefValue v = make_value(n.dtype, n.shape);
  const int64_t axis = n.attrs[0];
  const int64_t stride = contiguous_strides(n.shape)[axis], size = n.shape[axis];
  std::vector<double> run(v.floating() ? static_cast<size_t>(v.numel()) : 0);
  for (int64_t k = 0; k < v.numel(); ++k) {
    const bool first = (k / stride) % size == 0;
    if (v.floating()) {
      double a = x.f[k];
      if (!first) {
        const double p = run[k - stride];
        a = n.op == Op::CumSum ? p + a : n.op == Op::CumProd ? p * a : log_add_exp(p, a);
      }
      run[k] = a;
      v.f[k] = round_f(a, n.dtype);
    } else {
      uint64_t a = static_cast<uint64_t>(x.i[k]);
      if (!first) {
        const uint64_t p = static_cast<uint64_t>(v.i[k - stride]);
        a = n.op == Op::CumSum ? p + a : p * a;
      }
      v.i[k] = wrap_int(static_cast<int64_t>(a), n.dtype);
    }
  }
  return v;
}

/// Conv (see ir/ops.def): sums in f64, zero padding.
RefValue eval_conv(const Node& n, const RefValue& x, const RefValue& w, const RefValue* bias) {
  RefValue v = make_value(n.dtype, n.shape);
  const auto& a = n.attrs;
  const int64_t N = n.shape[0], O = n.shape[1], OH = n.shape[2], OW = n.shape[3];
  const int64_t C = x.shape[1], H = x.shape[2], W = x.shape[3];
  const int64_t Cg = w.shape[1], KH = w.shape[2], KW = w.shape[3], Og = O / a[6];
  int64_t k = 0;
  for (int64_t b = 0; b < N; ++b)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t y = 0; y < OH; ++y)
        for (int64_t z = 0; z < OW; ++z, ++k) {
          double s = bias ? bias->f[o] : 0.0;
          const int64_t c0 = (o / Og) * Cg;
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t i = 0; i < KH; ++i) {
              const int64_t h = y * a[0] - a[2] + i * a[4];
              if (h < 0 || h >= H) continue;
              for (int64_t j = 0; j < KW; ++j) {
                const int64_t q = z * a[1] - a[3] + j * a[5];
                if (q < 0 || q >= W) continue;
                s +=
                    x.f[((b * C + c0 + c) * H + h) * W + q] * w.f[((o * Cg + c) * KH + i) * KW + j];
              }
            }
          v.f[k] = round_f(s, n.dtype);
        }
  return v;
}

/// ArgSort (see ir/ops.def): a stable sort of each line, NaN above numbers.
RefValue eval_argsort(const Node& n, const RefValue& x) {
  RefValue v = make_value(DType::i64, n.shape);
  const int64_t axis = n.attrs[0];
  const bool desc = n.attrs[1] != 0;
  const int64_t stride = contiguous_strides(n.shape)[axis], size = n.shape[axis];
  std::vector<int64_t> pos(static_cast<size_t>(size));
  for (int64_t k = 0; k < v.numel(); ++k) {
    if ((k / stride) % size != 0) continue;  // k starts a line
    for (int64_t j = 0; j < size; ++j) pos[j] = j;
    std::stable_sort(pos.begin(), pos.end(), [&](int64_t a, int64_t b) {
      const int64_t pa = k + a * stride, pb = k + b * stride;
      if (!x.floating()) return desc ? x.i[pa] > x.i[pb] : x.i[pa] < x.i[pb];
      const double ka = x.f[pa], kb = x.f[pb];
      const bool na = std::isnan(ka), nb = std::isnan(kb);
      if (na || nb) return desc ? na && !nb : nb && !na;
      return desc ? ka > kb : ka < kb;
    });
    for (int64_t j = 0; j < size; ++j) v.i[k + j * stride] = pos[j];
  }
  return v;
}

}  // namespace

std::vector<RefValue> reference_eval(const Graph& g) {
  const auto& nodes = g.nodes();
  // Remaining uses of each node, so values are freed after their last use.
  std::vector<int> uses(nodes.size(), 0);
  for (const Node& n : nodes)
    for (NodeId in : n.inputs) ++uses[in];
  std::vector<int> is_output(nodes.size(), 0);
  for (NodeId o : g.outputs()) is_output[o] = 1;

  std::vector<RefValue> vals(nodes.size());
  for (size_t id = 0; id < nodes.size(); ++id) {
    const Node& n = nodes[id];
    std::vector<const RefValue*> in;
    for (NodeId i : n.inputs) in.push_back(&vals[i]);
    switch (op_info(n.op).kind) {
      case OpKind::Source:
        vals[id] = eval_source(g, n, in);
        break;
      case OpKind::Unary:
      case OpKind::Binary:
      case OpKind::Ternary:
        vals[id] = eval_pointwise(n, in);
        break;
      case OpKind::Reduce:
        vals[id] = eval_reduce(n, *in[0]);
        break;
      case OpKind::Movement:
        vals[id] = eval_movement(n, in);
        break;
      case OpKind::Matmul:
        vals[id] = eval_matmul(n, *in[0], *in[1]);
        break;
      case OpKind::Conv:
        vals[id] = eval_conv(n, *in[0], *in[1], in.size() > 2 ? in[2] : nullptr);
        break;
      case OpKind::Index:
        vals[id] = n.op == Op::Scatter ? eval_scatter(n, *in[0], *in[1], *in[2])
                                       : eval_gather(n, *in[0], *in[1]);
        break;
      case OpKind::Scan:
        vals[id] = eval_scan(n, *in[0]);
        break;
      case OpKind::Sort:
        vals[id] = eval_argsort(n, *in[0]);
        break;
    }
    for (NodeId i : n.inputs)
      if (--uses[i] == 0 && !is_output[i]) vals[i] = RefValue{};
  }
  std::vector<RefValue> out;
  out.reserve(g.outputs().size());
  for (NodeId o : g.outputs()) out.push_back(vals[o]);
  return out;
}

void store_value(const RefValue& v, void* dst) {
  const int64_t n = v.numel();
  if (v.floating()) {
    for (int64_t k = 0; k < n; ++k) store_double(dst, k, v.dtype, v.f[k]);
  } else {
    for (int64_t k = 0; k < n; ++k) store_int(dst, k, v.dtype, v.i[k]);
  }
}

}  // namespace tj::ir
