#include "scheduler/provenance.h"

#include <algorithm>

namespace tj::sched {

namespace {

bool is_leaf(const ir::Node& n) { return n.op == ir::Op::Buffer || n.op == ir::Op::Scalar; }

/// Nodes of the input graph that `nodes` (of the split graph) stand for.
std::vector<ir::NodeId> in_input_graph(const SplitGraph& split, std::vector<ir::NodeId> nodes) {
  std::vector<ir::NodeId> out;
  for (ir::NodeId n : nodes)
    if (n >= 0 && !is_leaf(split.graph.node(n))) out.push_back(split.origin[n]);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace

std::vector<StepOps> step_provenance(const SplitGraph& split, const Schedule& s, const Plan& p) {
  const ir::Graph& g = split.graph;
  std::vector<StepOps> out(p.steps.size());
  std::vector<int> stamp(g.size(), -1);
  for (size_t i = 0; i < p.steps.size(); ++i) {
    const int32_t gi = p.steps[i].group;
    if (gi < 0 || static_cast<size_t>(gi) >= s.groups.size()) continue;
    const Group& gr = s.groups[gi];
    // What the kernel evaluates: its roots and the inlined producers beneath
    // them (a cat part: the cat and the part it copies).
    std::vector<ir::NodeId> nodes, work = gr.roots;
    if (gr.kind == Group::Kind::cat_part) {
      nodes.push_back(gr.cat);
      work = {g.node(gr.cat).inputs[gr.cat_input]};
      if (is_leaf(g.node(work[0])) || s.materialized[work[0]]) work.clear();
    }
    if (gr.kind == Group::Kind::scatter_init || gr.kind == Group::Kind::scatter) {
      // The destination's copy, or the index and the source.
      nodes.push_back(gr.scatter);
      const auto& in = g.node(gr.scatter).inputs;
      work.clear();
      std::vector<ir::NodeId> from = gr.kind == Group::Kind::scatter_init
                                         ? std::vector<ir::NodeId>{in[0]}
                                         : std::vector<ir::NodeId>{in[1], in[2]};
      for (ir::NodeId x : from)
        if (!is_leaf(g.node(x)) && !s.materialized[x]) work.push_back(x);
    }
    while (!work.empty()) {
      const ir::NodeId n = work.back();
      work.pop_back();
      if (stamp[n] == static_cast<int>(i)) continue;
      stamp[n] = static_cast<int>(i);
      nodes.push_back(n);
      for (ir::NodeId in : g.node(n).inputs)
        if (!is_leaf(g.node(in)) && !s.materialized[in]) work.push_back(in);
    }
    out[i].nodes = in_input_graph(split, std::move(nodes));
    out[i].writes = in_input_graph(
        split, gr.kind == Group::Kind::cat_part ? std::vector<ir::NodeId>{gr.cat} : gr.roots);
  }
  return out;
}

}  // namespace tj::sched
