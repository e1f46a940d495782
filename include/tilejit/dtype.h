// tilejit — element types.
#pragma once

#include <cstdint>
#include <cstring>
#include <iosfwd>
#include <string_view>

namespace tj {

enum class DType : uint8_t { f32, f16, bf16, f64, i32, i64, bool_ };

inline constexpr DType f32 = DType::f32;
inline constexpr DType f16 = DType::f16;
inline constexpr DType bf16 = DType::bf16;
inline constexpr DType f64 = DType::f64;
inline constexpr DType i32 = DType::i32;
inline constexpr DType i64 = DType::i64;
inline constexpr DType bool_ = DType::bool_;

inline constexpr int kNumDTypes = 7;

/// "f32", "f16", ... as used in messages and printing.
std::string_view dtype_name(DType t);
/// Size of one element in bytes.
int64_t dtype_size(DType t);
bool is_floating(DType t);
bool is_integral(DType t);  // i32, i64 (not bool)
std::ostream& operator<<(std::ostream& os, DType t);

/// The dtype both operands are converted to, following PyTorch's table
/// (bool < i32 < i64 < f16/bf16 < f32 < f64; f16 with bf16 gives f32).
DType promote_types(DType a, DType b);

/// IEEE half precision, stored as its 16 bits. Arithmetic goes through float.
struct half {
  uint16_t bits = 0;
  half() = default;
  half(float f);           // NOLINT: implicit like a builtin floating type
  operator float() const;  // NOLINT
  static half from_bits(uint16_t b) {
    half h;
    h.bits = b;
    return h;
  }
};

/// bfloat16 (the top 16 bits of a float), stored as its 16 bits.
struct bfloat16 {
  uint16_t bits = 0;
  bfloat16() = default;
  bfloat16(float f);       // NOLINT
  operator float() const;  // NOLINT
  static bfloat16 from_bits(uint16_t b) {
    bfloat16 h;
    h.bits = b;
    return h;
  }
};

/// The dtype that stores a C++ element type: float → f32, half → f16, ...
template <class T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
  return DType::f32;
}
template <>
constexpr DType dtype_of<double>() {
  return DType::f64;
}
template <>
constexpr DType dtype_of<half>() {
  return DType::f16;
}
template <>
constexpr DType dtype_of<bfloat16>() {
  return DType::bf16;
}
template <>
constexpr DType dtype_of<int32_t>() {
  return DType::i32;
}
template <>
constexpr DType dtype_of<int64_t>() {
  return DType::i64;
}
template <>
constexpr DType dtype_of<bool>() {
  return DType::bool_;
}

}  // namespace tj
