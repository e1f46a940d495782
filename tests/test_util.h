// Helpers shared by the test suites.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "tilejit/tilejit.h"

namespace tj::testing {

/// Element-wise comparison with absolute + relative tolerance; NaNs must
/// match NaNs and infinities must match exactly.
inline ::testing::AssertionResult all_close(const std::vector<double>& got,
                                            const std::vector<double>& want, double rtol = 1e-5,
                                            double atol = 1e-6) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure() << "size " << got.size() << " != expected " << want.size();
  for (size_t i = 0; i < got.size(); ++i) {
    double g = got[i], w = want[i];
    if (std::isnan(w) && std::isnan(g)) continue;
    if (std::isinf(w) && g == w) continue;
    if (!(std::abs(g - w) <= atol + rtol * std::abs(w)))
      return ::testing::AssertionFailure() << "element " << i << ": got " << g << ", expected " << w
                                           << " (rtol " << rtol << ", atol " << atol << ")";
  }
  return ::testing::AssertionSuccess();
}

/// Compares a tensor's values (converted to double) with expected values.
inline ::testing::AssertionResult all_close(const Tensor& t, const std::vector<double>& want,
                                            double rtol = 1e-5, double atol = 1e-6) {
  return all_close(t.to_vector<double>(), want, rtol, atol);
}

/// Checks that `fn` throws tj::Error whose message contains every fragment.
template <class Fn>
::testing::AssertionResult throws_error(Fn&& fn, const std::vector<std::string>& fragments) {
  try {
    fn();
  } catch (const tj::Error& e) {
    std::string msg = e.what();
    for (const auto& f : fragments)
      if (msg.find(f) == std::string::npos)
        return ::testing::AssertionFailure() << "message lacks \"" << f << "\": " << msg;
    return ::testing::AssertionSuccess();
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "threw a non-tj::Error: " << e.what();
  }
  return ::testing::AssertionFailure() << "did not throw";
}

inline constexpr double kInf = std::numeric_limits<double>::infinity();
inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// ---- shapes -----------------------------------------------------------------------

inline int64_t numel_of(const Shape& s) {
  int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

/// Row-major (contiguous) strides of shape `s`.
inline Shape row_major(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (int64_t i = static_cast<int64_t>(s.size()) - 1; i >= 0; --i) {
    st[i] = acc;
    acc *= s[i];
  }
  return st;
}

/// Calls f(flat, index) for every element of shape `s` in row-major order.
template <class F>
void for_each_index(const Shape& s, F&& f) {
  int64_t n = numel_of(s);
  std::vector<int64_t> idx(s.size(), 0);
  for (int64_t i = 0; i < n; ++i) {
    f(i, idx);
    for (int64_t d = static_cast<int64_t>(s.size()) - 1; d >= 0; --d) {
      if (++idx[d] < s[d]) break;
      idx[d] = 0;
    }
  }
}

// ---- tensors from host values ---------------------------------------------------------

/// A tensor of dtype `dt` and shape `s` built from host data of the matching
/// C++ type (no tilejit cast involved).
inline Tensor make(const std::vector<double>& d, const Shape& s, DType dt = f32) {
  switch (dt) {
    case DType::f32:
      return from_vector(std::vector<float>(d.begin(), d.end()), s);
    case DType::f64:
      return from_vector(d, s);
    case DType::f16: {
      std::vector<half> h;
      for (double x : d) h.emplace_back(static_cast<float>(x));
      return from_vector(h, s);
    }
    case DType::bf16: {
      std::vector<bfloat16> h;
      for (double x : d) h.emplace_back(static_cast<float>(x));
      return from_vector(h, s);
    }
    case DType::i32: {
      std::vector<int32_t> h;
      for (double x : d) h.push_back(static_cast<int32_t>(x));
      return from_vector(h, s);
    }
    case DType::i64: {
      std::vector<int64_t> h;
      for (double x : d) h.push_back(static_cast<int64_t>(x));
      return from_vector(h, s);
    }
    case DType::bool_: {
      std::vector<bool> h;
      for (double x : d) h.push_back(x != 0);
      return from_vector(h, s);
    }
  }
  return {};
}

// ---- tolerances -------------------------------------------------------------------

struct Tol {
  double rtol, atol;
};

/// Tolerance for a computed result of dtype `dt` (exact for integers and bool).
inline Tol tol_for(DType dt) {
  switch (dt) {
    case DType::f64:
      return {1e-10, 1e-12};
    case DType::f32:
      return {1e-5, 1e-5};
    case DType::f16:
      return {1e-2, 1e-2};
    case DType::bf16:
      return {1e-2, 2e-2};
    default:
      return {0, 0};
  }
}

// ---- every suite runs lazy (traced) and eager ------------------------------------------

inline std::string mode_name(bool lazy) { return lazy ? "lazy" : "eager"; }

/// A suite parameterized by the mode: true = lazy, false = eager.
class ModeTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { guard_->lazy = GetParam(); }
  bool lazy() const { return GetParam(); }
  ConfigGuard guard_;
};

/// A table-driven suite: (mode, table row).
template <class Case>
class ModeCaseTest : public ::testing::TestWithParam<std::tuple<bool, Case>> {
 protected:
  void SetUp() override { guard_->lazy = std::get<0>(this->GetParam()); }
  bool lazy() const { return std::get<0>(this->GetParam()); }
  const Case& param() const { return std::get<1>(this->GetParam()); }
  ConfigGuard guard_;
};

/// "<mode>_<row name>", for INSTANTIATE_TEST_SUITE_P over a ModeCaseTest.
template <class Info>
std::string case_name(const Info& info) {
  return mode_name(std::get<0>(info.param)) + "_" + std::get<1>(info.param).name;
}

}  // namespace tj::testing
