#include "tilejit/warmup.h"

#include <chrono>

#include "tilejit/config.h"

namespace tj {

WarmupReport warmup(const std::function<std::vector<Tensor>(const std::vector<Tensor>&)>& fn,
                    const std::vector<std::vector<Tensor>>& examples) {
  const Stats before = stats();
  const auto t0 = std::chrono::steady_clock::now();
  for (const std::vector<Tensor>& inputs : examples)
    for (const Tensor& t : fn(inputs)) t.eval();
  const Stats after = stats();
  WarmupReport r;
  r.flushes = after.flushes - before.flushes;
  r.plans = after.plan_misses - before.plan_misses;
  r.kernels_compiled = after.kernels_compiled - before.kernels_compiled;
  r.kernels_from_disk = after.cache_disk_hits - before.cache_disk_hits;
  r.dynamic_compiles = after.dynamic_compiles - before.dynamic_compiles;
  r.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace tj
