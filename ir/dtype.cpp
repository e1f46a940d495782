#include "ir/dtype.h"

#include <cmath>
#include <limits>
#include <ostream>

#include "ir/check.h"

namespace tj {

std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::f32:
      return "f32";
    case DType::f16:
      return "f16";
    case DType::bf16:
      return "bf16";
    case DType::f64:
      return "f64";
    case DType::i32:
      return "i32";
    case DType::i64:
      return "i64";
    case DType::bool_:
      return "bool";
  }
  return "?";
}

int64_t dtype_size(DType t) {
  switch (t) {
    case DType::f32:
      return 4;
    case DType::f16:
      return 2;
    case DType::bf16:
      return 2;
    case DType::f64:
      return 8;
    case DType::i32:
      return 4;
    case DType::i64:
      return 8;
    case DType::bool_:
      return 1;
  }
  return 0;
}

bool is_floating(DType t) {
  return t == DType::f32 || t == DType::f16 || t == DType::bf16 || t == DType::f64;
}
bool is_integral(DType t) { return t == DType::i32 || t == DType::i64; }

std::ostream& operator<<(std::ostream& os, DType t) { return os << dtype_name(t); }

namespace {
int rank_of(DType t) {
  switch (t) {
    case DType::bool_:
      return 0;
    case DType::i32:
      return 1;
    case DType::i64:
      return 2;
    case DType::f16:
      return 3;
    case DType::bf16:
      return 3;
    case DType::f32:
      return 4;
    case DType::f64:
      return 5;
  }
  return 0;
}
}  // namespace

DType promote_types(DType a, DType b) {
  if (a == b) return a;
  if ((a == DType::f16 && b == DType::bf16) || (a == DType::bf16 && b == DType::f16))
    return DType::f32;
  return rank_of(a) >= rank_of(b) ? a : b;
}

// ---- half / bfloat16 --------------------------------------------------------

uint16_t float_to_half_bits(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u) {  // inf or NaN
    return static_cast<uint16_t>(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0u));
  }
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to inf
  if (abs < 0x38800000u) {                                               // subnormal half (or zero)
    // Shift the float (with implicit bit) into half subnormal position.
    if (abs < 0x33000000u) return static_cast<uint16_t>(sign);  // < 2^-25: rounds to 0
    uint32_t exp = abs >> 23;
    uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - exp;  // value = r * 2^-24 for a half subnormal
    uint32_t r = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1);
    uint32_t half_way = 1u << (shift - 1);
    if (rem > half_way || (rem == half_way && (r & 1u))) ++r;
    return static_cast<uint16_t>(sign | r);
  }
  // normal: rebias exponent, round mantissa to 10 bits (nearest even)
  uint32_t r = abs - 0x38000000u;  // exponent 127 -> 15
  uint32_t rem = r & 0x1fffu;
  r >>= 13;
  if (rem > 0x1000u || (rem == 0x1000u && (r & 1u))) ++r;
  return static_cast<uint16_t>(sign | r);
}

float half_bits_to_float(uint16_t h) {
  uint32_t sign = (static_cast<uint32_t>(h) & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t x;
  if (exp == 0) {
    if (mant == 0) {
      x = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while (!(mant & 0x400u));
      x = sign | ((127 - 15 - e) << 23) | ((mant & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    x = sign | 0x7f800000u | (mant << 13);
  } else {
    x = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

uint16_t float_to_bf16_bits(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // NaN
  uint32_t lsb = (x >> 16) & 1u;
  x += 0x7fffu + lsb;
  return static_cast<uint16_t>(x >> 16);
}

float bf16_bits_to_float(uint16_t h) {
  uint32_t x = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

half::half(float f) : bits(float_to_half_bits(f)) {}
half::operator float() const { return half_bits_to_float(bits); }
bfloat16::bfloat16(float f) : bits(float_to_bf16_bits(f)) {}
bfloat16::operator float() const { return bf16_bits_to_float(bits); }

// ---- conversions used by the evaluator ----------------------------------------

int64_t double_to_int64(double v) {
  if (std::isnan(v)) return 0;
  if (v >= 9.2233720368547758e18) return std::numeric_limits<int64_t>::max();
  if (v <= -9.2233720368547758e18) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(v);
}

int64_t double_to_int(double v, DType t) {
  switch (t) {
    case DType::i32:
      if (std::isnan(v)) return 0;
      return v >= 2147483647.0    ? 2147483647
             : v <= -2147483648.0 ? -2147483648
                                  : static_cast<int64_t>(v);
    case DType::bool_:
      return v != 0;
    case DType::i64:
    case DType::f32:
    case DType::f16:
    case DType::bf16:
    case DType::f64:
      break;
  }
  return double_to_int64(v);
}

double round_to_dtype(double v, DType t) {
  switch (t) {
    case DType::f64:
      return v;
    case DType::f32:
      return static_cast<double>(static_cast<float>(v));
    case DType::f16:
      return half_bits_to_float(float_to_half_bits(static_cast<float>(v)));
    case DType::bf16:
      return bf16_bits_to_float(float_to_bf16_bits(static_cast<float>(v)));
    case DType::i32:
      return static_cast<double>(double_to_int(v, DType::i32));
    case DType::i64:
      return static_cast<double>(double_to_int64(v));
    case DType::bool_:
      return v != 0 ? 1.0 : 0.0;
  }
  return v;
}

double load_as_double(const void* base, int64_t i, DType t) {
  switch (t) {
    case DType::f32:
      return static_cast<const float*>(base)[i];
    case DType::f64:
      return static_cast<const double*>(base)[i];
    case DType::f16:
      return half_bits_to_float(static_cast<const uint16_t*>(base)[i]);
    case DType::bf16:
      return bf16_bits_to_float(static_cast<const uint16_t*>(base)[i]);
    case DType::i32:
      return static_cast<const int32_t*>(base)[i];
    case DType::i64:
      return static_cast<double>(static_cast<const int64_t*>(base)[i]);
    case DType::bool_:
      return static_cast<const uint8_t*>(base)[i] ? 1.0 : 0.0;
  }
  return 0;
}

int64_t load_as_int(const void* base, int64_t i, DType t) {
  switch (t) {
    case DType::i32:
      return static_cast<const int32_t*>(base)[i];
    case DType::i64:
      return static_cast<const int64_t*>(base)[i];
    case DType::bool_:
      return static_cast<const uint8_t*>(base)[i] ? 1 : 0;
    case DType::f32:
    case DType::f64:
    case DType::f16:
    case DType::bf16:
      return double_to_int64(load_as_double(base, i, t));
  }
  return 0;
}

void store_double(void* base, int64_t i, DType t, double v) {
  switch (t) {
    case DType::f32:
      static_cast<float*>(base)[i] = static_cast<float>(v);
      return;
    case DType::f64:
      static_cast<double*>(base)[i] = v;
      return;
    case DType::f16:
      static_cast<uint16_t*>(base)[i] = float_to_half_bits(static_cast<float>(v));
      return;
    case DType::bf16:
      static_cast<uint16_t*>(base)[i] = float_to_bf16_bits(static_cast<float>(v));
      return;
    case DType::i32:
      static_cast<int32_t*>(base)[i] = static_cast<int32_t>(double_to_int(v, DType::i32));
      return;
    case DType::i64:
      static_cast<int64_t*>(base)[i] = double_to_int64(v);
      return;
    case DType::bool_:
      static_cast<uint8_t*>(base)[i] = v != 0 ? 1 : 0;
      return;
  }
}

void store_int(void* base, int64_t i, DType t, int64_t v) {
  switch (t) {
    case DType::i32:
      static_cast<int32_t*>(base)[i] = static_cast<int32_t>(v);
      return;
    case DType::i64:
      static_cast<int64_t*>(base)[i] = v;
      return;
    case DType::bool_:
      static_cast<uint8_t*>(base)[i] = v != 0 ? 1 : 0;
      return;
    case DType::f32:
    case DType::f64:
    case DType::f16:
    case DType::bf16:
      store_double(base, i, t, static_cast<double>(v));
      return;
  }
}

}  // namespace tj
