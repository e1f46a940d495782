// Tests of tj::half, tj::bfloat16, dtype metadata, promote_types and the
// rounding of f16/bf16 tensors.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.h"

namespace {

using tj::testing::all_close;

float float_from_bits(uint32_t b) {
  float f;
  std::memcpy(&f, &b, sizeof f);
  return f;
}

uint32_t bits_of(float f) {
  uint32_t b;
  std::memcpy(&b, &f, sizeof b);
  return b;
}

/// Reference decoder for IEEE half, written independently of the library.
double ref_half_to_double(uint16_t h) {
  int sign = (h >> 15) & 1;
  int exp = (h >> 10) & 0x1F;
  int man = h & 0x3FF;
  double v;
  if (exp == 0) {
    v = std::ldexp(static_cast<double>(man), -24);
  } else if (exp == 31) {
    v = man == 0 ? std::numeric_limits<double>::infinity()
                 : std::numeric_limits<double>::quiet_NaN();
  } else {
    v = std::ldexp(static_cast<double>(man | 0x400), exp - 25);
  }
  return sign ? -v : v;
}

bool half_is_nan(uint16_t b) { return (b & 0x7C00) == 0x7C00 && (b & 0x03FF) != 0; }
bool bf16_is_nan(uint16_t b) { return (b & 0x7F80) == 0x7F80 && (b & 0x007F) != 0; }

// ---- half: float -> half --------------------------------------------------

struct HalfCase {
  float value;
  uint16_t bits;
};

TEST(Half, KnownBitPatterns) {
  const HalfCase cases[] = {
      {0.0f, 0x0000},
      {-0.0f, 0x8000},
      {1.0f, 0x3C00},
      {-1.0f, 0xBC00},
      {-2.0f, 0xC000},
      {0.5f, 0x3800},
      {2.0f, 0x4000},
      {0.1f, 0x2E66},
      {1.0f / 3.0f, 0x3555},
      {3.14159f, 0x4248},
      {1000.7f, 0x63D1},
      {65504.0f, 0x7BFF},         // largest finite half
      {0x1p-14f, 0x0400},         // smallest normal
      {0x1p-24f, 0x0001},         // smallest subnormal
      {1023 * 0x1p-24f, 0x03FF},  // largest subnormal
      {1e-5f, 0x00A8},            // subnormal, rounded
  };
  for (const auto& c : cases) {
    EXPECT_EQ(tj::half(c.value).bits, c.bits) << "value " << c.value;
  }
}

TEST(Half, RoundsToNearestEven) {
  // 1 + 2^-11 lies exactly between 1.0 (0x3C00, even) and 1 + 2^-10 (0x3C01).
  EXPECT_EQ(tj::half(1.0f + 0x1p-11f).bits, 0x3C00);
  // 1 + 3*2^-11 lies between 0x3C01 and 0x3C02 (even): rounds up.
  EXPECT_EQ(tj::half(1.0f + 3 * 0x1p-11f).bits, 0x3C02);
  // Just above a tie rounds up, just below rounds down.
  EXPECT_EQ(tj::half(1.0f + 0x1p-11f + 0x1p-20f).bits, 0x3C01);
  EXPECT_EQ(tj::half(1.0f + 0x1p-11f - 0x1p-20f).bits, 0x3C00);
  // Negative values round symmetrically.
  EXPECT_EQ(tj::half(-(1.0f + 0x1p-11f)).bits, 0xBC00);
  EXPECT_EQ(tj::half(-(1.0f + 3 * 0x1p-11f)).bits, 0xBC02);
  // Ties between integers in the 2048..4096 range (ulp 2).
  EXPECT_EQ(static_cast<float>(tj::half(2049.0f)), 2048.0f);
  EXPECT_EQ(static_cast<float>(tj::half(2051.0f)), 2052.0f);
}

TEST(Half, EveryMidpointRoundsToEven) {
  // For every pair of adjacent positive finite halves, the exact midpoint
  // goes to the even one and its float neighbours go to the nearer one.
  for (uint32_t b = 0; b < 0x7BFF; ++b) {
    double lo = ref_half_to_double(static_cast<uint16_t>(b));
    double hi = ref_half_to_double(static_cast<uint16_t>(b + 1));
    float mid = static_cast<float>((lo + hi) / 2);  // exact in float
    ASSERT_EQ(static_cast<double>(mid), (lo + hi) / 2);
    uint16_t even = (b % 2 == 0) ? b : b + 1;
    ASSERT_EQ(tj::half(mid).bits, even) << "midpoint above 0x" << std::hex << b;
    ASSERT_EQ(tj::half(std::nextafter(mid, 1e9f)).bits, b + 1) << std::hex << b;
    ASSERT_EQ(tj::half(std::nextafter(mid, 0.0f)).bits, b) << std::hex << b;
    ASSERT_EQ(tj::half(-mid).bits, even | 0x8000) << std::hex << b;
  }
}

TEST(Half, SubnormalRounding) {
  // 2^-25 is halfway between 0 and the smallest subnormal: ties to even (0).
  EXPECT_EQ(tj::half(0x1p-25f).bits, 0x0000);
  EXPECT_EQ(tj::half(-0x1p-25f).bits, 0x8000);
  // Slightly above 2^-25 rounds up to the smallest subnormal.
  EXPECT_EQ(tj::half(0x1.01p-25f).bits, 0x0001);
  // 1.5 * 2^-24 is halfway between subnormals 1 and 2: ties to even (2).
  EXPECT_EQ(tj::half(1.5f * 0x1p-24f).bits, 0x0002);
  // 2.5 * 2^-24: halfway between 2 and 3 -> 2.
  EXPECT_EQ(tj::half(2.5f * 0x1p-24f).bits, 0x0002);
  // Far below the smallest subnormal flushes to (signed) zero.
  EXPECT_EQ(tj::half(1e-10f).bits, 0x0000);
  EXPECT_EQ(tj::half(-1e-10f).bits, 0x8000);
  EXPECT_EQ(tj::half(std::numeric_limits<float>::denorm_min()).bits, 0x0000);
  // The largest subnormal rounds up into the smallest normal at its tie.
  EXPECT_EQ(tj::half(1023.5f * 0x1p-24f).bits, 0x0400);
}

TEST(Half, OverflowsToInfinity) {
  // 65520 is the midpoint between 65504 and 65536 (out of range): rounds to
  // even, which is the overflow, so it becomes inf.
  EXPECT_EQ(tj::half(65520.0f).bits, 0x7C00);
  EXPECT_EQ(tj::half(-65520.0f).bits, 0xFC00);
  EXPECT_EQ(tj::half(std::nextafter(65520.0f, 0.0f)).bits, 0x7BFF);
  EXPECT_EQ(tj::half(65519.0f).bits, 0x7BFF);
  EXPECT_EQ(tj::half(1e6f).bits, 0x7C00);
  EXPECT_EQ(tj::half(-1e6f).bits, 0xFC00);
  EXPECT_EQ(tj::half(std::numeric_limits<float>::max()).bits, 0x7C00);
  EXPECT_EQ(tj::half(std::numeric_limits<float>::infinity()).bits, 0x7C00);
  EXPECT_EQ(tj::half(-std::numeric_limits<float>::infinity()).bits, 0xFC00);
}

TEST(Half, NaNStaysNaN) {
  EXPECT_TRUE(half_is_nan(tj::half(std::numeric_limits<float>::quiet_NaN()).bits));
  EXPECT_TRUE(half_is_nan(tj::half(-std::numeric_limits<float>::quiet_NaN()).bits));
  // A NaN whose payload lives only in the low float mantissa bits must not
  // be truncated into an infinity.
  EXPECT_TRUE(half_is_nan(tj::half(float_from_bits(0x7F800001u)).bits));
  EXPECT_TRUE(half_is_nan(tj::half(float_from_bits(0x7F801000u)).bits));
  EXPECT_TRUE(std::isnan(static_cast<float>(tj::half(std::nanf("")))));
}

// ---- half: half -> float --------------------------------------------------

TEST(Half, ToFloatKnownValues) {
  EXPECT_EQ(static_cast<float>(tj::half::from_bits(0x3C00)), 1.0f);
  EXPECT_EQ(static_cast<float>(tj::half::from_bits(0xC000)), -2.0f);
  EXPECT_EQ(static_cast<float>(tj::half::from_bits(0x7BFF)), 65504.0f);
  EXPECT_EQ(static_cast<float>(tj::half::from_bits(0x0001)), 0x1p-24f);
  EXPECT_EQ(static_cast<float>(tj::half::from_bits(0x03FF)), 1023 * 0x1p-24f);
  EXPECT_EQ(static_cast<float>(tj::half::from_bits(0x0400)), 0x1p-14f);
  EXPECT_EQ(static_cast<float>(tj::half::from_bits(0x3555)), 0.333251953125f);
  EXPECT_EQ(static_cast<float>(tj::half::from_bits(0x7C00)),
            std::numeric_limits<float>::infinity());
  EXPECT_EQ(static_cast<float>(tj::half::from_bits(0xFC00)),
            -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(static_cast<float>(tj::half::from_bits(0x7E00))));
  EXPECT_TRUE(std::isnan(static_cast<float>(tj::half::from_bits(0x7C01))));
  EXPECT_TRUE(std::isnan(static_cast<float>(tj::half::from_bits(0xFE00))));
  float negzero = tj::half::from_bits(0x8000);
  EXPECT_EQ(negzero, 0.0f);
  EXPECT_TRUE(std::signbit(negzero));
}

TEST(Half, AllBitPatternsDecodeAndRoundTrip) {
  for (uint32_t b = 0; b <= 0xFFFF; ++b) {
    auto h = tj::half::from_bits(static_cast<uint16_t>(b));
    float f = h;
    double want = ref_half_to_double(static_cast<uint16_t>(b));
    if (std::isnan(want)) {
      ASSERT_TRUE(std::isnan(f)) << std::hex << b;
      ASSERT_TRUE(half_is_nan(tj::half(f).bits)) << std::hex << b;
      continue;
    }
    ASSERT_EQ(static_cast<double>(f), want) << std::hex << b;
    ASSERT_EQ(std::signbit(f), (b & 0x8000) != 0) << std::hex << b;
    ASSERT_EQ(tj::half(f).bits, b) << std::hex << b;
  }
}

// ---- bfloat16 -------------------------------------------------------------

TEST(BFloat16, KnownBitPatterns) {
  EXPECT_EQ(tj::bfloat16(1.0f).bits, 0x3F80);
  EXPECT_EQ(tj::bfloat16(-1.0f).bits, 0xBF80);
  EXPECT_EQ(tj::bfloat16(0.0f).bits, 0x0000);
  EXPECT_EQ(tj::bfloat16(-0.0f).bits, 0x8000);
  EXPECT_EQ(tj::bfloat16(-2.5f).bits, 0xC020);
  EXPECT_EQ(tj::bfloat16(0.1f).bits, 0x3DCD);         // 0x3DCCCCCD rounds up
  EXPECT_EQ(tj::bfloat16(1.0f / 3.0f).bits, 0x3EAB);  // 0x3EAAAAAB rounds up
  EXPECT_EQ(tj::bfloat16(3.14159f).bits, 0x4049);     // 0x40490FD0 rounds down
  EXPECT_EQ(tj::bfloat16(1e30f).bits, 0x714A);        // 0x7149F2CA rounds up
  EXPECT_EQ(tj::bfloat16(65504.0f).bits, 0x4780);     // 65536 after rounding
}

TEST(BFloat16, RoundsToNearestEven) {
  EXPECT_EQ(tj::bfloat16(float_from_bits(0x3F808000u)).bits, 0x3F80);  // tie -> even
  EXPECT_EQ(tj::bfloat16(float_from_bits(0x3F818000u)).bits, 0x3F82);  // tie -> even
  EXPECT_EQ(tj::bfloat16(float_from_bits(0x3F808001u)).bits, 0x3F81);  // above tie
  EXPECT_EQ(tj::bfloat16(float_from_bits(0x3F807FFFu)).bits, 0x3F80);  // below tie
  EXPECT_EQ(tj::bfloat16(float_from_bits(0xBF818000u)).bits, 0xBF82);
  // Rounding carries into the exponent.
  EXPECT_EQ(tj::bfloat16(float_from_bits(0x3FFFFFFFu)).bits, 0x4000);
  // Sweep: every tie in a range of exponents goes to the even neighbour.
  for (uint32_t hi = 0x0080; hi < 0x7F7F; hi += 0x0101) {
    uint32_t tie = (hi << 16) | 0x8000u;
    uint16_t even = (hi % 2 == 0) ? hi : hi + 1;
    ASSERT_EQ(tj::bfloat16(float_from_bits(tie)).bits, even) << std::hex << tie;
    ASSERT_EQ(tj::bfloat16(float_from_bits(tie + 1)).bits, hi + 1) << std::hex << tie;
    ASSERT_EQ(tj::bfloat16(float_from_bits(tie - 1)).bits, hi) << std::hex << tie;
  }
}

TEST(BFloat16, OverflowAndInfinity) {
  // FLT_MAX is above the largest bf16 by more than half an ulp: inf.
  EXPECT_EQ(tj::bfloat16(std::numeric_limits<float>::max()).bits, 0x7F80);
  EXPECT_EQ(tj::bfloat16(-std::numeric_limits<float>::max()).bits, 0xFF80);
  EXPECT_EQ(tj::bfloat16(float_from_bits(0x7F7F7FFFu)).bits, 0x7F7F);
  EXPECT_EQ(tj::bfloat16(std::numeric_limits<float>::infinity()).bits, 0x7F80);
  EXPECT_EQ(tj::bfloat16(-std::numeric_limits<float>::infinity()).bits, 0xFF80);
}

TEST(BFloat16, SubnormalsAndNaN) {
  EXPECT_EQ(tj::bfloat16(float_from_bits(0x00012345u)).bits, 0x0001);
  EXPECT_EQ(tj::bfloat16(float_from_bits(0x00018000u)).bits, 0x0002);  // tie -> even
  EXPECT_EQ(tj::bfloat16(float_from_bits(0x00008000u)).bits, 0x0000);  // tie -> even (0)
  EXPECT_EQ(tj::bfloat16(float_from_bits(0x00008001u)).bits, 0x0001);
  EXPECT_TRUE(bf16_is_nan(tj::bfloat16(std::numeric_limits<float>::quiet_NaN()).bits));
  // NaN payloads only in the low 16 bits: plain rounding would produce inf.
  EXPECT_TRUE(bf16_is_nan(tj::bfloat16(float_from_bits(0x7F800001u)).bits));
  EXPECT_TRUE(bf16_is_nan(tj::bfloat16(float_from_bits(0x7F80FFFFu)).bits));
  EXPECT_TRUE(bf16_is_nan(tj::bfloat16(float_from_bits(0xFF800001u)).bits));
  // A NaN with all mantissa bits set must not carry into the sign bit.
  EXPECT_TRUE(bf16_is_nan(tj::bfloat16(float_from_bits(0x7FFFFFFFu)).bits));
  EXPECT_EQ(tj::bfloat16(float_from_bits(0x7FFFFFFFu)).bits & 0x8000, 0);
}

TEST(BFloat16, AllBitPatternsDecodeAndRoundTrip) {
  for (uint32_t b = 0; b <= 0xFFFF; ++b) {
    auto h = tj::bfloat16::from_bits(static_cast<uint16_t>(b));
    float f = h;
    float want = float_from_bits(b << 16);
    if (std::isnan(want)) {
      ASSERT_TRUE(std::isnan(f)) << std::hex << b;
      ASSERT_TRUE(bf16_is_nan(tj::bfloat16(f).bits)) << std::hex << b;
      continue;
    }
    ASSERT_EQ(bits_of(f), b << 16) << std::hex << b;
    ASSERT_EQ(tj::bfloat16(f).bits, b) << std::hex << b;
  }
}

// ---- dtype metadata -------------------------------------------------------

struct DTypeInfo {
  tj::DType dtype;
  const char* name;
  int64_t size;
  bool floating;
  bool integral;
};

const DTypeInfo kDTypes[] = {
    {tj::f32, "f32", 4, true, false},     {tj::f16, "f16", 2, true, false},
    {tj::bf16, "bf16", 2, true, false},   {tj::f64, "f64", 8, true, false},
    {tj::i32, "i32", 4, false, true},     {tj::i64, "i64", 8, false, true},
    {tj::bool_, "bool", 1, false, false},
};

TEST(DType, NamesSizesAndKinds) {
  static_assert(tj::kNumDTypes == 7);
  for (const auto& d : kDTypes) {
    EXPECT_EQ(tj::dtype_name(d.dtype), d.name);
    EXPECT_EQ(tj::dtype_size(d.dtype), d.size) << d.name;
    EXPECT_EQ(tj::is_floating(d.dtype), d.floating) << d.name;
    EXPECT_EQ(tj::is_integral(d.dtype), d.integral) << d.name;
    std::ostringstream os;
    os << d.dtype;
    EXPECT_EQ(os.str(), d.name);
  }
}

TEST(DType, DTypeOf) {
  static_assert(tj::dtype_of<float>() == tj::f32);
  static_assert(tj::dtype_of<double>() == tj::f64);
  static_assert(tj::dtype_of<tj::half>() == tj::f16);
  static_assert(tj::dtype_of<tj::bfloat16>() == tj::bf16);
  static_assert(tj::dtype_of<int32_t>() == tj::i32);
  static_assert(tj::dtype_of<int64_t>() == tj::i64);
  static_assert(tj::dtype_of<bool>() == tj::bool_);
  static_assert(sizeof(tj::half) == 2);
  static_assert(sizeof(tj::bfloat16) == 2);
  SUCCEED();
}

TEST(DType, ScalarDefaultDtype) {
  EXPECT_EQ(tj::Scalar(true).default_dtype(), tj::bool_);
  EXPECT_EQ(tj::Scalar(3).default_dtype(), tj::i64);
  EXPECT_EQ(tj::Scalar(int64_t{3}).default_dtype(), tj::i64);
  EXPECT_EQ(tj::Scalar(2.5).default_dtype(), tj::f32);
  EXPECT_EQ(tj::Scalar(2.5f).default_dtype(), tj::f32);
  EXPECT_EQ(tj::Scalar(tj::half(1.5f)).kind(), tj::Scalar::Kind::floating);
}

// ---- promote_types ----------------------------------------------------------

struct PromoteCase {
  tj::DType a, b, want;
};

// The upper triangle of PyTorch's promotion table (promote_types is symmetric).
const PromoteCase kPromote[] = {
    {tj::bool_, tj::bool_, tj::bool_}, {tj::bool_, tj::i32, tj::i32},
    {tj::bool_, tj::i64, tj::i64},     {tj::bool_, tj::f16, tj::f16},
    {tj::bool_, tj::bf16, tj::bf16},   {tj::bool_, tj::f32, tj::f32},
    {tj::bool_, tj::f64, tj::f64},

    {tj::i32, tj::i32, tj::i32},       {tj::i32, tj::i64, tj::i64},
    {tj::i32, tj::f16, tj::f16},       {tj::i32, tj::bf16, tj::bf16},
    {tj::i32, tj::f32, tj::f32},       {tj::i32, tj::f64, tj::f64},

    {tj::i64, tj::i64, tj::i64},       {tj::i64, tj::f16, tj::f16},
    {tj::i64, tj::bf16, tj::bf16},     {tj::i64, tj::f32, tj::f32},
    {tj::i64, tj::f64, tj::f64},

    {tj::f16, tj::f16, tj::f16},       {tj::f16, tj::bf16, tj::f32},
    {tj::f16, tj::f32, tj::f32},       {tj::f16, tj::f64, tj::f64},

    {tj::bf16, tj::bf16, tj::bf16},    {tj::bf16, tj::f32, tj::f32},
    {tj::bf16, tj::f64, tj::f64},

    {tj::f32, tj::f32, tj::f32},       {tj::f32, tj::f64, tj::f64},

    {tj::f64, tj::f64, tj::f64},
};

TEST(PromoteTypes, MatchesPyTorchTable) {
  static_assert(std::size(kPromote) == 28);  // 7 * 8 / 2 pairs
  for (const auto& c : kPromote) {
    EXPECT_EQ(tj::promote_types(c.a, c.b), c.want)
        << tj::dtype_name(c.a) << " with " << tj::dtype_name(c.b);
    EXPECT_EQ(tj::promote_types(c.b, c.a), c.want)
        << tj::dtype_name(c.b) << " with " << tj::dtype_name(c.a);
  }
}

// ---- f16 / bf16 tensors ---------------------------------------------------

class DTypeTensor : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { guard_->lazy = GetParam(); }
  tj::ConfigGuard guard_;
};

INSTANTIATE_TEST_SUITE_P(Modes, DTypeTensor, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "lazy" : "eager"; });

const std::vector<float> kRoundingInputs = {
    0.0f,
    -0.0f,
    1.0f,
    0.1f,
    1.0f / 3.0f,
    3.14159f,
    1000.7f,
    65504.0f,
    65519.0f,
    65520.0f,
    -65520.0f,
    1e6f,
    1e-5f,
    0x1p-25f,
    1.5f * 0x1p-24f,
    1.0f + 0x1p-11f,
    1.0f + 3 * 0x1p-11f,
    -2.5f,
    1e30f,
    -7.25f,
};

TEST_P(DTypeTensor, CastToF16Rounds) {
  auto t = tj::from_vector<float>(kRoundingInputs, {static_cast<int64_t>(kRoundingInputs.size())});
  auto h = t.cast(tj::f16);
  EXPECT_EQ(h.dtype(), tj::f16);
  EXPECT_EQ(h.shape(), t.shape());
  auto got = h.to_vector<float>();
  auto got_bits = h.to_vector<tj::half>();
  ASSERT_EQ(got.size(), kRoundingInputs.size());
  ASSERT_EQ(got_bits.size(), kRoundingInputs.size());
  for (size_t i = 0; i < got.size(); ++i) {
    float want = tj::half(kRoundingInputs[i]);
    EXPECT_EQ(got[i], want) << "input " << kRoundingInputs[i];
    EXPECT_EQ(got_bits[i].bits, tj::half(kRoundingInputs[i]).bits)
        << "input " << kRoundingInputs[i];
  }
  // Spot-check a few against literal values.
  EXPECT_EQ(got[3], 0.0999755859375f);  // 0.1 -> 0x2E66
  EXPECT_EQ(got[7], 65504.0f);
  EXPECT_TRUE(std::isinf(got[9]) && got[9] > 0);  // 65520 -> inf
  EXPECT_TRUE(std::isinf(got[10]) && got[10] < 0);
  EXPECT_TRUE(std::isinf(got[11]));
  EXPECT_EQ(got[13], 0.0f);          // 2^-25 ties to 0
  EXPECT_EQ(got[14], 2 * 0x1p-24f);  // ties to even subnormal
  EXPECT_EQ(got[15], 1.0f);
  EXPECT_EQ(got[16], 1.0f + 0x1p-9f);
}

TEST_P(DTypeTensor, CastToBF16Rounds) {
  auto t = tj::from_vector<float>(kRoundingInputs, {static_cast<int64_t>(kRoundingInputs.size())});
  auto b = t.cast(tj::bf16);
  EXPECT_EQ(b.dtype(), tj::bf16);
  auto got = b.to_vector<float>();
  auto got_bits = b.to_vector<tj::bfloat16>();
  ASSERT_EQ(got.size(), kRoundingInputs.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(bits_of(got[i]), bits_of(tj::bfloat16(kRoundingInputs[i]))) << kRoundingInputs[i];
    EXPECT_EQ(got_bits[i].bits, tj::bfloat16(kRoundingInputs[i]).bits) << kRoundingInputs[i];
  }
  EXPECT_EQ(got[2], 1.0f);
  EXPECT_EQ(got[7], 65536.0f);  // 65504 rounds to 65536 in bf16
  EXPECT_EQ(bits_of(got[3]), 0x3DCD0000u);
}

TEST_P(DTypeTensor, FromVectorOfHalfKeepsBits) {
  std::vector<tj::half> data = {tj::half::from_bits(0x3C00), tj::half::from_bits(0x0001),
                                tj::half::from_bits(0x7BFF), tj::half::from_bits(0xFC00),
                                tj::half::from_bits(0x8000)};
  auto t = tj::from_vector<tj::half>(data, {5});
  EXPECT_EQ(t.dtype(), tj::f16);
  auto back = t.to_vector<tj::half>();
  ASSERT_EQ(back.size(), data.size());
  for (size_t i = 0; i < data.size(); ++i) EXPECT_EQ(back[i].bits, data[i].bits) << i;
  auto f = t.cast(tj::f32);
  EXPECT_EQ(f.dtype(), tj::f32);
  EXPECT_TRUE(all_close(f, {1.0, 0x1p-24, 65504.0, -INFINITY, 0.0}, 0, 0));
}

TEST_P(DTypeTensor, FromVectorOfBFloat16KeepsBits) {
  std::vector<tj::bfloat16> data = {
      tj::bfloat16::from_bits(0x3F80), tj::bfloat16::from_bits(0xC020),
      tj::bfloat16::from_bits(0x7F80), tj::bfloat16::from_bits(0x0001)};
  auto t = tj::from_vector<tj::bfloat16>(data, {2, 2});
  EXPECT_EQ(t.dtype(), tj::bf16);
  EXPECT_EQ(t.shape(), (tj::Shape{2, 2}));
  auto back = t.to_vector<tj::bfloat16>();
  ASSERT_EQ(back.size(), data.size());
  for (size_t i = 0; i < data.size(); ++i) EXPECT_EQ(back[i].bits, data[i].bits) << i;
  EXPECT_TRUE(
      all_close(t, {1.0, -2.5, INFINITY, static_cast<double>(float_from_bits(0x00010000u))}, 0, 0));
}

TEST_P(DTypeTensor, F16ArithmeticRoundsResult) {
  // Computed in f32, stored rounded to nearest even.
  auto a = tj::from_vector<float>({1.0f, 1.0f + 0x1p-10f, 60000.0f, 1.0f}, {4}).cast(tj::f16);
  auto b = tj::from_vector<float>({0x1p-11f, 0x1p-11f, 60000.0f, 0.1f}, {4}).cast(tj::f16);
  auto c = a + b;
  EXPECT_EQ(c.dtype(), tj::f16);
  auto got = c.to_vector<float>();
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0], 1.0f);                        // tie -> even
  EXPECT_EQ(got[1], 1.0f + 0x1p-9f);              // tie -> even (up)
  EXPECT_TRUE(std::isinf(got[2]) && got[2] > 0);  // overflow
  EXPECT_EQ(got[3], static_cast<float>(tj::half(1.0f + static_cast<float>(tj::half(0.1f)))));
}

TEST_P(DTypeTensor, F16TimesScalarOverflowsAndStaysF16) {
  auto a = tj::from_vector<float>({40000.0f, -40000.0f, 3.0f}, {3}).cast(tj::f16);
  auto c = a * 2;
  EXPECT_EQ(c.dtype(), tj::f16);
  EXPECT_TRUE(all_close(c, {INFINITY, -INFINITY, 6.0}, 0, 0));
}

TEST_P(DTypeTensor, BF16ArithmeticRoundsResult) {
  auto a = tj::from_vector<float>({1.0f, 256.0f}, {2}).cast(tj::bf16);
  auto b = tj::from_vector<float>({0x1p-8f, 1.0f}, {2}).cast(tj::bf16);
  auto c = a + b;
  EXPECT_EQ(c.dtype(), tj::bf16);
  // 1 + 2^-8 is a tie between 1 and 1 + 2^-7: even -> 1. 257 is a tie between
  // 256 and 258: even -> 256.
  EXPECT_TRUE(all_close(c, {1.0, 256.0}, 0, 0));
}

TEST_P(DTypeTensor, F16AndBF16MixToF32) {
  auto a = tj::from_vector<float>({1.5f, 2.0f}, {2}).cast(tj::f16);
  auto b = tj::from_vector<float>({0.25f, -1.0f}, {2}).cast(tj::bf16);
  auto c = a + b;
  EXPECT_EQ(c.dtype(), tj::f32);
  EXPECT_TRUE(all_close(c, {1.75, 1.0}));
}

TEST_P(DTypeTensor, CastsBetweenHalfTypes) {
  auto t = tj::from_vector<float>({1.0f + 0x1p-10f, 3.0f, 65504.0f, 1e-6f}, {4});
  auto hb = t.cast(tj::f16).cast(tj::bf16);
  EXPECT_EQ(hb.dtype(), tj::bf16);
  std::vector<double> want;
  for (float v : {1.0f + 0x1p-10f, 3.0f, 65504.0f, 1e-6f})
    want.push_back(static_cast<float>(tj::bfloat16(static_cast<float>(tj::half(v)))));
  EXPECT_TRUE(all_close(hb, want, 0, 0));
  EXPECT_TRUE(all_close(hb.cast(tj::f64), want, 0, 0));
}

TEST_P(DTypeTensor, ItemOfHalf) {
  auto t = tj::from_vector<float>({0.1f}, {1}).cast(tj::f16);
  EXPECT_EQ(t.item<tj::half>().bits, 0x2E66);
  EXPECT_EQ(t.item<float>(), 0.0999755859375f);
  auto b = tj::from_vector<float>({0.1f}, {1}).cast(tj::bf16);
  EXPECT_EQ(b.item<tj::bfloat16>().bits, 0x3DCD);
}

TEST_P(DTypeTensor, CreationDtypes) {
  EXPECT_EQ(tj::zeros({2}).dtype(), tj::f32);
  EXPECT_EQ(tj::zeros({2}, tj::f16).dtype(), tj::f16);
  EXPECT_EQ(tj::ones({2}, tj::bf16).dtype(), tj::bf16);
  EXPECT_EQ(tj::full({2}, 2.5).dtype(), tj::f32);
  EXPECT_EQ(tj::full({2}, 3).dtype(), tj::i64);
  EXPECT_EQ(tj::full({2}, true).dtype(), tj::bool_);
  EXPECT_EQ(tj::full({2}, 0.1, tj::f16).dtype(), tj::f16);
  EXPECT_TRUE(all_close(tj::full({2}, 0.1, tj::f16), {0.0999755859375, 0.0999755859375}, 0, 0));
  EXPECT_EQ(tj::from_vector<double>({1.0}).dtype(), tj::f64);
  EXPECT_EQ(tj::from_vector<int32_t>({1}).dtype(), tj::i32);
  EXPECT_EQ(tj::from_vector<int64_t>({1}).dtype(), tj::i64);
  EXPECT_EQ(tj::from_vector<bool>({true}).dtype(), tj::bool_);
}

}  // namespace
