// Kernel helpers shared by the C++ and CUDA preambles, after the dialect's
// own part (which defines the fixed-width integer types, INT64_MIN/MAX,
// fmod/copysign/floor/sqrt/log/cos, tj_half_to_float and friends, and TJ_FN:
// `TJ_FN` for C++, `static __device__ __forceinline__` for CUDA):
// conversions with defined results for every input and the integer and
// floor-division semantics of the reference evaluator (PyTorch's). The
// Philox generator behind rand/randn follows it (ir/philox_core.h).

TJ_FN int64_t tj_f2i(double x) {
  // NaN → 0, out of range saturates (a C++ cast would be undefined).
  return x != x                        ? 0
         : x >= 9.2233720368547758e18  ? INT64_MAX
         : x <= -9.2233720368547758e18 ? INT64_MIN
                                       : (int64_t)x;
}
TJ_FN int64_t tj_f2i32(double x) {
  return x != x               ? 0
         : x >= 2147483647.0  ? 2147483647
         : x <= -2147483648.0 ? -2147483648LL
                              : (int64_t)(int32_t)x;
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

// Sorts the positions 0..n-1 of a line into o[0], o[os], ... (sort kernels):
// a heap sort under `before`, a strict total order (sort_line breaks ties by
// position, so the result is the stable order), in place and without memory
// of its own.
template <class Before>
TJ_FN void tj_sort_line(int64_t* o, int64_t os, int64_t n, Before before) {
  for (int64_t j = 0; j < n; ++j) o[j * os] = j;
  auto sift = [&](int64_t root, int64_t end) {
    for (;;) {
      int64_t child = 2 * root + 1;
      if (child >= end) return;
      if (child + 1 < end && before(o[child * os], o[(child + 1) * os])) ++child;
      if (!before(o[root * os], o[child * os])) return;
      const int64_t t = o[root * os];
      o[root * os] = o[child * os];
      o[child * os] = t;
      root = child;
    }
  };
  for (int64_t start = n / 2; start-- > 0;) sift(start, n);
  for (int64_t end = n - 1; end > 0; --end) {
    const int64_t t = o[0];
    o[0] = o[end * os];
    o[end * os] = t;
    sift(0, end);
  }
}
