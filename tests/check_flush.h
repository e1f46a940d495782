// A test-suite helper: checks every flush against the reference evaluator.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ir/dtype.h"
#include "ir/reference_eval.h"
#include "jit/executor.h"
#include "test_util.h"

namespace tj::testing {

/// Expects host buffers `out` to hold the reference values `want`; returns
/// the elements compared.
inline int64_t expect_reference_values(const std::vector<BufferView>& out,
                                       const std::vector<ir::RefValue>& want,
                                       const std::string& what) {
  int64_t elements = 0;
  EXPECT_EQ(out.size(), want.size()) << what;
  for (size_t k = 0; k < out.size() && k < want.size(); ++k) {
    EXPECT_TRUE(out[k].storage->device.is_cpu()) << what;
    if (!out[k].storage->device.is_cpu()) continue;
    std::vector<double> got(static_cast<size_t>(want[k].numel()));
    for (int64_t i = 0; i < want[k].numel(); ++i)
      got[i] = load_as_double(out[k].data(), i, out[k].dtype);
    std::vector<double> ref(got.size());
    for (int64_t i = 0; i < want[k].numel(); ++i) ref[i] = want[k].as_double(i);
    const bool exact = !is_floating(out[k].dtype);
    const double tol = out[k].dtype == DType::f32 ? 2e-5 : 1e-2;  // half types: a few ulp
    EXPECT_TRUE(all_close(got, ref, exact ? 0 : tol, exact ? 0 : tol))
        << what << ", output " << k << " (" << dtype_name(out[k].dtype) << shape_str(out[k].shape)
        << ")";
    elements += want[k].numel();
  }
  return elements;
}

/// Checks each executed graph's outputs against the reference evaluator
/// while it is installed; counts the flushes and the elements compared.
class CheckEveryFlush {
 public:
  CheckEveryFlush() {
    jit::set_executed_hook([this](const ir::Graph& g, const std::vector<BufferView>& out) {
      ++flushes;
      elements +=
          expect_reference_values(out, ir::reference_eval(g), "flush " + std::to_string(flushes));
    });
  }
  ~CheckEveryFlush() { jit::set_executed_hook({}); }
  int flushes = 0;
  int64_t elements = 0;
};

}  // namespace tj::testing
