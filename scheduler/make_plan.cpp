#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "ir/hash.h"
#include "ir/kernel.h"
#include "scheduler/coalesce.h"
#include "scheduler/fuse.h"
#include "scheduler/lower.h"
#include "scheduler/make_plan.h"
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

/// For each node of `split` = split_reductions(g), the node of g it computes
/// (or part of it), -1 for none. split_reductions keeps every node but the
/// reductions it splits, and turns each of those into
/// reshape(reduce(reduce(reshape(x)))): all four stand for the reduction.
std::vector<ir::NodeId> origins_in(const ir::Graph& g, const ir::Graph& split) {
  std::vector<ir::NodeId> from(split.size(), -1);
  if (split.size() == g.size() && split.hash() == g.hash()) {
    std::iota(from.begin(), from.end(), 0);
    return from;
  }
  std::vector<std::pair<ir::NodeId, ir::NodeId>> work;  // (node of g, node of split)
  for (size_t k = 0; k < g.outputs().size() && k < split.outputs().size(); ++k)
    work.emplace_back(g.outputs()[k], split.outputs()[k]);
  auto op_of = [&](ir::NodeId n) { return split.node(n).op; };
  auto only_input = [&](ir::NodeId n) {
    const auto& in = split.node(n).inputs;
    return in.size() == 1 ? in[0] : -1;
  };
  while (!work.empty()) {
    auto [a, b] = work.back();
    work.pop_back();
    if (from[b] >= 0) continue;
    from[b] = a;
    const ir::Node& na = g.node(a);
    const ir::Node& nb = split.node(b);
    if (na.op == nb.op && na.inputs.size() == nb.inputs.size()) {
      for (size_t i = 0; i < na.inputs.size(); ++i) work.emplace_back(na.inputs[i], nb.inputs[i]);
      continue;
    }
    ir::NodeId r2 = only_input(b), r1 = r2 < 0 ? -1 : only_input(r2);
    ir::NodeId x2 = r1 < 0 ? -1 : only_input(r1), x = x2 < 0 ? -1 : only_input(x2);
    if (nb.op != ir::Op::Reshape || x < 0 || op_of(r2) != na.op || op_of(r1) != na.op ||
        op_of(x2) != ir::Op::Reshape || na.inputs.size() != 1)
      continue;  // not a split reduction: leave the inputs unknown
    for (ir::NodeId n : {r2, r1, x2})
      if (from[n] < 0) from[n] = a;
    work.emplace_back(na.inputs[0], x);
  }
  return from;
}

/// The nodes of `split` that a step writes, sorted.
std::vector<ir::NodeId> written_by(const Plan& p, const Step& st) {
  const ir::Kernel& k = p.kernels[st.kernel];
  std::vector<ir::NodeId> out;
  auto add = [&](int32_t access) {
    if (access < 0 || static_cast<size_t>(access) >= k.accesses.size()) return;
    int32_t arg = k.accesses[access].arg;
    if (arg < 0 || static_cast<size_t>(arg) >= st.args.size()) return;
    out.push_back(p.buffers[st.args[arg]].node);
  };
  if (k.kind == ir::Kernel::Kind::matmul) add(2);
  for (const ir::KInstr& in : k.body)
    if (in.kop == ir::KOp::Store) add(in.access);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

/// Fills p.step_ops (see plan.h) from the schedule of `split`. lower() makes
/// one step per group in order, leaving out groups with nothing to compute,
/// so a step is matched to the next group that writes what it writes.
void find_step_ops(const ir::Graph& g, const ir::Graph& split, const Schedule& s, Plan& p) {
  const std::vector<ir::NodeId> from = origins_in(g, split);
  auto leaf = [&](ir::NodeId n) {
    ir::Op op = split.node(n).op;
    return op == ir::Op::Buffer || op == ir::Op::Scalar;
  };
  auto writes_of = [&](const Group& gr) {
    std::vector<ir::NodeId> w =
        gr.kind == Group::Kind::cat_part ? std::vector<ir::NodeId>{gr.cat} : gr.roots;
    std::sort(w.begin(), w.end());
    w.erase(std::unique(w.begin(), w.end()), w.end());
    return w;
  };
  auto in_g = [&](std::vector<ir::NodeId> nodes) {
    std::vector<ir::NodeId> out;
    for (ir::NodeId n : nodes)
      if (n >= 0 && !leaf(n) && from[n] >= 0) out.push_back(from[n]);
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  };
  std::vector<int> stamp(split.size(), -1);
  p.step_ops.assign(p.steps.size(), {});
  const bool one_to_one = p.steps.size() == s.groups.size();
  size_t j = 0;
  for (size_t i = 0; i < p.steps.size(); ++i, ++j) {
    if (!one_to_one) {
      std::vector<ir::NodeId> w = written_by(p, p.steps[i]);
      while (j < s.groups.size() && writes_of(s.groups[j]) != w) ++j;
    }
    if (j >= s.groups.size()) break;  // unknown from here on
    const Group& gr = s.groups[j];
    std::vector<ir::NodeId> nodes, work = gr.roots;
    if (gr.kind == Group::Kind::cat_part) {
      nodes.push_back(gr.cat);
      work = {split.node(gr.cat).inputs[gr.cat_input]};
      if (leaf(work[0]) || s.materialized[work[0]]) work.clear();
    }
    while (!work.empty()) {
      ir::NodeId n = work.back();
      work.pop_back();
      if (stamp[n] == static_cast<int>(j)) continue;
      stamp[n] = static_cast<int>(j);
      nodes.push_back(n);
      for (ir::NodeId in : split.node(n).inputs)
        if (!leaf(in) && !s.materialized[in]) work.push_back(in);
    }
    p.step_ops[i].nodes = in_g(std::move(nodes));
    p.step_ops[i].writes = in_g(writes_of(gr));
  }
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
  find_step_ops(g, split, schedule, plan);
  return plan;
}

}  // namespace tj::sched
