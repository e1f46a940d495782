// Preamble of every generated CUDA translation unit (compiled by NVRTC with
// no headers at all: headers cost NVRTC time, and everything a kernel needs
// fits here). Followed by jit/codegen/kernel_common.h, ir/philox_core.h, then the kernels.
//
// Values of f16/bf16 tensors are loaded and stored as 16-bit patterns and
// computed in f32. Math uses CUDA's libdevice functions (expf, logf, tanhf,
// erff: at most 2 ulp on [-inf, inf] for the ones tilejit calls), never the
// intrinsics (__expf and friends), so results stay within the documented
// bounds of the CPU backend.
//
// Outside NVRTC (tilejit's tests compile these kernels as C++ and run them
// on a CPU emulation of CUDA's thread model), the standard headers and
// portable f16 conversions take the place of NVRTC's builtins.
#if defined(__CUDACC_RTC__)
typedef signed char int8_t;
typedef unsigned char uint8_t;
typedef short int16_t;
typedef unsigned short uint16_t;
typedef int int32_t;
typedef unsigned int uint32_t;
typedef long long int64_t;
typedef unsigned long long uint64_t;
#define INT64_MAX 9223372036854775807LL
#define INT64_MIN (-INT64_MAX - 1LL)
#define INFINITY __int_as_float(0x7f800000)
#define NAN __int_as_float(0x7fffffff)
#else
#include <math.h>
#include <stdint.h>
#endif
// Inline (not static) so that unused helpers draw no warnings.
#define TJ_FN __device__ __forceinline__

// ---- f16 / bf16 ------------------------------------------------------------------
TJ_FN float tj_half_to_float(uint16_t h) {
#if defined(__CUDA_ARCH__)
  float f;
  asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
  return f;
#else
  _Float16 x;
  __builtin_memcpy(&x, &h, 2);
  return (float)x;
#endif
}
// Round to nearest even, overflow to inf; NaN becomes the quiet NaN 0x7e00
// with the sign kept, as on the CPU.
TJ_FN uint16_t tj_float_to_half(float f) {
  if (f != f) return (uint16_t)(0x7e00u | ((__float_as_uint(f) >> 16) & 0x8000u));
  uint16_t h;
#if defined(__CUDA_ARCH__)
  asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
#else
  _Float16 x = (_Float16)f;
  __builtin_memcpy(&h, &x, 2);
#endif
  return h;
}
TJ_FN float tj_bf16_to_float(uint16_t h) { return __uint_as_float((uint32_t)h << 16); }
TJ_FN uint16_t tj_float_to_bf16(float f) {
  uint32_t x = __float_as_uint(f);
  uint32_t n = (x >> 16) | 0x40u;  // NaN: quiet, sign and payload kept, as on the CPU
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  // One instruction (round to nearest even) instead of the integer sequence.
  uint16_t h;
  asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(f));
  return (x & 0x7fffffffu) > 0x7f800000u ? (uint16_t)n : h;
#else
  uint32_t r = (x + 0x7fffu + ((x >> 16) & 1u)) >> 16;
  return (uint16_t)((x & 0x7fffffffu) > 0x7f800000u ? n : r);
#endif
}

// ---- math --------------------------------------------------------------------------
TJ_FN float tj_fabs(float x) { return fabsf(x); }
TJ_FN float tj_exp(float x) { return expf(x); }
TJ_FN float tj_exp2(float x) { return exp2f(x); }
TJ_FN float tj_expm1(float x) { return expm1f(x); }
TJ_FN float tj_log(float x) { return logf(x); }
TJ_FN float tj_log2(float x) { return log2f(x); }
TJ_FN float tj_log1p(float x) { return log1pf(x); }
TJ_FN float tj_sqrt(float x) { return sqrtf(x); }
TJ_FN float tj_rsqrt(float x) { return 1.0f / sqrtf(x); }
TJ_FN float tj_sin(float x) { return sinf(x); }
TJ_FN float tj_cos(float x) { return cosf(x); }
TJ_FN float tj_atan(float x) { return atanf(x); }
TJ_FN float tj_atan2(float y, float x) { return atan2f(y, x); }
TJ_FN float tj_tanh(float x) { return tanhf(x); }
TJ_FN float tj_erf(float x) { return erff(x); }
TJ_FN float tj_floor(float x) { return floorf(x); }
TJ_FN float tj_ceil(float x) { return ceilf(x); }
TJ_FN float tj_round(float x) { return rintf(x); }  // half to even
TJ_FN float tj_pow(float x, float y) { return powf(x, y); }
TJ_FN float tj_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
TJ_FN float tj_silu(float x) { return x / (1.0f + expf(-x)); }
TJ_FN float tj_gelu_erf(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }
TJ_FN float tj_gelu_tanh(float x) {
  return 0.5f * x * (1.0f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
}
// NaN if either is NaN (like torch.maximum); otherwise the larger.
TJ_FN float tj_maximum(float a, float b) { return (a != a || b != b) ? a + b : (a > b ? a : b); }
TJ_FN float tj_minimum(float a, float b) { return (a != a || b != b) ? a + b : (a < b ? a : b); }
// log(exp(a) + exp(b)) (logcumsumexp): NaN if either is; an infinite larger
// one is the result.
TJ_FN float tj_logaddexp(float a, float b) {
  if (a != a || b != b) return a + b;
  const float m = a > b ? a : b, l = a > b ? b : a;
  return m - m != 0.0f ? m : m + log1pf(expf(l - m));  // m infinite: m
}

TJ_FN double tj_fabs_f64(double x) { return fabs(x); }
TJ_FN double tj_exp_f64(double x) { return exp(x); }
TJ_FN double tj_exp2_f64(double x) { return exp2(x); }
TJ_FN double tj_expm1_f64(double x) { return expm1(x); }
TJ_FN double tj_log_f64(double x) { return log(x); }
TJ_FN double tj_log2_f64(double x) { return log2(x); }
TJ_FN double tj_log1p_f64(double x) { return log1p(x); }
TJ_FN double tj_sqrt_f64(double x) { return sqrt(x); }
TJ_FN double tj_rsqrt_f64(double x) { return 1.0 / sqrt(x); }
TJ_FN double tj_sin_f64(double x) { return sin(x); }
TJ_FN double tj_cos_f64(double x) { return cos(x); }
TJ_FN double tj_atan_f64(double x) { return atan(x); }
TJ_FN double tj_atan2_f64(double y, double x) { return atan2(y, x); }
TJ_FN double tj_tanh_f64(double x) { return tanh(x); }
TJ_FN double tj_erf_f64(double x) { return erf(x); }
TJ_FN double tj_floor_f64(double x) { return floor(x); }
TJ_FN double tj_ceil_f64(double x) { return ceil(x); }
TJ_FN double tj_round_f64(double x) { return rint(x); }
TJ_FN double tj_pow_f64(double x, double y) { return pow(x, y); }
TJ_FN double tj_sigmoid_f64(double x) { return 1.0 / (1.0 + exp(-x)); }
TJ_FN double tj_silu_f64(double x) { return x / (1.0 + exp(-x)); }
TJ_FN double tj_gelu_erf_f64(double x) { return 0.5 * x * (1.0 + erf(x * 0.70710678118654752)); }
TJ_FN double tj_gelu_tanh_f64(double x) {
  return 0.5 * x * (1.0 + tanh(0.79788456080286536 * (x + 0.044715 * x * x * x)));
}
TJ_FN double tj_maximum_f64(double a, double b) {
  return (a != a || b != b) ? a + b : (a > b ? a : b);
}
TJ_FN double tj_minimum_f64(double a, double b) {
  return (a != a || b != b) ? a + b : (a < b ? a : b);
}
TJ_FN double tj_logaddexp_f64(double a, double b) {
  if (a != a || b != b) return a + b;
  const double m = a > b ? a : b, l = a > b ? b : a;
  return m - m != 0.0 ? m : m + log1p(exp(l - m));
}

// ---- memory ------------------------------------------------------------------------
// N elements moved by one vector instruction (ld/st.global.v2/v4) when the
// address is aligned to the vector's size; the launcher checks alignment
// and otherwise runs the kernel's scalar variant.
template <typename T, int N>
struct alignas(sizeof(T) * N) tj_vec {
  T v[N];
};

// ---- checks ----------------------------------------------------------------------
// An out-of-range gather index: the first report of a run wins the cell
// {1, index, api, dim, size, wrap}; the plan runner reads it after the run.
TJ_FN void tj_index_report(int64_t* cell, int64_t index, int64_t api, int64_t dim, int64_t size,
                           int64_t wrap) {
  if (atomicCAS((unsigned long long*)cell, 0ull, 1ull) == 0ull) {
    cell[1] = index;
    cell[2] = api;
    cell[3] = dim;
    cell[4] = size;
    cell[5] = wrap;
  }
}

// ---- cross-thread reductions -----------------------------------------------------
// Butterfly over a warp: every lane ends with the result. Combining in a fixed
// order makes every reduction deterministic.
template <typename T>
TJ_FN T tj_shfl(T v, int mask) {
  return __shfl_xor_sync(0xffffffffu, v, mask);
}
TJ_FN bool tj_shfl(bool v, int mask) { return __shfl_xor_sync(0xffffffffu, (int)v, mask) != 0; }
