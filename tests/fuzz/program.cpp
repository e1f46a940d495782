#include "program.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <random>

#include "ir/shape.h"

namespace tj::fuzz {

namespace {

// ---- deterministic randomness -------------------------------------------------------

uint64_t splitmix(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed) {}
  uint64_t next() { return splitmix(s); }
  int64_t below(int64_t n) {
    return n <= 1 ? 0 : static_cast<int64_t>(next() % static_cast<uint64_t>(n));
  }
  bool chance(int percent) { return below(100) < percent; }
  template <class T>
  const T& pick(const std::vector<T>& v) {
    return v[static_cast<size_t>(below(static_cast<int64_t>(v.size())))];
  }
};

// ---- the functions a step applies ------------------------------------------------------

const char* const kUnary[] = {"neg",     "abs",   "relu",   "exp",   "log1p",      "sin",   "tanh",
                              "sigmoid", "sqrt",  "atan",   "gelu",  "gelu_tanh",  "silu",  "erf",
                              "floor",   "round", "square", "rsqrt", "reciprocal", "expm1", "cos"};
constexpr int kUnaryCount = sizeof(kUnary) / sizeof(kUnary[0]);
// Unary functions defined on integers (by their index in kUnary).
const std::vector<int> kIntUnary = {0, 1, 2, 16};

Tensor apply_unary(int code, const Tensor& a) {
  switch (code) {
    case 0:
      return -a;
    case 1:
      return tj::abs(a);
    case 2:
      return tj::relu(a);
    case 3:
      return tj::exp(tj::clamp(a, -8, 8));
    case 4:
      return tj::log1p(tj::abs(a));
    case 5:
      return tj::sin(a);
    case 6:
      return tj::tanh(a);
    case 7:
      return tj::sigmoid(a);
    case 8:
      return tj::sqrt(tj::abs(a));
    case 9:
      return tj::atan(a);
    case 10:
      return tj::gelu(a);
    case 11:
      return tj::gelu(a, "tanh");
    case 12:
      return tj::silu(a);
    case 13:
      return tj::erf(a);
    case 14:
      return tj::floor(a);
    case 15:
      return tj::round(a);
    case 16:
      return tj::square(tj::clamp(a, -100, 100));
    case 17:
      return tj::rsqrt(tj::abs(a) + 1);
    case 18:
      return tj::reciprocal(tj::abs(a) + 0.5);
    case 19:
      return tj::expm1(tj::clamp(a, -8, 8));
    default:
      return tj::cos(a);
  }
}

std::string unary_cpp(int code, const std::string& a) {
  switch (code) {
    case 0:
      return "-" + a;
    case 3:
      return fmt::format("tj::exp(tj::clamp({}, -8, 8))", a);
    case 4:
      return fmt::format("tj::log1p(tj::abs({}))", a);
    case 8:
      return fmt::format("tj::sqrt(tj::abs({}))", a);
    case 11:
      return fmt::format("tj::gelu({}, \"tanh\")", a);
    case 16:
      return fmt::format("tj::square(tj::clamp({}, -100, 100))", a);
    case 17:
      return fmt::format("tj::rsqrt(tj::abs({}) + 1)", a);
    case 18:
      return fmt::format("tj::reciprocal(tj::abs({}) + 0.5)", a);
    case 19:
      return fmt::format("tj::expm1(tj::clamp({}, -8, 8))", a);
    default:
      return fmt::format("tj::{}({})", kUnary[code], a);
  }
}

// Binary: 0 add, 1 sub, 2 mul, 3 safe div, 4 maximum, 5 minimum, 6 atan2,
// 7 floor_divide and 8 remainder (by a nonzero divisor), 9-11 logical and/or/xor.
Tensor apply_binary(int code, const Tensor& a, const Tensor& b) {
  switch (code) {
    case 0:
      return a + b;
    case 1:
      return a - b;
    case 2:
      return a * b;
    case 3:
      return a / (tj::abs(b) + 0.5);
    case 4:
      return tj::maximum(a, b);
    case 5:
      return tj::minimum(a, b);
    case 6:
      return tj::atan2(a, b);
    case 7:
      return tj::floor_divide(a, tj::abs(b) + 1);
    case 8:
      return tj::remainder(a, tj::abs(b) + 1);
    case 9:
      return tj::logical_and(a, b);
    case 10:
      return tj::logical_or(a, b);
    default:
      return tj::logical_xor(a, b);
  }
}

std::string binary_cpp(int code, const std::string& a, const std::string& b) {
  switch (code) {
    case 0:
      return a + " + " + b;
    case 1:
      return a + " - " + b;
    case 2:
      return a + " * " + b;
    case 3:
      return fmt::format("{} / (tj::abs({}) + 0.5)", a, b);
    case 4:
      return fmt::format("tj::maximum({}, {})", a, b);
    case 5:
      return fmt::format("tj::minimum({}, {})", a, b);
    case 6:
      return fmt::format("tj::atan2({}, {})", a, b);
    case 7:
      return fmt::format("tj::floor_divide({}, tj::abs({}) + 1)", a, b);
    case 8:
      return fmt::format("tj::remainder({}, tj::abs({}) + 1)", a, b);
    case 9:
      return fmt::format("tj::logical_and({}, {})", a, b);
    case 10:
      return fmt::format("tj::logical_or({}, {})", a, b);
    default:
      return fmt::format("tj::logical_xor({}, {})", a, b);
  }
}

Tensor apply_scalar(int code, const Tensor& a, double v) {
  switch (code) {
    case 0:
      return a + v;
    case 1:
      return a * v;
    case 2:
      return v - a;
    case 3:
      return a / 3.0;
    default:
      return tj::pow(a, 2);
  }
}

std::string scalar_cpp(int code, const std::string& a, double v) {
  switch (code) {
    case 0:
      return fmt::format("{} + {}", a, v);
    case 1:
      return fmt::format("{} * {}", a, v);
    case 2:
      return fmt::format("{} - {}", v, a);
    case 3:
      return fmt::format("{} / 3.0", a);
    default:
      return fmt::format("tj::pow({}, 2)", a);
  }
}

Tensor apply_compare(int code, const Tensor& a, const Tensor& b) {
  switch (code) {
    case 0:
      return a < b;
    case 1:
      return a <= b;
    case 2:
      return a > b;
    case 3:
      return a >= b;
    case 4:
      return a == b;
    default:
      return a != b;
  }
}
const char* const kCompare[] = {"<", "<=", ">", ">=", "==", "!="};

// Reductions: 0 sum, 1 mean, 2 max, 3 min, 4 var, 5 prod.
Tensor apply_reduce(int code, const Tensor& a, const Axes& axes, bool keepdim) {
  switch (code) {
    case 0:
      return tj::sum(a, axes, keepdim);
    case 1:
      return tj::mean(a, axes, keepdim);
    case 2:
      return tj::max(a, axes, keepdim);
    case 3:
      return tj::min(a, axes, keepdim);
    case 4:
      return tj::var(a, axes, true, keepdim);
    default:
      return tj::prod(a, axes, keepdim);
  }
}
const char* const kReduce[] = {"sum", "mean", "max", "min", "var", "prod"};

std::string shape_cpp(const std::vector<int64_t>& s) {
  std::string out = "{";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "}";
}

std::string dtype_cpp(DType t) {
  switch (t) {
    case DType::f32:
      return "tj::f32";
    case DType::f16:
      return "tj::f16";
    case DType::bf16:
      return "tj::bf16";
    case DType::f64:
      return "tj::f64";
    case DType::i32:
      return "tj::i32";
    case DType::i64:
      return "tj::i64";
    case DType::bool_:
      return "tj::bool_";
  }
  return "?";
}

// ---- applying a step ---------------------------------------------------------------------

using Slots = std::map<int, Tensor>;

/// Host values as a tensor of dtype `t`, converted on the host: an input is
/// a buffer from the start, and making one compiles nothing (a cast kernel
/// per input shape was most of the fuzzer's compile time).
Tensor typed_input(const std::vector<double>& v, const Shape& shape, DType t) {
  switch (t) {
    case DType::f64:
      return from_vector(v, shape);
    case DType::f32:
      return from_vector(std::vector<float>(v.begin(), v.end()), shape);
    case DType::f16:
      return from_vector(std::vector<half>(v.begin(), v.end()), shape);
    case DType::bf16:
      return from_vector(std::vector<bfloat16>(v.begin(), v.end()), shape);
    case DType::i32:
      return from_vector(std::vector<int32_t>(v.begin(), v.end()), shape);
    case DType::i64:
      return from_vector(std::vector<int64_t>(v.begin(), v.end()), shape);
    case DType::bool_:
      return from_vector(std::vector<bool>(v.begin(), v.end()), shape);
  }
  return {};
}

Tensor make_input(const Step& s) {
  const int64_t n = shape_numel(s.ints);
  std::vector<double> v = input_values(s.seed, n, s.dtype);
  return typed_input(v, s.ints, s.dtype);
}

/// Applies `s`; false when an input slot is missing (a removed step's).
bool apply_step(const Step& s, Slots& slots) {
  auto has = [&](int i) { return i < 0 || slots.count(i) != 0; };
  if (!has(s.a) || !has(s.b)) return false;
  auto A = [&]() -> const Tensor& { return slots.at(s.a); };
  auto B = [&]() -> const Tensor& { return slots.at(s.b); };
  switch (s.kind) {
    case Step::input:
      slots[s.slot] = make_input(s);
      return true;
    case Step::rand:
      manual_seed(s.seed);
      slots[s.slot] = tj::rand(s.ints, TensorOptions(s.dtype));
      return true;
    case Step::unary:
      slots[s.slot] = s.dtype == DType::bool_ ? tj::logical_not(A()) : apply_unary(s.code, A());
      return true;
    case Step::binary:
      slots[s.slot] = apply_binary(s.code, A(), B());
      return true;
    case Step::scalar:
      slots[s.slot] = apply_scalar(s.code, A(), s.number);
      return true;
    case Step::compare: {
      Tensor c = apply_compare(s.code, A(), B());
      slots[s.slot] = s.flag ? tj::where(c, A(), B()) : c;
      return true;
    }
    case Step::cast:
      slots[s.slot] = A().cast(s.dtype);
      return true;
    case Step::reduce:
      slots[s.slot] = apply_reduce(s.code, A(), s.ints, s.flag);
      return true;
    case Step::argreduce:
      slots[s.slot] =
          s.code == 0 ? tj::argmax(A(), s.ints[0], s.flag) : tj::argmin(A(), s.ints[0], s.flag);
      return true;
    case Step::permute:
      slots[s.slot] = A().permute(s.ints);
      return true;
    case Step::slice:
      slots[s.slot] = A().slice(s.ints[0], s.ints[1], s.ints[2], s.ints[3]);
      return true;
    case Step::expand:
      slots[s.slot] = A().expand(s.ints);
      return true;
    case Step::reshape:
      slots[s.slot] = A().reshape(s.ints);
      return true;
    case Step::unsqueeze:
      slots[s.slot] = A().unsqueeze(s.ints[0]);
      return true;
    case Step::row:
      slots[s.slot] = s.code == 0   ? tj::softmax(A(), -1)
                      : s.code == 1 ? tj::log_softmax(A(), -1)
                                    : tj::layer_norm(A(), {A().shape().back()});
      return true;
    case Step::matmul:
      slots[s.slot] = tj::matmul(A(), B());
      return true;
    case Step::conv: {
      const auto& i = s.ints;
      slots[s.slot] = s.code == 2 ? tj::conv2d(A(), B(), {}, {i[0]}, {i[1]}, {i[2]}, i[3])
                                  : tj::conv1d(A(), B(), {}, {i[0]}, {i[1]}, {i[2]}, i[3]);
      return true;
    }
    case Step::cat:
      slots[s.slot] = tj::cat({A(), B()}, s.ints[0]);
      return true;
    case Step::gather:
      if (s.code == 0) {
        const int64_t n = A().size(s.ints[0]);
        slots[s.slot] = tj::index_select(A(), s.ints[0], tj::remainder(B(), n));
      } else {
        const int64_t n = A().numel();
        slots[s.slot] = tj::take(A(), tj::remainder(B(), 2 * n) - n);
      }
      return true;
    case Step::scan: {
      const int64_t d = s.ints[0];
      slots[s.slot] = s.code == 0   ? tj::cumsum(A(), d)
                      : s.code == 1 ? tj::cumprod(A(), d)
                      : s.code == 2 ? tj::logcumsumexp(A(), d)
                                    : tj::argsort(A(), d, s.flag);
      return true;
    }
    case Step::inplace: {
      Tensor& t = slots.at(s.a);
      if (s.code == 0)
        t += B();
      else if (s.code == 1)
        t -= B();
      else
        t *= B();
      return true;
    }
    case Step::sync:
      tj::sync();
      return true;
    case Step::read:
      (void)A().to_vector<double>();
      return true;
    case Step::drop:
      slots.erase(s.a);
      return true;
  }
  return false;
}

std::string cpp_of(const Step& s) {
  auto t = [](int i) { return "t" + std::to_string(i); };
  const std::string out = "tj::Tensor " + t(s.slot) + " = ";
  switch (s.kind) {
    case Step::input:
      return fmt::format("{}input(0x{:x}ull, {}, {});", out, s.seed, shape_cpp(s.ints),
                         dtype_cpp(s.dtype));
    case Step::rand:
      return fmt::format("tj::manual_seed(0x{:x}ull);\n  {}tj::rand({}, tj::TensorOptions({}));",
                         s.seed, out, shape_cpp(s.ints), dtype_cpp(s.dtype));
    case Step::unary:
      return out +
             (s.dtype == DType::bool_ ? "tj::logical_not(" + t(s.a) + ")"
                                      : unary_cpp(s.code, t(s.a))) +
             ";";
    case Step::binary:
      return out + binary_cpp(s.code, t(s.a), t(s.b)) + ";";
    case Step::scalar:
      return out + scalar_cpp(s.code, t(s.a), s.number) + ";";
    case Step::compare: {
      std::string c = fmt::format("({} {} {})", t(s.a), kCompare[s.code], t(s.b));
      return out + (s.flag ? fmt::format("tj::where({}, {}, {})", c, t(s.a), t(s.b)) : c) + ";";
    }
    case Step::cast:
      return fmt::format("{}{}.cast({});", out, t(s.a), dtype_cpp(s.dtype));
    case Step::reduce:
      return fmt::format("{}tj::{}({}, {}{}, {});", out, kReduce[s.code], t(s.a), shape_cpp(s.ints),
                         s.code == 4 ? ", true" : "", s.flag);
    case Step::argreduce:
      return fmt::format("{}tj::{}({}, {}, {});", out, s.code == 0 ? "argmax" : "argmin", t(s.a),
                         s.ints[0], s.flag);
    case Step::permute:
      return fmt::format("{}{}.permute({});", out, t(s.a), shape_cpp(s.ints));
    case Step::slice:
      return fmt::format("{}{}.slice({}, {}, {}, {});", out, t(s.a), s.ints[0], s.ints[1],
                         s.ints[2], s.ints[3]);
    case Step::expand:
      return fmt::format("{}{}.expand({});", out, t(s.a), shape_cpp(s.ints));
    case Step::reshape:
      return fmt::format("{}{}.reshape({});", out, t(s.a), shape_cpp(s.ints));
    case Step::unsqueeze:
      return fmt::format("{}{}.unsqueeze({});", out, t(s.a), s.ints[0]);
    case Step::row:
      return out + (s.code == 0 ? fmt::format("tj::softmax({}, -1);", t(s.a))
                    : s.code == 1
                        ? fmt::format("tj::log_softmax({}, -1);", t(s.a))
                        : fmt::format("tj::layer_norm({0}, {{{0}.shape().back()}});", t(s.a)));
    case Step::matmul:
      return fmt::format("{}tj::matmul({}, {});", out, t(s.a), t(s.b));
    case Step::conv:
      return fmt::format("{}tj::conv{}d({}, {}, {{}}, {{{}}}, {{{}}}, {{{}}}, {});", out, s.code,
                         t(s.a), t(s.b), s.ints[0], s.ints[1], s.ints[2], s.ints[3]);
    case Step::cat:
      return fmt::format("{}tj::cat({{{}, {}}}, {});", out, t(s.a), t(s.b), s.ints[0]);
    case Step::gather:
      if (s.code == 0)
        return fmt::format("{0}tj::index_select({1}, {3}, tj::remainder({2}, {1}.size({3})));", out,
                           t(s.a), t(s.b), s.ints[0]);
      return fmt::format("{0}tj::take({1}, tj::remainder({2}, 2 * {1}.numel()) - {1}.numel());",
                         out, t(s.a), t(s.b));
    case Step::scan:
      if (s.code == 3)
        return fmt::format("{}tj::argsort({}, {}, {});", out, t(s.a), s.ints[0], s.flag);
      return fmt::format("{}tj::{}({}, {});", out,
                         s.code == 0   ? "cumsum"
                         : s.code == 1 ? "cumprod"
                                       : "logcumsumexp",
                         t(s.a), s.ints[0]);
    case Step::inplace:
      return fmt::format("{} {}= {};", t(s.a), s.code == 0 ? "+" : s.code == 1 ? "-" : "*", t(s.b));
    case Step::sync:
      return "tj::sync();";
    case Step::read:
      return fmt::format("(void){}.to_vector<double>();", t(s.a));
    case Step::drop:
      return fmt::format("{} = tj::Tensor();", t(s.a));
  }
  return "";
}

// ---- generation ---------------------------------------------------------------------------

struct Meta {
  Shape shape;
  DType dtype;
  bool exact;  // bit-identical in every backend and the reference (inputs, views, selects)
};

class Generator {
 public:
  Generator(uint64_t seed, int max_steps) : rng_(seed), max_steps_(max_steps) { p_.seed = seed; }

  Program run() {
    add_input(random_shape(), random_dtype());
    if (rng_.chance(50)) add_input(random_shape(), random_dtype());
    const int n = 1 + static_cast<int>(rng_.below(max_steps_));
    for (int i = 0; i < n; ++i) step();
    return std::move(p_);
  }

  /// The slots alive at the end (pending until a flush computes them).
  std::vector<Tensor> live_tensors() const {
    std::vector<Tensor> out;
    for (const auto& [slot, t] : slots_) out.push_back(t);
    return out;
  }

 private:
  // Sizes that exercise the tiling: empty, one, odd, a vector width, large.
  int64_t random_size() {
    static const std::vector<int64_t> sizes = {0, 1, 1, 2, 3, 5, 7, 8, 16, 17, 31, 64, 100, 257};
    return rng_.pick(sizes);
  }
  Shape random_shape() {
    Shape s(static_cast<size_t>(rng_.below(4)));
    int64_t n = 1;
    for (int64_t& d : s) {
      d = random_size();
      if (n * std::max<int64_t>(d, 1) > 200000) d = 1;
      n *= std::max<int64_t>(d, 1);
    }
    if (rng_.chance(5) && s.size() == 1) s[0] = 70000 + rng_.below(5000);  // split reductions
    return s;
  }
  DType random_dtype() {
    static const std::vector<DType> ts = {DType::f32, DType::f32,  DType::f32,  DType::f32,
                                          DType::f64, DType::f16,  DType::bf16, DType::i32,
                                          DType::i64, DType::bool_};
    return rng_.pick(ts);
  }

  /// Records and applies a step; false (nothing recorded) when tilejit
  /// rejects it: the generator only keeps valid programs. Integer and bool
  /// values are always exact (they are never made from inexact floats).
  bool emit(Step s, bool exact) {
    try {
      if (!apply_step(s, slots_)) return false;
    } catch (const Error&) {
      slots_.erase(s.slot);
      return false;
    }
    if (s.kind == Step::drop) {
      meta_.erase(s.a);
    } else if (s.slot >= 0 && slots_.count(s.slot)) {
      const Tensor& t = slots_.at(s.slot);
      meta_[s.slot] = {t.shape(), t.dtype(), exact || !is_floating(t.dtype())};
    }
    p_.steps.push_back(std::move(s));
    return true;
  }

  int add_input(const Shape& shape, DType t) {
    Step s;
    s.kind = rng_.chance(15) && is_floating(t) ? Step::rand : Step::input;
    s.slot = next_++;
    s.ints = shape;
    s.dtype = t;
    s.seed = rng_.next();
    return emit(s, true) ? s.slot : -1;
  }

  std::vector<int> live(const std::function<bool(const Meta&)>& ok) const {
    std::vector<int> out;
    for (const auto& [slot, m] : meta_)
      if (ok(m)) out.push_back(slot);
    return out;
  }
  int any_live() {
    std::vector<int> all = live([](const Meta&) { return true; });
    if (all.empty()) return add_input(random_shape(), random_dtype());
    return rng_.pick(all);
  }

  /// A shape that broadcasts to `s`: the same, some dims 1, or a suffix.
  Shape broadcastable(const Shape& s) {
    Shape b = s;
    if (rng_.chance(30) && !b.empty()) b.erase(b.begin(), b.begin() + rng_.below(b.size() + 1));
    for (int64_t& d : b)
      if (rng_.chance(30)) d = 1;
    return b;
  }

  /// An operand for a binary op with `a`: a live slot of a compatible shape, or a new input.
  int partner(int a, bool same_dtype) {
    const Meta& ma = meta_.at(a);
    std::vector<int> ok = live([&](const Meta& m) {
      if (same_dtype && m.dtype != ma.dtype) return false;
      try {
        return tj::broadcast_shapes(ma.shape, m.shape) == ma.shape;
      } catch (const Error&) {
        return false;
      }
    });
    if (!ok.empty() && rng_.chance(60)) return rng_.pick(ok);
    return add_input(broadcastable(ma.shape), same_dtype ? ma.dtype : random_dtype());
  }

  void step() {
    const int kind = static_cast<int>(rng_.below(100));
    const int a = any_live();
    if (a < 0) return;
    const Meta m = meta_.at(a);
    const bool fl = is_floating(m.dtype);
    const int rank = static_cast<int>(m.shape.size());
    Step s;
    s.slot = next_++;
    s.a = a;
    if (kind < 18) {  // pointwise chains
      s.kind = Step::unary;
      s.dtype = m.dtype;
      if (m.dtype == DType::bool_) {
        emit(s, m.exact);
        return;
      }
      s.code = fl ? static_cast<int>(rng_.below(kUnaryCount)) : rng_.pick(kIntUnary);
      // floor and round jump: only of values every backend computes alike.
      if ((s.code == 14 || s.code == 15) && !m.exact) s.code = 6;
      emit(s, m.exact && (s.code <= 2));
    } else if (kind < 32) {
      s.kind = Step::binary;
      if (m.dtype == DType::bool_) {
        s.code = 9 + static_cast<int>(rng_.below(3));
        s.b = partner(a, true);
      } else {
        s.code = static_cast<int>(rng_.below(fl ? 7 : 9));
        if (!fl && s.code == 6) s.code = 0;
        if (s.code == 3 && !fl) s.code = 2;
        s.b = partner(a, s.code >= 7);
        // atan2 jumps by 2 pi across the negative x axis: exact operands only.
        if (s.code == 6 && (s.b < 0 || !m.exact || !meta_.at(s.b).exact)) s.code = 0;
      }
      if (s.b >= 0) emit(s, meta_.at(a).exact && meta_.at(s.b).exact && s.code >= 4 && s.code <= 5);
    } else if (kind < 38) {
      s.kind = Step::scalar;
      s.code = static_cast<int>(rng_.below(5));
      s.number = static_cast<double>(rng_.below(9) - 4) * 0.75;
      if (m.dtype != DType::bool_) emit(s, false);
    } else if (kind < 44) {
      // Comparisons only of values every backend computes bit for bit.
      std::vector<int> exact =
          live([&](const Meta& x) { return x.exact && x.dtype != DType::bool_; });
      if (exact.empty()) return;
      s.a = rng_.pick(exact);
      s.kind = Step::compare;
      s.code = static_cast<int>(rng_.below(6));
      s.flag = rng_.chance(60);
      s.b = partner(s.a, true);
      if (s.b >= 0 && meta_.at(s.b).exact) emit(s, true);
    } else if (kind < 50) {
      s.kind = Step::cast;
      s.dtype = random_dtype();
      // A float cast to an integer rounds: only of exact values. Casts of
      // exact values are exact (every backend rounds alike).
      if (fl && !is_floating(s.dtype) && !m.exact) return;
      emit(s, m.exact);
    } else if (kind < 62) {
      if (rank == 0 || m.dtype == DType::bool_) return;
      s.kind = Step::reduce;
      s.code = static_cast<int>(rng_.below(fl ? 6 : 4));
      if (s.code == 1 && !fl) s.code = 0;
      for (int d = 0; d < rank; ++d)
        if (rng_.chance(40)) s.ints.push_back(d);
      if (s.ints.empty() && rng_.chance(50)) s.ints.push_back(rng_.below(rank));
      if (s.code == 5 && shape_numel(m.shape) > 64) s.code = 0;  // products stay finite
      s.flag = rng_.chance(50);
      emit(s, m.exact && (s.code == 2 || s.code == 3));
    } else if (kind < 65) {
      if (rank == 0 || !m.exact || m.dtype == DType::bool_) return;
      s.kind = Step::argreduce;
      s.code = static_cast<int>(rng_.below(2));
      s.ints = {rng_.below(rank)};
      s.flag = rng_.chance(50);
      emit(s, true);
    } else if (kind < 77) {  // views
      view(s, m);
    } else if (kind < 80) {
      // Scans of any values; sorts only of values every backend computes
      // alike (their order is then exact).
      if (rank == 0) return;
      s.kind = Step::scan;
      s.ints = {rng_.below(rank)};
      s.code = static_cast<int>(rng_.below(4));
      if (s.code == 2 && !fl) s.code = 0;
      if (s.code == 1 && m.shape[s.ints[0]] > 12) s.code = 0;  // products stay finite
      if (s.code == 3 && !m.exact) s.code = 0;
      s.flag = rng_.chance(50);
      emit(s, s.code == 3 || (m.exact && !fl && s.code == 0));
    } else if (kind < 85) {
      if (rank == 0 || !fl) return;
      s.kind = Step::row;
      s.code = static_cast<int>(rng_.below(3));
      emit(s, false);
    } else if (kind < 89) {
      matmul(s, m);
    } else if (kind < 91 && rng_.chance(50)) {
      // Gathers at in-range indices computed in the kernel (an index input
      // taken modulo the size): never out of range, so never an error.
      s.kind = Step::gather;
      s.code = rank == 0 ? 1 : static_cast<int>(rng_.below(2));
      if (s.code == 0) s.ints = {rng_.below(rank)};
      if (s.code == 0 ? m.shape[s.ints[0]] == 0 : shape_numel(m.shape) == 0) return;
      Shape ishape{random_size()};
      if (s.code == 1 && rng_.chance(50)) ishape.push_back(1 + rng_.below(4));
      s.b = add_input(ishape, DType::i64);
      if (s.b >= 0) emit(s, m.exact);
    } else if (kind < 91) {
      if (rank == 0) return;
      s.kind = Step::cat;
      const int64_t axis = rng_.below(rank);
      s.ints = {axis};
      Shape other = m.shape;
      other[axis] = random_size();
      s.b = add_input(other, m.dtype);
      if (s.b >= 0) emit(s, m.exact);
    } else if (kind < 94) {
      if (!fl) return;
      s.kind = Step::inplace;
      s.slot = a;
      s.code = static_cast<int>(rng_.below(3));
      s.b = partner(a, false);
      if (s.b >= 0 && is_floating(meta_.at(s.b).dtype)) emit(s, false);
    } else if (kind < 96) {
      // Flushes in the middle of a program: about one program in four has
      // one, so graphs are cut at varied points while a batch stays a few
      // flushes (each flush compiles its new kernels).
      if (!rng_.chance(50)) return;
      s.kind = Step::read;
      s.slot = -1;
      emit(s, true);
    } else if (kind < 98) {
      if (!rng_.chance(50)) return;
      s.kind = Step::sync;
      s.slot = -1;
      s.a = -1;
      emit(s, true);
    } else {
      s.kind = Step::drop;
      s.slot = -1;
      emit(s, true);
    }
  }

  void view(Step& s, const Meta& m) {
    const int rank = static_cast<int>(m.shape.size());
    const int which = static_cast<int>(rng_.below(5));
    if (which == 0 && rank >= 2) {
      s.kind = Step::permute;
      s.ints.resize(rank);
      for (int i = 0; i < rank; ++i) s.ints[i] = i;
      for (int i = rank - 1; i > 0; --i) std::swap(s.ints[i], s.ints[rng_.below(i + 1)]);
    } else if (which == 1 && rank >= 1) {
      s.kind = Step::slice;
      const int64_t d = rng_.below(rank), n = m.shape[d];
      const int64_t start = rng_.below(n + 1), end = start + rng_.below(n - start + 2);
      s.ints = {d, start, end, 1 + rng_.below(3)};
    } else if (which == 2) {
      s.kind = Step::expand;
      Shape to = m.shape;
      for (int64_t& x : to)
        if (x == 1 && rng_.chance(60)) x = 1 + rng_.below(9);
      if (rng_.chance(40)) to.insert(to.begin(), 1 + rng_.below(4));
      s.ints = to;
    } else if (which == 3) {
      s.kind = Step::reshape;
      const int64_t n = shape_numel(m.shape);
      if (n > 1 && n % 2 == 0 && rng_.chance(50))
        s.ints = {2, -1};
      else
        s.ints = {n};
    } else {
      s.kind = Step::unsqueeze;
      s.ints = {rng_.below(rank + 1)};
    }
    emit(s, m.exact);
  }

  void matmul(Step& s, const Meta& m) {
    if (!is_floating(m.dtype) || m.dtype == DType::f16 || m.dtype == DType::bf16) return;
    if ((m.shape.size() == 3 || m.shape.size() == 4) && rng_.chance(50)) {
      conv(s, m);
      return;
    }
    if (m.shape.size() < 2 || m.shape.size() > 3) return;
    s.kind = Step::matmul;
    Shape b = m.shape;
    b[b.size() - 2] = m.shape.back();
    b.back() = random_size();
    s.b = add_input(b, m.dtype);
    if (s.b >= 0) emit(s, false);
  }

  /// conv2d (rank 4) or conv1d (rank 3) of a with a weight input: stride and
  /// dilation 1 or 2, padding 0 or 1, groups 1 or depthwise, kernels up to 3.
  void conv(Step& s, const Meta& m) {
    const Shape& x = m.shape;
    const int64_t C = x[1];
    const int64_t stride = 1 + rng_.below(2), pad = rng_.below(2), dil = 1 + rng_.below(2);
    const int64_t groups = C > 1 && rng_.chance(30) ? C : 1;
    Shape w{groups * (1 + rng_.below(3)), groups > 1 ? 1 : C};
    for (size_t d = 2; d < x.size(); ++d) {
      const int64_t span = x[d] + 2 * pad;  // the window must fit: dil (k - 1) + 1 <= span
      if (span < 1) return;
      const int64_t kmax = std::min<int64_t>(3, (span - 1) / dil + 1);
      w.push_back(1 + rng_.below(kmax));
    }
    s.kind = Step::conv;
    s.code = x.size() == 4 ? 2 : 1;  // conv2d or conv1d
    s.ints = {stride, pad, dil, groups};
    s.b = add_input(w, m.dtype);
    if (s.b >= 0) emit(s, false);
  }

  Rng rng_;
  int max_steps_;
  Program p_;
  Slots slots_;
  std::map<int, Meta> meta_;
  int next_ = 0;
};

}  // namespace

std::vector<double> input_values(uint64_t seed, int64_t n, DType t) {
  std::vector<double> v(static_cast<size_t>(n));
  uint64_t s = seed;
  for (double& x : v) {
    const uint64_t r = splitmix(s);
    if (t == DType::bool_)
      x = static_cast<double>(r & 1);
    else if (is_integral(t))
      x = static_cast<double>(static_cast<int64_t>(r % 41) - 20);
    else
      x = static_cast<double>(r >> 11) * 0x1p-53 * 4.0 - 2.0;  // [-2, 2)
  }
  return v;
}

Program generate(uint64_t seed, int max_steps, std::vector<Tensor>* live) {
  Generator g(seed, max_steps);
  Program p = g.run();
  if (live) *live = g.live_tensors();
  return p;
}

std::vector<Tensor> run(const Program& p) {
  Slots slots;
  for (size_t i = 0; i < p.steps.size(); ++i) {
    if (!p.enabled.empty() && !p.enabled[i]) continue;
    apply_step(p.steps[i], slots);
  }
  std::vector<Tensor> out;
  for (auto& [slot, t] : slots) out.push_back(t.eval());
  return out;
}

std::string to_cpp(const Program& p) {
  std::string s = fmt::format(
      "// tilejit fuzzer reproducer, program seed 0x{:x}ull.\n"
      "#include <tilejit/tilejit.h>\n\n#include <cstdint>\n#include <vector>\n\n"
      "// The fuzzer's input data: splitmix64 values in [-2, 2), or integers in [-20, 20].\n"
      "tj::Tensor input(uint64_t s, const tj::Shape& shape, tj::DType t) {{\n"
      "  int64_t n = 1;\n  for (int64_t d : shape) n *= d;\n"
      "  std::vector<double> v(n);\n"
      "  for (double& x : v) {{\n"
      "    uint64_t z = (s += 0x9e3779b97f4a7c15ull);\n"
      "    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;\n"
      "    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;\n"
      "    z ^= z >> 31;\n"
      "    x = t == tj::bool_ ? double(z & 1)\n"
      "        : (t == tj::i32 || t == tj::i64) ? double(int64_t(z % 41) - 20)\n"
      "        : double(z >> 11) * 0x1p-53 * 4.0 - 2.0;\n"
      "  }}\n"
      "  auto as = [&](auto zero) {{\n"
      "    return tj::from_vector(std::vector<decltype(zero)>(v.begin(), v.end()), shape);\n"
      "  }};\n"
      "  if (t == tj::f32) return as(0.0f);\n"
      "  if (t == tj::f16) return as(tj::half());\n"
      "  if (t == tj::bf16) return as(tj::bfloat16());\n"
      "  if (t == tj::i32) return as(int32_t());\n"
      "  if (t == tj::i64) return as(int64_t());\n"
      "  if (t == tj::bool_) return as(false);\n"
      "  return tj::from_vector(v, shape);\n}}\n\n"
      "int main() {{\n",
      p.seed);
  for (size_t i = 0; i < p.steps.size(); ++i) {
    if (!p.enabled.empty() && !p.enabled[i]) continue;
    s += "  " + cpp_of(p.steps[i]) + "\n";
  }
  return s + "  tj::sync();\n}\n";
}

}  // namespace tj::fuzz
