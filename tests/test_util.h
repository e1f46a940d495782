// Helpers shared by the test suites.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <string>
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

}  // namespace tj::testing
