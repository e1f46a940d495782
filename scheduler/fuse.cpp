#include "scheduler/fuse.h"

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "ir/check.h"
#include "scheduler/view.h"

namespace tj::sched {

using ir::Graph;
using ir::Node;
using ir::NodeId;
using ir::Op;

namespace {

bool is_leaf(const Node& n) { return n.op == Op::Buffer || n.op == Op::Scalar; }

struct Space {
  Shape shape;
  std::vector<int64_t> axes;
  bool operator<(const Space& o) const { return std::tie(shape, axes) < std::tie(o.shape, o.axes); }
  bool operator==(const Space& o) const { return shape == o.shape && axes == o.axes; }
};

Space space_of(const Graph& g, NodeId r) {
  return {g.node(g.node(r).inputs[0]).shape, g.node(r).attrs};
}

Shape kept_shape(const Space& s) {
  Shape k;
  for (size_t d = 0; d < s.shape.size(); ++d)
    if (std::find(s.axes.begin(), s.axes.end(), static_cast<int64_t>(d)) == s.axes.end())
      k.push_back(s.shape[d]);
  return k;
}

Shape without_ones(const Shape& s) {
  Shape o;
  for (int64_t d : s)
    if (d != 1) o.push_back(d);
  return o;
}

/// A node of this shape can be computed in a row kernel over `s`: it runs
/// over the full rows (broadcasts into F) or is one value per row.
bool fits_space(const Shape& shape, const Space& s) {
  if (shape.size() <= s.shape.size()) {
    bool ok = true;
    size_t lead = s.shape.size() - shape.size();
    for (size_t i = 0; ok && i < shape.size(); ++i)
      ok = shape[i] == 1 || shape[i] == s.shape[lead + i];
    if (ok) return true;
  }
  return without_ones(shape) == without_ones(kept_shape(s)) &&
         shape_numel(shape) == shape_numel(kept_shape(s));
}

/// A movement op that keeps a per-row value per row: broadcasting, or a
/// reshape that only adds or removes size-1 dims.
bool row_preserving(const Node& m, const Shape& in) {
  if (m.op == Op::Expand) return true;
  if (m.op == Op::Reshape) return without_ones(m.shape) == without_ones(in);
  return false;
}

class Fuser {
 public:
  explicit Fuser(const Graph& g) : g_(g), M_(g.size(), 0), why_(g.size()) {}

  Schedule run() {
    for (NodeId o : g_.outputs()) M_[o] = 1;
    for (size_t i = 0; i < g_.size(); ++i) {
      const Node& n = g_.node(static_cast<NodeId>(i));
      if (n.op == Op::Matmul || n.op == Op::Conv || n.op == Op::Cat || n.op == Op::Scatter ||
          ir::is_scan(n.op) || n.op == Op::ArgSort)
        M_[i] = 1;
      if (is_leaf(n)) M_[i] = 0;
    }
    for (int iter = 0; iter < 64; ++iter) {
      bool changed = views_pass();
      changed |= matmul_operands_pass();
      changed |= gather_sources_pass();
      changed |= reduce_pass();
      changed |= size_pass();
      if (changed) continue;
      Schedule s = group();
      if (!shared_pass()) return s;
    }
    TJ_CHECK(false, "fusion did not converge");
  }

 private:
  /// Materializes n (once; the first reason is kept). `why` makes the
  /// reason, only when n is marked now.
  template <class Why>
  bool mark(NodeId n, Why&& why) {
    if (M_[n] || is_leaf(g_.node(n))) return false;
    M_[n] = 1;
    why_[n] = std::string(why());
    return true;
  }

  bool computed(NodeId n) const {
    const Node& x = g_.node(n);
    return !is_leaf(x) && !M_[n] && !ir::is_movement(x.op);
  }

  // Rule 2.
  bool views_pass() {
    bool changed = false;
    for (size_t i = 0; i < g_.size(); ++i) {
      const Node& m = g_.node(static_cast<NodeId>(i));
      if (m.op != Op::Reshape) continue;
      NodeId x = m.inputs[0];
      if (buffer_view(g_, M_, static_cast<NodeId>(i), /*skip_self=*/true)) continue;
      const Shape& in = g_.node(x).shape;
      View id = View::identity(m.shape.size(), [&] {
        std::vector<int64_t> o(m.shape.size());
        for (size_t d = 0; d < o.size(); ++d) o[d] = static_cast<int64_t>(d);
        return o;
      }());
      if (!through_movement(id, m, in)) {
        // A leaf cannot be materialized: copy through the reshape itself.
        changed |=
            is_leaf(g_.node(x))
                ? mark(static_cast<NodeId>(i),
                       [&] { return "a reshape the buffer's strides cannot express: copied"; })
                : mark(x, [&] {
                    return fmt::format(
                        "reshape %{} merges its dimensions, which a kernel "
                        "cannot index without a buffer",
                        i);
                  });
      }
    }
    return changed;
  }

  // Rule 1 (operands).
  bool matmul_operands_pass() {
    bool changed = false;
    for (size_t i = 0; i < g_.size(); ++i) {
      const Node& mm = g_.node(static_cast<NodeId>(i));
      if (mm.op == Op::Conv) {  // any strides: both the library and the kernel take them
        for (NodeId x : mm.inputs) {
          NodeId w = x;
          while (ir::is_movement(g_.node(w).op) && !M_[w]) w = g_.node(w).inputs[0];
          if (computed(w))
            changed |= mark(w, [&] { return fmt::format("an operand of conv2d %{}", i); });
          if (!buffer_view(g_, M_, x))
            changed |= mark(x, [&] {
              return fmt::format("an operand of conv2d %{} (a view a kernel cannot read)", i);
            });
        }
        continue;
      }
      if (mm.op != Op::Matmul) continue;
      for (NodeId x : mm.inputs) {
        NodeId w = x;
        while (ir::is_movement(g_.node(w).op) && !M_[w]) w = g_.node(w).inputs[0];
        if (computed(w))
          changed |= mark(w, [&] { return fmt::format("an operand of matmul %{}", i); });
        auto bv = buffer_view(g_, M_, x);
        if (!bv) {
          changed |= mark(x, [&] {
            return fmt::format("an operand of matmul %{} (a view a GEMM cannot read)", i);
          });
          continue;
        }
        const Shape& s = g_.node(x).shape;
        size_t r = s.size();
        int64_t s_outer = bv->strides[r - 2], s_inner = bv->strides[r - 1];
        bool row_major = s_inner == 1 && s_outer >= std::max<int64_t>(s[r - 1], 1);
        bool col_major = s_outer == 1 && s_inner >= std::max<int64_t>(s[r - 2], 1);
        if (!row_major && !col_major && shape_numel(s) > 1)
          changed |= mark(x, [&] {
            return fmt::format(
                "an operand of matmul %{} with strides a GEMM cannot "
                "take (neither rows nor columns contiguous)",
                i);
          });
      }
    }
    return changed;
  }

  // Rule 1 (gathers): an indirect load reads its source from memory.
  bool gather_sources_pass() {
    bool changed = false;
    for (size_t i = 0; i < g_.size(); ++i) {
      const Node& ga = g_.node(static_cast<NodeId>(i));
      if (ga.op == Op::ArgSort) {  // reads its keys in any order
        NodeId x = ga.inputs[0];
        if (!buffer_view(g_, M_, x))
          changed |= mark(x, [&] { return fmt::format("the keys of argsort %{}", i); });
        continue;
      }
      if (ga.op != Op::Gather) continue;
      NodeId x = ga.inputs[0], w = x;
      while (ir::is_movement(g_.node(w).op) && !M_[w]) w = g_.node(w).inputs[0];
      if (computed(w))
        changed |= mark(w, [&] {
          return fmt::format("the source of {} %{} (read at computed indices)",
                             ir::index_api_name(static_cast<ir::IndexApi>(ga.attrs[1])), i);
        });
      if (!buffer_view(g_, M_, x))
        changed |= mark(x, [&] {
          return fmt::format("the source of {} %{} (a view a kernel cannot index)",
                             ir::index_api_name(static_cast<ir::IndexApi>(ga.attrs[1])), i);
        });
    }
    return changed;
  }

  // Rule 5: cut long inlined chains.
  bool size_pass() {
    bool changed = false;
    std::vector<int> size(g_.size(), 0);
    for (size_t i = 0; i < g_.size(); ++i) {
      const Node& nd = g_.node(static_cast<NodeId>(i));
      if (is_leaf(nd)) continue;
      int s = 1;
      for (NodeId x : nd.inputs)
        if (!M_[x]) s += size[x];
      if (s > kMaxKernelOps && !M_[i]) {
        changed |= mark(static_cast<NodeId>(i), [&] {
          return fmt::format("the chain would inline more than {} ops into one kernel",
                             kMaxKernelOps);
        });
        s = 1;
      }
      size[i] = M_[i] ? 0 : s;
    }
    return changed;
  }

  // Rule 3: which reductions stay inside row kernels.
  bool reduce_pass() {
    const size_t n = g_.size();
    inner_.assign(n, {});
    bool changed = false;
    auto vis = [&](NodeId x) -> const std::set<NodeId>& {
      static const std::set<NodeId> empty;
      return M_[x] ? empty : inner_[x];
    };
    for (size_t i = 0; i < n; ++i) {
      const NodeId id = static_cast<NodeId>(i);
      const Node& nd = g_.node(id);
      std::set<NodeId> in;
      for (NodeId x : nd.inputs) {
        const auto& v = vis(x);
        in.insert(v.begin(), v.end());
      }
      if (ir::is_reduce(nd.op)) {
        Space sp = space_of(g_, id);
        for (NodeId r : in)
          if (!(space_of(g_, r) == sp))
            changed |=
                mark(r, [&] { return fmt::format("reduction %{} runs over other rows", i); });
        in.insert(id);
      } else if ((nd.op == Op::Scatter || ir::is_scan(nd.op)) && !in.empty()) {
        // Scatter and scan kernels walk their lines in order: no row
        // reductions inside. The operand that holds them is written by its
        // own kernel (a softmax before a cumsum: one row kernel, then the scan).
        for (NodeId x : nd.inputs)
          if (!vis(x).empty())
            changed |= mark(x, [&] {
              return fmt::format("an operand of {} %{} computed with a reduction",
                                 ir::op_name(nd.op), i);
            });
        in.clear();
      } else if (ir::is_movement(nd.op) && !in.empty()) {
        if (nd.op == Op::Cat || !row_preserving(nd, g_.node(nd.inputs[0]).shape))
          for (NodeId r : in)
            changed |= mark(r, [&] {
              return fmt::format("{} %{} is a view other than a broadcast of its rows",
                                 ir::op_name(nd.op), i);
            });
      } else if (!in.empty()) {
        // One row space per value: keep the one with the largest rows.
        std::map<Space, std::vector<NodeId>> by_space;
        for (NodeId r : in) by_space[space_of(g_, r)].push_back(r);
        if (by_space.size() > 1) {
          auto keep = by_space.begin();
          for (auto it = by_space.begin(); it != by_space.end(); ++it)
            if (shape_numel(it->first.shape) > shape_numel(keep->first.shape)) keep = it;
          for (auto it = by_space.begin(); it != by_space.end(); ++it)
            if (it != keep)
              for (NodeId r : it->second)
                changed |= mark(r, [&] {
                  return fmt::format(
                      "%{} mixes values of two row spaces; the kernel "
                      "runs over the larger rows",
                      i);
                });
        }
      }
      if (!in.empty()) {
        Space sp = space_of(g_, *in.begin());
        bool fits = fits_space(nd.shape, sp);
        if (ir::is_reduce(nd.op) && *in.begin() == id) fits = true;
        if (!fits)
          for (NodeId r : in)
            if (r != id)
              changed |= mark(r, [&] {
                return fmt::format("%{} of shape {} does not run over its rows", i,
                                   shape_str(nd.shape));
              });
      }
      inner_[i] = std::move(in);
    }
    return changed;
  }

  /// Materialized nodes reachable from `root` through inlined nodes.
  void deps(NodeId root, std::set<NodeId>* m_deps, std::set<NodeId>* inlined) const {
    std::vector<NodeId> stack(g_.node(root).inputs.begin(), g_.node(root).inputs.end());
    while (!stack.empty()) {
      NodeId x = stack.back();
      stack.pop_back();
      if (is_leaf(g_.node(x))) continue;
      if (M_[x]) {
        m_deps->insert(x);
        continue;
      }
      if (!inlined->insert(x).second) continue;
      for (NodeId y : g_.node(x).inputs) stack.push_back(y);
    }
  }

  Schedule group() {
    Schedule s;
    s.materialized = M_;
    s.why = why_;
    std::vector<int> epoch(g_.size(), 0);
    std::vector<int> group_of(g_.size(), -1);
    inlined_by_group_.clear();
    for (size_t i = 0; i < g_.size(); ++i) {
      const NodeId id = static_cast<NodeId>(i);
      const Node& nd = g_.node(id);
      if (!M_[i] || is_leaf(nd)) continue;
      std::set<NodeId> md, inl;
      deps(id, &md, &inl);
      int ep = 1;
      for (NodeId d : md) ep = std::max(ep, epoch[d] + 1);
      epoch[i] = ep;
      if (nd.op == Op::Scatter) {
        // The destination first (epoch ep), then the writes (ep + 1).
        Group init;
        init.kind = Group::Kind::scatter_init;
        init.roots = {id};
        init.scatter = id;
        init.shape = nd.shape;
        init.epoch = ep;
        s.groups.push_back(init);
        std::set<NodeId> md0, inl0;
        deps_from(nd.inputs[0], &md0, &inl0);
        inlined_by_group_.push_back(inl0);
        Group sc = init;
        sc.kind = Group::Kind::scatter;
        sc.shape = g_.node(nd.inputs[1]).shape;
        sc.epoch = ep + 1;
        s.groups.push_back(sc);
        std::set<NodeId> md1, inl1;
        deps_from(nd.inputs[1], &md1, &inl1);
        deps_from(nd.inputs[2], &md1, &inl1);
        inlined_by_group_.push_back(inl1);
        epoch[i] = ep + 1;
        continue;
      }
      if (ir::is_scan(nd.op) || nd.op == Op::ArgSort) {
        Group gr;
        gr.kind = nd.op == Op::ArgSort ? Group::Kind::sort : Group::Kind::scan;
        gr.roots = {id};
        gr.shape = nd.shape;
        gr.axes = {nd.attrs[0]};
        gr.epoch = ep;
        s.groups.push_back(gr);
        inlined_by_group_.push_back(inl);
        continue;
      }
      if (nd.op == Op::Matmul || nd.op == Op::Conv || nd.op == Op::Cat) {
        if (nd.op == Op::Matmul || nd.op == Op::Conv) {
          Group gr;
          gr.kind = nd.op == Op::Conv ? Group::Kind::conv : Group::Kind::matmul;
          gr.roots = {id};
          gr.shape = nd.shape;
          gr.epoch = ep;
          s.groups.push_back(gr);
          inlined_by_group_.push_back(inl);
        } else {
          for (size_t k = 0; k < nd.inputs.size(); ++k) {
            Group gr;
            gr.kind = Group::Kind::cat_part;
            gr.roots = {id};
            gr.cat = id;
            gr.cat_input = static_cast<int>(k);
            gr.shape = g_.node(nd.inputs[k]).shape;
            gr.epoch = ep;
            s.groups.push_back(gr);
            std::set<NodeId> md2, inl2;
            deps_from(nd.inputs[k], &md2, &inl2);
            inlined_by_group_.push_back(inl2);
          }
        }
        continue;
      }
      Group gr;
      std::set<NodeId> reds;
      for (NodeId x : inl)
        if (ir::is_reduce(g_.node(x).op)) reds.insert(x);
      if (ir::is_reduce(nd.op)) reds.insert(id);
      if (!reds.empty()) {
        Space sp = space_of(g_, *reds.begin());
        gr.kind = Group::Kind::row;
        gr.shape = sp.shape;
        gr.axes = sp.axes;
      } else {
        gr.kind = Group::Kind::pointwise;
        gr.shape = nd.shape;
        if (nd.op == Op::Reshape && !buffer_view(g_, M_, id, true)) {
          gr.reshape_copy = true;  // run over the input's shape, store in row-major order
          gr.shape = g_.node(nd.inputs[0]).shape;
        }
      }
      gr.epoch = ep;
      // Horizontal fusion: join an earlier group with the same domain and epoch.
      bool joined = false;
      for (size_t k = 0; k < s.groups.size() && !joined; ++k) {
        Group& o = s.groups[k];
        if (o.kind == gr.kind && o.epoch == ep && o.shape == gr.shape && o.axes == gr.axes &&
            !o.reshape_copy && !gr.reshape_copy &&
            (o.kind == Group::Kind::pointwise || o.kind == Group::Kind::row)) {
          o.roots.push_back(id);
          inlined_by_group_[k].insert(inl.begin(), inl.end());
          joined = true;
        }
      }
      if (!joined) {
        gr.roots = {id};
        s.groups.push_back(gr);
        inlined_by_group_.push_back(inl);
      }
    }
    fuse_vertically(&s, &epoch);
    // Execution order: by epoch (stable).
    std::vector<size_t> order(s.groups.size());
    for (size_t k = 0; k < order.size(); ++k) order[k] = k;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return s.groups[a].epoch < s.groups[b].epoch; });
    std::vector<Group> sorted;
    std::vector<std::set<NodeId>> inl_sorted;
    for (size_t k : order) {
      sorted.push_back(s.groups[k]);
      inl_sorted.push_back(inlined_by_group_[k]);
    }
    s.groups = std::move(sorted);
    inlined_by_group_ = std::move(inl_sorted);
    return s;
  }

  /// The nodes a group computes: its roots and what it inlines.
  std::set<NodeId> nodes_of(const Group& gr, size_t k) const {
    std::set<NodeId> n(inlined_by_group_[k].begin(), inlined_by_group_[k].end());
    n.insert(gr.roots.begin(), gr.roots.end());
    return n;
  }

  /// Materialized nodes that `nodes` (a group's, with roots `roots`) read.
  std::set<NodeId> reads_of(const std::set<NodeId>& nodes, const std::vector<NodeId>& roots) const {
    std::set<NodeId> md;
    for (NodeId n : nodes)
      for (NodeId x : g_.node(n).inputs)
        if (M_[x] && !is_leaf(g_.node(x)) &&
            std::find(roots.begin(), roots.end(), x) == roots.end())
          md.insert(x);
    return md;
  }

  /// A pointwise group a backend may run as a GEMM's epilogue (an op that
  /// reads a matmul or convolution result element for element) or one that
  /// copies a reshape: left as it is.
  bool keeps_its_kernel(const Group& gr, const std::set<NodeId>& nodes) const {
    if (gr.kind != Group::Kind::pointwise || gr.reshape_copy) return true;
    for (NodeId n : nodes) {
      if (ir::is_movement(g_.node(n).op)) continue;
      for (NodeId x : g_.node(n).inputs)
        if (g_.node(x).op == Op::Matmul || g_.node(x).op == Op::Conv) return true;
    }
    return false;
  }

  int ops_in(const std::set<NodeId>& nodes) const {
    int c = 0;
    for (NodeId n : nodes) c += ir::is_pointwise(g_.node(n).op) ? 1 : 0;
    return c;
  }

  /// Rule 7 (vertical fusion): a pointwise group whose roots a later
  /// pointwise group of the same domain reads element for element (each at
  /// the index it computes, not through a view or a broadcast) is computed
  /// in that group, which stores its roots too: an optimizer's gradient,
  /// moments and parameter are written by one kernel, not read back from
  /// memory by the next. Only when nothing else the later group reads
  /// depends on the earlier one (the epochs say so). Returns whether any
  /// group was merged.
  bool fuse_vertically(Schedule* s, std::vector<int>* node_epoch) {
    bool any = false;
    for (bool changed = true; changed;) {
      changed = false;
      std::map<NodeId, size_t> owner;  // root -> its pointwise group
      for (size_t k = 0; k < s->groups.size(); ++k)
        if (s->groups[k].kind == Group::Kind::pointwise)
          for (NodeId r : s->groups[k].roots) owner[r] = k;
      for (size_t k2 = 0; k2 < s->groups.size() && !changed; ++k2) {
        const Group& g2 = s->groups[k2];
        const std::set<NodeId> nodes2 = nodes_of(g2, k2);
        if (keeps_its_kernel(g2, nodes2)) continue;
        const std::set<NodeId> reads2 = reads_of(nodes2, g2.roots);
        for (NodeId x : reads2) {
          auto it = owner.find(x);
          if (it == owner.end() || it->second == k2) continue;
          const size_t k1 = it->second;
          const Group& g1 = s->groups[k1];
          const std::set<NodeId> nodes1 = nodes_of(g1, k1);
          if (g1.shape != g2.shape || keeps_its_kernel(g1, nodes1)) continue;
          bool ok = ops_in(nodes1) + ops_in(nodes2) <= kMaxKernelOps;
          for (NodeId n : nodes2)
            for (NodeId y : g_.node(n).inputs)
              if (std::find(g1.roots.begin(), g1.roots.end(), y) != g1.roots.end())
                ok = ok && ir::is_pointwise(g_.node(n).op) && g_.node(n).shape == g2.shape &&
                     g_.node(y).shape == g2.shape;
          for (NodeId z : reads2)
            if (std::find(g1.roots.begin(), g1.roots.end(), z) == g1.roots.end())
              ok = ok && (*node_epoch)[z] <= g1.epoch;
          if (!ok) continue;
          Group merged = g2;
          merged.roots.insert(merged.roots.end(), g1.roots.begin(), g1.roots.end());
          std::sort(merged.roots.begin(), merged.roots.end());
          merged.epoch = std::max(g1.epoch, g2.epoch);
          s->groups[k2] = std::move(merged);
          inlined_by_group_[k2].insert(inlined_by_group_[k1].begin(), inlined_by_group_[k1].end());
          s->groups.erase(s->groups.begin() + static_cast<std::ptrdiff_t>(k1));
          inlined_by_group_.erase(inlined_by_group_.begin() + static_cast<std::ptrdiff_t>(k1));
          changed = any = true;
          break;
        }
      }
      if (changed) order_epochs(s, node_epoch);
    }
    return any;
  }

  /// Epochs again after groups were merged: each group after every group
  /// whose roots it reads (a scatter after its destination's group).
  void order_epochs(Schedule* s, std::vector<int>* node_epoch) {
    std::map<NodeId, std::vector<size_t>> owners;
    for (size_t k = 0; k < s->groups.size(); ++k)
      for (NodeId r : s->groups[k].roots) owners[r].push_back(k);
    std::vector<std::set<NodeId>> reads(s->groups.size());
    for (size_t k = 0; k < s->groups.size(); ++k)
      reads[k] = reads_of(nodes_of(s->groups[k], k), s->groups[k].roots);
    for (bool changed = true; changed;) {
      changed = false;
      for (size_t k = 0; k < s->groups.size(); ++k) {
        Group& gr = s->groups[k];
        int e = 1;
        for (NodeId x : reads[k])
          for (size_t o : owners[x]) e = std::max(e, s->groups[o].epoch + 1);
        if (gr.kind == Group::Kind::scatter)
          for (size_t o : owners[gr.scatter])
            if (s->groups[o].kind == Group::Kind::scatter_init)
              e = std::max(e, s->groups[o].epoch + 1);
        if (e > gr.epoch) {
          gr.epoch = e;
          changed = true;
        }
      }
    }
    for (const Group& gr : s->groups)
      for (NodeId r : gr.roots) (*node_epoch)[r] = std::max((*node_epoch)[r], gr.epoch);
  }

  void deps_from(NodeId x, std::set<NodeId>* m_deps, std::set<NodeId>* inlined) const {
    if (is_leaf(g_.node(x))) return;
    if (M_[x]) {
      m_deps->insert(x);
      return;
    }
    inlined->insert(x);
    deps(x, m_deps, inlined);
  }

  /// Rules 3 (shared reductions) and 4 (recompute budget).
  bool shared_pass() {
    std::map<NodeId, int> uses;
    for (const auto& inl : inlined_by_group_)
      for (NodeId x : inl) ++uses[x];
    bool changed = false;
    std::vector<int> cost(g_.size(), -1);
    for (const auto& [x, n] : uses) {
      const int count = n;  // a plain local: lambdas may not capture bindings
      if (count < 2) continue;
      if (ir::is_reduce(g_.node(x).op)) {
        changed |= mark(x, [&] {
          return fmt::format("a reduction used by {} kernels (never recomputed)", count);
        });
        continue;
      }
      if (const int c = op_cost(x, cost); c > kRecomputeBudget)
        changed |= mark(x, [&] {
          return fmt::format(
              "used by {} kernels and {} ops to recompute in each (more "
              "than {})",
              count, c, kRecomputeBudget);
        });
    }
    return changed;
  }

  int op_cost(NodeId x, std::vector<int>& memo) const {
    if (memo[x] >= 0) return memo[x];
    const Node& n = g_.node(x);
    if (is_leaf(n) || M_[x]) return memo[x] = 0;
    int c = ir::is_pointwise(n.op) || n.op == Op::Gather ? 1 : 0;
    for (NodeId y : n.inputs) c += op_cost(y, memo);
    return memo[x] = std::min(c, 1 << 20);
  }

  const Graph& g_;
  std::vector<char> M_;
  std::vector<std::string> why_;
  std::vector<std::set<NodeId>> inner_;
  std::vector<std::set<NodeId>> inlined_by_group_;
};

}  // namespace

std::optional<BufferRef> buffer_view(const Graph& g, const std::vector<char>& M, NodeId n,
                                     bool skip_self) {
  const Node& nd = g.node(n);
  if (nd.op == Op::Buffer) return BufferRef{n, nd.attrs, 0};
  if (M[n] && !skip_self) return BufferRef{n, contiguous_strides(nd.shape), 0};
  if (!ir::is_movement(nd.op) || nd.op == Op::Cat) return std::nullopt;
  auto in = buffer_view(g, M, nd.inputs[0]);
  if (!in) return std::nullopt;
  const Shape& ishape = g.node(nd.inputs[0]).shape;
  BufferRef r{in->buffer, {}, in->offset};
  switch (nd.op) {
    case Op::Permute:
      r.strides.resize(nd.attrs.size());
      for (size_t i = 0; i < nd.attrs.size(); ++i) r.strides[i] = in->strides[nd.attrs[i]];
      return r;
    case Op::Expand: {
      size_t lead = nd.shape.size() - ishape.size();
      r.strides.assign(nd.shape.size(), 0);
      for (size_t i = 0; i < ishape.size(); ++i)
        r.strides[lead + i] = ishape[i] == nd.shape[lead + i] ? in->strides[i] : 0;
      return r;
    }
    case Op::Slice: {
      size_t rank = ishape.size();
      r.strides = in->strides;
      for (size_t d = 0; d < rank; ++d) {
        r.offset += nd.attrs[d] * in->strides[d];
        r.strides[d] *= nd.attrs[rank + d];
      }
      return r;
    }
    case Op::Reshape: {
      auto st = reshape_strides(ishape, in->strides, nd.shape);
      if (!st) return std::nullopt;
      r.strides = *st;
      return r;
    }
    case Op::Cat:  // returned above: a cat result is never a view
      break;
#define TJ_OP(name, ...) \
  case Op::name:         \
    ir::not_a(nd.op, "movement op");
#define TJ_MOVEMENT(name, ...)
#include "ir/ops.def"
  }
  return std::nullopt;
}

Schedule fuse(const Graph& g) { return Fuser(g).run(); }

std::string to_string(const Graph& g, const Schedule& s) {
  std::string out;
  for (size_t k = 0; k < s.groups.size(); ++k) {
    const Group& gr = s.groups[k];
    const char* kind = gr.kind == Group::Kind::pointwise      ? "pointwise"
                       : gr.kind == Group::Kind::row          ? "row"
                       : gr.kind == Group::Kind::matmul       ? "matmul"
                       : gr.kind == Group::Kind::conv         ? "conv"
                       : gr.kind == Group::Kind::scatter_init ? "scatter_init"
                       : gr.kind == Group::Kind::scatter      ? "scatter"
                       : gr.kind == Group::Kind::scan         ? "scan"
                       : gr.kind == Group::Kind::sort         ? "sort"
                                                              : "cat_part";
    std::string roots;
    for (NodeId r : gr.roots) roots += fmt::format(" %{}", r);
    out += fmt::format("group {} ({}, epoch {}): shape {}{} roots{}\n", k, kind, gr.epoch,
                       shape_str(gr.shape), gr.axes.empty() ? "" : " axes " + shape_str(gr.axes),
                       roots);
  }
  for (const std::string& r : refusals(g, s)) out += "not fused: " + r + "\n";
  return out;
}

std::vector<std::string> refusals(const Graph& g, const Schedule& s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.why.size() && i < g.size(); ++i)
    if (!s.why[i].empty())
      out.push_back(fmt::format("%{} ({}) materialized: {}", i,
                                ir::op_name(g.node(static_cast<NodeId>(i)).op), s.why[i]));
  return out;
}

}  // namespace tj::sched
