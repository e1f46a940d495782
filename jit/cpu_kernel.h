// Helpers for generated CPU kernels, after cpu_math.h in every translation
// unit: conversions with defined results for every input, and the integer
// and floor-division semantics of the reference evaluator (PyTorch's).
#include <cmath>
#include <cstdint>

static inline int64_t tj_f2i(double x) {
  // NaN → 0, out of range saturates (a C++ cast would be undefined).
  return x != x                        ? 0
         : x >= 9.2233720368547758e18  ? INT64_MAX
         : x <= -9.2233720368547758e18 ? INT64_MIN
                                       : (int64_t)x;
}
static inline int64_t tj_wrap32(int64_t x) { return (int64_t)(int32_t)(uint32_t)(uint64_t)x; }
static inline float tj_round_f16(float x) { return tj_half_to_float(tj_float_to_half(x)); }
static inline float tj_round_bf16(float x) { return tj_bf16_to_float(tj_float_to_bf16(x)); }

static inline double tj_floordiv_f64(double a, double b) {
  if (b == 0) return a / b;
  double mod = std::fmod(a, b);
  double q = (a - mod) / b;
  if (mod != 0 && ((b < 0) != (mod < 0))) q -= 1.0;
  if (q == 0) return std::copysign(0.0, a / b);
  double fq = std::floor(q);
  return q - fq > 0.5 ? fq + 1.0 : fq;
}
static inline float tj_floordiv(float a, float b) { return (float)tj_floordiv_f64(a, b); }
static inline double tj_remainder_f64(double a, double b) {
  double r = std::fmod(a, b);
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}
static inline float tj_remainder(float a, float b) { return (float)tj_remainder_f64(a, b); }
static inline int64_t tj_floordiv_i(int64_t a, int64_t b) {
  if (b == 0) return 0;  // cannot raise inside a kernel
  if (b == -1) return (int64_t)(0ull - (uint64_t)a);
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}
static inline int64_t tj_remainder_i(int64_t a, int64_t b) {
  if (b == 0 || b == -1) return 0;
  int64_t r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}
static inline int64_t tj_pow_i(int64_t a, int64_t b) {
  if (b < 0) return a == 1 ? 1 : (a == -1 ? ((b % 2) ? -1 : 1) : 0);
  uint64_t r = 1, base = (uint64_t)a;
  while (b) {
    if (b & 1) r *= base;
    base *= base;
    b >>= 1;
  }
  return (int64_t)r;
}
