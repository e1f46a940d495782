// The random numbers behind rand/randn for the reference evaluator: the
// kernels' own Philox (ir/philox_core.h), compiled here as C++.
#pragma once

#include <cmath>
#include <cstdint>

#include "tilejit/dtype.h"

namespace tj::philox {

namespace core {
using std::cos;
using std::log;
using std::sqrt;
#pragma push_macro("TJ_FN")
#undef TJ_FN
#define TJ_FN inline
#include "ir/philox_core.h"
#undef TJ_FN
#pragma pop_macro("TJ_FN")
}  // namespace core

struct Out {
  uint32_t x[4];
};

inline Out philox4x32_10(uint64_t counter, uint64_t seed) {
  Out o;
  core::tj_philox(counter, seed, o.x);
  return o;
}

/// Uniform in [0, 1) as stored in dtype `t` (exact in `t`).
inline double uniform(uint64_t counter, uint64_t seed, DType t) {
  switch (t) {
    case DType::f64:
      return core::tj_rand_uniform_f64(counter, seed);
    case DType::f16:
      return core::tj_rand_uniform_f16(counter, seed);
    case DType::bf16:
      return core::tj_rand_uniform_bf16(counter, seed);
    case DType::f32:
    case DType::i32:
    case DType::i64:
    case DType::bool_:
      break;
  }
  return core::tj_rand_uniform_f32(counter, seed);
}

/// Standard normal (Box-Muller in double).
inline double normal(uint64_t counter, uint64_t seed) {
  return core::tj_rand_normal(counter, seed);
}

}  // namespace tj::philox
