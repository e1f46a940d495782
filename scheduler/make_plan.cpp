#include "scheduler/make_plan.h"

#include <fmt/format.h>

#include "ir/kernel.h"
#include "ir/print.h"
#include "scheduler/coalesce.h"
#include "scheduler/donate.h"
#include "scheduler/fuse.h"
#include "scheduler/lower.h"
#include "scheduler/name_kernel.h"
#include "scheduler/provenance.h"
#include "scheduler/split_reductions.h"
#include "scheduler/tile.h"

namespace tj::sched {

namespace {

std::string kernels_text(const Plan& p) {
  std::string s;
  for (const ir::Kernel& k : p.kernels) s += ir::to_string(k) + "\n";
  return s;
}

/// One kernel per name: lower() merges identical kernels, but two that
/// differ only in dims coalesce() merges are the same kernel afterwards.
void merge_same_kernels(Plan& p) {
  std::vector<ir::Kernel> kept;
  std::vector<int32_t> index(p.kernels.size());
  for (size_t i = 0; i < p.kernels.size(); ++i) {
    int32_t found = -1;
    for (size_t j = 0; j < kept.size() && found < 0; ++j)
      if (kept[j].name == p.kernels[i].name) found = static_cast<int32_t>(j);
    if (found < 0) {
      found = static_cast<int32_t>(kept.size());
      kept.push_back(std::move(p.kernels[i]));
    }
    index[i] = found;
  }
  if (kept.size() == p.kernels.size()) {
    p.kernels = std::move(kept);
    return;
  }
  p.kernels = std::move(kept);
  for (Step& st : p.steps) st.kernel = index[st.kernel];
}

}  // namespace

Plan make_plan(const ir::Graph& g, const Target& target, const PassDump& dump) {
  auto after = [&](std::string_view pass, auto&& text) {
    if (dump) dump(pass, text());
  };
  SplitGraph split = split_reductions(g, target);
  after("split_reductions", [&] { return ir::to_string(split.graph); });
  Schedule schedule = fuse(split.graph);
  after("fuse", [&] { return to_string(split.graph, schedule); });
  Plan plan = lower(split.graph, schedule);
  after("lower", [&] { return kernels_text(plan); });
  for (ir::Kernel& k : plan.kernels) coalesce(k);
  after("coalesce", [&] { return kernels_text(plan); });
  choose_donors(plan, g);
  for (ir::Kernel& k : plan.kernels) k.tile = choose_tile(k, target);
  for (ir::Kernel& k : plan.kernels) k.name = kernel_name(k);
  merge_same_kernels(plan);  // kernels that became identical once coalesced and tiled
  after("tile", [&] { return kernels_text(plan); });
  for (const ir::Kernel& k : plan.kernels) ir::verify(k);
  plan.graph_hash = g.hash();
  for (size_t i = 0; i < schedule.why.size(); ++i)  // in the numbering of g
    if (!schedule.why[i].empty())
      plan.refusals.push_back(fmt::format(
          "%{} ({}) materialized: {}", split.origin[i],
          ir::op_name(split.graph.node(static_cast<ir::NodeId>(i)).op), schedule.why[i]));
  plan.step_ops = step_provenance(split, schedule, plan);
  return plan;
}

}  // namespace tj::sched
