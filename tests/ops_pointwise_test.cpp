// Pointwise ops against hand-computed values: arithmetic with tensors and
// scalars, unary math, comparisons, logical ops, where/clamp, casts,
// broadcasting corner cases, PyTorch dtype promotion, and non-contiguous
// inputs. Every test runs in lazy and in eager mode.
//
// Adding an op is one row in kUnary (tensor -> tensor, including tensor-scalar
// forms), kBinary (tensor, tensor), kIntBinary (integer tensors),
// kCompare (-> bool_) or kPromotion (result dtype).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <ostream>
#include <string>
#include <tuple>
#include <vector>

#include "test_util.h"

namespace {

using tj::testing::all_close;
using tj::testing::kInf;
using tj::testing::kNaN;
using tj::testing::mode_name;
using tj::testing::ModeCaseTest;
using tj::testing::ModeTest;
using tj::testing::Tol;
using Ten = tj::Tensor;

constexpr double kPi = 3.14159265358979323846;

// ---- helpers ------------------------------------------------------------------

/// The value `v` becomes when stored as `dt`.
double stored(double v, tj::DType dt) {
  switch (dt) {
    case tj::DType::f32:
      return static_cast<float>(v);
    case tj::DType::f16:
      return static_cast<float>(tj::half(static_cast<float>(v)));
    case tj::DType::bf16:
      return static_cast<float>(tj::bfloat16(static_cast<float>(v)));
    case tj::DType::f64:
      return v;
    case tj::DType::i32:
      return static_cast<double>(static_cast<int32_t>(v));
    case tj::DType::i64:
      return static_cast<double>(static_cast<int64_t>(v));
    case tj::DType::bool_:
      return v != 0 ? 1.0 : 0.0;
  }
  return v;
}

/// A tensor of dtype `dt` built from host data of the matching C++ type (no
/// tilejit cast involved). Shape defaults to 1-D.
Ten make(const std::vector<double>& v, tj::DType dt, std::optional<tj::Shape> shape = {}) {
  return tj::testing::make(v, shape ? *shape : tj::Shape{static_cast<int64_t>(v.size())}, dt);
}

Ten f32(const std::vector<double>& v, std::optional<tj::Shape> s = {}) {
  return make(v, tj::f32, s);
}
Ten i32(const std::vector<double>& v, std::optional<tj::Shape> s = {}) {
  return make(v, tj::i32, s);
}
Ten i64(const std::vector<double>& v, std::optional<tj::Shape> s = {}) {
  return make(v, tj::i64, s);
}
Ten f16(const std::vector<double>& v, std::optional<tj::Shape> s = {}) {
  return make(v, tj::f16, s);
}
Ten bf16(const std::vector<double>& v, std::optional<tj::Shape> s = {}) {
  return make(v, tj::bf16, s);
}
Ten f64(const std::vector<double>& v, std::optional<tj::Shape> s = {}) {
  return make(v, tj::f64, s);
}
Ten bools(const std::vector<double>& v, std::optional<tj::Shape> s = {}) {
  return make(v, tj::bool_, s);
}
/// A 0-d tensor (shape {}).
Ten scalar_tensor(double v, tj::DType dt) { return make({v}, dt, tj::Shape{}); }

/// Tolerance for a result of dtype `dt`; `base` is the f32 tolerance.
Tol tol_for(tj::DType dt, Tol base, double lowp_scale = 1) {
  switch (dt) {
    case tj::DType::f64:
      return {1e-10, 1e-12};
    case tj::DType::f16:
      return {std::max(base.rtol, 1e-3 * lowp_scale), std::max(base.atol, 1e-3 * lowp_scale)};
    case tj::DType::bf16:
      return {std::max(base.rtol, 8e-3 * lowp_scale), std::max(base.atol, 8e-3 * lowp_scale)};
    case tj::DType::f32:
      return base;
    default:
      return {0, 0};
  }
}

/// Runs every test of a fixture once traced (lazy) and once eagerly.
class Pointwise : public ModeTest {};

/// "<row name>_<mode>", for the table suites.
template <class Info>
std::string row_mode_name(const Info& info) {
  return std::string(std::get<1>(info.param).name) + "_" + mode_name(std::get<0>(info.param));
}

INSTANTIATE_TEST_SUITE_P(Modes, Pointwise, ::testing::Bool(),
                         [](const auto& info) { return mode_name(info.param); });

const std::vector<tj::DType> kFloatTypes = {tj::f32, tj::f64, tj::f16, tj::bf16};

// ---- unary table ------------------------------------------------------------------
// Each row maps a floating tensor to a tensor of the same dtype. Tensor-scalar
// forms of binary ops are rows too (the scalar never widens the dtype).

struct UnaryCase {
  const char* name;
  std::function<Ten(const Ten&)> fn;
  std::function<double(double)> ref;
  std::vector<double> inputs;
  Tol tol = {1e-5, 1e-6};
  double lowp_scale = 1;  // widens the f16/bf16 tolerance (multi-step rows)
};

void PrintTo(const UnaryCase& c, std::ostream* os) { *os << c.name; }

const std::vector<double> kGeneral = {-3.0, -1.5, -0.5, 0.0, 0.25, 1.0, 2.5};
const std::vector<double> kPositive = {0.01, 0.5, 1.0, 2.0, 10.0, 100.0};
const std::vector<double> kNonzero = {-4.0, -0.5, 0.25, 1.0, 3.0};
const std::vector<double> kRounding = {-2.5, -1.5, -0.5, -0.4, 0.0,        0.5,
                                       1.5,  2.5,  2.6,  -2.6, 0.49999997, 8388609.0};

double gelu_erf(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }
double gelu_tanh(double x) {
  return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / kPi) * (x + 0.044715 * x * x * x)));
}
double sigmoid_ref(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double floor_div_ref(double a, double b) { return std::floor(a / b); }
double remainder_ref(double a, double b) {
  double m = std::fmod(a, b);
  if (m != 0 && ((m < 0) != (b < 0))) m += b;
  return m;
}

const UnaryCase kUnary[] = {
    {"neg", [](const Ten& x) { return tj::neg(x); }, [](double x) { return -x; }, kGeneral},
    {"neg_operator", [](const Ten& x) { return -x; }, [](double x) { return -x; }, kGeneral},
    {"neg_method", [](const Ten& x) { return x.neg(); }, [](double x) { return -x; }, kGeneral},
    {"abs", [](const Ten& x) { return tj::abs(x); }, [](double x) { return std::abs(x); },
     kGeneral},
    {"abs_method", [](const Ten& x) { return x.abs(); }, [](double x) { return std::abs(x); },
     kGeneral},
    {"exp",
     [](const Ten& x) { return tj::exp(x); },
     [](double x) { return std::exp(x); },
     {-5.0, -1.0, 0.0, 0.5, 1.0, 5.0, 10.0}},
    {"exp_method",
     [](const Ten& x) { return x.exp(); },
     [](double x) { return std::exp(x); },
     {-5.0, -1.0, 0.0, 0.5, 1.0, 5.0, 10.0}},
    {"exp2",
     [](const Ten& x) { return tj::exp2(x); },
     [](double x) { return std::exp2(x); },
     {-3.0, -0.5, 0.0, 1.0, 3.5, 10.0}},
    {"log", [](const Ten& x) { return tj::log(x); }, [](double x) { return std::log(x); },
     kPositive},
    {"log_method", [](const Ten& x) { return x.log(); }, [](double x) { return std::log(x); },
     kPositive},
    {"log2", [](const Ten& x) { return tj::log2(x); }, [](double x) { return std::log2(x); },
     kPositive},
    // log1p/expm1 must stay accurate near 0, where log(1+x)/exp(x)-1 are not.
    {"log1p",
     [](const Ten& x) { return tj::log1p(x); },
     [](double x) { return std::log1p(x); },
     {-0.5, -1e-4, 0.0, 1e-5, 1.0, 10.0}},
    {"expm1",
     [](const Ten& x) { return tj::expm1(x); },
     [](double x) { return std::expm1(x); },
     {-1.0, -1e-5, 0.0, 1e-5, 0.5, 2.0}},
    {"sqrt",
     [](const Ten& x) { return tj::sqrt(x); },
     [](double x) { return std::sqrt(x); },
     {0.0, 0.01, 0.25, 1.0, 2.0, 100.0}},
    {"sqrt_method",
     [](const Ten& x) { return x.sqrt(); },
     [](double x) { return std::sqrt(x); },
     {0.0, 0.01, 0.25, 1.0, 2.0, 100.0}},
    {"rsqrt", [](const Ten& x) { return tj::rsqrt(x); },
     [](double x) { return 1.0 / std::sqrt(x); }, kPositive},
    {"sin",
     [](const Ten& x) { return tj::sin(x); },
     [](double x) { return std::sin(x); },
     {-3.0, -1.0, 0.0, 0.5, 1.0, 2.0, 3.0}},
    {"cos",
     [](const Ten& x) { return tj::cos(x); },
     [](double x) { return std::cos(x); },
     {-3.0, -1.0, 0.0, 0.5, 1.0, 2.0, 3.0}},
    {"atan",
     [](const Ten& x) { return tj::atan(x); },
     [](double x) { return std::atan(x); },
     {-1e4, -3.0, -1.0, -0.3, 0.0, 0.3, 1.0, 2.5, 1e4}},
    {"atan_method",
     [](const Ten& x) { return x.atan(); },
     [](double x) { return std::atan(x); },
     {-3.0, -0.5, 0.0, 0.5, 3.0}},
    {"atan2_scalar", [](const Ten& x) { return tj::atan2(x, -1.5); },
     [](double x) { return std::atan2(x, -1.5); }, kGeneral},
    {"scalar_atan2", [](const Ten& x) { return tj::atan2(0.5, x); },
     [](double x) { return std::atan2(0.5, x); }, kGeneral},
    {"tanh",
     [](const Ten& x) { return tj::tanh(x); },
     [](double x) { return std::tanh(x); },
     {-5.0, -1.0, -0.1, 0.0, 0.1, 1.0, 5.0}},
    {"tanh_method",
     [](const Ten& x) { return x.tanh(); },
     [](double x) { return std::tanh(x); },
     {-5.0, -1.0, -0.1, 0.0, 0.1, 1.0, 5.0}},
    {"sigmoid",
     [](const Ten& x) { return tj::sigmoid(x); },
     sigmoid_ref,
     {-10.0, -1.0, 0.0, 0.5, 1.0, 10.0}},
    {"sigmoid_method",
     [](const Ten& x) { return x.sigmoid(); },
     sigmoid_ref,
     {-10.0, -1.0, 0.0, 0.5, 1.0, 10.0}},
    {"relu", [](const Ten& x) { return tj::relu(x); }, [](double x) { return x > 0 ? x : 0.0; },
     kGeneral},
    {"relu_method", [](const Ten& x) { return x.relu(); }, [](double x) { return x > 0 ? x : 0.0; },
     kGeneral},
    {"gelu",
     [](const Ten& x) { return tj::gelu(x); },
     gelu_erf,
     {-5.0, -3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, 5.0}},
    {"gelu_none",
     [](const Ten& x) { return tj::gelu(x, "none"); },
     gelu_erf,
     {-5.0, -3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, 5.0}},
    {"gelu_tanh",
     [](const Ten& x) { return tj::gelu(x, "tanh"); },
     gelu_tanh,
     {-5.0, -3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, 5.0}},
    {"silu",
     [](const Ten& x) { return tj::silu(x); },
     [](double x) { return x * sigmoid_ref(x); },
     {-5.0, -1.0, 0.0, 0.5, 1.0, 5.0}},
    {"erf",
     [](const Ten& x) { return tj::erf(x); },
     [](double x) { return std::erf(x); },
     {-3.0, -1.0, -0.1, 0.0, 0.1, 0.5, 1.0, 3.0}},
    {"floor", [](const Ten& x) { return tj::floor(x); }, [](double x) { return std::floor(x); },
     kRounding},
    {"ceil", [](const Ten& x) { return tj::ceil(x); }, [](double x) { return std::ceil(x); },
     kRounding},
    // Half to even: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -2.5 -> -2.
    {"round", [](const Ten& x) { return tj::round(x); }, [](double x) { return std::nearbyint(x); },
     kRounding},
    {"reciprocal", [](const Ten& x) { return tj::reciprocal(x); }, [](double x) { return 1.0 / x; },
     kNonzero},
    {"square", [](const Ten& x) { return tj::square(x); }, [](double x) { return x * x; },
     kGeneral},
    {"clamp_both", [](const Ten& x) { return tj::clamp(x, -1, 1.5); },
     [](double x) { return std::min(std::max(x, -1.0), 1.5); }, kGeneral},
    {"clamp_lo", [](const Ten& x) { return tj::clamp(x, 0.5, std::nullopt); },
     [](double x) { return std::max(x, 0.5); }, kGeneral},
    {"clamp_hi", [](const Ten& x) { return tj::clamp(x, std::nullopt, -0.5); },
     [](double x) { return std::min(x, -0.5); }, kGeneral},
    // tensor (op) scalar and scalar (op) tensor
    {"add_scalar", [](const Ten& x) { return x + 2.5; }, [](double x) { return x + 2.5; },
     kGeneral},
    {"scalar_add", [](const Ten& x) { return 2.5 + x; }, [](double x) { return 2.5 + x; },
     kGeneral},
    {"add_int_scalar", [](const Ten& x) { return x + 3; }, [](double x) { return x + 3; },
     kGeneral},
    {"sub_scalar", [](const Ten& x) { return x - 1.25; }, [](double x) { return x - 1.25; },
     kGeneral},
    {"scalar_sub", [](const Ten& x) { return 10 - x; }, [](double x) { return 10 - x; }, kGeneral},
    {"mul_scalar", [](const Ten& x) { return x * -2.0f; }, [](double x) { return x * -2.0; },
     kGeneral},
    {"scalar_mul", [](const Ten& x) { return 0.5 * x; }, [](double x) { return 0.5 * x; },
     kGeneral},
    {"div_scalar", [](const Ten& x) { return x / 4; }, [](double x) { return x / 4; }, kGeneral},
    {"scalar_div", [](const Ten& x) { return 1.0 / x; }, [](double x) { return 1.0 / x; },
     kNonzero},
    {"add_inplace",
     [](const Ten& x) {
       Ten y = x;
       y += 2.5;
       return y;
     },
     [](double x) { return x + 2.5; }, kGeneral},
    {"mul_inplace_tensor",
     [](const Ten& x) {
       Ten y = x;
       y *= x;
       return y;
     },
     [](double x) { return x * x; }, kGeneral},
    {"pow_scalar_2", [](const Ten& x) { return tj::pow(x, 2); }, [](double x) { return x * x; },
     kGeneral},
    {"pow_scalar_3", [](const Ten& x) { return tj::pow(x, 3.0); },
     [](double x) { return x * x * x; }, kGeneral},
    {"pow_scalar_half", [](const Ten& x) { return tj::pow(x, 0.5); },
     [](double x) { return std::sqrt(x); }, kPositive},
    {"pow_scalar_neg", [](const Ten& x) { return tj::pow(x, -1); },
     [](double x) { return 1.0 / x; }, kNonzero},
    {"pow_scalar_base",
     [](const Ten& x) { return tj::pow(2, x); },
     [](double x) { return std::pow(2.0, x); },
     {-2.0, -0.5, 0.0, 1.0, 3.0, 10.0}},
    {"pow_scalar_base_float",
     [](const Ten& x) { return tj::pow(2.5, x); },
     [](double x) { return std::pow(2.5, x); },
     {-2.0, -0.5, 0.0, 1.0, 3.0}},
    {"maximum_scalar", [](const Ten& x) { return tj::maximum(x, 0.25); },
     [](double x) { return std::max(x, 0.25); }, kGeneral},
    {"minimum_scalar", [](const Ten& x) { return tj::minimum(x, 0); },
     [](double x) { return std::min(x, 0.0); }, kGeneral},
    {"floor_divide_scalar", [](const Ten& x) { return tj::floor_divide(x, 2); },
     [](double x) { return floor_div_ref(x, 2); }, kGeneral},
    {"floor_divide_neg_scalar", [](const Ten& x) { return tj::floor_divide(x, -2); },
     [](double x) { return floor_div_ref(x, -2); }, kGeneral},
    {"remainder_scalar", [](const Ten& x) { return tj::remainder(x, 2); },
     [](double x) { return remainder_ref(x, 2); }, kGeneral},
    {"remainder_neg_scalar", [](const Ten& x) { return tj::remainder(x, -2); },
     [](double x) { return remainder_ref(x, -2); }, kGeneral},
    {"where_tensor_scalar", [](const Ten& x) { return tj::where(x > 0, x, -7); },
     [](double x) { return x > 0 ? x : -7; }, kGeneral},
    {"where_scalar_tensor", [](const Ten& x) { return tj::where(x > 0, 0.5, x); },
     [](double x) { return x > 0 ? 0.5 : x; }, kGeneral},
    // a small fused chain
    {"chain",
     [](const Ten& x) { return tj::exp(-(x * x)) * 2 + tj::sin(x) - 1; },
     [](double x) { return std::exp(-(x * x)) * 2 + std::sin(x) - 1; },
     kGeneral,
     {1e-5, 1e-6},
     4},
};

class UnaryOps : public ModeCaseTest<UnaryCase> {
 protected:
  const UnaryCase& op() const { return param(); }

  std::vector<double> expected(tj::DType dt) const {
    std::vector<double> want;
    for (double x : op().inputs) want.push_back(op().ref(stored(x, dt)));
    return want;
  }
};

INSTANTIATE_TEST_SUITE_P(Table, UnaryOps,
                         ::testing::Combine(::testing::Bool(), ::testing::ValuesIn(kUnary)),
                         [](const auto& info) { return row_mode_name(info); });

TEST_P(UnaryOps, AllFloatTypes) {
  for (tj::DType dt : kFloatTypes) {
    SCOPED_TRACE(std::string(op().name) + " on " + std::string(tj::dtype_name(dt)));
    Ten x = make(op().inputs, dt);
    Ten y = op().fn(x);
    EXPECT_EQ(y.dtype(), dt);
    EXPECT_EQ(y.shape(), x.shape());
    Tol t = tol_for(dt, op().tol, op().lowp_scale);
    EXPECT_TRUE(all_close(y, expected(dt), t.rtol, t.atol));
  }
}

TEST_P(UnaryOps, TwoDimensional) {
  // The same inputs as a [n, 1] column and repeated into [n, 3] by expand.
  const auto n = static_cast<int64_t>(op().inputs.size());
  Ten x = f32(op().inputs, tj::Shape{n, 1});
  Ten y = op().fn(x);
  EXPECT_EQ(y.shape(), (tj::Shape{n, 1}));
  EXPECT_TRUE(all_close(y, expected(tj::f32), op().tol.rtol, op().tol.atol));
  Ten e = op().fn(x.expand({n, 3}));
  EXPECT_EQ(e.shape(), (tj::Shape{n, 3}));
  std::vector<double> want;
  for (double v : expected(tj::f32)) want.insert(want.end(), 3, v);
  EXPECT_TRUE(all_close(e, want, op().tol.rtol, op().tol.atol));
}

TEST_P(UnaryOps, NonContiguousInputs) {
  const auto n = static_cast<int64_t>(op().inputs.size());
  const double junk = 0.75;  // inside every op's domain; must never be read
  // Strided slice: inputs at even positions.
  std::vector<double> interleaved;
  for (double v : op().inputs) {
    interleaved.push_back(v);
    interleaved.push_back(junk);
  }
  Ten base = f32(interleaved, tj::Shape{2 * n});
  Ten strided = base.slice(0, 0, 2 * n, 2);
  EXPECT_EQ(strided.shape(), (tj::Shape{n}));
  EXPECT_TRUE(all_close(op().fn(strided), expected(tj::f32), op().tol.rtol, op().tol.atol));

  // View of a view: [n, 2] -> transpose [2, n] -> row 0 -> [1, n].
  Ten rows = f32(interleaved, tj::Shape{n, 2}).t().slice(0, 0, 1);
  EXPECT_EQ(rows.shape(), (tj::Shape{1, n}));
  Ten y = op().fn(rows);
  EXPECT_EQ(y.shape(), (tj::Shape{1, n}));
  EXPECT_TRUE(all_close(y, expected(tj::f32), op().tol.rtol, op().tol.atol));

  // A view of a pending result.
  Ten pending = f32(interleaved, tj::Shape{n, 2}) * 1.0;
  Ten col = pending.slice(1, 0, 1).reshape({n});
  EXPECT_TRUE(all_close(op().fn(col), expected(tj::f32), op().tol.rtol, op().tol.atol));
}

TEST_P(UnaryOps, ZeroDimAndEmpty) {
  Ten s = scalar_tensor(op().inputs.back(), tj::f32);
  Ten y = op().fn(s);
  EXPECT_EQ(y.shape(), tj::Shape{});
  EXPECT_EQ(y.numel(), 1);
  EXPECT_TRUE(all_close(y, {expected(tj::f32).back()}, op().tol.rtol, op().tol.atol));
  Ten e = op().fn(tj::zeros({0, 3}));
  EXPECT_EQ(e.shape(), (tj::Shape{0, 3}));
  EXPECT_EQ(e.numel(), 0);
  EXPECT_TRUE(e.to_vector<float>().empty());
}

// ---- binary table (tensor, tensor) ------------------------------------------------

struct BinaryCase {
  const char* name;
  std::function<Ten(const Ten&, const Ten&)> fn;
  std::function<double(double, double)> ref;
  std::vector<double> a, b;
  Tol tol = {1e-5, 1e-6};
  double lowp_scale = 1;  // widens the f16/bf16 tolerance (multi-step rows)
};

void PrintTo(const BinaryCase& c, std::ostream* os) { *os << c.name; }

const std::vector<double> kA = {-3.0, -1.5, -0.5, 0.0, 0.25, 1.0, 2.5, 7.5};
const std::vector<double> kB = {2.0, -2.0, 0.5, 1.5, -4.0, 3.0, -0.75, 2.0};
// floor_divide / remainder: every sign combination, exact quotients.
const std::vector<double> kDivA = {7.5, -7.5, 7.5, -7.5, 5.5, 0.0, 3.0, -3.0};
const std::vector<double> kDivB = {2.0, 2.0, -2.0, -2.0, -2.0, 3.0, 1.5, 1.5};

const BinaryCase kBinary[] = {
    {"add", [](const Ten& a, const Ten& b) { return tj::add(a, b); },
     [](double a, double b) { return a + b; }, kA, kB},
    {"add_operator", [](const Ten& a, const Ten& b) { return a + b; },
     [](double a, double b) { return a + b; }, kA, kB},
    {"sub", [](const Ten& a, const Ten& b) { return tj::sub(a, b); },
     [](double a, double b) { return a - b; }, kA, kB},
    {"sub_operator", [](const Ten& a, const Ten& b) { return a - b; },
     [](double a, double b) { return a - b; }, kA, kB},
    {"mul", [](const Ten& a, const Ten& b) { return tj::mul(a, b); },
     [](double a, double b) { return a * b; }, kA, kB},
    {"mul_operator", [](const Ten& a, const Ten& b) { return a * b; },
     [](double a, double b) { return a * b; }, kA, kB},
    {"div", [](const Ten& a, const Ten& b) { return tj::div(a, b); },
     [](double a, double b) { return a / b; }, kA, kB},
    {"div_operator", [](const Ten& a, const Ten& b) { return a / b; },
     [](double a, double b) { return a / b; }, kA, kB},
    // Negative bases with integral exponents are real: (-2)^3 = -8.
    {"pow",
     [](const Ten& a, const Ten& b) { return tj::pow(a, b); },
     [](double a, double b) { return std::pow(a, b); },
     {0.5, 2.0, 3.0, 1.5, -2.0, -2.0, 0.0, 4.0},
     {2.0, 0.5, -1.0, 3.0, 3.0, 2.0, 2.0, 0.0}},
    // Every quadrant, the axes and signed zeros.
    {"atan2",
     [](const Ten& a, const Ten& b) { return tj::atan2(a, b); },
     [](double a, double b) { return std::atan2(a, b); },
     {1.0, 1.0, -1.0, -1.0, 0.0, -0.0, 0.0, -0.0, 3.0, -2.5},
     {1.0, -1.0, 1.0, -1.0, 1.0, 1.0, -1.0, -1.0, 0.0, 0.0}},
    {"atan2_method", [](const Ten& a, const Ten& b) { return a.atan2(b); },
     [](double a, double b) { return std::atan2(a, b); }, kA, kB},
    {"maximum", [](const Ten& a, const Ten& b) { return tj::maximum(a, b); },
     [](double a, double b) { return std::max(a, b); }, kA, kB},
    {"minimum", [](const Ten& a, const Ten& b) { return tj::minimum(a, b); },
     [](double a, double b) { return std::min(a, b); }, kA, kB},
    {"floor_divide", [](const Ten& a, const Ten& b) { return tj::floor_divide(a, b); },
     floor_div_ref, kDivA, kDivB},
    {"remainder", [](const Ten& a, const Ten& b) { return tj::remainder(a, b); }, remainder_ref,
     kDivA, kDivB},
    {"where_tensors", [](const Ten& a, const Ten& b) { return tj::where(a > b, a, b); },
     [](double a, double b) { return a > b ? a : b; }, kA, kB},
    {"chain",
     [](const Ten& a, const Ten& b) { return (a * b + a) / (tj::abs(b) + 1) - b; },
     [](double a, double b) { return (a * b + a) / (std::abs(b) + 1) - b; },
     kA,
     kB,
     {1e-5, 1e-6},
     4},
};

class BinaryOps : public ModeCaseTest<BinaryCase> {
 protected:
  const BinaryCase& op() const { return param(); }
  int64_t n() const { return static_cast<int64_t>(op().a.size()); }
  std::vector<double> expected(tj::DType dt) const {
    std::vector<double> want;
    for (size_t i = 0; i < op().a.size(); ++i)
      want.push_back(op().ref(stored(op().a[i], dt), stored(op().b[i], dt)));
    return want;
  }
};

INSTANTIATE_TEST_SUITE_P(Table, BinaryOps,
                         ::testing::Combine(::testing::Bool(), ::testing::ValuesIn(kBinary)),
                         [](const auto& info) { return row_mode_name(info); });

TEST_P(BinaryOps, AllFloatTypes) {
  for (tj::DType dt : kFloatTypes) {
    SCOPED_TRACE(std::string(op().name) + " on " + std::string(tj::dtype_name(dt)));
    Ten c = op().fn(make(op().a, dt), make(op().b, dt));
    EXPECT_EQ(c.dtype(), dt);
    EXPECT_EQ(c.shape(), (tj::Shape{n()}));
    Tol t = tol_for(dt, op().tol, op().lowp_scale);
    EXPECT_TRUE(all_close(c, expected(dt), t.rtol, t.atol));
  }
}

TEST_P(BinaryOps, OuterBroadcast) {
  // a as [n, 1] with b as [n] -> [n, n], c[i][j] = op(a[i], b[j]).
  Ten c = op().fn(f32(op().a, tj::Shape{n(), 1}), f32(op().b));
  EXPECT_EQ(c.shape(), (tj::Shape{n(), n()}));
  std::vector<double> want;
  for (double a : op().a)
    for (double b : op().b) want.push_back(op().ref(stored(a, tj::f32), stored(b, tj::f32)));
  EXPECT_TRUE(all_close(c, want, op().tol.rtol, op().tol.atol));
  // And the other way round: [n] with [n, 1] -> c[i][j] = op(a[j], b[i]).
  Ten d = op().fn(f32(op().a), f32(op().b, tj::Shape{n(), 1}));
  EXPECT_EQ(d.shape(), (tj::Shape{n(), n()}));
  want.clear();
  for (double b : op().b)
    for (double a : op().a) want.push_back(op().ref(stored(a, tj::f32), stored(b, tj::f32)));
  EXPECT_TRUE(all_close(d, want, op().tol.rtol, op().tol.atol));
}

TEST_P(BinaryOps, ZeroDimOperand) {
  // b as a 0-d tensor holding b[0], on either side.
  Ten b0 = scalar_tensor(op().b[0], tj::f32);
  Ten c = op().fn(f32(op().a), b0);
  EXPECT_EQ(c.shape(), (tj::Shape{n()}));
  std::vector<double> want;
  for (double a : op().a) want.push_back(op().ref(stored(a, tj::f32), stored(op().b[0], tj::f32)));
  EXPECT_TRUE(all_close(c, want, op().tol.rtol, op().tol.atol));

  Ten a0 = scalar_tensor(op().a[0], tj::f32);
  Ten d = op().fn(a0, f32(op().b));
  EXPECT_EQ(d.shape(), (tj::Shape{n()}));
  want.clear();
  for (double b : op().b) want.push_back(op().ref(stored(op().a[0], tj::f32), stored(b, tj::f32)));
  EXPECT_TRUE(all_close(d, want, op().tol.rtol, op().tol.atol));

  Ten e = op().fn(a0, b0);
  EXPECT_EQ(e.shape(), tj::Shape{});
  EXPECT_TRUE(all_close(e, {op().ref(stored(op().a[0], tj::f32), stored(op().b[0], tj::f32))},
                        op().tol.rtol, op().tol.atol));
}

TEST_P(BinaryOps, EmptyOperands) {
  Ten c = op().fn(tj::zeros({0, 3}), tj::ones({3}));
  EXPECT_EQ(c.shape(), (tj::Shape{0, 3}));
  EXPECT_TRUE(c.to_vector<float>().empty());
  Ten d = op().fn(tj::ones({2, 1}), tj::ones({2, 0}));
  EXPECT_EQ(d.shape(), (tj::Shape{2, 0}));
  Ten e = op().fn(tj::ones({0}), tj::ones({1}));
  EXPECT_EQ(e.shape(), (tj::Shape{0}));
  Ten f = op().fn(tj::ones({0}), tj::ones({}));
  EXPECT_EQ(f.shape(), (tj::Shape{0}));
  EXPECT_EQ(f.numel(), 0);
}

TEST_P(BinaryOps, NonContiguousOperands) {
  const double junk = 1.75;
  // a: stride-2 slice of a 1-D buffer.
  std::vector<double> a_buf;
  for (double v : op().a) {
    a_buf.push_back(v);
    a_buf.push_back(junk);
  }
  Ten a = f32(a_buf).slice(0, 0, 2 * n(), 2);
  // b: row 1 of the transpose of an [n, 2] buffer (a view of a view), [1, n].
  std::vector<double> b_buf;
  for (double v : op().b) {
    b_buf.push_back(junk);
    b_buf.push_back(v);
  }
  Ten b = f32(b_buf, tj::Shape{n(), 2}).t().slice(0, 1, 2);
  ASSERT_EQ(b.shape(), (tj::Shape{1, n()}));
  Ten c = op().fn(a, b);
  EXPECT_EQ(c.shape(), (tj::Shape{1, n()}));
  EXPECT_TRUE(all_close(c, expected(tj::f32), op().tol.rtol, op().tol.atol));
  // Transposed 2-D operands: a as [2, n/2] transposed with b as [n/2, 2].
  ASSERT_EQ(n() % 2, 0);
  Ten at = f32(op().a, tj::Shape{2, n() / 2}).t();  // at[i][j] = a[j * n/2 + i]
  std::vector<double> b_perm(op().b.size());
  for (int64_t i = 0; i < n() / 2; ++i)
    for (int64_t j = 0; j < 2; ++j) b_perm[i * 2 + j] = op().b[j * (n() / 2) + i];
  Ten bt = f32(b_perm, tj::Shape{n() / 2, 2});
  Ten ct = op().fn(at, bt);
  EXPECT_EQ(ct.shape(), (tj::Shape{n() / 2, 2}));
  std::vector<double> want;
  auto full = expected(tj::f32);
  for (int64_t i = 0; i < n() / 2; ++i)
    for (int64_t j = 0; j < 2; ++j) want.push_back(full[j * (n() / 2) + i]);
  EXPECT_TRUE(all_close(ct, want, op().tol.rtol, op().tol.atol));
  // Contiguous copy of the transposed result gives the same values.
  EXPECT_TRUE(all_close(
      ct.t().contiguous(),
      [&] {
        std::vector<double> w;
        for (int64_t j = 0; j < 2; ++j)
          for (int64_t i = 0; i < n() / 2; ++i) w.push_back(full[j * (n() / 2) + i]);
        return w;
      }(),
      op().tol.rtol, op().tol.atol));
}

// ---- integer binary ops (exact) -------------------------------------------------------

struct IntBinaryCase {
  const char* name;
  std::function<Ten(const Ten&, const Ten&)> fn;
  std::vector<double> a, b, want;
};

void PrintTo(const IntBinaryCase& c, std::ostream* os) { *os << c.name; }

const std::vector<double> kIA = {7, -7, 7, -7, 0, 6, -6, 100};
const std::vector<double> kIB = {2, 2, -2, -2, 3, 3, -4, 7};

const IntBinaryCase kIntBinary[] = {
    {"add",
     [](const Ten& a, const Ten& b) { return a + b; },
     kIA,
     kIB,
     {9, -5, 5, -9, 3, 9, -10, 107}},
    {"sub",
     [](const Ten& a, const Ten& b) { return a - b; },
     kIA,
     kIB,
     {5, -9, 9, -5, -3, 3, -2, 93}},
    {"mul",
     [](const Ten& a, const Ten& b) { return a * b; },
     kIA,
     kIB,
     {14, -14, -14, 14, 0, 18, 24, 700}},
    // floor toward -inf, not truncation: -7 // 2 = -4, -6 // -4 = 1
    {"floor_divide",
     [](const Ten& a, const Ten& b) { return tj::floor_divide(a, b); },
     kIA,
     kIB,
     {3, -4, -4, 3, 0, 2, 1, 14}},
    // the sign of the divisor: -7 % 2 = 1, 7 % -2 = -1
    {"remainder",
     [](const Ten& a, const Ten& b) { return tj::remainder(a, b); },
     kIA,
     kIB,
     {1, 1, -1, -1, 0, 0, -2, 2}},
    {"maximum",
     [](const Ten& a, const Ten& b) { return tj::maximum(a, b); },
     kIA,
     kIB,
     {7, 2, 7, -2, 3, 6, -4, 100}},
    {"minimum",
     [](const Ten& a, const Ten& b) { return tj::minimum(a, b); },
     kIA,
     kIB,
     {2, -7, -2, -7, 0, 3, -6, 7}},
    {"pow",
     [](const Ten& a, const Ten& b) { return tj::pow(a, b); },
     {2, -3, 0, 5, 1, -1, 3, 10},
     {3, 3, 2, 0, 9, 5, 4, 2},
     {8, -27, 0, 1, 1, -1, 81, 100}},
    {"floor_divide_scalar",
     [](const Ten& a, const Ten&) { return tj::floor_divide(a, 3); },
     kIA,
     kIB,
     {2, -3, 2, -3, 0, 2, -2, 33}},
    {"floor_divide_neg_scalar",
     [](const Ten& a, const Ten&) { return tj::floor_divide(a, -3); },
     kIA,
     kIB,
     {-3, 2, -3, 2, 0, -2, 2, -34}},
    {"remainder_scalar",
     [](const Ten& a, const Ten&) { return tj::remainder(a, 3); },
     kIA,
     kIB,
     {1, 2, 1, 2, 0, 0, 0, 1}},
    {"remainder_neg_scalar",
     [](const Ten& a, const Ten&) { return tj::remainder(a, -3); },
     kIA,
     kIB,
     {-2, -1, -2, -1, 0, 0, 0, -2}},
    {"add_scalar",
     [](const Ten& a, const Ten&) { return a + 1; },
     kIA,
     kIB,
     {8, -6, 8, -6, 1, 7, -5, 101}},
    {"scalar_sub",
     [](const Ten& a, const Ten&) { return 1 - a; },
     kIA,
     kIB,
     {-6, 8, -6, 8, 1, -5, 7, -99}},
    {"mul_scalar",
     [](const Ten& a, const Ten&) { return 3 * a; },
     kIA,
     kIB,
     {21, -21, 21, -21, 0, 18, -18, 300}},
    {"neg", [](const Ten& a, const Ten&) { return -a; }, kIA, kIB, {-7, 7, -7, 7, 0, -6, 6, -100}},
    {"abs",
     [](const Ten& a, const Ten&) { return tj::abs(a); },
     kIA,
     kIB,
     {7, 7, 7, 7, 0, 6, 6, 100}},
    {"relu",
     [](const Ten& a, const Ten&) { return tj::relu(a); },
     kIA,
     kIB,
     {7, 0, 7, 0, 0, 6, 0, 100}},
    {"square",
     [](const Ten& a, const Ten&) { return tj::square(a); },
     kIA,
     kIB,
     {49, 49, 49, 49, 0, 36, 36, 10000}},
    {"clamp",
     [](const Ten& a, const Ten&) { return tj::clamp(a, -6, 6); },
     kIA,
     kIB,
     {6, -6, 6, -6, 0, 6, -6, 6}},
    {"pow_scalar",
     [](const Ten& a, const Ten&) { return tj::pow(a, 2); },
     kIA,
     kIB,
     {49, 49, 49, 49, 0, 36, 36, 10000}},
    {"where",
     [](const Ten& a, const Ten& b) { return tj::where(a > b, a, b); },
     kIA,
     kIB,
     {7, 2, 7, -2, 3, 6, -4, 100}},
    {"where_scalar",
     [](const Ten& a, const Ten&) { return tj::where(a > 0, a, 0); },
     kIA,
     kIB,
     {7, 0, 7, 0, 0, 6, 0, 100}},
    // floor/ceil/round of an integer tensor keep the integer dtype (PyTorch).
    {"floor", [](const Ten& a, const Ten&) { return tj::floor(a); }, kIA, kIB, kIA},
    {"ceil", [](const Ten& a, const Ten&) { return tj::ceil(a); }, kIA, kIB, kIA},
    {"round", [](const Ten& a, const Ten&) { return tj::round(a); }, kIA, kIB, kIA},
};

class IntBinaryOps : public ModeCaseTest<IntBinaryCase> {
 protected:
  const IntBinaryCase& op() const { return param(); }
};

INSTANTIATE_TEST_SUITE_P(Table, IntBinaryOps,
                         ::testing::Combine(::testing::Bool(), ::testing::ValuesIn(kIntBinary)),
                         [](const auto& info) { return row_mode_name(info); });

TEST_P(IntBinaryOps, I32AndI64) {
  for (tj::DType dt : {tj::i32, tj::i64}) {
    SCOPED_TRACE(std::string(op().name) + " on " + std::string(tj::dtype_name(dt)));
    Ten c = op().fn(make(op().a, dt), make(op().b, dt));
    EXPECT_EQ(c.dtype(), dt);
    EXPECT_TRUE(all_close(c, op().want, 0, 0));
    // Exact integer read-back.
    auto got = c.to_vector<int64_t>();
    ASSERT_EQ(got.size(), op().want.size());
    for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], static_cast<int64_t>(op().want[i]));
  }
}

TEST_P(Pointwise, InPlaceOps) {
  // In-place forms keep the handle's shape and dtype (PyTorch: the result is
  // written into self) and rebind only that handle.
  Ten a = f32({1, 2, 3, 4, 5, 6}, tj::Shape{2, 3});
  Ten keep = a;
  a += f32({10, 20, 30});  // broadcast of the right operand only
  EXPECT_EQ(a.shape(), (tj::Shape{2, 3}));
  EXPECT_TRUE(all_close(a, {11, 22, 33, 14, 25, 36}));
  a -= 1;
  EXPECT_TRUE(all_close(a, {10, 21, 32, 13, 24, 35}));
  a *= scalar_tensor(2, tj::f32);
  EXPECT_TRUE(all_close(a, {20, 42, 64, 26, 48, 70}));
  a /= f32({2, 1}, tj::Shape{2, 1});
  EXPECT_TRUE(all_close(a, {10, 21, 32, 26, 48, 70}));
  EXPECT_TRUE(all_close(keep, {1, 2, 3, 4, 5, 6}));
  // f16 += f32 stays f16; f32 += i32 stays f32.
  Ten h = f16({1, 2});
  h += f32({0.5, 0.25});
  EXPECT_EQ(h.dtype(), tj::f16);
  EXPECT_TRUE(all_close(h, {1.5, 2.25}));
  Ten f = f32({1, 2});
  f *= i32({3, 4});
  EXPECT_EQ(f.dtype(), tj::f32);
  EXPECT_TRUE(all_close(f, {3, 8}));
  // i32 += int stays i32; i64 *= bool stays i64.
  Ten i = i32({1, 2});
  i += 5;
  EXPECT_EQ(i.dtype(), tj::i32);
  EXPECT_TRUE(all_close(i, {6, 7}, 0, 0));
  // On a non-contiguous handle.
  Ten t = f32({1, 2, 3, 4}, tj::Shape{2, 2}).t();  // [[1,3],[2,4]]
  t += f32({100, 200});
  EXPECT_TRUE(all_close(t, {101, 203, 102, 204}));
}

TEST_P(Pointwise, IntegerTrueDivision) {
  Ten a = i32({7, -7, 1, 0, 6});
  Ten b = i32({2, 2, 3, 5, -4});
  Ten c = a / b;
  EXPECT_EQ(c.dtype(), tj::f32);
  EXPECT_TRUE(all_close(c, {3.5, -3.5, 1.0 / 3.0, 0.0, -1.5}));
  Ten d = tj::div(i64({7, -7}), i64({2, 2}));
  EXPECT_EQ(d.dtype(), tj::f32);
  EXPECT_TRUE(all_close(d, {3.5, -3.5}));
  Ten e = i64({7, -3}) / 2;
  EXPECT_EQ(e.dtype(), tj::f32);
  EXPECT_TRUE(all_close(e, {3.5, -1.5}));
  Ten f = 1 / i32({2, 4});
  EXPECT_EQ(f.dtype(), tj::f32);
  EXPECT_TRUE(all_close(f, {0.5, 0.25}));
}

TEST_P(Pointwise, FloatFloorDivideAndRemainderByHand) {
  Ten a = f32({7.5, -7.5, 7.5, -7.5, 5.5, 3.0});
  Ten b = f32({2.0, 2.0, -2.0, -2.0, -2.0, 1.5});
  EXPECT_TRUE(all_close(tj::floor_divide(a, b), {3, -4, -4, 3, -3, 2}));
  EXPECT_TRUE(all_close(tj::remainder(a, b), {1.5, 0.5, -0.5, -1.5, -0.5, 0.0}));
  EXPECT_TRUE(all_close(tj::remainder(a, 2.0), {1.5, 0.5, 1.5, 0.5, 1.5, 1.0}));
  EXPECT_TRUE(all_close(tj::floor_divide(a, -2.0), {-4, 3, -4, 3, -3, -2}));
  // Integer tensor with a floating divisor becomes f32.
  Ten c = tj::floor_divide(i32({7, -7}), 2.5);
  EXPECT_EQ(c.dtype(), tj::f32);
  EXPECT_TRUE(all_close(c, {2, -3}));
  Ten r = tj::remainder(i64({7, -7}), 2.5);
  EXPECT_EQ(r.dtype(), tj::f32);
  EXPECT_TRUE(all_close(r, {2.0, 0.5}));
}

TEST_P(Pointwise, PowMixedForms) {
  Ten x = f32({-2.0, -1.5, 3.0});
  EXPECT_TRUE(all_close(tj::pow(x, 2), {4.0, 2.25, 9.0}));
  EXPECT_TRUE(all_close(tj::pow(x, 3), {-8.0, -3.375, 27.0}));
  EXPECT_TRUE(all_close(tj::pow(x, 0), {1.0, 1.0, 1.0}));
  EXPECT_TRUE(all_close(tj::pow(f32({4.0, 9.0, 0.25}), 0.5), {2.0, 3.0, 0.5}));
  EXPECT_TRUE(all_close(tj::pow(f32({-1.0}), 0.5), {kNaN}));
  EXPECT_TRUE(all_close(tj::pow(2, f32({0.0, 1.0, 3.0, -1.0})), {1.0, 2.0, 8.0, 0.5}));
  EXPECT_TRUE(all_close(tj::pow(f32({-2.0, 2.0}), f32({3.0, -2.0})), {-8.0, 0.25}));
  Ten pi = tj::pow(i64({2, 3, -2}), 2);
  EXPECT_EQ(pi.dtype(), tj::i64);
  EXPECT_TRUE(all_close(pi, {4, 9, 4}, 0, 0));
  Ten pf = tj::pow(i32({4, 9}), 0.5);
  EXPECT_EQ(pf.dtype(), tj::f32);
  EXPECT_TRUE(all_close(pf, {2.0, 3.0}));
  Ten ps = tj::pow(2, i64({0, 3, 10}));
  EXPECT_EQ(ps.dtype(), tj::i64);
  EXPECT_TRUE(all_close(ps, {1, 8, 1024}, 0, 0));
  Ten psf = tj::pow(2.5, i32({0, 2}));
  EXPECT_EQ(psf.dtype(), tj::f32);
  EXPECT_TRUE(all_close(psf, {1.0, 6.25}));
}

// ---- special values ----------------------------------------------------------------

TEST_P(Pointwise, SpecialValues) {
  Ten x = f32({0.0, -1.0, kInf, -kInf, kNaN});
  EXPECT_TRUE(all_close(tj::log(x), {-kInf, kNaN, kInf, kNaN, kNaN}));
  EXPECT_TRUE(all_close(tj::sqrt(x), {0.0, kNaN, kInf, kNaN, kNaN}));
  EXPECT_TRUE(all_close(tj::exp(x), {1.0, std::exp(-1.0), kInf, 0.0, kNaN}));
  EXPECT_TRUE(all_close(tj::tanh(x), {0.0, std::tanh(-1.0), 1.0, -1.0, kNaN}));
  EXPECT_TRUE(all_close(tj::sigmoid(x), {0.5, sigmoid_ref(-1.0), 1.0, 0.0, kNaN}));
  EXPECT_TRUE(all_close(tj::reciprocal(x), {kInf, -1.0, 0.0, -0.0, kNaN}));
  EXPECT_TRUE(all_close(tj::rsqrt(f32({0.0, 4.0})), {kInf, 0.5}));
  EXPECT_TRUE(all_close(tj::abs(x), {0.0, 1.0, kInf, kInf, kNaN}));
  // NaN propagates through relu, maximum, minimum and clamp, as in PyTorch.
  EXPECT_TRUE(all_close(tj::relu(x), {0.0, 0.0, kInf, 0.0, kNaN}));
  EXPECT_TRUE(
      all_close(tj::maximum(f32({1.0, kNaN, 2.0}), f32({kNaN, 2.0, 1.0})), {kNaN, kNaN, 2.0}));
  EXPECT_TRUE(
      all_close(tj::minimum(f32({1.0, kNaN, 2.0}), f32({kNaN, 2.0, 1.0})), {kNaN, kNaN, 1.0}));
  EXPECT_TRUE(all_close(tj::clamp(f32({kNaN, 5.0, -5.0}), -1, 1), {kNaN, 1.0, -1.0}));
  // Division by zero in floating point.
  EXPECT_TRUE(all_close(f32({1.0, -1.0, 0.0}) / f32({0.0, 0.0, 0.0}), {kInf, -kInf, kNaN}));
  // Rounding functions keep infinities.
  EXPECT_TRUE(all_close(tj::round(f32({kInf, -kInf})), {kInf, -kInf}));
  EXPECT_TRUE(all_close(tj::floor(f32({kInf, -kInf})), {kInf, -kInf}));
}

TEST_P(Pointwise, SaturatingInputsStayFinite) {
  // Large magnitudes must saturate, not overflow into inf/inf = NaN.
  for (tj::DType dt : {tj::f32, tj::f16, tj::bf16, tj::f64}) {
    SCOPED_TRACE(tj::dtype_name(dt));
    double big = dt == tj::f16 ? 1000.0 : 100.0;
    Ten x = make({-big, big}, dt);
    Tol t = tol_for(dt, {1e-5, 1e-6});
    EXPECT_TRUE(all_close(tj::tanh(x), {-1.0, 1.0}, t.rtol, t.atol));
    EXPECT_TRUE(all_close(tj::sigmoid(x), {0.0, 1.0}, t.rtol, t.atol));
    EXPECT_TRUE(all_close(tj::silu(x), {0.0, big}, t.rtol, t.atol));
    EXPECT_TRUE(all_close(tj::gelu(x), {0.0, big}, t.rtol, t.atol));
    EXPECT_TRUE(all_close(tj::gelu(x, "tanh"), {0.0, big}, t.rtol, t.atol));
    EXPECT_TRUE(all_close(tj::erf(x), {-1.0, 1.0}, t.rtol, t.atol));
    EXPECT_TRUE(all_close(tj::exp(-tj::abs(x)), {0.0, 0.0}, t.rtol, t.atol));
  }
}

TEST_P(Pointwise, IeeeCornerCasesLikePyTorch) {
  // pow follows C's pow: x^0 = 1 even for NaN, 1^y = 1 even for NaN.
  EXPECT_TRUE(all_close(tj::pow(f32({kNaN, 0.0, -3.0}), 0), {1.0, 1.0, 1.0}));
  EXPECT_TRUE(all_close(tj::pow(1.0, f32({kNaN, kInf})), {1.0, 1.0}));
  EXPECT_TRUE(all_close(tj::pow(f32({0.0}), f32({0.0})), {1.0}));
  // Floating floor_divide / remainder by zero: inf and NaN, no trap.
  EXPECT_TRUE(all_close(tj::floor_divide(f32({1.0, -1.0}), 0.0), {kInf, -kInf}));
  EXPECT_TRUE(all_close(tj::remainder(f32({1.0}), f32({0.0})), {kNaN}));
  // log1p(-1) = -inf, expm1 of a large value = inf.
  EXPECT_TRUE(all_close(tj::log1p(f32({-1.0})), {-kInf}));
  EXPECT_TRUE(all_close(tj::expm1(f32({1000.0})), {kInf}));
  // clamp with lo > hi gives hi (min(max(x, lo), hi)).
  EXPECT_TRUE(all_close(tj::clamp(f32({-5.0, 0.0, 5.0}), 2, 1), {1.0, 1.0, 1.0}));
}

TEST_P(Pointwise, RoundHalfToEvenByHand) {
  Ten x = f32({0.5, 1.5, 2.5, 3.5, -0.5, -1.5, -2.5, 0.49999997f, 8388609.0});
  EXPECT_TRUE(all_close(tj::round(x), {0, 2, 2, 4, 0, -2, -2, 0, 8388609.0}, 0, 0));
  auto got = tj::round(f32({-0.5})).to_vector<float>();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(std::signbit(got[0])) << "round(-0.5) is -0.0";
}

TEST_P(Pointwise, GeluByHand) {
  // Values from torch.nn.functional.gelu.
  Ten x = f32({-1.0, 0.0, 1.0, 2.0});
  EXPECT_TRUE(all_close(tj::gelu(x),
                        {-0.15865525393145707, 0.0, 0.8413447460685429, 1.9544997361036416}, 1e-5,
                        1e-6));
  EXPECT_TRUE(all_close(tj::gelu(x, "tanh"),
                        {-0.15880800939172324, 0.0, 0.8411919906082768, 1.954597694087775}, 1e-5,
                        1e-6));
}

// ---- comparisons ---------------------------------------------------------------------

struct CompareCase {
  const char* name;
  std::function<Ten(const Ten&, const Ten&)> fn;
  std::function<Ten(const Ten&, tj::Scalar)> fn_scalar;  // compares with 2
  std::function<bool(double, double)> ref;
};

void PrintTo(const CompareCase& c, std::ostream* os) { *os << c.name; }

const CompareCase kCompare[] = {
    {"eq", [](const Ten& a, const Ten& b) { return tj::eq(a, b); },
     [](const Ten& a, tj::Scalar s) { return a == s; }, [](double a, double b) { return a == b; }},
    {"ne", [](const Ten& a, const Ten& b) { return tj::ne(a, b); },
     [](const Ten& a, tj::Scalar s) { return a != s; }, [](double a, double b) { return a != b; }},
    {"lt", [](const Ten& a, const Ten& b) { return tj::lt(a, b); },
     [](const Ten& a, tj::Scalar s) { return a < s; }, [](double a, double b) { return a < b; }},
    {"le", [](const Ten& a, const Ten& b) { return tj::le(a, b); },
     [](const Ten& a, tj::Scalar s) { return a <= s; }, [](double a, double b) { return a <= b; }},
    {"gt", [](const Ten& a, const Ten& b) { return tj::gt(a, b); },
     [](const Ten& a, tj::Scalar s) { return a > s; }, [](double a, double b) { return a > b; }},
    {"ge", [](const Ten& a, const Ten& b) { return tj::ge(a, b); },
     [](const Ten& a, tj::Scalar s) { return a >= s; }, [](double a, double b) { return a >= b; }},
    {"eq_operator", [](const Ten& a, const Ten& b) { return a == b; },
     [](const Ten& a, tj::Scalar s) { return a == s; }, [](double a, double b) { return a == b; }},
    {"ne_operator", [](const Ten& a, const Ten& b) { return a != b; },
     [](const Ten& a, tj::Scalar s) { return a != s; }, [](double a, double b) { return a != b; }},
    {"lt_operator", [](const Ten& a, const Ten& b) { return a < b; },
     [](const Ten& a, tj::Scalar s) { return a < s; }, [](double a, double b) { return a < b; }},
    {"le_operator", [](const Ten& a, const Ten& b) { return a <= b; },
     [](const Ten& a, tj::Scalar s) { return a <= s; }, [](double a, double b) { return a <= b; }},
    {"gt_operator", [](const Ten& a, const Ten& b) { return a > b; },
     [](const Ten& a, tj::Scalar s) { return a > s; }, [](double a, double b) { return a > b; }},
    {"ge_operator", [](const Ten& a, const Ten& b) { return a >= b; },
     [](const Ten& a, tj::Scalar s) { return a >= s; }, [](double a, double b) { return a >= b; }},
};

class CompareOps : public ModeCaseTest<CompareCase> {
 protected:
  const CompareCase& op() const { return param(); }
  std::vector<double> expected(const std::vector<double>& a, const std::vector<double>& b) const {
    std::vector<double> w;
    for (size_t i = 0; i < a.size(); ++i) w.push_back(op().ref(a[i], b[i]) ? 1.0 : 0.0);
    return w;
  }
};

INSTANTIATE_TEST_SUITE_P(Table, CompareOps,
                         ::testing::Combine(::testing::Bool(), ::testing::ValuesIn(kCompare)),
                         [](const auto& info) { return row_mode_name(info); });

TEST_P(CompareOps, FloatWithNaNAndSignedZero) {
  const std::vector<double> a = {1.0, 2.0, 3.0, kNaN, -kInf, 0.0, kNaN};
  const std::vector<double> b = {2.0, 2.0, 2.0, 2.0, -kInf, -0.0, kNaN};
  for (tj::DType dt : kFloatTypes) {
    SCOPED_TRACE(tj::dtype_name(dt));
    Ten c = op().fn(make(a, dt), make(b, dt));
    EXPECT_EQ(c.dtype(), tj::bool_);
    EXPECT_EQ(c.shape(), (tj::Shape{7}));
    EXPECT_TRUE(all_close(c, expected(a, b), 0, 0));
  }
}

TEST_P(CompareOps, IntegersAndScalars) {
  const std::vector<double> a = {1, 2, 3, -5};
  const std::vector<double> two = {2, 2, 2, 2};
  for (tj::DType dt : {tj::i32, tj::i64, tj::f32, tj::f16}) {
    SCOPED_TRACE(tj::dtype_name(dt));
    Ten c = op().fn(make(a, dt), make(two, dt));
    EXPECT_EQ(c.dtype(), tj::bool_);
    EXPECT_TRUE(all_close(c, expected(a, two), 0, 0));
    Ten s = op().fn_scalar(make(a, dt), 2);
    EXPECT_EQ(s.dtype(), tj::bool_);
    EXPECT_TRUE(all_close(s, expected(a, two), 0, 0));
  }
  // An integer tensor compared with a floating scalar compares as floats:
  // 2 < 2.5 and 3 > 2.5 (the scalar is not truncated to 2).
  const std::vector<double> x = {2, 3};
  Ten s = op().fn_scalar(i32(x), 2.5);
  EXPECT_EQ(s.dtype(), tj::bool_);
  EXPECT_TRUE(all_close(s, expected(x, {2.5, 2.5}), 0, 0));
  // Mixed dtypes promote first: i32 vs f32.
  Ten m = op().fn(i32({1, 2, 3}), f32({1.5, 2.0, 2.5}));
  EXPECT_TRUE(all_close(m, expected({1, 2, 3}, {1.5, 2.0, 2.5}), 0, 0));
}

TEST_P(CompareOps, BroadcastAndNonContiguous) {
  Ten a = f32({0, 1, 2, 3, 4, 5}, tj::Shape{2, 3}).t();  // [3, 2]: [[0,3],[1,4],[2,5]]
  Ten b = f32({1, 4}, tj::Shape{1, 2});
  Ten c = op().fn(a, b);
  EXPECT_EQ(c.shape(), (tj::Shape{3, 2}));
  EXPECT_TRUE(all_close(c, expected({0, 3, 1, 4, 2, 5}, {1, 4, 1, 4, 1, 4}), 0, 0));
  Ten z = op().fn(scalar_tensor(2, tj::f32), f32({1, 2, 3}));
  EXPECT_EQ(z.shape(), (tj::Shape{3}));
  EXPECT_TRUE(all_close(z, expected({2, 2, 2}, {1, 2, 3}), 0, 0));
}

TEST_P(Pointwise, ComparisonResultFeedsArithmetic) {
  Ten x = f32({-1, 2, -3, 4});
  Ten mask = x > 0;
  EXPECT_EQ(mask.dtype(), tj::bool_);
  auto mb = mask.to_vector<bool>();
  EXPECT_EQ(mb, (std::vector<bool>{false, true, false, true}));
  // bool * f32 -> f32
  Ten y = mask * x;
  EXPECT_EQ(y.dtype(), tj::f32);
  EXPECT_TRUE(all_close(y, {0, 2, 0, 4}));
  // bool + bool-tensor sum through cast
  Ten cnt = mask.cast(tj::i64) + 1;
  EXPECT_EQ(cnt.dtype(), tj::i64);
  EXPECT_TRUE(all_close(cnt, {1, 2, 1, 2}, 0, 0));
}

// ---- logical ops ---------------------------------------------------------------------

TEST_P(Pointwise, LogicalOpsOnAnyDtype) {
  Ten a = f32({0, 1, 2.5, 0, kNaN});
  Ten b = i32({0, 0, 3, 5, 0});
  Ten land = tj::logical_and(a, b);
  EXPECT_EQ(land.dtype(), tj::bool_);
  EXPECT_TRUE(all_close(land, {0, 0, 1, 0, 0}, 0, 0));
  Ten lor = tj::logical_or(a, b);
  EXPECT_EQ(lor.dtype(), tj::bool_);
  EXPECT_TRUE(all_close(lor, {0, 1, 1, 1, 1}, 0, 0));
  Ten lxor = tj::logical_xor(a, b);
  EXPECT_EQ(lxor.dtype(), tj::bool_);
  EXPECT_TRUE(all_close(lxor, {0, 1, 0, 1, 1}, 0, 0));
  Ten lnot = tj::logical_not(f32({0, 1.5, -0.0, kNaN, -2}));
  EXPECT_EQ(lnot.dtype(), tj::bool_);
  EXPECT_TRUE(all_close(lnot, {1, 0, 1, 0, 0}, 0, 0));
  Ten lnot_i = tj::logical_not(i64({0, 7, -1}));
  EXPECT_TRUE(all_close(lnot_i, {1, 0, 0}, 0, 0));
  // Broadcasting: [2, 1] with [3].
  Ten bc = tj::logical_and(bools({1, 0}, tj::Shape{2, 1}), bools({1, 0, 1}));
  EXPECT_EQ(bc.shape(), (tj::Shape{2, 3}));
  EXPECT_TRUE(all_close(bc, {1, 0, 1, 0, 0, 0}, 0, 0));
}

TEST_P(Pointwise, BoolOperators) {
  Ten p = bools({0, 0, 1, 1});
  Ten q = bools({0, 1, 0, 1});
  Ten band = p & q;
  Ten bor = p | q;
  Ten bxor = p ^ q;
  Ten bnot = ~p;
  for (const Ten* t : {&band, &bor, &bxor, &bnot}) EXPECT_EQ(t->dtype(), tj::bool_);
  EXPECT_EQ(band.to_vector<bool>(), (std::vector<bool>{false, false, false, true}));
  EXPECT_EQ(bor.to_vector<bool>(), (std::vector<bool>{false, true, true, true}));
  EXPECT_EQ(bxor.to_vector<bool>(), (std::vector<bool>{false, true, true, false}));
  EXPECT_EQ(bnot.to_vector<bool>(), (std::vector<bool>{true, true, false, false}));
  // Combining comparison masks.
  Ten x = f32({-2, -0.5, 0.5, 2});
  Ten in_range = (x > -1) & (x < 1);
  EXPECT_EQ(in_range.to_vector<bool>(), (std::vector<bool>{false, true, true, false}));
  Ten outside = ~in_range | (x == 0.5);
  EXPECT_EQ(outside.to_vector<bool>(), (std::vector<bool>{true, false, true, true}));
  // Non-contiguous bool operand.
  Ten m = bools({1, 0, 0, 1, 1, 0}, tj::Shape{2, 3}).t();  // [[1,1],[0,1],[0,0]]
  Ten r = m ^ bools({1, 0}, tj::Shape{1, 2});
  EXPECT_EQ(r.shape(), (tj::Shape{3, 2}));
  EXPECT_TRUE(all_close(r, {0, 1, 1, 1, 1, 0}, 0, 0));
}

// ---- where ----------------------------------------------------------------------

TEST_P(Pointwise, WhereAllOverloads) {
  Ten c = bools({1, 0, 1, 0});
  Ten a = f32({1, 2, 3, 4});
  Ten b = f32({-1, -2, -3, -4});
  Ten tt = tj::where(c, a, b);
  EXPECT_EQ(tt.dtype(), tj::f32);
  EXPECT_TRUE(all_close(tt, {1, -2, 3, -4}));
  Ten ts = tj::where(c, a, 0.5);
  EXPECT_EQ(ts.dtype(), tj::f32);
  EXPECT_TRUE(all_close(ts, {1, 0.5, 3, 0.5}));
  Ten st = tj::where(c, 9, b);
  EXPECT_EQ(st.dtype(), tj::f32);
  EXPECT_TRUE(all_close(st, {9, -2, 9, -4}));
  Ten ss = tj::where(c, 1.0, 0.0);
  EXPECT_EQ(ss.dtype(), tj::f32);
  EXPECT_EQ(ss.shape(), (tj::Shape{4}));
  EXPECT_TRUE(all_close(ss, {1, 0, 1, 0}));
  Ten si = tj::where(c, 1, 0);
  EXPECT_EQ(si.dtype(), tj::i64);
  EXPECT_TRUE(all_close(si, {1, 0, 1, 0}, 0, 0));
}

TEST_P(Pointwise, WhereBroadcastsAndPromotes) {
  // cond [2, 1], a [1, 3], b 0-d -> [2, 3]
  Ten c = bools({1, 0}, tj::Shape{2, 1});
  Ten a = f32({1, 2, 3}, tj::Shape{1, 3});
  Ten b = scalar_tensor(-1, tj::f32);
  Ten r = tj::where(c, a, b);
  EXPECT_EQ(r.shape(), (tj::Shape{2, 3}));
  EXPECT_TRUE(all_close(r, {1, 2, 3, -1, -1, -1}));
  // cond broadcast against larger values.
  Ten r2 = tj::where(bools({1, 0, 1}), f32({1, 2, 3, 4, 5, 6}, tj::Shape{2, 3}), 0);
  EXPECT_TRUE(all_close(r2, {1, 0, 3, 4, 0, 6}));
  // dtypes: i32 with f32 -> f32; f16 with a float scalar stays f16; i32 with
  // an int scalar stays i32; f16 with f32 -> f32.
  Ten m = bools({1, 0});
  EXPECT_EQ(tj::where(m, i32({1, 2}), f32({0.5, 0.5})).dtype(), tj::f32);
  EXPECT_TRUE(all_close(tj::where(m, i32({1, 2}), f32({0.5, 0.5})), {1, 0.5}));
  EXPECT_EQ(tj::where(m, f16({1, 2}), 0.0).dtype(), tj::f16);
  EXPECT_EQ(tj::where(m, i32({1, 2}), 7).dtype(), tj::i32);
  EXPECT_EQ(tj::where(m, i32({1, 2}), 2.5).dtype(), tj::f32);
  EXPECT_TRUE(all_close(tj::where(m, i32({1, 2}), 2.5), {1, 2.5}));
  EXPECT_EQ(tj::where(m, f16({1, 2}), f32({1, 2})).dtype(), tj::f32);
  // Non-contiguous condition and values.
  Ten cond = bools({1, 0, 0, 1}, tj::Shape{2, 2}).t();  // [[1,0],[0,1]]
  Ten vals = f32({1, 2, 3, 4}, tj::Shape{2, 2}).t();    // [[1,3],[2,4]]
  EXPECT_TRUE(all_close(tj::where(cond, vals, -vals), {1, -3, -2, 4}));
}

// ---- casts -----------------------------------------------------------------------

const std::vector<tj::DType> kAllTypes = {tj::f32, tj::f16, tj::bf16, tj::f64,
                                          tj::i32, tj::i64, tj::bool_};

std::vector<double> cast_source_values(tj::DType src) {
  if (tj::is_floating(src)) return {0.0, 1.0, -2.75, 2.5, 0.5, -0.0, 100.5, -7.0};
  if (src == tj::bool_) return {0, 1, 1, 0};
  return {0, 1, -3, 100, 7};
}

double cast_expected(double v, tj::DType dst) {
  if (dst == tj::bool_) return v != 0 ? 1.0 : 0.0;
  if (tj::is_integral(dst)) return std::trunc(v);  // toward zero
  return stored(v, dst);
}

TEST_P(Pointwise, CastBetweenAllDtypes) {
  for (tj::DType src : kAllTypes) {
    for (tj::DType dst : kAllTypes) {
      SCOPED_TRACE(std::string(tj::dtype_name(src)) + " -> " + std::string(tj::dtype_name(dst)));
      auto vals = cast_source_values(src);
      Ten x = make(vals, src);
      Ten y = x.cast(dst);
      EXPECT_EQ(y.dtype(), dst);
      EXPECT_EQ(y.shape(), x.shape());
      std::vector<double> want;
      for (double v : vals) want.push_back(cast_expected(stored(v, src), dst));
      EXPECT_TRUE(all_close(y, want, 0, 0));
      EXPECT_EQ(x.to(dst).dtype(), dst);
    }
  }
}

TEST_P(Pointwise, CastSpecialCases) {
  // float -> int truncates toward zero.
  EXPECT_TRUE(all_close(f32({2.7, -2.7, 0.999, -0.999, 3e9}).cast(tj::i64),
                        {2, -2, 0, 0, 3000000000.0}, 0, 0));
  EXPECT_TRUE(all_close(f64({1.5, -1.5}).cast(tj::i32), {1, -1}, 0, 0));
  // anything -> bool is != 0: NaN and inf are true, -0.0 is false.
  EXPECT_TRUE(all_close(f32({kNaN, kInf, -0.0, 1e-30, -3}).cast(tj::bool_), {1, 1, 0, 1, 1}, 0, 0));
  EXPECT_TRUE(all_close(i64({0, -1, 2}).cast(tj::bool_), {0, 1, 1}, 0, 0));
  // f32 -> f16 rounds (0.1 -> 0.0999755859375), overflows to inf.
  EXPECT_TRUE(
      all_close(f32({0.1, 70000, -70000}).cast(tj::f16), {0.0999755859375, kInf, -kInf}, 0, 0));
  // f64 -> f32 rounds to float.
  EXPECT_TRUE(all_close(f64({0.1}).cast(tj::f32), {static_cast<double>(0.1f)}, 0, 0));
  // i64 -> f32 for a value that is not exact in float.
  EXPECT_TRUE(all_close(i64({16777217}).cast(tj::f32), {16777216.0}, 0, 0));
  // Casting to the same dtype keeps values.
  EXPECT_TRUE(all_close(f32({1.5}).cast(tj::f32), {1.5}, 0, 0));
  // Casts of 0-d, empty and non-contiguous tensors.
  EXPECT_EQ(scalar_tensor(2.5, tj::f32).cast(tj::i32).shape(), tj::Shape{});
  EXPECT_EQ(scalar_tensor(2.5, tj::f32).cast(tj::i32).item<int32_t>(), 2);
  EXPECT_EQ(tj::zeros({0, 2}).cast(tj::f16).shape(), (tj::Shape{0, 2}));
  EXPECT_TRUE(all_close(f32({1.5, 2.5, -3.5, 4.5}, tj::Shape{2, 2}).t().cast(tj::i64),
                        {1, -3, 2, 4}, 0, 0));
  // A cast in the middle of a chain: (x * 1.7) truncated then used as f32.
  Ten y = (f32({1, 2, 3}) * 1.7).cast(tj::i32).cast(tj::f32) + 0.5;
  EXPECT_TRUE(all_close(y, {1.5, 3.5, 5.5}));
}

TEST_P(Pointwise, UnaryFloatOpsPromoteIntegersAndBool) {
  Ten e = tj::exp(i32({0, 1}));
  EXPECT_EQ(e.dtype(), tj::f32);
  EXPECT_TRUE(all_close(e, {1.0, std::exp(1.0)}));
  Ten eb = tj::exp(bools({0, 1}));
  EXPECT_EQ(eb.dtype(), tj::f32);
  EXPECT_TRUE(all_close(eb, {1.0, std::exp(1.0)}));
  Ten s = tj::sqrt(i64({4, 9}));
  EXPECT_EQ(s.dtype(), tj::f32);
  EXPECT_TRUE(all_close(s, {2.0, 3.0}));
  Ten sg = tj::sigmoid(i32({0}));
  EXPECT_EQ(sg.dtype(), tj::f32);
  EXPECT_TRUE(all_close(sg, {0.5}));
  Ten lg = tj::log(i64({1, 100}));
  EXPECT_EQ(lg.dtype(), tj::f32);
  EXPECT_TRUE(all_close(lg, {0.0, std::log(100.0)}));
  Ten rc = tj::reciprocal(i32({2, -4}));
  EXPECT_EQ(rc.dtype(), tj::f32);
  EXPECT_TRUE(all_close(rc, {0.5, -0.25}));
  Ten sn = tj::sin(bools({1}));
  EXPECT_EQ(sn.dtype(), tj::f32);
  EXPECT_TRUE(all_close(sn, {std::sin(1.0)}));
  Ten th = tj::tanh(i64({1}));
  EXPECT_EQ(th.dtype(), tj::f32);
  Ten rs = tj::rsqrt(i32({4}));
  EXPECT_EQ(rs.dtype(), tj::f32);
  EXPECT_TRUE(all_close(rs, {0.5}));
}

// ---- dtype promotion -------------------------------------------------------------

struct PromotionCase {
  const char* name;
  std::function<Ten()> fn;
  tj::DType want_dtype;
  std::vector<double> want;
  Tol tol = {1e-5, 1e-6};
};

void PrintTo(const PromotionCase& c, std::ostream* os) { *os << c.name; }

const PromotionCase kPromotion[] = {
    {"i32_plus_f16",
     [] {
       return i32({1, 2}) + f16({0.5, 1.5});
     },
     tj::f16,
     {1.5, 3.5}},
    {"f16_plus_i32",
     [] {
       return f16({0.5, 1.5}) + i32({1, 2});
     },
     tj::f16,
     {1.5, 3.5}},
    {"i64_plus_bf16",
     [] {
       return i64({1, 2}) + bf16({0.5, 1.5});
     },
     tj::bf16,
     {1.5, 3.5}},
    {"bool_plus_i64",
     [] {
       return bools({1, 0}) + i64({5, 6});
     },
     tj::i64,
     {6, 6}},
    {"bool_plus_i32",
     [] {
       return bools({1, 0}) + i32({5, 6});
     },
     tj::i32,
     {6, 6}},
    {"bool_plus_f16",
     [] {
       return bools({1, 0}) + f16({0.5, 0.5});
     },
     tj::f16,
     {1.5, 0.5}},
    {"i32_plus_i64",
     [] {
       return i32({1, 2}) + i64({3, 4});
     },
     tj::i64,
     {4, 6}},
    {"i32_minus_bool",
     [] {
       return i32({1, 2}) - bools({1, 0});
     },
     tj::i32,
     {0, 2}},
    {"f16_plus_bf16",
     [] {
       return f16({1.5, 2}) + bf16({0.25, -1});
     },
     tj::f32,
     {1.75, 1.0}},
    {"f16_plus_f32", [] { return f16({1.5}) + f32({0.1}); }, tj::f32, {1.6}},
    {"bf16_times_f32", [] { return bf16({1.5}) * f32({0.1}); }, tj::f32, {0.15000000596}},
    {"f32_plus_f64", [] { return f32({1.5}) + f64({0.1}); }, tj::f64, {1.6}, {1e-12, 1e-12}},
    {"i64_plus_f64", [] { return i64({3}) + f64({0.1}); }, tj::f64, {3.1}, {1e-12, 1e-12}},
    {"f16_plus_f64", [] { return f16({0.5}) + f64({0.1}); }, tj::f64, {0.6}, {1e-12, 1e-12}},
    // Python-style scalars are weak: they do not widen within a category.
    {"i32_times_2_5",
     [] {
       return i32({1, 2}) * 2.5;
     },
     tj::f32,
     {2.5, 5.0}},
    {"i64_times_2_5",
     [] {
       return i64({1, 2}) * 2.5;
     },
     tj::f32,
     {2.5, 5.0}},
    {"f16_times_2_5",
     [] {
       return f16({1, 2}) * 2.5;
     },
     tj::f16,
     {2.5, 5.0}},
    {"bf16_times_2_5",
     [] {
       return bf16({1, 2}) * 2.5;
     },
     tj::bf16,
     {2.5, 5.0}},
    {"f16_plus_int",
     [] {
       return f16({1, 2}) + 3;
     },
     tj::f16,
     {4, 5}},
    {"f32_plus_double", [] { return f32({1}) + 0.1; }, tj::f32, {1.1}},
    {"i32_plus_1",
     [] {
       return i32({1, 2}) + 1;
     },
     tj::i32,
     {2, 3}},
    {"i32_plus_int64_scalar",
     [] {
       return i32({1, 2}) + int64_t{1};
     },
     tj::i32,
     {2, 3}},
    {"i64_plus_1",
     [] {
       return i64({1, 2}) + 1;
     },
     tj::i64,
     {2, 3}},
    {"bool_plus_1",
     [] {
       return bools({1, 0}) + 1;
     },
     tj::i64,
     {2, 1}},
    {"one_plus_bool",
     [] {
       return 1 + bools({1, 0});
     },
     tj::i64,
     {2, 1}},
    {"bool_plus_1_5",
     [] {
       return bools({1, 0}) + 1.5;
     },
     tj::f32,
     {2.5, 1.5}},
    {"i32_plus_true",
     [] {
       return i32({1, 2}) + true;
     },
     tj::i32,
     {2, 3}},
    {"i32_div_i32",
     [] {
       return i32({7, 1}) / i32({2, 4});
     },
     tj::f32,
     {3.5, 0.25}},
    {"i32_div_int",
     [] {
       return i32({7, 1}) / 2;
     },
     tj::f32,
     {3.5, 0.5}},
    {"bool_div_bool",
     [] {
       return bools({1, 0}) / bools({1, 1});
     },
     tj::f32,
     {1, 0}},
    {"f16_div_int", [] { return f16({3}) / 2; }, tj::f16, {1.5}},
    // 0-d tensors do not upgrade a dim>=1 tensor within its category...
    {"zerodim_f64_plus_f32",
     [] {
       return scalar_tensor(0.5, tj::f64) + f32({1, 2});
     },
     tj::f32,
     {1.5, 2.5}},
    {"f32_plus_zerodim_f64",
     [] {
       return f32({1, 2}) + scalar_tensor(0.5, tj::f64);
     },
     tj::f32,
     {1.5, 2.5}},
    {"zerodim_f32_plus_f16",
     [] {
       return scalar_tensor(0.5, tj::f32) + f16({1, 2});
     },
     tj::f16,
     {1.5, 2.5}},
    {"f16_times_zerodim_f64",
     [] {
       return f16({1, 2}) * scalar_tensor(2.5, tj::f64);
     },
     tj::f16,
     {2.5, 5.0}},
    {"zerodim_i64_plus_i32",
     [] {
       return scalar_tensor(5, tj::i64) + i32({1, 2});
     },
     tj::i32,
     {6, 7}},
    // ...but do when they are of a higher category.
    {"zerodim_f32_plus_i32",
     [] {
       return scalar_tensor(0.5, tj::f32) + i32({1, 2});
     },
     tj::f32,
     {1.5, 2.5}},
    {"zerodim_f64_plus_i32",
     [] {
       return scalar_tensor(0.5, tj::f64) + i32({1, 2});
     },
     tj::f64,
     {1.5, 2.5}},
    {"zerodim_f16_times_i32",
     [] {
       return i32({1, 2}) * scalar_tensor(0.5, tj::f16);
     },
     tj::f16,
     {0.5, 1.0}},
    {"zerodim_i64_plus_bool",
     [] {
       return bools({1, 0}) + scalar_tensor(5, tj::i64);
     },
     tj::i64,
     {6, 5}},
    {"zerodim_bool_plus_i32",
     [] {
       return i32({1, 2}) + scalar_tensor(1, tj::bool_);
     },
     tj::i32,
     {2, 3}},
    // Two 0-d tensors promote normally.
    {"zerodim_f64_plus_zerodim_f32",
     [] { return scalar_tensor(0.5, tj::f64) + scalar_tensor(1, tj::f32); },
     tj::f64,
     {1.5}},
    {"zerodim_i32_plus_zerodim_f16",
     [] { return scalar_tensor(1, tj::i32) + scalar_tensor(0.5, tj::f16); },
     tj::f16,
     {1.5}},
    // Other binary ops follow the same rules.
    {"maximum_i32_f32",
     [] {
       return tj::maximum(i32({1, 5}), f32({2.5, 2.5}));
     },
     tj::f32,
     {2.5, 5}},
    {"maximum_i32_double",
     [] {
       return tj::maximum(i32({1, 5}), 2.5);
     },
     tj::f32,
     {2.5, 5}},
    {"minimum_f16_int",
     [] {
       return tj::minimum(f16({1, 5}), 2);
     },
     tj::f16,
     {1, 2}},
    {"floor_divide_i64_int", [] { return tj::floor_divide(i64({-7}), 2); }, tj::i64, {-4}},
    {"floor_divide_i32_double", [] { return tj::floor_divide(i32({-7}), 2.0); }, tj::f32, {-4}},
    {"remainder_i32_int", [] { return tj::remainder(i32({-7}), 3); }, tj::i32, {2}},
    {"remainder_f16_f32", [] { return tj::remainder(f16({-7}), f32({3})); }, tj::f32, {2}},
    {"pow_i64_int", [] { return tj::pow(i64({3}), 2); }, tj::i64, {9}},
    {"pow_i32_double", [] { return tj::pow(i32({4}), 0.5); }, tj::f32, {2}},
    {"pow_int_i64", [] { return tj::pow(2, i64({5})); }, tj::i64, {32}},
    {"pow_double_i32", [] { return tj::pow(0.5, i32({2})); }, tj::f32, {0.25}},
    {"pow_f16_int", [] { return tj::pow(f16({3}), 2); }, tj::f16, {9}},
    {"pow_f16_f32", [] { return tj::pow(f16({3}), f32({2})); }, tj::f32, {9}},
    {"sub_f32_i64", [] { return f32({0.5}) - i64({2}); }, tj::f32, {-1.5}},
    {"clamp_i32",
     [] {
       return tj::clamp(i32({-5, 5}), 0, 3);
     },
     tj::i32,
     {0, 3}},
    {"clamp_f16",
     [] {
       return tj::clamp(f16({-5, 5}), 0.5, 3.5);
     },
     tj::f16,
     {0.5, 3.5}},
    // Since PyTorch 1.12 (pytorch#77035) the given bounds take part in type
    // promotion like maximum/minimum: float bounds make an integer tensor f32.
    {"clamp_i32_float_bounds",
     [] {
       return tj::clamp(i32({-5, 1, 5}), 0.5, 2.5);
     },
     tj::f32,
     {0.5, 1, 2.5}},
    {"clamp_i32_float_hi_only",
     [] {
       return tj::clamp(i32({1, 5}), std::nullopt, 2.5);
     },
     tj::f32,
     {1, 2.5}},
    {"clamp_i64_int_lo_only",
     [] {
       return tj::clamp(i64({-5, 5}), 0, std::nullopt);
     },
     tj::i64,
     {0, 5}},
    {"neg_i32",
     [] {
       return -i32({1, -2});
     },
     tj::i32,
     {-1, 2}},
    {"abs_i64", [] { return tj::abs(i64({-3})); }, tj::i64, {3}},
    {"relu_i32",
     [] {
       return tj::relu(i32({-3, 3}));
     },
     tj::i32,
     {0, 3}},
    {"square_i32", [] { return tj::square(i32({-3})); }, tj::i32, {9}},
    {"exp_i32", [] { return tj::exp(i32({0})); }, tj::f32, {1}},
    {"exp_bool", [] { return tj::exp(bools({0})); }, tj::f32, {1}},
    {"mask_times_f16",
     [] {
       return (f16({1, -1}) > 0) * f16({2, 2});
     },
     tj::f16,
     {2, 0}},
    {"f32_times_true",
     [] {
       return f32({1.5, 2}) * true;
     },
     tj::f32,
     {1.5, 2}},
    {"i64_times_false",
     [] {
       return i64({3, 4}) * false;
     },
     tj::i64,
     {0, 0}},
    {"bool_eq_bool",
     [] {
       return bools({1, 0, 1}) == bools({1, 1, 0});
     },
     tj::bool_,
     {1, 0, 0}},
    {"gelu_f16_tanh", [] { return tj::gelu(f16({1}), "tanh"); }, tj::f16, {0.8411919906082768}},
};

class Promotion : public ModeCaseTest<PromotionCase> {
 protected:
  const PromotionCase& c() const { return param(); }
};

INSTANTIATE_TEST_SUITE_P(Table, Promotion,
                         ::testing::Combine(::testing::Bool(), ::testing::ValuesIn(kPromotion)),
                         [](const auto& info) { return row_mode_name(info); });

TEST_P(Promotion, ResultDtypeAndValues) {
  Ten r = c().fn();
  EXPECT_EQ(r.dtype(), c().want_dtype) << "expected " << tj::dtype_name(c().want_dtype);
  Tol t = tol_for(c().want_dtype, c().tol);
  EXPECT_TRUE(all_close(r, c().want, t.rtol, t.atol));
}

// ---- broadcasting -----------------------------------------------------------------

TEST_P(Pointwise, BroadcastSizeOneDims) {
  Ten a = f32({1, 2, 3}, tj::Shape{3, 1});
  Ten b = f32({10, 20, 30, 40}, tj::Shape{1, 4});
  Ten c = a + b;
  EXPECT_EQ(c.shape(), (tj::Shape{3, 4}));
  EXPECT_TRUE(all_close(c, {11, 21, 31, 41, 12, 22, 32, 42, 13, 23, 33, 43}));
  // [2, 1, 3] with [4, 1] -> [2, 4, 3]
  Ten x = f32({0, 1, 2, 3, 4, 5}, tj::Shape{2, 1, 3});
  Ten y = f32({0, 10, 20, 30}, tj::Shape{4, 1});
  Ten z = x * 1 + y;
  EXPECT_EQ(z.shape(), (tj::Shape{2, 4, 3}));
  std::vector<double> want;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 4; ++j)
      for (int k = 0; k < 3; ++k) want.push_back(i * 3 + k + j * 10);
  EXPECT_TRUE(all_close(z, want));
  // [1] with [] -> [1]; [1, 1] with [3] -> [1, 3]
  EXPECT_EQ((f32({1}) + scalar_tensor(1, tj::f32)).shape(), (tj::Shape{1}));
  Ten w = f32({5}, tj::Shape{1, 1}) - f32({1, 2, 3});
  EXPECT_EQ(w.shape(), (tj::Shape{1, 3}));
  EXPECT_TRUE(all_close(w, {4, 3, 2}));
  EXPECT_EQ(tj::broadcast_shapes({2, 1, 3}, {4, 1}), (tj::Shape{2, 4, 3}));
  EXPECT_EQ(tj::broadcast_shapes({}, {2, 3}), (tj::Shape{2, 3}));
  EXPECT_EQ(tj::broadcast_shapes({0, 1}, {1, 5}), (tj::Shape{0, 5}));
}

TEST_P(Pointwise, BroadcastRankMismatch) {
  Ten a = f32({1, 2, 3});
  Ten b = f32({10, 20, 30, 40, 50, 60}, tj::Shape{2, 3});
  Ten c = a + b;
  EXPECT_EQ(c.shape(), (tj::Shape{2, 3}));
  EXPECT_TRUE(all_close(c, {11, 22, 33, 41, 52, 63}));
  Ten d = b - a;
  EXPECT_EQ(d.shape(), (tj::Shape{2, 3}));
  EXPECT_TRUE(all_close(d, {9, 18, 27, 39, 48, 57}));
  Ten e = a - b;
  EXPECT_TRUE(all_close(e, {-9, -18, -27, -39, -48, -57}));
}

TEST_P(Pointwise, ZeroDimTensors) {
  Ten s = scalar_tensor(3, tj::f32);
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.numel(), 1);
  Ten t = s * s + 1;
  EXPECT_EQ(t.shape(), tj::Shape{});
  EXPECT_EQ(t.item<float>(), 10.0f);
  Ten m = f32({1, 2, 3, 4, 5, 6}, tj::Shape{2, 3}) * s;
  EXPECT_EQ(m.shape(), (tj::Shape{2, 3}));
  EXPECT_TRUE(all_close(m, {3, 6, 9, 12, 15, 18}));
  Ten n = s - f32({1, 2});
  EXPECT_TRUE(all_close(n, {2, 1}));
  Ten e = tj::exp(scalar_tensor(0, tj::f32));
  EXPECT_EQ(e.shape(), tj::Shape{});
  EXPECT_EQ(e.item<float>(), 1.0f);
  Ten cmp = s > 2;
  EXPECT_EQ(cmp.shape(), tj::Shape{});
  EXPECT_TRUE(cmp.item<bool>());
}

TEST_P(Pointwise, EmptyTensors) {
  Ten e = tj::zeros({0, 3});
  Ten a = e + f32({1, 2, 3});
  EXPECT_EQ(a.shape(), (tj::Shape{0, 3}));
  EXPECT_EQ(a.numel(), 0);
  EXPECT_TRUE(a.to_vector<float>().empty());
  Ten b = tj::zeros({2, 0}) * tj::ones({2, 1});
  EXPECT_EQ(b.shape(), (tj::Shape{2, 0}));
  Ten c = tj::zeros({0}) + scalar_tensor(1, tj::f32);
  EXPECT_EQ(c.shape(), (tj::Shape{0}));
  Ten d = tj::zeros({0}) + 1;
  EXPECT_EQ(d.shape(), (tj::Shape{0}));
  EXPECT_EQ(d.dtype(), tj::f32);
  Ten w = tj::where(tj::zeros({0}, tj::bool_), tj::zeros({0}), 1.0);
  EXPECT_EQ(w.shape(), (tj::Shape{0}));
  Ten cmp = tj::zeros({3, 0}) < tj::zeros({1, 0});
  EXPECT_EQ(cmp.shape(), (tj::Shape{3, 0}));
  EXPECT_EQ(cmp.dtype(), tj::bool_);
  EXPECT_TRUE(cmp.to_vector<bool>().empty());
  EXPECT_TRUE(tj::exp(tj::zeros({0}, tj::f16)).to_vector<float>().empty());
  // An empty result mixed with non-empty work still computes the rest.
  Ten x = f32({1, 2}) * 2;
  EXPECT_TRUE(all_close(x, {2, 4}));
}

// ---- non-contiguous inputs ----------------------------------------------------------

TEST_P(Pointwise, TransposedOperands) {
  Ten a = tj::arange(6).reshape({2, 3}).cast(tj::f32);  // [[0,1,2],[3,4,5]]
  Ten at = a.t();                                       // [[0,3],[1,4],[2,5]]
  EXPECT_EQ(at.shape(), (tj::Shape{3, 2}));
  EXPECT_TRUE(all_close(at + tj::ones({3, 2}), {1, 4, 2, 5, 3, 6}));
  EXPECT_TRUE(all_close(at * at, {0, 9, 1, 16, 4, 25}));
  // Transposed with contiguous of the same shape.
  Ten b = f32({1, 2, 3, 4, 5, 6}, tj::Shape{3, 2});
  EXPECT_TRUE(all_close(at - b, {-1, 1, -2, 0, -3, -1}));
  // Transposed broadcast against a row.
  EXPECT_TRUE(all_close(at * f32({1, 10}), {0, 30, 1, 40, 2, 50}));
  // transpose of a 3-D tensor, then unary.
  Ten p = tj::arange(24).reshape({2, 3, 4}).cast(tj::f32).permute({2, 0, 1});
  EXPECT_EQ(p.shape(), (tj::Shape{4, 2, 3}));
  std::vector<double> want;
  for (int k = 0; k < 4; ++k)
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 3; ++j) want.push_back(std::sqrt(i * 12 + j * 4 + k));
  EXPECT_TRUE(all_close(tj::sqrt(p), want));
  // transpose(dim0, dim1) free function and method agree.
  EXPECT_TRUE(all_close(tj::transpose(a, 0, 1) * 2, {0, 6, 2, 8, 4, 10}));
  EXPECT_TRUE(all_close(a.transpose(-1, -2) * 2, {0, 6, 2, 8, 4, 10}));
}

TEST_P(Pointwise, SlicedOperands) {
  Ten x = tj::arange(10).cast(tj::f32);
  Ten s = x.slice(0, 1, 9, 3);  // 1, 4, 7
  EXPECT_EQ(s.shape(), (tj::Shape{3}));
  EXPECT_TRUE(all_close(s * 2, {2, 8, 14}));
  EXPECT_TRUE(all_close(s + x.slice(0, 0, 3), {1, 5, 9}));
  // Negative indices and clamping.
  EXPECT_TRUE(all_close(x.slice(0, -3, 100) + 0, {7, 8, 9}));
  // Column slice of a 2-D tensor.
  Ten m = tj::arange(12).reshape({3, 4}).cast(tj::f32);
  Ten col = m.slice(1, 1, 2);  // [[1],[5],[9]]
  EXPECT_TRUE(all_close(col + f32({100, 200}), {101, 201, 105, 205, 109, 209}));
  // A slice with a step along the second dim.
  Ten every_other = tj::slice(m, 1, 0, 4, 2);  // [[0,2],[4,6],[8,10]]
  EXPECT_TRUE(all_close(every_other - 1, {-1, 1, 3, 5, 7, 9}));
}

TEST_P(Pointwise, ViewsOfViews) {
  Ten x = tj::arange(10).cast(tj::f32);
  // reshape -> transpose -> slice with step: [2,5] -> [5,2] -> rows 1, 3
  Ten v = x.reshape({2, 5}).t().slice(0, 1, 4, 2);  // [[1,6],[3,8]]
  EXPECT_EQ(v.shape(), (tj::Shape{2, 2}));
  EXPECT_TRUE(all_close(v + 1, {2, 7, 4, 9}));
  // ...then transposed back, unsqueezed and expanded.
  Ten w = v.t().unsqueeze(0).expand({2, 2, 2});  // [[1,3],[6,8]] twice
  EXPECT_TRUE(all_close(w * 10, {10, 30, 60, 80, 10, 30, 60, 80}));
  // Expand of a column then pointwise with arange.
  Ten col = f32({1, 2, 3}, tj::Shape{3, 1}).expand({3, 4});
  EXPECT_TRUE(all_close(col * tj::arange(4).cast(tj::f32), {0, 1, 2, 3, 0, 2, 4, 6, 0, 3, 6, 9}));
  // Views of a pending (not yet computed) result.
  Ten y = x * 2;                                     // 0, 2, ..., 18
  Ten yv = y.reshape({5, 2}).t().slice(1, 0, 5, 2);  // [[0,8,16],[2,10,18]]
  EXPECT_TRUE(all_close(yv - 1, {-1, 7, 15, 1, 9, 17}));
  // Both operands views of the same base.
  Ten even = x.slice(0, 0, 10, 2);
  Ten odd = x.slice(0, 1, 10, 2);
  EXPECT_TRUE(all_close(odd - even, {1, 1, 1, 1, 1}));
  EXPECT_TRUE(all_close(tj::maximum(even, odd), {1, 3, 5, 7, 9}));
}

TEST_P(Pointwise, ViewsAreNotAffectedByRebinding) {
  Ten x = f32({1, 2, 3, 4});
  Ten v = x.slice(0, 1, 3);
  x += 10;  // rebinds x; the earlier view keeps the old values
  EXPECT_TRUE(all_close(v * 1, {2, 3}));
  EXPECT_TRUE(all_close(x, {11, 12, 13, 14}));
}

TEST_P(Pointwise, LargeNonContiguousBroadcast) {
  // Sizes that are not multiples of any tile: [67, 129] viewed transposed,
  // plus a [129, 1] column and a strided [67] row.
  const int64_t r = 67, c = 129;
  std::vector<double> base(static_cast<size_t>(r * c));
  for (size_t i = 0; i < base.size(); ++i) base[i] = static_cast<double>((i * 37) % 101) - 50;
  Ten m = f32(base, tj::Shape{r, c}).t();  // [c, r], m[j][i] = base[i * c + j]
  std::vector<double> colv(static_cast<size_t>(c)), rowbuf(static_cast<size_t>(3 * r));
  for (int64_t j = 0; j < c; ++j) colv[j] = j * 0.5;
  for (size_t k = 0; k < rowbuf.size(); ++k) rowbuf[k] = static_cast<double>(k);
  Ten col = f32(colv, tj::Shape{c, 1});
  Ten row = f32(rowbuf).slice(0, 1, 3 * r, 3);  // 1, 4, 7, ...
  ASSERT_EQ(row.shape(), (tj::Shape{r}));
  Ten y = tj::maximum(m * col - row, -10.0) / 4;
  EXPECT_EQ(y.shape(), (tj::Shape{c, r}));
  std::vector<double> want;
  for (int64_t j = 0; j < c; ++j)
    for (int64_t i = 0; i < r; ++i)
      want.push_back(std::max(base[i * c + j] * (j * 0.5) - (1 + 3 * i), -10.0) / 4);
  EXPECT_TRUE(all_close(y, want, 1e-6, 1e-5));
  // A 3-D permutation of a larger tensor through a unary op and a cast.
  Ten p = tj::arange(5 * 33 * 7).reshape({5, 33, 7}).permute({1, 2, 0});
  Ten q = (p.cast(tj::f32) * 0.5).cast(tj::i32);
  EXPECT_EQ(q.shape(), (tj::Shape{33, 7, 5}));
  auto got = q.to_vector<int64_t>();
  ASSERT_EQ(got.size(), static_cast<size_t>(5 * 33 * 7));
  size_t k = 0;
  for (int64_t a = 0; a < 33; ++a)
    for (int64_t b = 0; b < 7; ++b)
      for (int64_t c0 = 0; c0 < 5; ++c0, ++k) ASSERT_EQ(got[k], (c0 * 33 * 7 + a * 7 + b) / 2) << k;
}

TEST_P(Pointwise, IntegersAreExactBeyondFloat64) {
  // i64 arithmetic must not go through double: 2^62 + 1 is not a double.
  const int64_t big = int64_t{1} << 62;
  Ten x = tj::from_vector<int64_t>({big, -big, big + 3}, {3});
  auto sum = (x + 1).to_vector<int64_t>();
  EXPECT_EQ(sum, (std::vector<int64_t>{big + 1, -big + 1, big + 4}));
  auto fd = tj::floor_divide(x + 1, 2).to_vector<int64_t>();
  EXPECT_EQ(fd, (std::vector<int64_t>{big / 2, -big / 2, (big + 4) / 2}));
  auto rem = tj::remainder(x + 1, 7).to_vector<int64_t>();
  auto pyrem = [](int64_t a, int64_t b) {
    int64_t m = a % b;
    return (m != 0 && ((m < 0) != (b < 0))) ? m + b : m;
  };
  EXPECT_EQ(rem, (std::vector<int64_t>{pyrem(big + 1, 7), pyrem(-big + 1, 7), pyrem(big + 4, 7)}));
  // A large integer scalar is exact too.
  auto s = (tj::from_vector<int64_t>({1}, {1}) + (big + 5)).to_vector<int64_t>();
  EXPECT_EQ(s, (std::vector<int64_t>{big + 6}));
  EXPECT_EQ(tj::maximum(x, big + 2).to_vector<int64_t>(),
            (std::vector<int64_t>{big + 2, big + 2, big + 3}));
  EXPECT_EQ((x == big + 3).to_vector<bool>(), (std::vector<bool>{false, false, true}));
  // i32 wraps around like PyTorch's (two's complement) integers.
  Ten i = tj::from_vector<int32_t>({2147483647, -2147483647 - 1}, {2});
  EXPECT_EQ((i + 1).to_vector<int64_t>(), (std::vector<int64_t>{-2147483647 - 1, -2147483647}));
}

TEST_P(Pointwise, F64KeepsFullPrecision) {
  Ten x = f64({1.0, 3.0});
  EXPECT_TRUE(all_close(x + 1e-12, {1.0 + 1e-12, 3.0 + 1e-12}, 1e-15, 0));
  EXPECT_TRUE(all_close(x * 0.1, {0.1, 3.0 * 0.1}, 1e-15, 0));
  EXPECT_TRUE(all_close(x / f64({3.0, 7.0}), {1.0 / 3.0, 3.0 / 7.0}, 1e-15, 0));
  EXPECT_TRUE(all_close(tj::exp(f64({1e-9})), {std::exp(1e-9)}, 1e-15, 0));
  EXPECT_TRUE(all_close(tj::sqrt(f64({2.0})), {std::sqrt(2.0)}, 1e-15, 0));
  // An f64 0-d tensor with an f64 tensor stays f64.
  Ten z = scalar_tensor(1e-12, tj::f64) + x;
  EXPECT_EQ(z.dtype(), tj::f64);
  EXPECT_TRUE(all_close(z, {1.0 + 1e-12, 3.0 + 1e-12}, 1e-15, 0));
  // i64 -> f64 keeps 2^53 + 2 exactly.
  EXPECT_TRUE(all_close(tj::from_vector<int64_t>({(int64_t{1} << 53) + 2}, {1}).cast(tj::f64),
                        {9007199254740994.0}, 0, 0));
}

TEST_P(Pointwise, ChainsLongerThanTheTraceLimit) {
  tj::ConfigGuard g;
  g->max_trace = 8;
  Ten x = f32({0.5, -1.0, 2.0});
  Ten y = x;
  for (int i = 0; i < 50; ++i) y = y * 1.01 + 0.01;
  std::vector<double> want;
  for (double v : {0.5, -1.0, 2.0}) {
    double w = static_cast<float>(v);
    for (int i = 0; i < 50; ++i) w = w * 1.01 + 0.01;
    want.push_back(w);
  }
  EXPECT_TRUE(all_close(y, want, 1e-5, 1e-5));
  // The same tensor used many times (CSE in lazy mode must not change values).
  Ten s = x * x + x * x + x * x;
  EXPECT_TRUE(all_close(s, {0.75, 3.0, 12.0}));
}

TEST_P(Pointwise, LongerFusedChainMatchesReference) {
  const int n = 257;  // not a multiple of any tile size
  std::vector<double> xs, ys;
  for (int i = 0; i < n; ++i) {
    xs.push_back(std::sin(i * 0.37) * 3);
    ys.push_back(std::cos(i * 0.11) + 1.5);
  }
  Ten x = f32(xs, tj::Shape{n});
  Ten y = f32(ys, tj::Shape{n});
  Ten z = tj::where(x > 0, tj::gelu(x) * y, tj::sigmoid(x) / y) + tj::log(y) - tj::square(x) * 0.1;
  std::vector<double> want;
  for (int i = 0; i < n; ++i) {
    double a = static_cast<float>(xs[i]), b = static_cast<float>(ys[i]);
    want.push_back((a > 0 ? gelu_erf(a) * b : sigmoid_ref(a) / b) + std::log(b) - a * a * 0.1);
  }
  EXPECT_TRUE(all_close(z, want, 1e-5, 1e-5));
}

}  // namespace
