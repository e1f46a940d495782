#include "scheduler/split_reductions.h"

#include <algorithm>

namespace tj::sched {

using ir::Graph;
using ir::GraphBuilder;
using ir::Node;
using ir::NodeId;
using ir::Op;

namespace {

struct Split {
  int64_t s = 0;  // number of partial results per output
};

Split plan_split(const Graph& g, const Node& r, const Target& t) {
  if (r.op != Op::Sum && r.op != Op::Prod && r.op != Op::Max && r.op != Op::Min) return {};
  if (r.dtype == DType::f16 || r.dtype == DType::bf16 || r.dtype == DType::bool_) return {};
  const Node& x = g.node(r.inputs[0]);
  const size_t rank = x.shape.size();
  const size_t q = r.attrs.size();
  if (q == 0) return {};
  for (size_t i = 0; i < q; ++i)
    if (r.attrs[i] != static_cast<int64_t>(rank - q + i)) return {};  // trailing axes only
  if (q > 1 && x.op != Op::Buffer) return {};
  int64_t rows = shape_numel(r.shape), n = 1;
  for (size_t i = rank - q; i < rank; ++i) n *= x.shape[i];
  if (rows >= 2 * t.threads || n < kSplitMinElements) return {};
  const int64_t cap = std::max<int64_t>(8 * t.threads, 16);
  for (int64_t s = cap; s >= 2; --s)
    if (n % s == 0 && n / s >= 1024) return {s};
  return {};
}

}  // namespace

std::vector<int64_t> split_choices(const Graph& g, const Target& t) {
  std::vector<int64_t> s(g.size(), 0);
  for (size_t i = 0; i < g.size(); ++i) s[i] = plan_split(g, g.node(static_cast<NodeId>(i)), t).s;
  return s;
}

SplitGraph split_reductions(const Graph& g, const Target& t) {
  bool any = false;
  for (const Node& n : g.nodes()) any = any || plan_split(g, n, t).s > 0;
  if (!any) {
    std::vector<NodeId> same(g.size());
    for (size_t i = 0; i < g.size(); ++i) same[i] = static_cast<NodeId>(i);
    return {g, std::move(same)};
  }
  GraphBuilder b;
  std::vector<NodeId> map(g.size(), -1);
  std::vector<NodeId> origin;
  // Every node made since the last call stands for g's node i.
  auto from = [&](size_t i) {
    while (origin.size() < b.size()) origin.push_back(static_cast<NodeId>(i));
  };
  for (size_t i = 0; i < g.size(); ++i) {
    const Node& n = g.node(static_cast<NodeId>(i));
    if (n.op == Op::Buffer) {
      map[i] = b.buffer(g.buffers()[n.slot]);
      from(i);
      continue;
    }
    if (n.op == Op::Scalar) {
      map[i] = b.scalar(n.dtype, g.scalars()[n.slot], /*intern=*/false);  // keeps the slots
      from(i);
      continue;
    }
    std::vector<NodeId> in;
    for (NodeId x : n.inputs) in.push_back(map[x]);
    Split sp = plan_split(g, n, t);
    if (sp.s == 0) {
      map[i] = b.add(n.op, in, {.attrs = n.attrs, .dtype = n.dtype, .shape = n.shape});
      from(i);
      continue;
    }
    const Shape& xs = g.node(n.inputs[0]).shape;
    const size_t q = n.attrs.size(), kept = xs.size() - q;
    int64_t total = 1;
    for (size_t d = kept; d < xs.size(); ++d) total *= xs[d];
    Shape split(xs.begin(), xs.begin() + kept);
    split.push_back(sp.s);
    split.push_back(total / sp.s);
    NodeId x2 = b.reshape(in[0], split);
    NodeId r1 = b.reduce(n.op, x2, {static_cast<int64_t>(kept + 1)});
    NodeId r2 = b.reduce(n.op, r1, {static_cast<int64_t>(kept)});
    map[i] = b.reshape(r2, n.shape);
    from(i);
  }
  std::vector<NodeId> outs;
  for (NodeId o : g.outputs()) outs.push_back(map[o]);
  return {b.finish(outs), std::move(origin)};
}

}  // namespace tj::sched
