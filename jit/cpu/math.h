// tilejit CPU math library: the functions generated C++ kernels call for
// transcendental ops and f16/bf16 conversions. The code generator includes
// this file verbatim, followed by jit/cpu/math_trig.h (sin, cos, atan, atan2),
// so both are self-contained (<cmath>, <cstdint>, <cstring> only) and every
// function is `static inline`, prefixed tj_.
//
// Written for the kernel compile line `c++ -O3 -march=native -fopenmp-simd`:
// every float function below vectorizes in a plain `for (i) y[i] = tj_f(x[i]);`
// loop with g++ 12 (tests/cpu_math_test.cpp checks with -fopt-info-vec). Rules
// that keep it so: bit casts through memcpy; no scalar libm calls; no branches,
// selects through bit masks (tj_i_sel) instead of ternaries on float math that
// g++ would sink into a branch and then refuse to if-convert (-ftrapping-math);
// no bool mixed with 64-bit lanes; gathers only with signed 32-bit indices.
// Exception: tj_sqrt/tj_rsqrt(_f64) vectorize only with -fno-math-errno on the
// command line (g++ keeps a scalar errno call for negative inputs otherwise; no
// pragma or attribute inside the file changes that).
//
// Accuracy, float versions: max error in ulp against the f64 libm result rounded
// to float, over ~1M inputs each (dense sweeps, random bit patterns over the whole
// range incl. subnormals, huge values, +-0, +-inf, NaN), measured both with -O2
// (no FMA) and with the kernel flags above (vectorized, FMA-contracted):
//
//   tj_exp      1    overflow to inf above 88.72, subnormal results rounded once
//   tj_exp2     1
//   tj_expm1    1
//   tj_log      1    log(0) = -inf, log(<0) = NaN, subnormal inputs exact
//   tj_log2     2    (1 with FMA)
//   tj_log1p    1
//   tj_sqrt     0    (hardware)       tj_rsqrt  1   (1 / sqrt)
//   tj_sin      2    exact reduction for every float (no Payne-Hanek loop)
//   tj_cos      2    (sin and cos are in jit/cpu/math_trig.h, which follows this file)
//   tj_atan     1    (1M random bit patterns and a sweep: 0.83 ulp measured)
//   tj_atan2    1    over random pairs, C99 special cases exact (+-0, +-inf, NaN)
//   tj_tanh     2    saturates to +-1
//   tj_sigmoid  2    e^x accurate down to the subnormal range, no NaN for big |x|
//   tj_erf      2
//   tj_gelu_erf 2    negative tail via erfc (no 1 + erf cancellation), measured
//                    against 0.5x erfc(-x/sqrt2): the reference evaluator's own
//                    0.5x(1+erf) formula loses digits in f64 below x = -5.5
//   tj_gelu_tanh 3   computed as x * sigmoid(2u), 2u as a float pair (all float)
//   tj_silu     3
//   tj_pow      0    (1M random pairs + all special pairs; log2/exp2 in double)
//   tj_floor/ceil/round 0 (round = half to even)
// Speed, one core, 16M floats in [-10, 10] (log: (0, 10]), this machine (AVX-512,
// g++ 12, kernel flags, a busy 2-core box: ranges over runs), against the glibc
// scalar function in the same loop:
//   tj_exp 10-19x expf, tj_tanh 28-58x tanhf, tj_erf 13-17x erff,
//   tj_log 6-10x logf, tj_sin 3-5x sinf, tj_sigmoid 8-9x 1/(1+expf(-x)),
//   tj_gelu_erf 8-10x 0.5x(1+erff(x/sqrt2)).
// Absolute, ns per float over 4096 floats in L1 on one core of a 2.6 GHz Xeon
// (AVX-512, 512-bit vectors as the kernels are compiled): exp 0.25 (also where
// half the inputs are -inf, as in a masked softmax: 1.56 before its subnormal
// results were made from integer bits), expm1 0.25,
// log 0.39, tanh 0.39, sigmoid 0.31, silu 0.33, gelu_tanh 0.59, erf 0.73,
// gelu_erf 1.48. A vector division costs about as much as seven FMAs there, so
// sigmoid, silu and gelu_tanh divide once.
//
// f64 versions (suffix _f64) call libm (f64 kernels are rare) except sqrt,
// rsqrt, floor/ceil/round, maximum/minimum. maximum/minimum (both widths) return
// NaN if either input is NaN, else a > b ? a : b (a < b ? a : b), exactly the
// reference evaluator's rule (so maximum(+0, -0) is -0).
#ifndef TJ_CPU_MATH_H
#define TJ_CPU_MATH_H

#include <cmath>
#include <cstdint>
#include <cstring>

// ---- bit casts (memcpy: g++ vectorizes these; __builtin_bit_cast it does not) --
static inline uint32_t tj_i_f2u(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
static inline float tj_i_u2f(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
static inline uint64_t tj_i_d2u(double d) {
  uint64_t u;
  std::memcpy(&u, &d, 8);
  return u;
}
static inline double tj_i_u2d(uint64_t u) {
  double d;
  std::memcpy(&d, &u, 8);
  return d;
}

// c ? a : b as bit masks. Plain ternaries on values computed only for one side
// let g++ sink that (trapping) float math into a branch, which blocks
// if-conversion and so vectorization; masks keep everything unconditional.
static inline uint32_t tj_i_selu(bool c, uint32_t a, uint32_t b) {
  uint32_t m = 0u - (uint32_t)c;
  return (a & m) | (b & ~m);
}
static inline float tj_i_sel(bool c, float a, float b) {
  return tj_i_u2f(tj_i_selu(c, tj_i_f2u(a), tj_i_f2u(b)));
}
static inline double tj_i_seld(bool c, double a, double b) {
  uint64_t m = 0ull - (uint64_t)c;
  return tj_i_u2d((tj_i_d2u(a) & m) | (tj_i_d2u(b) & ~m));
}

// ---- exp family ---------------------------------------------------------------

// x = k ln2 + r with |r| <= ln2 / 2 (x within +-126 ln2 or so): returns r.
static inline float tj_i_exp_reduce(float x, int32_t* k) {
  const float shift = 0x1.8p23f;
  float kf = x * 1.44269504088896341f + shift;
  *k = (int32_t)(tj_i_f2u(kf) - tj_i_f2u(shift));
  kf -= shift;
  float r = x - kf * 0.693359375f;  // ln2 split: k * hi part is exact
  return r - kf * -2.12194440e-4f;
}

// e^r for |r| <= ln2 / 2, in [0.70, 1.42].
static inline float tj_i_exp_poly(float r) {
  float p = 1.381461100e-03f;
  p = p * r + 8.368710035e-03f;
  p = p * r + 4.166838741e-02f;
  p = p * r + 1.666652069e-01f;
  p = p * r + 4.999999345e-01f;
  return (r + (r * r) * p) + 1.0f;
}

// e^x for x in [-104, 89], as the bits of the result, rounded once, also into
// the subnormal range: y * 2^k is made from integer bits because a
// floating-point operation with a subnormal result costs a microcode assist
// on Intel cores (~150 cycles a vector), and a masked softmax takes e^-inf
// for half its elements (causal attention's row kernel ran 4x slower per
// element than softmax). Above 0x7f7fffff (as a signed integer): overflow.
static inline int32_t tj_i_exp_bits(float x) {
  int32_t k;
  float y = tj_i_exp_poly(tj_i_exp_reduce(x, &k));  // in [0.70, 1.42]
  uint32_t yb = tj_i_f2u(y);
  // y's exponent plus k, in place: exact for a normal result; below
  // 0x00800000 the result is subnormal, above 0x7f7fffff it overflows.
  int32_t nb = (int32_t)(yb + ((uint32_t)k << 23));
  // A subnormal y * 2^k is round(y * 2^(k + 149)) units of 2^-149, and those
  // units are its bits; z = y * 2^(k + 149) < 2^23, so adding 2^23 rounds it
  // (to even). Other lanes compute a harmless z <= y * 2^23.
  int32_t ks = k + 149 > 23 ? 23 : k + 149;
  float z = tj_i_u2f(yb + ((uint32_t)ks << 23));
  int32_t sub = (int32_t)(tj_i_f2u(z + 0x1p23f) - tj_i_f2u(0x1p23f));
  // A ternary on integers (both sides computed) is one blend; tj_i_sel's
  // mask form takes g++ four instructions.
  return nb < 0x00800000 ? sub : nb;
}

// The same for hi + off * ln2 in [-125 * ln2, 126 * ln2] (a normal result):
// one scale factor instead of two, four operations fewer.
static inline float tj_i_exp_core_normal(float hi, float lo, int32_t off) {
  int32_t k;
  float y = tj_i_exp_poly(tj_i_exp_reduce(hi, &k) + lo);
  return y * tj_i_u2f((uint32_t)(k + off + 127) << 23);
}

static inline float tj_exp(float x) {
  // NaN goes to 89 with the overflows and comes back as x * inf.
  float xc = !(x <= 89.0f) ? 89.0f : x;
  xc = tj_i_sel(xc < -104.0f, -104.0f, xc);
  int32_t b = tj_i_exp_bits(xc);
  return tj_i_u2f(b > 0x7f7fffff ? tj_i_f2u(x * INFINITY) : (uint32_t)b);
}

static inline float tj_exp2(float x) {
  x = tj_i_sel(x > 129.0f, 129.0f, x);
  x = tj_i_sel(x < -151.0f, -151.0f, x);
  const float shift = 0x1.8p23f;
  float kf = x + shift;
  int32_t k = (int32_t)(tj_i_f2u(kf) - tj_i_f2u(shift));
  kf -= shift;
  float r = x - kf;  // exact, |r| <= 0.5
  float p = 1.535336063e-04f;
  p = p * r + 1.339887487e-03f;
  p = p * r + 9.618437366e-03f;
  p = p * r + 5.550332470e-02f;
  p = p * r + 2.402264791e-01f;
  p = p * r + 6.931472029e-01f;
  float y = r * p + 1.0f;
  int32_t k1 = k >> 1, k2 = k - k1;
  float s1 = tj_i_u2f((uint32_t)(k1 + 127) << 23);
  float s2 = tj_i_u2f((uint32_t)(k2 + 127) << 23);
  return (y * s1) * s2;
}

static inline float tj_expm1(float x) {
  float xc = tj_i_sel(x > 89.0f, 89.0f, x);
  xc = tj_i_sel(xc < -25.0f, -25.0f, xc);
  int32_t k;
  float r = tj_i_exp_reduce(xc, &k);
  float q = 1.984587628e-04f;
  q = q * r + 1.394061735e-03f;
  q = q * r + 8.333389349e-03f;
  q = q * r + 4.166636103e-02f;
  q = q * r + 1.666666637e-01f;
  q = q * r + 5.000000044e-01f;
  float p = r + (r * r) * q;  // e^r - 1
  // e^x - 1 = 2 * (2^(k-1) * p + (2^(k-1) - 1/2)); 2^(k-1) stays finite for k = 128
  float s = tj_i_u2f((uint32_t)(k - 1 + 127) << 23);
  float y = 2.0f * (s * p + (s - 0.5f));
  y = tj_i_sel(k == 0, p, y);
  return tj_i_sel(x == 0.0f, x, y);  // keeps -0
}

// ---- log family ---------------------------------------------------------------

// log(x) for finite x > 0 (normal or subnormal), as e*ln2 + log1p(f) with the
// pieces returned for log2/log1p: *e_out = e, return value log1p(f).
static inline float tj_i_log_parts(float x, float* e_out) {
  uint32_t ix = tj_i_f2u(x);
  bool sub = ix < 0x00800000u;
  uint32_t ixs = tj_i_f2u(x * 0x1p23f);
  ix = tj_i_selu(sub, ixs, ix);
  uint32_t t = ix - 0x3f3504f3u;  // m in [sqrt(1/2), sqrt(2))
  int32_t e = ((int32_t)t >> 23) - (sub ? 23 : 0);
  float f = tj_i_u2f((t & 0x007fffffu) + 0x3f3504f3u) - 1.0f;
  float p = -7.634429907e-02f;
  p = p * f + 1.276155036e-01f;
  p = p * f + -1.316019505e-01f;
  p = p * f + 1.420176247e-01f;
  p = p * f + -1.662335648e-01f;
  p = p * f + 2.000122667e-01f;
  p = p * f + -2.500082106e-01f;
  p = p * f + 3.333333171e-01f;
  float f2 = f * f;
  *e_out = (float)e;
  return f + (f2 * (f * p) - 0.5f * f2);
}

// log of x with IEEE special cases: <0 -> NaN, 0 -> -inf, inf -> inf, NaN -> NaN.
static inline float tj_i_log_fix(float x, float y) {
  y = tj_i_sel(x < 0.0f, __builtin_nanf(""), y);
  y = tj_i_sel(x == 0.0f, -__builtin_inff(), y);
  y = tj_i_sel(x == __builtin_inff(), x, y);
  return tj_i_sel(x != x, x, y);
}

static inline float tj_log(float x) {
  uint32_t ix = tj_i_f2u(x);
  bool sub = ix < 0x00800000u;
  uint32_t ixs = tj_i_f2u(x * 0x1p23f);
  ix = tj_i_selu(sub, ixs, ix);
  uint32_t t = ix - 0x3f3504f3u;
  float e = (float)(((int32_t)t >> 23) - (sub ? 23 : 0));
  float f = tj_i_u2f((t & 0x007fffffu) + 0x3f3504f3u) - 1.0f;
  float p = -7.634429907e-02f;
  p = p * f + 1.276155036e-01f;
  p = p * f + -1.316019505e-01f;
  p = p * f + 1.420176247e-01f;
  p = p * f + -1.662335648e-01f;
  p = p * f + 2.000122667e-01f;
  p = p * f + -2.500082106e-01f;
  p = p * f + 3.333333171e-01f;
  float f2 = f * f;
  float y = f2 * (f * p) + e * -2.12194440e-4f;
  y = y - 0.5f * f2;
  y = (f + y) + e * 0.693359375f;
  return tj_i_log_fix(x, y);
}

static inline float tj_log2(float x) {
  float e;
  float l = tj_i_log_parts(x, &e);
  // log2(e) split as 1.4375 + 0.00519504...: keeps the product's rounding off the sum
  float y = e + (l * 1.4375f + l * 5.19504072e-3f);
  return tj_i_log_fix(x, y);
}

static inline float tj_log1p(float x) {
  float u = 1.0f + x;
  float c = (x - (u - 1.0f)) / u;  // rounding of 1 + x, to first order
  float uc = tj_i_sel((u > 0.0f) & (u < __builtin_inff()), u, 1.0f);  // positive finite
  float e;
  float l = tj_i_log_parts(uc, &e);
  float y = (l + (e * -2.12194440e-4f + c)) + e * 0.693359375f;
  y = tj_i_sel(x < -1.0f, __builtin_nanf(""), y);
  y = tj_i_sel(x == -1.0f, -__builtin_inff(), y);
  y = tj_i_sel(x == __builtin_inff(), x, y);
  y = tj_i_sel(x == 0.0f, x, y);
  return tj_i_sel(x != x, x, y);
}

// ---- roots, rounding, min/max ------------------------------------------------

static inline float tj_fabs(float x) { return __builtin_fabsf(x); }
static inline float tj_sqrt(float x) { return __builtin_sqrtf(x); }
static inline float tj_rsqrt(float x) { return 1.0f / __builtin_sqrtf(x); }
// floorf/ceilf stay scalar under -ftrapping-math; rintf (nearest even) vectorizes.
static inline float tj_round(float x) { return __builtin_rintf(x); }  // half to even
static inline float tj_floor(float x) {
  float r = __builtin_rintf(x);
  return tj_i_sel(r > x, r - 1.0f, r);
}
static inline float tj_ceil(float x) {
  float r = __builtin_rintf(x);
  return tj_i_sel(r < x, r + 1.0f, r);
}
// NaN if either is NaN (like torch.maximum); otherwise a > b ? a : b.
static inline float tj_maximum(float a, float b) {
  float r = a > b ? a : b;
  return tj_i_sel((a != a) | (b != b), a + b, r);
}
static inline float tj_minimum(float a, float b) {
  float r = a < b ? a : b;
  return tj_i_sel((a != a) | (b != b), a + b, r);
}
// log(exp(a) + exp(b)) (logcumsumexp): NaN if either is; an infinite larger
// one is the result (so -inf with -inf is -inf, not NaN).
static inline float tj_logaddexp(float a, float b) {
  float m = a > b ? a : b, l = a > b ? b : a;
  float r = m + tj_log1p(tj_exp(l - m));
  r = tj_i_sel(m - m != 0.0f, m, r);  // m infinite
  return tj_i_sel((a != a) | (b != b), a + b, r);
}

// ---- tanh, sigmoid, silu ------------------------------------------------------

static inline float tj_tanh(float x) {
  float ax = tj_i_u2f(tj_i_f2u(x) & 0x7fffffffu);
  ax = tj_i_sel(ax > 10.0f, 10.0f, ax);  // tanh(10) rounds to 1
  float t = tj_expm1(2.0f * ax);
  float y = t / (t + 2.0f);
  return tj_i_u2f(tj_i_f2u(y) | (tj_i_f2u(x) & 0x80000000u));
}

// e^(-|x|) * 2^64 (clamped so tiny results stay exact after the final 2^-64).
static inline float tj_i_exp_neg_scaled(float ax_neg) {
  float a = tj_i_sel(ax_neg < -125.0f, -125.0f, ax_neg);
  return tj_i_exp_core_normal(a, 0.0f, 64);
}

// One division serves both signs (a division costs as much as seven FMAs):
// q = e^-|x| / (1 + e^-|x|) is sigmoid(-|x|), and 1 - q sigmoid(|x|).
static inline float tj_sigmoid(float x) {
  float ax = tj_i_u2f(tj_i_f2u(x) & 0x7fffffffu);
  float eb = tj_i_exp_neg_scaled(-ax);  // e^-|x| * 2^64
  float q = eb / (1.0f + eb * 0x1p-64f);
  float pos = std::fma(q, -0x1p-64f, 1.0f);
  float neg = q * 0x1p-64f;
  return tj_i_sel(x >= 0.0f, pos, tj_i_sel(x != x, x, neg));
}

static inline float tj_silu(float x) {
  float ax = tj_i_u2f(tj_i_f2u(x) & 0x7fffffffu);
  float eb = tj_i_exp_neg_scaled(-ax);
  float pos = x / (1.0f + eb * 0x1p-64f);
  float neg = (pos * eb) * 0x1p-64f;
  neg = tj_i_sel(ax > 120.0f, x * 0.0f, neg);  // -0; -inf -> NaN like x / (1 + e^-x)
  return tj_i_sel(x >= 0.0f, pos, neg);        // NaN -> NaN
}

// ---- erf, gelu ----------------------------------------------------------------

// erf(z) for |z| <= 0.5 (odd polynomial).
static inline float tj_i_erf_small(float z) {
  float z2 = z * z;
  float p = -7.692905588e-04f;
  p = p * z2 + 5.200311926e-03f;
  p = p * z2 + -2.686312078e-02f;
  p = p * z2 + 1.128377382e-01f;
  p = p * z2 + -3.761263852e-01f;
  p = p * z2 + 1.128379167e+00f;
  return z * p;
}

// erfc(z) * e^(z^2) for z in [0.5, 10], in t = 1 / (1 + z).
static inline float tj_i_erfc_q(float z) {
  float t = 1.0f / (1.0f + z);
  float p = -1.326100645e+00f;
  p = p * t + 4.727333376e+00f;
  p = p * t + -6.512790134e+00f;
  p = p * t + 3.583524667e+00f;
  p = p * t + 4.915519551e-01f;
  p = p * t + -1.228549985e+00f;
  p = p * t + -1.274836909e-01f;
  p = p * t + 2.565868844e-01f;
  p = p * t + 5.666524447e-01f;
  p = p * t + 5.640597784e-01f;
  p = p * t + 2.878749393e-06f;
  return p;
}

// e^(-s * x^2) * 2^64 with s * x^2 computed exactly (as a double split in two floats).
static inline float tj_i_exp_negsq_scaled(float x, double s) {
  double a = s * ((double)x * (double)x);
  a = tj_i_seld(a > 125.0, 125.0, a);
  float hi = (float)a;
  float lo = (float)(a - (double)hi);
  return tj_i_exp_core_normal(-hi, -lo, 64);
}

static inline float tj_erf(float x) {
  float ax = tj_i_u2f(tj_i_f2u(x) & 0x7fffffffu);
  float z = tj_i_sel(ax > 10.0f, 10.0f, ax);
  float erfc = (tj_i_exp_negsq_scaled(z, 1.0) * tj_i_erfc_q(z)) * 0x1p-64f;
  float y = tj_i_sel(z < 0.5f, tj_i_erf_small(z), 1.0f - erfc);
  y = tj_i_sel(x != x, x, y);
  return tj_i_u2f(tj_i_f2u(y) | (tj_i_f2u(x) & 0x80000000u));
}

// erf_small in double (gelu computes 1 - erf, which doubles its relative error).
static inline double tj_i_erf_small_f64(double z) {
  double z2 = z * z;
  double p = -7.692905588e-04;
  p = p * z2 + 5.200311926e-03;
  p = p * z2 + -2.686312078e-02;
  p = p * z2 + 1.128377382e-01;
  p = p * z2 + -3.761263852e-01;
  p = p * z2 + 1.128379167e+00;
  return z * p;
}

// erfc(z) * e^(z^2) as above, in double (for gelu, where it is not damped by 1 - erfc).
static inline double tj_i_erfc_q_f64(double z) {
  double t = 1.0 / (1.0 + z);
  double p = -1.326100645e+00;
  p = p * t + 4.727333376e+00;
  p = p * t + -6.512790134e+00;
  p = p * t + 3.583524667e+00;
  p = p * t + 4.915519551e-01;
  p = p * t + -1.228549985e+00;
  p = p * t + -1.274836909e-01;
  p = p * t + 2.565868844e-01;
  p = p * t + 5.666524447e-01;
  p = p * t + 5.640597784e-01;
  p = p * t + 2.878749393e-06;
  return p;
}

// 0.5 x (1 + erf(x / sqrt 2)); the negative tail uses erfc directly, and the
// final combination is done in double so it rounds once.
static inline float tj_gelu_erf(float x) {
  float ax = tj_i_u2f(tj_i_f2u(x) & 0x7fffffffu);
  float axc = tj_i_sel(ax > 15.0f, 15.0f, ax);
  double zd = (double)axc * 0.70710678118654752440;
  double e_small = tj_i_erf_small_f64(zd);
  double erfc = (double)tj_i_exp_negsq_scaled(axc, 0.5) * tj_i_erfc_q_f64(zd) * 0x1p-64;
  double hx = 0.5 * (double)x;
  bool small = zd < 0.5;
  double pos = hx * tj_i_seld(small, 1.0 + e_small, 2.0 - erfc);
  double neg = hx * tj_i_seld(small, 1.0 - e_small, erfc);
  float y = (float)tj_i_seld(x >= 0.0f, pos, neg);
  return tj_i_sel(ax > 15.0f, x * tj_i_sel(x >= 0.0f, 1.0f, 0.0f), y);  // +inf; -0; -inf -> NaN
}

// 0.5 x (1 + tanh(u)) = x * sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3).
// With a = |x| and w = 2|u| = a (c1 + c3 a^2): x / (1 + e^-w) for x >= 0 and
// (x / (1 + e^-w)) e^-w for x < 0. In the negative tail e^-w needs w to ~1e-7
// absolute (w up to ~110), so w is an unevaluated float pair wh + wl: the
// rounding errors of a^2, c3 a^2 and a q are exact by FMA, that of c1 + c3 a^2
// by a two-sum, those of the constants are their low parts. Below x = -11 the
// result rounds to -0 whatever w is, so a is clamped there (which also keeps
// e^-w * 2^64 a normal float). All float, so the loop vectorizes at the full
// float width.
static inline float tj_gelu_tanh(float x) {
  const float c1 = 1.59576917f, c1l = -4.53406805e-08f;   // 2 sqrt(2/pi)
  const float c3 = 0.0713548139f, c3l = 2.39883247e-09f;  // 2 sqrt(2/pi) 0.044715
  float xs = tj_i_sel(x < -11.0f, x * 0.0f - 11.0f, x);   // -inf -> NaN like the formula
  float a = tj_i_u2f(tj_i_f2u(xs) & 0x7fffffffu);
  a = tj_i_sel(a > 11.0f, 11.0f, a);  // NaN passes
  float s = a * a, sl = std::fma(a, a, -s);
  float p = c3 * s, pl = std::fma(c3, s, -p);
  float q = c1 + p, z = q - c1;
  float ql = (c1 - (q - z)) + (p - z);
  float wh = a * q;
  float in = std::fma(c3, sl, ql + pl);
  in = std::fma(c3l, s, in + c1l);
  float wl = std::fma(a, in, std::fma(a, q, -wh));
  float eb = tj_i_exp_core_normal(-wh, -wl, 64);  // e^-w * 2^64
  float t = xs / (1.0f + eb * 0x1p-64f);          // one division serves both signs
  float neg = (t * eb) * 0x1p-64f;
  return tj_i_sel(xs >= 0.0f, t, neg);
}

// ---- pow ----------------------------------------------------------------------
// |x|^y = 2^(y log2|x|) with log2 and exp2 in double (~1e-15 relative), rounded
// once to float; C99 powf special cases by selects.
static inline float tj_pow(float x, float y) {
  uint32_t ux = tj_i_f2u(x);
  uint32_t ix = ux & 0x7fffffffu;
  float ax = tj_i_u2f(ix), ay = tj_i_u2f(tj_i_f2u(y) & 0x7fffffffu);
  bool sub = ix < 0x00800000u;
  uint32_t ixs = tj_i_f2u(ax * 0x1p23f);
  ix = tj_i_selu(sub, ixs, ix);
  uint32_t t = ix - 0x3f3504f3u;
  int32_t e = ((int32_t)t >> 23) - (sub ? 23 : 0);
  double mant = (double)tj_i_u2f((t & 0x007fffffu) + 0x3f3504f3u);
  double s = (mant - 1.0) / (mant + 1.0);
  double s2 = s * s;
  double p = 1.0 / 17;
  p = p * s2 + 1.0 / 15;
  p = p * s2 + 1.0 / 13;
  p = p * s2 + 1.0 / 11;
  p = p * s2 + 1.0 / 9;
  p = p * s2 + 1.0 / 7;
  p = p * s2 + 1.0 / 5;
  p = p * s2 + 1.0 / 3;
  p = p * s2 + 1.0;
  double l2 = (double)e + (s * p) * 2.8853900817779268;  // 2 / ln 2
  l2 = tj_i_seld(ax == 0.0f, -__builtin_inf(), l2);
  l2 = tj_i_seld(ax == __builtin_inff(), __builtin_inf(), l2);
  double tt = (double)y * l2;
  // clamp to +-200 without a constant on either side (a constant lets g++ thread
  // the rest of the function into branches, which blocks vectorization)
  double att = tj_i_u2d(tj_i_d2u(tt) & 0x7fffffffffffffffull);
  tt = tj_i_seld(att > 200.0, tj_i_u2d((tj_i_d2u(tt) & 0x8000000000000000ull) | tj_i_d2u(200.0)),
                 tt);
  const double shift = 0x1.8p52;
  double kd = tt + shift;
  int32_t k = (int32_t)(uint32_t)tj_i_d2u(kd);
  kd -= shift;
  double w = (tt - kd) * 0.69314718055994531;
  double q = 1.0 / 39916800;
  q = q * w + 1.0 / 3628800;
  q = q * w + 1.0 / 362880;
  q = q * w + 1.0 / 40320;
  q = q * w + 1.0 / 5040;
  q = q * w + 1.0 / 720;
  q = q * w + 1.0 / 120;
  q = q * w + 1.0 / 24;
  q = q * w + 1.0 / 6;
  q = q * w + 0.5;
  q = q * w + 1.0;
  q = q * w + 1.0;
  float r = (float)(q * tj_i_u2d((uint64_t)(k + 1023) << 52));
  // y integer? odd? (all-ones masks: bools mixed with these widths defeat g++)
  uint32_t yint = 0u - (uint32_t)((ay >= 0x1p23f) | (((ay + 0x1p23f) - 0x1p23f) == ay));
  int32_t yi = (int32_t)tj_i_sel(ay < 0x1p24f, ay, 0.0f);
  uint32_t yodd = yint & (0u - ((uint32_t)yi & 1u));
  uint32_t rb = tj_i_f2u(r) ^ (ux & 0x80000000u & yodd);
  uint32_t neg_fin = 0u - (uint32_t)((x < 0.0f) & (x > -__builtin_inff()));
  uint32_t m = neg_fin & ~yint;  // negative base, non-integer exponent
  rb = (rb & ~m) | (0x7fc00000u & m);
  m = (0u - (uint32_t)(x != x)) | (0u - (uint32_t)(y != y));
  rb = (rb & ~m) | (tj_i_f2u(x + y) & m);
  m = (0u - (uint32_t)(ay == 0.0f)) | (0u - (uint32_t)(x == 1.0f)) |
      ((0u - (uint32_t)(x == -1.0f)) & (0u - (uint32_t)(ay == __builtin_inff())));
  rb = (rb & ~m) | (0x3f800000u & m);
  return tj_i_u2f(rb);
}

// ---- f64 versions (libm; f64 kernels are rare) --------------------------------

static inline double tj_exp_f64(double x) { return std::exp(x); }
static inline double tj_exp2_f64(double x) { return std::exp2(x); }
static inline double tj_expm1_f64(double x) { return std::expm1(x); }
static inline double tj_log_f64(double x) { return std::log(x); }
static inline double tj_log2_f64(double x) { return std::log2(x); }
static inline double tj_log1p_f64(double x) { return std::log1p(x); }
static inline double tj_fabs_f64(double x) { return __builtin_fabs(x); }
static inline double tj_sqrt_f64(double x) { return __builtin_sqrt(x); }
static inline double tj_rsqrt_f64(double x) { return 1.0 / __builtin_sqrt(x); }
static inline double tj_sin_f64(double x) { return std::sin(x); }
static inline double tj_cos_f64(double x) { return std::cos(x); }
static inline double tj_tanh_f64(double x) { return std::tanh(x); }
static inline double tj_sigmoid_f64(double x) { return 1.0 / (1.0 + std::exp(-x)); }
static inline double tj_silu_f64(double x) { return x / (1.0 + std::exp(-x)); }
static inline double tj_erf_f64(double x) { return std::erf(x); }
static inline double tj_gelu_erf_f64(double x) {
  return 0.5 * x * (1.0 + std::erf(x * 0.70710678118654752440));
}
static inline double tj_gelu_tanh_f64(double x) {
  return 0.5 * x * (1.0 + std::tanh(0.79788456080286535588 * (x + 0.044715 * x * x * x)));
}
static inline double tj_pow_f64(double x, double y) { return std::pow(x, y); }
static inline double tj_floor_f64(double x) { return __builtin_floor(x); }
static inline double tj_ceil_f64(double x) { return __builtin_ceil(x); }
static inline double tj_round_f64(double x) { return __builtin_rint(x); }  // half to even
static inline double tj_maximum_f64(double a, double b) {
  double r = a > b ? a : b;
  return tj_i_seld((a != a) | (b != b), a + b, r);
}
static inline double tj_minimum_f64(double a, double b) {
  double r = a < b ? a : b;
  return tj_i_seld((a != a) | (b != b), a + b, r);
}
static inline double tj_logaddexp_f64(double a, double b) {
  if (a != a || b != b) return a + b;
  double m = a > b ? a : b, l = a > b ? b : a;
  if (m - m != 0.0) return m;
  return m + std::log1p(std::exp(l - m));
}

// ---- f16 / bf16 conversions (branch-free) -------------------------------------

static inline float tj_half_to_float(uint16_t h) {
  uint32_t em = (uint32_t)(h & 0x7fffu) << 13;
  uint32_t exp = em & 0x0f800000u;
  uint32_t o = em + ((127u - 15u) << 23);
  o = tj_i_selu(exp == 0x0f800000u, o + ((128u - 16u) << 23), o);  // inf / NaN
  float sub = tj_i_u2f(o + (1u << 23)) - tj_i_u2f(113u << 23);     // renormalize
  o = tj_i_selu(exp == 0u, tj_i_f2u(sub), o);                      // zero / subnormal
  return tj_i_u2f(o | ((uint32_t)(h & 0x8000u) << 16));
}

// Round to nearest even; overflow -> inf; NaN -> quiet NaN (0x7e00 | sign).
static inline uint16_t tj_float_to_half(float f) {
  uint32_t x = tj_i_f2u(f);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t a = x & 0x7fffffffu;
  uint32_t inf_nan = a > 0x7f800000u ? 0x7e00u : 0x7c00u;
  // subnormal half: let the float adder round (0.5 * 2^-14 + a keeps the bits)
  const uint32_t denorm_magic = ((127u - 15u) + (23u - 10u) + 1u) << 23;
  uint32_t sub = tj_i_f2u(tj_i_u2f(a) + tj_i_u2f(denorm_magic)) - denorm_magic;
  uint32_t odd = (a >> 13) & 1u;
  uint32_t norm = (a + (((uint32_t)(15 - 127)) << 23) + 0xfffu + odd) >> 13;
  uint32_t o = tj_i_selu(a < (113u << 23), sub, norm);
  o = tj_i_selu(a >= ((127u + 16u) << 23), inf_nan, o);
  return (uint16_t)(o | sign);
}

static inline float tj_bf16_to_float(uint16_t h) { return tj_i_u2f((uint32_t)h << 16); }

// Round to nearest even; NaN stays NaN (quiet bit set).
static inline uint16_t tj_float_to_bf16(float f) {
  uint32_t x = tj_i_f2u(f);
  uint32_t r = (x + 0x7fffu + ((x >> 16) & 1u)) >> 16;
  uint32_t n = (x >> 16) | 0x40u;
  return (uint16_t)((x & 0x7fffffffu) > 0x7f800000u ? n : r);
}

// ---- checks -----------------------------------------------------------------------
// An out-of-range gather index: the first report of a run wins the cell
// {1, index, api, dim, size, wrap}; the plan runner reads it after the run.
static inline void tj_index_report(int64_t* cell, int64_t index, int64_t api, int64_t dim,
                                   int64_t size, int64_t wrap) {
  int64_t expected = 0;
  if (__atomic_compare_exchange_n(&cell[0], &expected, (int64_t)1, false, __ATOMIC_ACQ_REL,
                                  __ATOMIC_RELAXED)) {
    cell[1] = index;
    cell[2] = api;
    cell[3] = dim;
    cell[4] = size;
    cell[5] = wrap;
  }
}

#endif  // TJ_CPU_MATH_H
