// tj::autocast: the op lists (results equal the same ops on explicitly cast
// inputs, bit for bit), the dtypes of results, integer inputs, nesting,
// disabled guards, per-thread state, bad dtypes, eager mode, that the
// inserted casts fuse into neighbouring kernels, and (where a GPU is usable)
// the same lists on CUDA tensors.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <future>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"
#include "tilejit/cuda.h"
#include "tilejit_build_config.h"

namespace tj {
namespace {

std::string dims(const Shape& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

/// A computed tensor of `dtype` with deterministic values uniform in [lo, hi)
/// (rounded to `dtype`; integers in [lo, hi]).
Tensor input(const Shape& shape, DType dtype, uint32_t seed, double lo = -2.0, double hi = 2.0) {
  std::mt19937 rng(seed);
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  if (is_integral(dtype)) {
    std::uniform_int_distribution<int64_t> d(static_cast<int64_t>(lo), static_cast<int64_t>(hi));
    std::vector<int64_t> v(n);
    for (auto& x : v) x = d(rng);
    return from_vector(v, shape).cast(dtype).eval();
  }
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<double> v(n);
  for (auto& x : v) x = u(rng);
  return from_vector(v, shape).cast(dtype).eval();
}

/// Same dtype, same shape, bit-identical values.
::testing::AssertionResult same(const Tensor& got, const Tensor& want) {
  if (got.dtype() != want.dtype())
    return ::testing::AssertionFailure()
           << "dtype " << got.dtype() << ", expected " << want.dtype();
  if (got.shape() != want.shape())
    return ::testing::AssertionFailure()
           << "shape " << dims(got.shape()) << ", expected " << dims(want.shape());
  std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>();
  for (size_t i = 0; i < g.size(); ++i)
    if (!(g[i] == w[i] || (std::isnan(g[i]) && std::isnan(w[i]))))
      return ::testing::AssertionFailure()
             << "element " << i << ": got " << g[i] << ", expected " << w[i];
  return ::testing::AssertionSuccess();
}

/// `got` as `want` up to the order of a reduction's f32 additions (which
/// follows the vector width the loop got: kernels that load bf16 and f32
/// may vectorize differently), far tighter than any half-precision step.
::testing::AssertionResult same_f32_math(const Tensor& got, const Tensor& want) {
  if (got.dtype() != want.dtype() || got.shape() != want.shape()) return same(got, want);
  std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>();
  for (size_t i = 0; i < g.size(); ++i) {
    if (g[i] == w[i] || (std::isnan(g[i]) && std::isnan(w[i]))) continue;
    // 16 f32 ulps of the values' scale (these outputs are about 1): a
    // normalization cancels digits, but a bf16 step is 2^-8.
    if (std::fabs(g[i] - w[i]) <= 16 * 0x1p-23 * std::max(1.0, std::fabs(w[i]))) continue;
    return ::testing::AssertionFailure()
           << "element " << i << ": got " << g[i] << ", expected " << w[i];
  }
  return ::testing::AssertionSuccess();
}

// ---- the guard and the queries ----------------------------------------------

TEST(AutocastTest, QueriesFollowTheGuard) {
  EXPECT_FALSE(is_autocast_enabled());
  EXPECT_EQ(autocast_dtype(), bf16);
  {
    autocast g(f16);
    EXPECT_TRUE(is_autocast_enabled());
    EXPECT_EQ(autocast_dtype(), f16);
  }
  EXPECT_FALSE(is_autocast_enabled());
  EXPECT_EQ(autocast_dtype(), bf16);
  {
    autocast g;  // bf16 by default
    EXPECT_TRUE(is_autocast_enabled());
    EXPECT_EQ(autocast_dtype(), bf16);
  }
}

TEST(AutocastTest, GuardsNestAndRestore) {
  {
    autocast outer(bf16);
    {
      autocast inner(f16);
      EXPECT_TRUE(is_autocast_enabled());
      EXPECT_EQ(autocast_dtype(), f16);
      EXPECT_EQ(matmul(input({2, 3}, f32, 1), input({3, 2}, f32, 2)).dtype(), f16);
      {
        autocast off(f16, /*enabled=*/false);
        EXPECT_FALSE(is_autocast_enabled());
        EXPECT_EQ(matmul(input({2, 3}, f32, 1), input({3, 2}, f32, 2)).dtype(), f32);
      }
      EXPECT_TRUE(is_autocast_enabled());
      EXPECT_EQ(autocast_dtype(), f16);
    }
    EXPECT_TRUE(is_autocast_enabled());
    EXPECT_EQ(autocast_dtype(), bf16);
    EXPECT_EQ(matmul(input({2, 3}, f32, 1), input({3, 2}, f32, 2)).dtype(), bf16);
  }
  EXPECT_FALSE(is_autocast_enabled());
}

TEST(AutocastTest, DisabledGuardIsANoOp) {
  Tensor x = input({4, 8}, f32, 3), w = input({5, 8}, f32, 4), b = input({5}, f32, 5);
  Tensor h = input({4, 8}, bf16, 6);
  Tensor want_lin = linear(x, w, b), want_soft = softmax(h, -1), want_sum = h.sum();
  autocast g(bf16, /*enabled=*/false);
  EXPECT_FALSE(is_autocast_enabled());
  EXPECT_EQ(autocast_dtype(), bf16);
  EXPECT_TRUE(same(linear(x, w, b), want_lin));
  EXPECT_TRUE(same(softmax(h, -1), want_soft));
  EXPECT_TRUE(same(h.sum(), want_sum));
}

TEST(AutocastTest, InvalidDtypeThrowsNamingTheValidOnes) {
  for (DType t : {i32, i64, f32, f64, bool_}) {
    EXPECT_TRUE(testing::throws_error([&] { autocast g(t); },
                                      {"autocast", "f16", "bf16", std::string(dtype_name(t))}))
        << t;
    EXPECT_FALSE(is_autocast_enabled());  // a failed guard changes nothing
  }
  autocast outer(f16);
  EXPECT_TRUE(testing::throws_error([] { autocast g(f64); }, {"f16 or bf16", "got f64"}));
  EXPECT_TRUE(is_autocast_enabled());
  EXPECT_EQ(autocast_dtype(), f16);
}

TEST(AutocastTest, StateIsPerThread) {
  std::promise<void> guard_set, checked;
  std::thread other([&] {
    guard_set.get_future().wait();  // the main thread holds a bf16 guard now
    EXPECT_FALSE(is_autocast_enabled());
    Tensor y = linear(input({3, 4}, f32, 7), input({2, 4}, f32, 8));
    EXPECT_EQ(y.dtype(), f32);
    {
      autocast g(f16);
      EXPECT_EQ(linear(input({3, 4}, f32, 7), input({2, 4}, f32, 8)).dtype(), f16);
      EXPECT_EQ(y.to_vector<float>().size(), 6u);
    }
    checked.set_value();
  });
  {
    autocast g(bf16);
    guard_set.set_value();
    checked.get_future().wait();  // the other thread's f16 guard came and went
    EXPECT_TRUE(is_autocast_enabled());
    EXPECT_EQ(autocast_dtype(), bf16);
    EXPECT_EQ(linear(input({3, 4}, f32, 7), input({2, 4}, f32, 8)).dtype(), bf16);
  }
  other.join();
}

// ---- lower-precision ops ------------------------------------------------------

class LowerPrecisionTest : public ::testing::TestWithParam<DType> {};

TEST_P(LowerPrecisionTest, LinearEqualsLinearOnCastInputs) {
  const DType lp = GetParam();
  Tensor x = input({6, 40}, f32, 10), w = input({24, 40}, f32, 11, -0.5, 0.5),
         b = input({24}, f32, 12);
  Tensor want = linear(x.to(lp), w.to(lp), b.to(lp));
  Tensor want_nobias = linear(x.to(lp), w.to(lp));
  autocast g(lp);
  Tensor y = linear(x, w, b);
  EXPECT_EQ(y.dtype(), lp);
  EXPECT_TRUE(same(y, want));
  EXPECT_TRUE(same(linear(x, w), want_nobias));

  // Against f64 arithmetic on the rounded inputs: the GEMM accumulates in
  // f32, so only the final rounding to the half type (and that of y before
  // the bias is added) is seen.
  std::vector<double> xr = x.to(lp).to_vector<double>(), wr = w.to(lp).to_vector<double>(),
                      br = b.to(lp).to_vector<double>(), ref(6 * 24);
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 24; ++j) {
      double s = 0;
      for (int k = 0; k < 40; ++k) s += xr[i * 40 + k] * wr[j * 40 + k];
      ref[i * 24 + j] = s + br[j];
    }
  const double tol = lp == bf16 ? 2e-2 : 3e-3;
  EXPECT_TRUE(testing::all_close(y, ref, tol, tol));
}

TEST_P(LowerPrecisionTest, MatmulCastsEveryFloatingOperand) {
  const DType lp = GetParam();
  const DType other_half = lp == bf16 ? f16 : bf16;
  for (DType ta : {f32, f64, other_half, lp})
    for (DType tb : {f32, f64, other_half}) {
      Tensor a = input({3, 5, 8}, ta, 20), b = input({8, 7}, tb, 21);
      // f64 operands are not cast (as in PyTorch); the others become `lp`.
      Tensor want = matmul(ta == f64 ? a : a.to(lp), tb == f64 ? b : b.to(lp));
      autocast g(lp);
      Tensor y = matmul(a, b);
      EXPECT_EQ(y.dtype(), ta == f64 || tb == f64 ? f64 : lp) << ta << " @ " << tb;
      EXPECT_TRUE(same(y, want)) << ta << " @ " << tb;
      EXPECT_TRUE(same(a.matmul(b), want)) << ta << " @ " << tb;
    }
  // 1-D operands.
  Tensor v = input({8}, f32, 22), m = input({8, 3}, f32, 23);
  Tensor want_vm = matmul(v.to(lp), m.to(lp)), want_vv = matmul(v.to(lp), v.to(lp));
  autocast g(lp);
  EXPECT_TRUE(same(matmul(v, m), want_vm));
  EXPECT_TRUE(same(matmul(v, v), want_vv));
}

TEST_P(LowerPrecisionTest, IntegerOperandsAreNotCast) {
  const DType lp = GetParam();
  Tensor ia = input({4, 6}, i64, 30, -5, 5), ib = input({6, 3}, i32, 31, -5, 5);
  Tensor f = input({6, 3}, f32, 32);
  Tensor want_ii = matmul(ia, ib);           // i64
  Tensor want_if = matmul(ia, f.to(lp));     // i64 with a half operand: the half type
  Tensor want_lin = linear(ia, ib.t(), {});  // i64
  autocast g(lp);
  Tensor ii = matmul(ia, ib);
  EXPECT_EQ(ii.dtype(), i64);
  EXPECT_TRUE(same(ii, want_ii));
  EXPECT_TRUE(same(matmul(ia, f), want_if));
  EXPECT_TRUE(same(linear(ia, ib.t()), want_lin));
}

INSTANTIATE_TEST_SUITE_P(Dtypes, LowerPrecisionTest, ::testing::Values(bf16, f16),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

// ---- f32 ops --------------------------------------------------------------------

struct F32Op {
  std::string name;
  std::function<Tensor(const Tensor&)> fn;
};

void PrintTo(const F32Op& op, std::ostream* os) { *os << op.name; }

std::vector<F32Op> f32_ops() {
  // Inputs are positive so that log, pow and rsqrt stay finite. Norm
  // parameters are bf16 whatever the input (norms cast them to their compute
  // dtype), so that the reference on an f32 input sees the same values.
  return {
      {"softmax", [](const Tensor& x) { return softmax(x, -1); }},
      {"softmax_dim0", [](const Tensor& x) { return softmax(x, 0); }},
      {"log_softmax", [](const Tensor& x) { return log_softmax(x, 1); }},
      {"layer_norm", [](const Tensor& x) { return layer_norm(x, {16}); }},
      {"layer_norm_weight_bias",
       [](const Tensor& x) {
         Tensor w = input({16}, bf16, 40, 0.5, 1.5), b = input({16}, bf16, 41);
         return layer_norm(x, {16}, w, b);
       }},
      {"rms_norm",
       [](const Tensor& x) { return rms_norm(x, {16}, input({16}, bf16, 42, 0.5, 1.5)); }},
      {"sum", [](const Tensor& x) { return sum(x); }},
      {"sum_dim", [](const Tensor& x) { return x.sum({1}, true); }},
      {"prod", [](const Tensor& x) { return prod(x, {1}); }},
      {"mean", [](const Tensor& x) { return mean(x, 0); }},
      {"var", [](const Tensor& x) { return var(x, {1}); }},
      {"std", [](const Tensor& x) { return x.std({0}, false); }},
      {"exp", [](const Tensor& x) { return exp(x); }},
      {"expm1", [](const Tensor& x) { return expm1(x); }},
      {"log", [](const Tensor& x) { return x.log(); }},
      {"log2", [](const Tensor& x) { return log2(x); }},
      {"log1p", [](const Tensor& x) { return log1p(x); }},
      {"reciprocal", [](const Tensor& x) { return reciprocal(x); }},
      {"rsqrt", [](const Tensor& x) { return rsqrt(x); }},
      {"pow_scalar_exponent", [](const Tensor& x) { return pow(x, 2.5); }},
      {"pow_scalar_base", [](const Tensor& x) { return pow(2.0, x); }},
      {"pow_tensors", [](const Tensor& x) { return pow(x, x * 0.5); }},
  };
}

class F32ListTest : public ::testing::TestWithParam<F32Op> {};

TEST_P(F32ListTest, HalfInputsComputeInF32AndReturnF32) {
  const F32Op& op = GetParam();
  for (DType lp : {bf16, f16})
    for (DType half_in : {bf16, f16}) {
      Tensor x = input({12, 16}, half_in, 50, 0.25, 2.0);
      Tensor plain = op.fn(x);
      EXPECT_EQ(plain.dtype(), half_in) << "without autocast";
      Tensor want = op.fn(x.to(f32));
      autocast g(lp);
      Tensor got = op.fn(x);
      EXPECT_EQ(got.dtype(), f32) << half_in << " input";
      EXPECT_TRUE(same_f32_math(got, want)) << half_in << " input, autocast " << lp;
    }
}

TEST_P(F32ListTest, F32AndF64InputsAreUnchanged) {
  const F32Op& op = GetParam();
  for (DType t : {f32, f64}) {
    Tensor x = input({12, 16}, t, 51, 0.25, 2.0);
    Tensor want = op.fn(x);
    autocast g(bf16);
    EXPECT_TRUE(same(op.fn(x), want)) << t;
  }
}

INSTANTIATE_TEST_SUITE_P(Ops, F32ListTest, ::testing::ValuesIn(f32_ops()),
                         [](const auto& info) { return info.param.name; });

TEST(AutocastTest, F32OpsMatchTheF64Reference) {
  // softmax of a bf16 row under autocast, against f64 arithmetic on the
  // bf16 values: only f32 rounding, no bf16 rounding of the result.
  Tensor x = input({3, 50}, bf16, 60, -4, 4);
  std::vector<double> xv = x.to_vector<double>(), ref(xv.size());
  for (int r = 0; r < 3; ++r) {
    double m = -1e300, s = 0;
    for (int k = 0; k < 50; ++k) m = std::max(m, xv[r * 50 + k]);
    for (int k = 0; k < 50; ++k) s += std::exp(xv[r * 50 + k] - m);
    for (int k = 0; k < 50; ++k) ref[r * 50 + k] = std::exp(xv[r * 50 + k] - m) / s;
  }
  autocast g(bf16);
  Tensor p = softmax(x, -1);
  EXPECT_EQ(p.dtype(), f32);
  EXPECT_TRUE(testing::all_close(p, ref, 1e-5, 1e-7));
}

// ---- everything else ------------------------------------------------------------

TEST(AutocastTest, OtherOpsKeepNormalPromotion) {
  Tensor h = input({4, 6}, bf16, 70), f = input({4, 6}, f32, 71), i = input({4, 6}, i32, 72);
  std::vector<std::function<Tensor()>> progs = {
      [&] { return h + h; },
      [&] { return h * f; },  // bf16 with f32: f32, as without autocast
      [&] { return relu(h); },
      [&] { return gelu(h, "tanh"); },
      [&] { return tanh(h); },
      [&] { return sigmoid(h); },
      [&] { return sqrt(abs(h)); },
      [&] { return exp2(h); },
      [&] { return max(h, 1); },
      [&] { return argmax(h, 1); },
      [&] { return h.to(f16) - i; },
      [&] { return where(h > 0, h, f); },
      [&] { return cat({h, h}, 0); },
  };
  std::vector<Tensor> want;
  for (auto& p : progs) want.push_back(p().eval());  // one small flush each
  autocast g(f16);
  for (size_t k = 0; k < progs.size(); ++k) EXPECT_TRUE(same(progs[k](), want[k])) << "op " << k;
}

TEST(AutocastTest, IntegerInputsOfF32OpsAreNotCast) {
  Tensor i = input({5, 7}, i32, 80, -3, 3), l = input({5, 7}, i64, 81, 1, 3);
  std::vector<std::function<Tensor()>> progs = {
      [&] { return sum(i); },              // i64
      [&] { return prod(l, {1}); },        // i64
      [&] { return exp(i); },              // f32
      [&] { return pow(l, 2); },           // i64
      [&] { return softmax(i, 1, f32); },  // f32
      [&] { return pow(2.0, i) + l; },     // f32
  };
  std::vector<Tensor> want;
  for (auto& p : progs) want.push_back(p().eval());  // one small flush each
  EXPECT_EQ(want[0].dtype(), i64);
  EXPECT_EQ(want[3].dtype(), i64);
  autocast g(bf16);
  for (size_t k = 0; k < progs.size(); ++k) EXPECT_TRUE(same(progs[k](), want[k])) << "op " << k;
}

// ---- lazy and eager mode, fusion ------------------------------------------------

std::vector<Tensor> amp_block(const Tensor& x, const Tensor& w, const Tensor& b) {
  Tensor y = linear(x, w, b);
  Tensor p = softmax(y, -1);
  return {y, p, gelu(y, "tanh"), layer_norm(y, {y.shape().back()})};
}

TEST(AutocastTest, LazyAndEagerAgree) {
  Tensor x = input({8, 32}, f32, 90), w = input({16, 32}, f32, 91, -0.3, 0.3),
         b = input({16}, f32, 92);
  std::vector<Tensor> lazy, eager;
  {
    ConfigGuard c;
    c->lazy = true;
    autocast g(bf16);
    lazy = amp_block(x, w, b);
    sync();
  }
  {
    ConfigGuard c;
    c->lazy = false;
    autocast g(bf16);
    eager = amp_block(x, w, b);
  }
  const std::vector<DType> dtypes = {bf16, f32, bf16, f32};
  for (size_t k = 0; k < lazy.size(); ++k) {
    EXPECT_EQ(lazy[k].dtype(), dtypes[k]) << "output " << k;
    EXPECT_EQ(eager[k].dtype(), dtypes[k]) << "output " << k;
    // Fused half chains keep f32 between ops, so allow a bf16 ulp.
    EXPECT_TRUE(
        testing::all_close(lazy[k].to_vector<double>(), eager[k].to_vector<double>(), 1e-2, 1e-2))
        << "output " << k;
  }
  // Eager runs linear as a GEMM and then the bias add, rounding to bf16
  // twice; lazily the two are one kernel (or one oneDNN call with the bias
  // as a post-op) rounding once: they differ by eager's first rounding,
  // half a bf16 ulp of the GEMM's value (|C| <= |y| + |b|), and the last.
  const std::vector<double> l0 = lazy[0].to_vector<double>(), e0 = eager[0].to_vector<double>();
  const std::vector<double> bv = b.to_vector<double>();
  for (size_t i = 0; i < l0.size(); ++i)
    EXPECT_LE(std::abs(l0[i] - e0[i]), std::ldexp(2 * std::abs(e0[i]) + std::abs(bv[i % 16]), -8))
        << "element " << i;
}

/// Kernel launches (GEMM calls included) of building `fn`'s outputs in one
/// lazy flush.
int64_t launches(const std::function<std::vector<Tensor>()>& fn) {
  ConfigGuard c;
  c->lazy = true;
  sync();
  reset_stats();
  std::vector<Tensor> outs = fn();
  sync();
  EXPECT_EQ(stats().flushes, 1);
  return stats().kernels_launched;
}

TEST(AutocastTest, CastsFuseIntoNeighbouringKernels) {
  Tensor a = input({64, 96}, f32, 100), w = input({48, 96}, f32, 101, -0.2, 0.2),
         b = input({48}, f32, 102);
  Tensor w_lp = w.to(bf16).eval();
  // x = a * 2 is one kernel; the GEMM one call; bias + gelu one kernel,
  // or part of the GEMM call when oneDNN runs it.
  auto block = [&](const Tensor& weight) {
    return [&a, &b, weight] {
      Tensor x = a * 2.0;
      return std::vector<Tensor>{gelu(linear(x, weight, b), "tanh")};
    };
  };
  const int64_t plain = launches(block(w));
  EXPECT_EQ(plain, TJ_HAVE_ONEDNN ? 2 : 3);
  // oneDNN has an optimized bf16 matmul only where the CPU has AVX-512:
  // elsewhere the generated GEMM runs and its epilogue is a kernel of its own.
  Tensor xb = (a * 2.0).to(bf16).eval(), bb = b.to(bf16).eval();
  const int64_t bf16_gemm =
      launches([&] { return std::vector<Tensor>{gelu(linear(xb, w_lp, bb), "tanh")}; });
  EXPECT_TRUE(bf16_gemm == 1 || bf16_gemm == 2) << bf16_gemm;
  const int64_t extra = bf16_gemm - 1 - (plain - 2);
  {
    autocast g(bf16);
    // The cast of x joins the kernel computing x, the bias cast joins the
    // epilogue: with a bf16 weight, autocast adds no kernel.
    EXPECT_EQ(launches(block(w_lp)), plain + extra);
    // An f32 weight is cast by a kernel of its own.
    EXPECT_EQ(launches(block(w)), plain + extra + 1);
    // A bf16 activation into softmax: the upcast is part of the row kernel.
    Tensor h = input({32, 200}, bf16, 103);
    EXPECT_EQ(launches([&] { return std::vector<Tensor>{softmax(h * 0.5, -1)}; }), 1);
    // linear followed by an elementwise op on bf16 operands: GEMM + epilogue.
    Tensor xb = input({64, 96}, bf16, 104);
    EXPECT_EQ(launches([&] { return std::vector<Tensor>{relu(linear(xb, w_lp, b)) * 3.0}; }), 2);
  }
}

// ---- other devices -------------------------------------------------------------

TEST(AutocastCudaTest, SameListsOnCuda) {
  if (!cuda::is_available()) GTEST_SKIP() << "no CUDA device: " << cuda::unavailable_reason();
  const Device gpu = Device::cuda(0);
  Tensor x = input({16, 64}, f32, 110), w = input({32, 64}, f32, 111, -0.3, 0.3),
         b = input({32}, f32, 112);
  Tensor xg = x.to(gpu), wg = w.to(gpu), bg = b.to(gpu);
  Tensor want = linear(xg.to(bf16), wg.to(bf16), bg.to(bf16));
  Tensor want_p = softmax(want.to(f32), -1);
  Tensor cpu_y, cpu_p;
  {
    autocast g(bf16);
    cpu_y = linear(x, w, b);
    cpu_p = softmax(cpu_y, -1);
  }
  autocast g(bf16);
  Tensor y = linear(xg, wg, bg);
  Tensor p = softmax(y, -1);
  EXPECT_TRUE(y.device().is_cuda());
  EXPECT_TRUE(same(y, want));
  EXPECT_TRUE(same(p, want_p));
  EXPECT_EQ(p.dtype(), f32);
  // Against the CPU: GEMMs sum in another order, so allow a bf16 ulp.
  EXPECT_TRUE(testing::all_close(y.to_vector<double>(), cpu_y.to_vector<double>(), 1e-2, 1e-2));
  EXPECT_TRUE(testing::all_close(p.to_vector<double>(), cpu_p.to_vector<double>(), 1e-2, 1e-3));
}

}  // namespace
}  // namespace tj
