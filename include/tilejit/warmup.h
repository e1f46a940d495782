// Compiling before serving: tj::warmup runs a program's step on example
// inputs so that the plans and kernels it needs exist before the first
// request.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "tilejit/tensor.h"

namespace tj {

/// What tj::warmup did.
struct WarmupReport {
  int64_t flushes = 0;
  int64_t plans = 0;              // plans scheduled
  int64_t kernels_compiled = 0;   // by the compiler
  int64_t kernels_from_disk = 0;  // loaded from the kernel cache
  int64_t dynamic_compiles = 0;   // structures whose changing sizes became a symbol
  double ms = 0;
};

/// Runs `fn` once per example, in order, evaluating every tensor it returns.
/// Give examples of at least two sizes of each size that will change (two
/// batch sizes, two sequence lengths; and 1 if requests of size 1 come, which
/// get plans of their own): the structure then has its dynamic plan, and any
/// later size of it is planned and compiled from nothing (see the README,
/// "Dynamic sizes"). With the kernel cache on, a later process that warms up
/// the same way loads the kernels instead of compiling them.
WarmupReport warmup(const std::function<std::vector<Tensor>(const std::vector<Tensor>&)>& fn,
                    const std::vector<std::vector<Tensor>>& examples);

}  // namespace tj
