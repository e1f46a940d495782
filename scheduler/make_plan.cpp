#include <fmt/format.h>

#include "ir/hash.h"
#include "ir/kernel.h"
#include "scheduler/coalesce.h"
#include "scheduler/fuse.h"
#include "scheduler/lower.h"
#include "scheduler/plan.h"
#include "scheduler/split_reductions.h"
#include "scheduler/tile.h"

namespace tj::sched {

namespace {

bool has(const std::string& summary, std::string_view op) {
  size_t pos = 0;
  while ((pos = summary.find(op, pos)) != std::string::npos) {
    bool start = pos == 0 || summary[pos - 1] == ' ';
    size_t end = pos + op.size();
    bool stop = end == summary.size() || summary[end] == ',';
    if (start && stop) return true;
    pos = end;
  }
  return false;
}

/// A name that says what the kernel does, for profilers and logs:
/// tj_pointwise_<hash>, tj_row_softmax_<hash>, tj_matmul_<hash>, ...
void name_kernel(ir::Kernel& k) {
  k.name.clear();
  uint64_t h = Hasher().add(ir::to_string(k)).get();
  std::string kind;
  switch (k.kind) {
    case ir::Kernel::Kind::pointwise:
      kind = "pointwise";
      break;
    case ir::Kernel::Kind::matmul:
      kind = "matmul";
      break;
    case ir::Kernel::Kind::row: {
      const std::string& s = k.summary;
      if (has(s, "max") && has(s, "exp") && has(s, "sum") && has(s, "log"))
        kind = "row_log_softmax";
      else if (has(s, "max") && has(s, "exp") && has(s, "sum") && has(s, "div"))
        kind = "row_softmax";
      else if (has(s, "rsqrt") && k.stages.size() >= 2)
        kind = "row_layer_norm";
      else if (has(s, "rsqrt"))
        kind = "row_rms_norm";
      else {
        kind = "row";
        for (const ir::Stage& st : k.stages) kind += "_" + std::string(ir::op_name(st.op));
      }
      break;
    }
  }
  k.name = fmt::format("tj_{}_{:08x}", kind, static_cast<uint32_t>(h ^ (h >> 32)));
}

}  // namespace

Plan make_plan(const ir::Graph& g, const Target& target) {
  ir::Graph split = split_reductions(g, target);
  Schedule schedule = fuse(split);
  Plan plan = lower(split, schedule);
  for (ir::Kernel& k : plan.kernels) {
    coalesce(k);
    k.tile = choose_tile(k, target);
    name_kernel(k);
    ir::verify(k);
  }
  plan.graph_hash = g.hash();
  return plan;
}

}  // namespace tj::sched
