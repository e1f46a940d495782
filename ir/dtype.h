// Element types inside tilejit: conversions between raw storage and the
// f64/i64 values the reference evaluator computes with.
#pragma once

#include <cstdint>
#include <cstring>

#include "tilejit/dtype.h"

namespace tj {

uint16_t float_to_half_bits(float f);
float half_bits_to_float(uint16_t h);
uint16_t float_to_bf16_bits(float f);
float bf16_bits_to_float(uint16_t h);

/// The value `v` takes when stored in dtype `t` (rounded, wrapped or
/// truncated as a cast to `t` would), returned as double.
double round_to_dtype(double v, DType t);

/// Reads element `i` of raw memory of dtype `t` as double / as int64.
double load_as_double(const void* base, int64_t i, DType t);
int64_t load_as_int(const void* base, int64_t i, DType t);
/// Writes `v` converted to `t` at element `i`.
void store_double(void* base, int64_t i, DType t, double v);
void store_int(void* base, int64_t i, DType t, int64_t v);

/// Floating-to-integer conversion as C++ casts do it, but defined for every
/// input: NaN gives 0 and out-of-range values saturate.
int64_t double_to_int64(double v);
/// The same to the range of integer dtype `t` (i32 or i64; bool: v != 0).
int64_t double_to_int(double v, DType t);

}  // namespace tj
