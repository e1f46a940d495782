// Kernel helpers shared by the C++ and CUDA preambles, after the dialect's
// own part (which defines the fixed-width integer types, INT64_MIN/MAX,
// fmod/copysign/floor/sqrt/log/cos, tj_half_to_float and friends, and TJ_FN:
// `TJ_FN` for C++, `static __device__ __forceinline__` for CUDA):
// conversions with defined results for every input, the integer and
// floor-division semantics of the reference evaluator (PyTorch's), and the
// Philox generator behind rand/randn, bit-identical to ir/philox.h.

TJ_FN int64_t tj_f2i(double x) {
  // NaN → 0, out of range saturates (a C++ cast would be undefined).
  return x != x                        ? 0
         : x >= 9.2233720368547758e18  ? INT64_MAX
         : x <= -9.2233720368547758e18 ? INT64_MIN
                                       : (int64_t)x;
}
TJ_FN int64_t tj_wrap32(int64_t x) { return (int64_t)(int32_t)(uint32_t)(uint64_t)x; }
TJ_FN float tj_round_f16(float x) { return tj_half_to_float(tj_float_to_half(x)); }
TJ_FN float tj_round_bf16(float x) { return tj_bf16_to_float(tj_float_to_bf16(x)); }

TJ_FN double tj_floordiv_f64(double a, double b) {
  if (b == 0) return a / b;
  double mod = fmod(a, b);
  double q = (a - mod) / b;
  if (mod != 0 && ((b < 0) != (mod < 0))) q -= 1.0;
  if (q == 0) return copysign(0.0, a / b);
  double fq = floor(q);
  return q - fq > 0.5 ? fq + 1.0 : fq;
}
TJ_FN float tj_floordiv(float a, float b) { return (float)tj_floordiv_f64(a, b); }
TJ_FN double tj_remainder_f64(double a, double b) {
  double r = fmod(a, b);
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}
TJ_FN float tj_remainder(float a, float b) { return (float)tj_remainder_f64(a, b); }
TJ_FN int64_t tj_floordiv_i(int64_t a, int64_t b) {
  if (b == 0) return 0;  // cannot raise inside a kernel
  if (b == -1) return (int64_t)(0ull - (uint64_t)a);
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}
TJ_FN int64_t tj_remainder_i(int64_t a, int64_t b) {
  if (b == 0 || b == -1) return 0;
  int64_t r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}
TJ_FN int64_t tj_pow_i(int64_t a, int64_t b) {
  if (b < 0) return a == 1 ? 1 : (a == -1 ? ((b % 2) ? -1 : 1) : 0);
  uint64_t r = 1, base = (uint64_t)a;
  while (b) {
    if (b & 1) r *= base;
    base *= base;
    b >>= 1;
  }
  return (int64_t)r;
}

// ---- Philox4x32-10 (bit-identical to ir/philox.h) ------------------------------

TJ_FN void tj_philox(uint64_t counter, uint64_t seed, uint32_t out[4]) {
  uint32_t c0 = (uint32_t)counter, c1 = (uint32_t)(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    uint64_t p0 = (uint64_t)0xD2511F53u * c0;
    uint64_t p1 = (uint64_t)0xCD9E8D57u * c2;
    uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
    uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

// Uniform in [0, 1) with as many random bits as the output dtype's mantissa.
TJ_FN float tj_rand_uniform_f32(uint64_t counter, uint64_t seed) {
  uint32_t o[4];
  tj_philox(counter, seed, o);
  return (float)(int32_t)(o[0] >> 8) * 0x1p-24f;
}
TJ_FN float tj_rand_uniform_f16(uint64_t counter, uint64_t seed) {
  uint32_t o[4];
  tj_philox(counter, seed, o);
  return (float)(int32_t)(o[0] >> 21) * 0x1p-11f;
}
TJ_FN float tj_rand_uniform_bf16(uint64_t counter, uint64_t seed) {
  uint32_t o[4];
  tj_philox(counter, seed, o);
  return (float)(int32_t)(o[0] >> 24) * 0x1p-8f;
}
TJ_FN double tj_rand_uniform_f64(uint64_t counter, uint64_t seed) {
  uint32_t o[4];
  tj_philox(counter, seed, o);
  uint64_t bits = ((uint64_t)o[0] << 21) ^ (o[1] >> 11);
  return (double)(int64_t)(bits & ((1ull << 53) - 1)) * 0x1p-53;
}
// Standard normal by Box-Muller in double, exactly as ir/philox.h computes it.
TJ_FN double tj_rand_normal(uint64_t counter, uint64_t seed) {
  uint32_t o[4];
  tj_philox(counter, seed, o);
  double u1 = ((double)o[0] + 1.0) * 0x1p-32;  // (0, 1]
  double u2 = (double)o[1] * 0x1p-32;          // [0, 1)
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

