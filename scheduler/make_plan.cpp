#include "scheduler/make_plan.h"

#include <fmt/format.h>

#include "ir/kernel.h"
#include "ir/print.h"
#include "scheduler/coalesce.h"
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
  for (ir::Kernel& k : plan.kernels) k.tile = choose_tile(k, target);
  for (ir::Kernel& k : plan.kernels) k.name = kernel_name(k);
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
