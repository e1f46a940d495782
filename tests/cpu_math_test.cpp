// Tests of jit/cpu/math.h, the math library the generated C++ kernels include:
// accuracy of every float function against f64 libm (in this build and in a
// kernel-style build compiled at test time), f16/bf16 conversions against
// tj::half / tj::bfloat16, Philox against the published Philox4x32-10 known
// answer and the reference evaluator's build of it, and that g++ vectorizes
// the loops a kernel writes.
#include "jit/cpu/math.h"
#include "jit/cpu/math_trig.h"
#define TJ_FN static inline
#include "ir/philox_core.h"
#include "jit/codegen/kernel_common.h"
#include "jit/cpu/compiler.h"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "ir/philox.h"
#include "tilejit/dtype.h"

namespace {

// ---- ulp distance -------------------------------------------------------------

int64_t ordered(float f) {
  int32_t i;
  std::memcpy(&i, &f, 4);
  return i < 0 ? static_cast<int64_t>(INT32_MIN) - i : i;
}

// Floats between y and the f64 reference rounded to float (subnormal steps count
// as ulps too); NaN must meet NaN.
double ulp_distance(float y, double ref) {
  float r = static_cast<float>(ref);
  if (std::isnan(r) || std::isnan(y)) return std::isnan(r) && std::isnan(y) ? 0.0 : 1e30;
  return static_cast<double>(std::llabs(ordered(y) - ordered(r)));
}

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float float_of(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// ---- the table of float functions -------------------------------------------------

double ref_sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double ref_silu(double x) { return x / (1.0 + std::exp(-x)); }
// Same functions as the reference evaluator's formulas, written without the
// cancellation of 1 + erf / 1 + tanh in the negative tail.
double ref_gelu_erf(double x) { return 0.5 * x * std::erfc(-x * 0.70710678118654752440); }
double ref_gelu_tanh(double x) {
  double u2 = 1.5957691216057307 * (x + 0.044715 * x * x * x);
  return x / (1.0 + std::exp(-u2));
}
double ref_rsqrt(double x) { return 1.0 / std::sqrt(x); }

struct UnaryCase {
  const char* name;
  float (*fn)(float);
  double (*ref)(double);
  float lo, hi;    // dense sweep range (random bit patterns cover the rest)
  double max_ulp;  // the bound documented in jit/cpu/math.h
};

double d_exp(double x) { return std::exp(x); }
double d_exp2(double x) { return std::exp2(x); }
double d_expm1(double x) { return std::expm1(x); }
double d_log(double x) { return std::log(x); }
double d_log2(double x) { return std::log2(x); }
double d_log1p(double x) { return std::log1p(x); }
double d_sqrt(double x) { return std::sqrt(x); }
double d_sin(double x) { return std::sin(x); }
double d_cos(double x) { return std::cos(x); }
double d_atan(double x) { return std::atan(x); }
double d_tanh(double x) { return std::tanh(x); }
double d_erf(double x) { return std::erf(x); }
double d_floor(double x) { return std::floor(x); }
double d_ceil(double x) { return std::ceil(x); }
double d_round(double x) { return std::nearbyint(x); }

float f_exp(float x) { return tj_exp(x); }
float f_exp2(float x) { return tj_exp2(x); }
float f_expm1(float x) { return tj_expm1(x); }
float f_log(float x) { return tj_log(x); }
float f_log2(float x) { return tj_log2(x); }
float f_log1p(float x) { return tj_log1p(x); }
float f_sqrt(float x) { return tj_sqrt(x); }
float f_rsqrt(float x) { return tj_rsqrt(x); }
float f_sin(float x) { return tj_sin(x); }
float f_cos(float x) { return tj_cos(x); }
float f_atan(float x) { return tj_atan(x); }
float f_tanh(float x) { return tj_tanh(x); }
float f_sigmoid(float x) { return tj_sigmoid(x); }
float f_erf(float x) { return tj_erf(x); }
float f_gelu_erf(float x) { return tj_gelu_erf(x); }
float f_gelu_tanh(float x) { return tj_gelu_tanh(x); }
float f_silu(float x) { return tj_silu(x); }
float f_floor(float x) { return tj_floor(x); }
float f_ceil(float x) { return tj_ceil(x); }
float f_round(float x) { return tj_round(x); }

const UnaryCase kUnary[] = {
    {"exp", f_exp, d_exp, -110, 95, 1},
    {"exp2", f_exp2, d_exp2, -160, 135, 1},
    {"expm1", f_expm1, d_expm1, -30, 95, 1},
    {"log", f_log, d_log, 0, 100, 1},
    {"log2", f_log2, d_log2, 0, 100, 2},
    {"log1p", f_log1p, d_log1p, -1, 10, 1},
    {"sqrt", f_sqrt, d_sqrt, 0, 100, 0},
    {"rsqrt", f_rsqrt, ref_rsqrt, 0, 100, 1},
    {"sin", f_sin, d_sin, -100, 100, 2},
    {"cos", f_cos, d_cos, -100, 100, 2},
    {"atan", f_atan, d_atan, -10, 10, 1},
    {"tanh", f_tanh, d_tanh, -12, 12, 2},
    {"sigmoid", f_sigmoid, ref_sigmoid, -120, 40, 2},
    {"erf", f_erf, d_erf, -5, 5, 2},
    {"gelu_erf", f_gelu_erf, ref_gelu_erf, -20, 10, 2},
    {"gelu_tanh", f_gelu_tanh, ref_gelu_tanh, -15, 10, 3},
    {"silu", f_silu, ref_silu, -120, 40, 3},
    {"floor", f_floor, d_floor, -100, 100, 0},
    {"ceil", f_ceil, d_ceil, -100, 100, 0},
    {"round", f_round, d_round, -100, 100, 0},
};

// ~1M inputs: a dense linear sweep and uniform draws over [lo, hi], random bit
// patterns (every magnitude, subnormals, huge values, inf/NaN) and edge cases.
std::vector<float> make_inputs(float lo, float hi, uint64_t seed) {
  std::vector<float> x;
  const int n = 350000;
  x.reserve(3 * n + 64);
  for (int i = 0; i <= n; ++i) x.push_back(lo + (hi - lo) * (static_cast<float>(i) / n));
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  for (int i = 0; i < n; ++i) x.push_back(u(rng));
  for (int i = 0; i < n; ++i) x.push_back(float_of(static_cast<uint32_t>(rng())));
  const float edge[] = {0.0f,
                        -0.0f,
                        INFINITY,
                        -INFINITY,
                        NAN,
                        -NAN,
                        0x1p-149f,
                        -0x1p-149f,
                        0x1.fffffcp-127f,
                        -0x1.fffffcp-127f,
                        0x1p-126f,
                        -0x1p-126f,
                        FLT_MAX,
                        -FLT_MAX,
                        1.0f,
                        -1.0f,
                        0.5f,
                        -0.5f,
                        1.5f,
                        -1.5f,
                        2.5f,
                        -2.5f,
                        88.7228394f,
                        88.7228470f,
                        89.0f,
                        -87.3365479f,
                        -103.972084f,
                        -104.0f,
                        -150.0f,
                        128.0f,
                        -149.0f,
                        1e-20f,
                        -1e-20f,
                        0x1p23f,
                        -0x1p23f,
                        8388609.0f,
                        0x1p24f,
                        1e30f,
                        -1e30f,
                        3.92f,
                        -3.92f,
                        0.49999997f,
                        0.5f,
                        9.0f,
                        -9.0f,
                        10.0f,
                        -10.0f,
                        -0.99999994f,
                        -0.999999f};
  for (float e : edge) x.push_back(e);
  return x;
}

struct Worst {
  double ulp = 0;
  float x = 0, got = 0;
  double want = 0;
};

template <class Fn>
Worst sweep(const UnaryCase& c, Fn&& apply) {
  std::vector<float> x = make_inputs(c.lo, c.hi, 7);
  std::vector<float> y(x.size());
  apply(x.data(), y.data(), static_cast<int64_t>(x.size()));
  Worst w;
  for (size_t i = 0; i < x.size(); ++i) {
    double r = c.ref(static_cast<double>(x[i]));
    double d = ulp_distance(y[i], r);
    if (d > w.ulp) w = {d, x[i], y[i], r};
  }
  return w;
}

std::string describe(const UnaryCase& c, const Worst& w) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "tj_%s: max %.0f ulp (bound %.0f) at x=%.9g: got %.9g, want %.9g",
                c.name, w.ulp, c.max_ulp, w.x, w.got, w.want);
  return buf;
}

TEST(CpuMath, UnaryAccuracy) {
  for (const UnaryCase& c : kUnary) {
    Worst w = sweep(c, [&](const float* x, float* y, int64_t n) {
      for (int64_t i = 0; i < n; ++i) y[i] = c.fn(x[i]);
    });
    EXPECT_LE(w.ulp, c.max_ulp) << describe(c, w);
    std::printf("  %s\n", describe(c, w).c_str());
  }
}

TEST(CpuMath, SpecialValues) {
  const float inf = INFINITY;
  EXPECT_EQ(tj_exp(inf), inf);
  EXPECT_EQ(tj_exp(89.0f), inf);
  EXPECT_EQ(tj_exp(-inf), 0.0f);
  EXPECT_EQ(tj_exp(-110.0f), 0.0f);
  EXPECT_TRUE(std::isnan(tj_exp(NAN)));
  EXPECT_EQ(tj_log(0.0f), -inf);
  EXPECT_EQ(tj_log(-0.0f), -inf);
  EXPECT_TRUE(std::isnan(tj_log(-1.0f)));
  EXPECT_EQ(tj_log(inf), inf);
  EXPECT_EQ(tj_log1p(-1.0f), -inf);
  EXPECT_TRUE(std::signbit(tj_log1p(-0.0f)));
  EXPECT_TRUE(std::signbit(tj_expm1(-0.0f)));
  EXPECT_EQ(tj_expm1(-inf), -1.0f);
  EXPECT_EQ(tj_tanh(inf), 1.0f);
  EXPECT_EQ(tj_tanh(-1e30f), -1.0f);
  EXPECT_TRUE(std::signbit(tj_tanh(-0.0f)));
  EXPECT_EQ(tj_sigmoid(-inf), 0.0f);
  EXPECT_EQ(tj_sigmoid(inf), 1.0f);
  EXPECT_EQ(tj_sigmoid(-1e30f), 0.0f);
  EXPECT_EQ(tj_erf(inf), 1.0f);
  EXPECT_EQ(tj_erf(-inf), -1.0f);
  EXPECT_TRUE(std::isnan(tj_sin(inf)));
  EXPECT_TRUE(std::isnan(tj_cos(-inf)));
  EXPECT_TRUE(std::signbit(tj_sin(-0.0f)));
  // silu/gelu at -inf: NaN like the reference formulas (-inf * 0); +inf stays inf.
  EXPECT_EQ(tj_silu(inf), inf);
  EXPECT_EQ(tj_gelu_erf(inf), inf);
  EXPECT_EQ(tj_gelu_tanh(inf), inf);
  EXPECT_EQ(tj_gelu_erf(-1e30f), 0.0f);
  EXPECT_EQ(tj_gelu_tanh(-1e30f), 0.0f);
  EXPECT_EQ(tj_silu(-1e30f), 0.0f);
  EXPECT_EQ(tj_round(2.5f), 2.0f);
  EXPECT_EQ(tj_round(-3.5f), -4.0f);
  EXPECT_EQ(tj_round(0.49999997f), 0.0f);
  EXPECT_TRUE(std::signbit(tj_floor(-0.0f)));
  EXPECT_TRUE(std::signbit(tj_ceil(-0.5f)));
  EXPECT_EQ(tj_floor(-0.5f), -1.0f);
  EXPECT_EQ(tj_ceil(0.25f), 1.0f);
}

TEST(CpuMath, MaximumMinimumPropagateNaN) {
  const float vals[] = {0.0f, -0.0f, 1.0f, -1.0f, INFINITY, -INFINITY, NAN, 3.5f};
  for (float a : vals) {
    for (float b : vals) {
      double ra = a, rb = b;
      double mx = std::isnan(ra) || std::isnan(rb) ? NAN : (ra > rb ? ra : rb);  // reference_eval
      double mn = std::isnan(ra) || std::isnan(rb) ? NAN : (ra < rb ? ra : rb);
      float gx = tj_maximum(a, b), gn = tj_minimum(a, b);
      EXPECT_EQ(std::isnan(gx), std::isnan(mx)) << a << " " << b;
      EXPECT_EQ(std::isnan(gn), std::isnan(mn)) << a << " " << b;
      if (!std::isnan(mx)) {
        EXPECT_EQ(bits_of(gx), bits_of(static_cast<float>(mx))) << a << " " << b;
      }
      if (!std::isnan(mn)) {
        EXPECT_EQ(bits_of(gn), bits_of(static_cast<float>(mn))) << a << " " << b;
      }
      double gx64 = tj_maximum_f64(ra, rb), gn64 = tj_minimum_f64(ra, rb);
      EXPECT_EQ(std::isnan(gx64), std::isnan(mx));
      EXPECT_EQ(std::isnan(gn64), std::isnan(mn));
      if (!std::isnan(mx)) {
        EXPECT_EQ(gx64, mx);
      }
      if (!std::isnan(mn)) {
        EXPECT_EQ(gn64, mn);
      }
    }
  }
}

// pow against f64 pow: random pairs, negative bases with integer exponents, and
// every pair of special values (C99 powf rules: 0^0 = 1, (-8)^(1/3) = NaN, ...).
void pow_inputs(std::vector<float>& a, std::vector<float>& b) {
  const float sp[] = {0.0f,        -0.0f, INFINITY, -INFINITY, NAN,     0x1p-149f,  -0x1p-149f,
                      1.0f,        -1.0f, 0.5f,     -0.5f,     2.0f,    -2.0f,      3.0f,
                      -3.0f,       2.5f,  -2.5f,    1e10f,     -1e10f,  0x1p24f,    8388609.0f,
                      -8388609.0f, 0.1f,  1e-30f,   127.0f,    -149.0f, 1.0f / 3.0f};
  for (float p : sp) {
    for (float q : sp) {
      a.push_back(p);
      b.push_back(q);
    }
  }
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<float> ux(0, 10), uy(-40, 40), ul(-30, 30);
  for (int i = 0; i < 400000; ++i) {
    a.push_back(ux(rng));
    b.push_back(uy(rng));
  }
  for (int i = 0; i < 300000; ++i) {
    float x = std::exp2(ul(rng));
    a.push_back((i & 1) ? -x : x);
    b.push_back(static_cast<float>(static_cast<int>(uy(rng))));
  }
  for (int i = 0; i < 300000; ++i) {
    a.push_back(float_of(static_cast<uint32_t>(rng())));
    float y = float_of(static_cast<uint32_t>(rng()));
    b.push_back(i % 3 ? y * 1e-37f : y);
  }
}

double check_pow(const std::vector<float>& a, const std::vector<float>& b,
                 const std::vector<float>& y, std::string* where) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    double r = std::pow(static_cast<double>(a[i]), static_cast<double>(b[i]));
    double d = ulp_distance(y[i], r);
    if (d > worst) {
      worst = d;
      std::ostringstream os;
      os << "pow(" << a[i] << ", " << b[i] << ") = " << y[i] << ", want " << r;
      *where = os.str();
    }
  }
  return worst;
}

TEST(CpuMath, PowAccuracy) {
  std::vector<float> a, b;
  pow_inputs(a, b);
  std::vector<float> y(a.size());
  for (size_t i = 0; i < a.size(); ++i) y[i] = tj_pow(a[i], b[i]);
  std::string where;
  double worst = check_pow(a, b, y, &where);
  EXPECT_LE(worst, 1.0) << where;
  std::printf("  tj_pow: max %.0f ulp %s\n", worst, where.c_str());
}

TEST(CpuMath, Atan2Accuracy) {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<float> u(-10, 10);
  std::vector<float> y, x;
  for (int i = 0; i < 500000; ++i) {
    y.push_back(u(rng));
    x.push_back(u(rng));
  }
  for (int i = 0; i < 500000; ++i) {
    y.push_back(float_of(static_cast<uint32_t>(rng())));
    x.push_back(float_of(static_cast<uint32_t>(rng())));
  }
  // C99's special cases: every pair of +-0, +-1, +-inf.
  const float sp[] = {0.0f, -0.0f, 1.0f, -1.0f, INFINITY, -INFINITY};
  for (float a : sp)
    for (float b : sp) {
      y.push_back(a);
      x.push_back(b);
    }
  double worst = 0;
  std::string where;
  for (size_t i = 0; i < x.size(); ++i) {
    const float got = tj_atan2(y[i], x[i]);
    const double want = std::atan2(static_cast<double>(y[i]), static_cast<double>(x[i]));
    double d = ulp_distance(got, want);
    if (std::signbit(got) != std::signbit(want) && !std::isnan(want)) d = 1e9;
    if (d > worst) {
      worst = d;
      std::ostringstream os;
      os << "atan2(" << y[i] << ", " << x[i] << ") = " << got << ", want " << want;
      where = os.str();
    }
  }
  EXPECT_LE(worst, 1.0) << where;
  std::printf("  tj_atan2: max %.2f ulp %s\n", worst, where.c_str());
  EXPECT_TRUE(std::isnan(tj_atan2(NAN, 1.0f)));
  EXPECT_TRUE(std::isnan(tj_atan2(1.0f, NAN)));
}

TEST(CpuMath, F64FunctionsMatchLibm) {
  const double xs[] = {-3.5, -1.0, -0.25, 0.0, 0.3, 1.0, 2.5, 10.0, 700.0};
  for (double x : xs) {
    EXPECT_EQ(tj_exp_f64(x), std::exp(x));
    EXPECT_EQ(tj_tanh_f64(x), std::tanh(x));
    EXPECT_EQ(tj_erf_f64(x), std::erf(x));
    EXPECT_EQ(tj_sin_f64(x), std::sin(x));
    EXPECT_EQ(tj_atan_f64(x), std::atan(x));
    EXPECT_EQ(tj_atan2_f64(x, 0.5), std::atan2(x, 0.5));
    EXPECT_EQ(tj_sigmoid_f64(x), 1.0 / (1.0 + std::exp(-x)));
    EXPECT_EQ(tj_floor_f64(x), std::floor(x));
    EXPECT_EQ(tj_ceil_f64(x), std::ceil(x));
    EXPECT_EQ(tj_round_f64(x), std::nearbyint(x));
    if (x > 0) {
      EXPECT_EQ(tj_log_f64(x), std::log(x));
      EXPECT_EQ(tj_sqrt_f64(x), std::sqrt(x));
      EXPECT_EQ(tj_pow_f64(x, 1.5), std::pow(x, 1.5));
    }
  }
}

// ---- f16 / bf16 -------------------------------------------------------------------

TEST(CpuMath, HalfToFloatExhaustive) {
  for (uint32_t h = 0; h < 65536; ++h) {
    float got = tj_half_to_float(static_cast<uint16_t>(h));
    float want = tj::half::from_bits(static_cast<uint16_t>(h));
    ASSERT_EQ(bits_of(got), bits_of(want)) << "half bits 0x" << std::hex << h;
    uint16_t back = tj_float_to_half(got);
    if (std::isnan(got)) {
      ASSERT_EQ(back, tj::half(got).bits) << std::hex << h;
      ASSERT_EQ(back & 0x7c00u, 0x7c00u);
      ASSERT_NE(back & 0x3ffu, 0u);
    } else {
      ASSERT_EQ(back, h) << "round trip of half bits 0x" << std::hex << h;
    }
  }
}

TEST(CpuMath, Bf16ToFloatExhaustive) {
  for (uint32_t h = 0; h < 65536; ++h) {
    float got = tj_bf16_to_float(static_cast<uint16_t>(h));
    float want = tj::bfloat16::from_bits(static_cast<uint16_t>(h));
    ASSERT_EQ(bits_of(got), bits_of(want)) << "bf16 bits 0x" << std::hex << h;
    uint16_t back = tj_float_to_bf16(got);
    if (std::isnan(got)) {
      ASSERT_TRUE(std::isnan(tj_bf16_to_float(back))) << std::hex << h;
      ASSERT_EQ(back, tj::bfloat16(got).bits) << std::hex << h;
    } else {
      ASSERT_EQ(back, h) << "round trip of bf16 bits 0x" << std::hex << h;
    }
  }
}

// float -> half/bf16 rounding against ir/dtype.cpp: every float whose low bits sit
// at or next to a rounding boundary, plus a stride over all 2^32 patterns.
TEST(CpuMath, FloatToHalfAndBf16Rounding) {
  std::vector<uint32_t> inputs;
  const uint32_t lows13[] = {0, 1, 0xfff, 0x1000, 0x1001, 0x1fff};
  const uint32_t lows16[] = {0, 1, 0x7fff, 0x8000, 0x8001, 0xffff};
  for (uint32_t hi = 0; hi < (1u << 19); ++hi) {
    for (uint32_t lo : lows13) inputs.push_back((hi << 13) | lo);
  }
  for (uint32_t hi = 0; hi < (1u << 16); ++hi) {
    for (uint32_t lo : lows16) inputs.push_back((hi << 16) | lo);
  }
  for (uint64_t b = 0; b < (1ull << 32); b += 4099) inputs.push_back(static_cast<uint32_t>(b));
  int64_t half_bad = 0, bf16_bad = 0;
  for (uint32_t b : inputs) {
    float f = float_of(b);
    uint16_t h = tj_float_to_half(f), hw = tj::half(f).bits;
    uint16_t g = tj_float_to_bf16(f), gw = tj::bfloat16(f).bits;
    if (h != hw && half_bad++ < 5)
      ADD_FAILURE() << "half(" << std::hex << b << ") = " << h << ", want " << hw;
    if (g != gw && bf16_bad++ < 5)
      ADD_FAILURE() << "bf16(" << std::hex << b << ") = " << g << ", want " << gw;
  }
  EXPECT_EQ(half_bad, 0);
  EXPECT_EQ(bf16_bad, 0);
}

// ---- Philox -----------------------------------------------------------------------

// Random123's known-answer test for Philox4x32-10: counter 0, key 0.
TEST(CpuMath, PhiloxKnownAnswer) {
  uint32_t o[4];
  tj_philox(0, 0, o);
  EXPECT_EQ(o[0], 0x6627e8d5u);
  EXPECT_EQ(o[1], 0xe169c58du);
  EXPECT_EQ(o[2], 0xbc57ac4cu);
  EXPECT_EQ(o[3], 0x9b00dbd8u);
}

TEST(CpuMath, PhiloxMatchesReference) {
  const uint64_t seeds[] = {0, 1, 42, 0xdeadbeefull, 0x123456789abcdef0ull};
  const uint64_t offsets[] = {0, 1ull << 32, 0xfffffffffffff000ull};
  for (uint64_t seed : seeds) {
    for (uint64_t off : offsets) {
      for (uint64_t i = 0; i < 10000; ++i) {
        uint64_t c = off + i;
        uint32_t o[4];
        tj_philox(c, seed, o);
        tj::philox::Out want = tj::philox::philox4x32_10(c, seed);
        ASSERT_EQ(std::memcmp(o, want.x, sizeof o), 0) << c << " " << seed;
        float u32 = tj_rand_uniform_f32(c, seed);
        ASSERT_EQ(bits_of(u32), bits_of(static_cast<float>(tj::philox::uniform(c, seed, tj::f32))));
        ASSERT_LT(u32, 1.0f);
        ASSERT_EQ(tj_float_to_half(tj_rand_uniform_f16(c, seed)),
                  tj::half(static_cast<float>(tj::philox::uniform(c, seed, tj::f16))).bits);
        ASSERT_EQ(tj_float_to_bf16(tj_rand_uniform_bf16(c, seed)),
                  tj::bfloat16(static_cast<float>(tj::philox::uniform(c, seed, tj::bf16))).bits);
        ASSERT_EQ(tj_rand_uniform_f64(c, seed), tj::philox::uniform(c, seed, tj::f64));
        double n = tj_rand_normal(c, seed), nw = tj::philox::normal(c, seed);
        ASSERT_EQ(n, nw) << c << " " << seed;
        ASSERT_EQ(bits_of(static_cast<float>(n)), bits_of(static_cast<float>(nw)));
      }
    }
  }
}

// ---- kernel-style builds compiled at test time ------------------------------------

#ifdef TJ_SOURCE_DIR
const char* const kHeader = TJ_SOURCE_DIR "/jit/cpu/math.h";
const char* const kTrig = TJ_SOURCE_DIR "/jit/cpu/math_trig.h";
const char* const kCommon = TJ_SOURCE_DIR "/jit/codegen/kernel_common.h";
const char* const kPhilox = TJ_SOURCE_DIR "/ir/philox_core.h";
#endif

bool have_compiler() { return std::system("command -v c++ >/dev/null 2>&1") == 0; }

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/tj_cpu_math_XXXXXX";
    char* p = mkdtemp(tmpl);
    if (p) path = p;
  }
  ~TempDir() {
    if (!path.empty()) std::system(("rm -rf '" + path + "'").c_str());
  }
};

std::string read_file(const std::string& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct Loop {
  std::string name,
      body;  // body: statement using x[i], z[i] (float) / h[i] (uint16) -> y[i] / hy[i]
};

// One loop per line so -fopt-info lines map to functions; returns the source and
// fills line numbers.
std::string kernel_source(const std::vector<Loop>& loops, std::vector<int>* lines) {
  std::string s;
  s += "#include \"" + std::string(kHeader) + "\"\n";
  s += "#include \"" + std::string(kTrig) + "\"\n";
  s += "#define TJ_FN static inline\n#include \"" + std::string(kCommon) + "\"\n";
  s += "#include \"" + std::string(kPhilox) + "\"\n";
  s += "#define TJK(nm, stmt) extern \"C\" void tjk_##nm(const float* __restrict x, const float* "
       "__restrict z, "
       "const uint16_t* __restrict h, float* __restrict y, uint16_t* __restrict hy, long n) "
       "{ (void)x; (void)z; (void)h; (void)y; (void)hy; for (long i = 0; i < n; ++i) { stmt; } }\n";
  int line = static_cast<int>(std::count(s.begin(), s.end(), '\n')) + 1;
  for (const Loop& l : loops) {
    s += "TJK(" + l.name + ", " + l.body + ")\n";
    lines->push_back(line++);
  }
  return s;
}

std::vector<Loop> all_loops() {
  std::vector<Loop> v;
  for (const UnaryCase& c : kUnary) {
    v.push_back({c.name, std::string("y[i] = tj_") + c.name + "(x[i])"});
  }
  v.push_back({"pow", "y[i] = tj_pow(x[i], z[i])"});
  v.push_back({"atan2", "y[i] = tj_atan2(x[i], z[i])"});
  v.push_back({"maximum", "y[i] = tj_maximum(x[i], z[i])"});
  v.push_back({"minimum", "y[i] = tj_minimum(x[i], z[i])"});
  v.push_back({"float_to_half", "hy[i] = tj_float_to_half(x[i])"});
  v.push_back({"half_to_float", "y[i] = tj_half_to_float(h[i])"});
  v.push_back({"float_to_bf16", "hy[i] = tj_float_to_bf16(x[i])"});
  v.push_back({"bf16_to_float", "y[i] = tj_bf16_to_float(h[i])"});
  v.push_back({"rand_uniform_f32", "y[i] = tj_rand_uniform_f32(1000 + i, 7)"});
  return v;
}

// The generated kernels' compile line, without -fno-math-errno: sqrt/rsqrt
// vectorize only with it (g++ otherwise keeps a scalar errno call for
// negative inputs), which the tests below check.
const std::string& jit_flags() {
  static const std::string f = [] {
    std::string s;
    for (const std::string& a : tj::jit::cpu_compiler().flag_list)
      if (a != "-shared" && a != "-fPIC" && a != "-w" && a != "-fno-math-errno")
        s += (s.empty() ? "" : " ") + a;
    return s;
  }();
  return f;
}

// The libraries a kernel's shared object links (after its source).
std::string link_libs() {
  std::string s;
  for (const std::string& l : tj::jit::cpu_compiler().link_libs) s += " " + l;
  return s;
}

std::set<int> vectorized_lines(const std::string& log, const std::string& file) {
  std::set<int> out;
  std::istringstream is(log);
  std::string ln;
  const std::string prefix = file + ":";
  while (std::getline(is, ln)) {
    if (ln.rfind(prefix, 0) != 0 || ln.find("loop vectorized") == std::string::npos) continue;
    out.insert(std::atoi(ln.c_str() + prefix.size()));
  }
  return out;
}

/// Compiles every loop of all_loops() with the kernel flags and `extra`,
/// -fopt-info-vec-optimized on; returns the compiler's report, empty on failure.
std::string vectorizer_report(const std::vector<Loop>& loops, std::vector<int>* lines,
                              const std::string& extra) {
  TempDir dir;
  if (dir.path.empty()) return "";
  std::ofstream(dir.path + "/k.cpp") << kernel_source(loops, lines);
  std::string cmd = "cd '" + dir.path + "' && c++ " + jit_flags() + extra +
                    " -fopt-info-vec-optimized -c k.cpp -o k.o 2> log.txt";
  const int rc = std::system(cmd.c_str());
  std::string log = read_file(dir.path + "/log.txt");
  EXPECT_EQ(rc, 0) << log;
  return rc == 0 ? log : "";
}

TEST(CpuMathJit, LoopsVectorize) {
#ifndef TJ_SOURCE_DIR
  GTEST_SKIP() << "built without TJ_SOURCE_DIR, cannot locate jit/cpu/math.h";
#else
  if (!have_compiler())
    GTEST_SKIP() << "no c++ compiler on PATH; the CPU backend cannot JIT here either";
  std::vector<Loop> loops = all_loops();
  std::vector<int> lines;
  for (bool no_errno : {false, true}) {
    const std::string log = vectorizer_report(loops, &lines, no_errno ? " -fno-math-errno" : "");
    ASSERT_FALSE(log.empty());
    std::set<int> vec = vectorized_lines(log, "k.cpp");
    for (size_t i = 0; i < loops.size(); ++i) {
      bool is_sqrt = loops[i].name == "sqrt" || loops[i].name == "rsqrt";
      if (is_sqrt && !no_errno) continue;  // documented: needs -fno-math-errno
      if (!is_sqrt && no_errno) continue;
      EXPECT_TRUE(vec.count(lines[i]))
          << "loop over tj_" << loops[i].name << " (k.cpp line " << lines[i]
          << ") not vectorized with " << jit_flags() << (no_errno ? " -fno-math-errno" : "");
    }
  }
#endif
}

// On a CPU with AVX-512 the kernels are compiled to use it: g++ and clang
// prefer 256-bit vectors even with -march=native there, which halved the
// speed of math-heavy kernels.
TEST(CpuMathJit, LoopsUseTheFullVectorWidth) {
#ifndef TJ_SOURCE_DIR
  GTEST_SKIP() << "built without TJ_SOURCE_DIR, cannot locate jit/cpu/math.h";
#elif !defined(__x86_64__)
  GTEST_SKIP() << "not an x86_64 machine";
#else
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512f")) GTEST_SKIP() << "this CPU has no AVX-512";
  if (!have_compiler())
    GTEST_SKIP() << "no c++ compiler on PATH; the CPU backend cannot JIT here either";
  std::vector<Loop> loops = all_loops();
  std::vector<int> lines;
  const std::string log = vectorizer_report(loops, &lines, " -fno-math-errno");
  ASSERT_FALSE(log.empty());
  std::set<int> wide;
  std::istringstream is(log);
  for (std::string ln; std::getline(is, ln);)
    if (ln.rfind("k.cpp:", 0) == 0 && ln.find("using 64 byte vectors") != std::string::npos)
      wide.insert(std::atoi(ln.c_str() + 6));
  for (size_t i = 0; i < loops.size(); ++i)
    EXPECT_TRUE(wide.count(lines[i]))
        << "loop over tj_" << loops[i].name << " (k.cpp line " << lines[i]
        << ") not vectorized with 512-bit vectors by " << jit_flags() << ":\n"
        << log;
#endif
}

// The same accuracy sweeps through a kernel-style shared library (vectorized,
// FMA-contracted, -march=native), which is how kernels really run.
TEST(CpuMathJit, AccuracyInKernelBuild) {
#ifndef TJ_SOURCE_DIR
  GTEST_SKIP() << "built without TJ_SOURCE_DIR, cannot locate jit/cpu/math.h";
#else
  if (!have_compiler())
    GTEST_SKIP() << "no c++ compiler on PATH; the CPU backend cannot JIT here either";
  TempDir dir;
  ASSERT_FALSE(dir.path.empty());
  std::vector<Loop> loops = all_loops();
  std::vector<int> lines;
  std::ofstream(dir.path + "/k.cpp") << kernel_source(loops, &lines);
  std::string cmd = "cd '" + dir.path + "' && c++ " + jit_flags() +
                    " -shared -fPIC k.cpp -o k.so " + link_libs() + " 2> log.txt";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << read_file(dir.path + "/log.txt");
  void* lib = dlopen((dir.path + "/k.so").c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(lib, nullptr) << dlerror();
  using Kern = void (*)(const float*, const float*, const uint16_t*, float*, uint16_t*, long);
  auto sym = [&](const std::string& n) {
    return reinterpret_cast<Kern>(dlsym(lib, ("tjk_" + n).c_str()));
  };
  for (const UnaryCase& c : kUnary) {
    Kern k = sym(c.name);
    ASSERT_NE(k, nullptr) << c.name;
    Worst w = sweep(
        c, [&](const float* x, float* y, int64_t n) { k(x, nullptr, nullptr, y, nullptr, n); });
    EXPECT_LE(w.ulp, c.max_ulp) << "kernel build: " << describe(c, w);
    std::printf("  kernel build %s\n", describe(c, w).c_str());
  }
  std::vector<float> a, b;
  pow_inputs(a, b);
  std::vector<float> y(a.size());
  sym("pow")(a.data(), b.data(), nullptr, y.data(), nullptr, static_cast<long>(a.size()));
  std::string where;
  double worst = check_pow(a, b, y, &where);
  EXPECT_LE(worst, 1.0) << "kernel build: " << where;
  // conversions in the vectorized build: all half/bf16 patterns both ways
  std::vector<uint16_t> h(65536), hy(65536);
  std::vector<float> f(65536);
  for (int i = 0; i < 65536; ++i) h[i] = static_cast<uint16_t>(i);
  sym("half_to_float")(nullptr, nullptr, h.data(), f.data(), nullptr, 65536);
  sym("float_to_half")(f.data(), nullptr, nullptr, nullptr, hy.data(), 65536);
  for (int i = 0; i < 65536; ++i) {
    ASSERT_EQ(bits_of(f[i]), bits_of(tj::half::from_bits(h[i]))) << i;
    ASSERT_EQ(hy[i], tj::half(f[i]).bits) << i;
  }
  sym("bf16_to_float")(nullptr, nullptr, h.data(), f.data(), nullptr, 65536);
  sym("float_to_bf16")(f.data(), nullptr, nullptr, nullptr, hy.data(), 65536);
  for (int i = 0; i < 65536; ++i) {
    ASSERT_EQ(bits_of(f[i]), bits_of(tj::bfloat16::from_bits(h[i]))) << i;
    ASSERT_EQ(hy[i], tj::bfloat16(f[i]).bits) << i;
  }
  std::vector<float> r(4096);
  sym("rand_uniform_f32")(nullptr, nullptr, nullptr, r.data(), nullptr, 4096);
  for (int i = 0; i < 4096; ++i) {
    ASSERT_EQ(bits_of(r[i]), bits_of(static_cast<float>(tj::philox::uniform(1000 + i, 7, tj::f32))))
        << i;
  }
  dlclose(lib);
#endif
}

}  // namespace
