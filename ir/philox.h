// Philox4x32-10, the counter-based random generator behind rand/randn.
//
// Element i of a random tensor is a pure function of (seed, offset + i), so
// every backend, any tiling and any fusion produce the same stream. The CUDA
// and C++ kernel preambles implement exactly these functions.
#pragma once

#include <cmath>
#include <cstdint>

#include "tilejit/dtype.h"

namespace tj::philox {

struct Out {
  uint32_t x[4];
};

inline Out philox4x32_10(uint64_t counter, uint64_t seed) {
  uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32);
  uint32_t c2 = 0, c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    uint64_t p0 = static_cast<uint64_t>(0xD2511F53u) * c0;
    uint64_t p1 = static_cast<uint64_t>(0xCD9E8D57u) * c2;
    uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {{c0, c1, c2, c3}};
}

/// Uniform in [0, 1) with as many random bits as `t`'s mantissa holds, so
/// the value never rounds up to 1 when stored in `t`.
inline double uniform(uint64_t counter, uint64_t seed, DType t) {
  Out o = philox4x32_10(counter, seed);
  switch (t) {
    case DType::f64: {
      uint64_t bits = (static_cast<uint64_t>(o.x[0]) << 21) ^ (o.x[1] >> 11);
      return static_cast<double>(bits & ((1ull << 53) - 1)) * 0x1p-53;
    }
    case DType::f16:
      return static_cast<double>(o.x[0] >> 21) * 0x1p-11;
    case DType::bf16:
      return static_cast<double>(o.x[0] >> 24) * 0x1p-8;
    default:
      return static_cast<double>(o.x[0] >> 8) * 0x1p-24;
  }
}

/// Standard normal by Box-Muller from the first two words.
inline double normal(uint64_t counter, uint64_t seed) {
  Out o = philox4x32_10(counter, seed);
  double u1 = (static_cast<double>(o.x[0]) + 1.0) * 0x1p-32;  // (0, 1]
  double u2 = static_cast<double>(o.x[1]) * 0x1p-32;          // [0, 1)
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

}  // namespace tj::philox
