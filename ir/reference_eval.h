// The reference evaluator: the oracle for every test of fusion, tiling and
// code generation.
//
// Executes a Graph op by op on the CPU with no fusion. Floating dtypes are
// computed in f64 and integer/bool dtypes in i64; each node's result is then
// rounded to its dtype exactly as storing it in a tensor of that dtype would
// (so an f16 chain is rounded after every op, like eager PyTorch).
// Intermediate values are freed as soon as their last consumer has run.
#pragma once

#include <vector>

#include "ir/graph.h"

namespace tj::ir {

struct RefValue {
  DType dtype = DType::f32;
  Shape shape;
  std::vector<double> f;   // floating dtypes
  std::vector<int64_t> i;  // integer and bool dtypes

  bool floating() const { return is_floating(dtype); }
  int64_t numel() const { return shape_numel(shape); }
  double as_double(int64_t k) const { return floating() ? f[k] : static_cast<double>(i[k]); }
};

/// Values of g.outputs(), in order.
std::vector<RefValue> reference_eval(const Graph& g);

/// Writes `v` row-major into `dst` in v.dtype's storage format.
void store_value(const RefValue& v, void* dst);

}  // namespace tj::ir
