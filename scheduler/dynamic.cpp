#include "scheduler/dynamic.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "scheduler/name_kernel.h"
#include "scheduler/split_reductions.h"
#include "scheduler/tile.h"

namespace tj::sched {

int64_t SymSize::at(int64_t s) const {
  if (!symbolic()) return constant;
  const __int128 p = static_cast<__int128>(s) * num;
  if (p % den != 0) return -1;
  return static_cast<int64_t>(p / den + constant);
}

std::string rules_differ(const DynamicPlan& a, const DynamicPlan& b) {
  if (a.symbol != b.symbol || a.symbol_dim != b.symbol_dim) return "another size is the symbol";
  if (a.splits != b.splits) return "a reduction is split otherwise";
  if (a.plan.kernels.size() != b.plan.kernels.size()) return "the kernels differ";
  auto str = [](const SymSize& q) {
    return q.symbolic() ? fmt::format("s0 * {} / {} + {}", q.num, q.den, q.constant)
                        : std::to_string(q.constant);
  };
  for (size_t i = 0; i < a.node_dims.size() && i < b.node_dims.size(); ++i)
    for (size_t k = 0; k < a.node_dims[i].size() && k < b.node_dims[i].size(); ++k)
      if (a.node_dims[i][k] != b.node_dims[i][k])
        return fmt::format("dim {} of %{} is {}, was {}", k, i, str(b.node_dims[i][k]),
                           str(a.node_dims[i][k]));
  if (a.node_dims != b.node_dims) return "the graphs differ";
  for (size_t i = 0; i < a.plan.kernels.size(); ++i) {
    const ir::Kernel &x = a.plan.kernels[i], &y = b.plan.kernels[i];
    if (x.name != y.name || x.dynamic != y.dynamic ||
        a.kernel_symbols[i].size() != b.kernel_symbols[i].size())
      return fmt::format("kernel {} is {} now", x.name, y.name);
    for (size_t j = 0; j < a.kernel_symbols[i].size(); ++j)
      if (a.kernel_symbols[i][j] != b.kernel_symbols[i][j])
        return fmt::format("value {} of kernel {} is {}, was {}", j, x.name,
                           str(b.kernel_symbols[i][j]), str(a.kernel_symbols[i][j]));
  }
  for (size_t k = 0; k < a.buffer_numel.size() && k < b.buffer_numel.size(); ++k)
    if (a.buffer_numel[k] != b.buffer_numel[k])
      return fmt::format("buffer {} holds {} elements, was {}", k, str(b.buffer_numel[k]),
                         str(a.buffer_numel[k]));
  if (a.buffer_numel != b.buffer_numel) return "the buffers differ";
  return {};
}

namespace {

/// The line through va at s0 = sa and vb at s0 = sb (va != vb, sa != sb):
/// s0 * num / den + b, with a whole b.
std::optional<SymSize> line(int64_t va, int64_t sa, int64_t vb, int64_t sb) {
  if (va <= 0 || vb <= 0 || sa == sb) return std::nullopt;
  int64_t num = vb - va, den = sb - sa;
  if (den < 0) {
    num = -num;
    den = -den;
  }
  const int64_t g = std::gcd(num, den);
  SymSize q;
  q.num = num / g;
  q.den = den / g;
  const __int128 b = static_cast<__int128>(va) * q.den - static_cast<__int128>(sa) * q.num;
  if (q.num == 0 || b % q.den != 0) return std::nullopt;
  q.constant = static_cast<int64_t>(b / q.den);
  if (q.at(sa) != va || q.at(sb) != vb) return std::nullopt;
  return q;
}

bool same_step(const Step& a, const Step& b) {
  return a.kernel == b.kernel && a.args == b.args && a.params == b.params &&
         a.arg_offsets == b.arg_offsets;
}

bool same_buffer_but_size(const PlanBuffer& a, const PlanBuffer& b) {
  return a.kind == b.kind && a.slot == b.slot && a.node == b.node && a.dtype == b.dtype &&
         a.first_use == b.first_use && a.last_use == b.last_use && a.donor == b.donor;
}

}  // namespace

Generalized generalize(const ir::Graph& ga, const Plan& pa, const ir::Graph& gb, const Plan& pb,
                       const Target& target) {
  Generalized r;
  auto fail = [&](std::string why) {
    r.plan.reset();
    r.why_not = std::move(why);
    return r;
  };
  // A value of 0 or 1 in one of the two graphs: a later pair may generalize.
  auto too_small = [&] {
    r.try_again = true;
    return fail("sizes 0 and 1 get plans of their own");
  };
  if (!target.dynamic_dims)
    return fail(fmt::format("{} kernels are compiled for constant sizes", target.name));
  if (ga.size() != gb.size()) return fail("the graphs differ in more than their sizes");
  DynamicPlan d;
  d.node_dims.resize(gb.size());
  int64_t sa = 0, sb = 0;
  for (size_t i = 0; i < gb.size(); ++i) {
    const Shape& a = ga.node(static_cast<ir::NodeId>(i)).shape;
    const Shape& b = gb.node(static_cast<ir::NodeId>(i)).shape;
    if (a.size() != b.size()) return fail("the graphs differ in more than their sizes");
    d.node_dims[i].resize(b.size());
    for (size_t k = 0; k < b.size(); ++k) {
      if (a[k] == b[k]) {
        d.node_dims[i][k].constant = b[k];
        continue;
      }
      if (r.node < 0) {
        r.node = static_cast<ir::NodeId>(i);
        r.dim = static_cast<int>(k);
        r.from = sa = a[k];
        r.to = sb = b[k];
        d.symbol = r.node;
        d.symbol_dim = r.dim;
        if (sa < 2 || sb < 2) return too_small();
      }
      if (a[k] < 2 || b[k] < 2) return too_small();
      std::optional<SymSize> q = line(a[k], sa, b[k], sb);
      if (!q)
        return fail(
            fmt::format("dim {} of %{} ({} -> {}) is not a whole linear function of dim {} of %{} "
                        "({} -> {})",
                        k, i, a[k], b[k], r.dim, r.node, sa, sb));
      d.node_dims[i][k] = *q;
    }
  }
  if (r.node < 0) return fail("no size changed");
  d.splits = split_choices(gb, target);
  if (split_choices(ga, target) != d.splits)
    return fail("a reduction is split otherwise at the new sizes");

  if (pa.kernels.size() != pb.kernels.size() || pa.steps.size() != pb.steps.size() ||
      pa.buffers.size() != pb.buffers.size() || pa.outputs != pb.outputs ||
      pa.check_buffer != pb.check_buffer)
    return fail("the schedule depends on the sizes (other kernels or steps)");
  for (size_t s = 0; s < pb.steps.size(); ++s)
    if (!same_step(pa.steps[s], pb.steps[s]))
      return fail(fmt::format("step {} reads other arguments or offsets at the new sizes", s));
  d.buffer_numel.resize(pb.buffers.size());
  for (size_t b = 0; b < pb.buffers.size(); ++b) {
    const PlanBuffer &x = pa.buffers[b], &y = pb.buffers[b];
    if (!same_buffer_but_size(x, y))
      return fail(fmt::format("buffer {} is used otherwise at the new sizes", b));
    if (x.numel == y.numel) {
      d.buffer_numel[b].constant = y.numel;
      continue;
    }
    std::optional<SymSize> q = line(x.numel, sa, y.numel, sb);
    if (!q)
      return fail(fmt::format("buffer {} ({} -> {} elements) is not a whole linear function of s0",
                              b, x.numel, y.numel));
    d.buffer_numel[b] = *q;
  }
  d.plan = pb;
  d.kernel_symbols.resize(pb.kernels.size());
  for (size_t i = 0; i < pb.kernels.size(); ++i) {
    ir::Kernel ka = pa.kernels[i], kb = pb.kernels[i];
    if (ka.kind != kb.kind || ka.domain.size() != kb.domain.size() || kb.domain.size() > 31 ||
        ka.accesses.size() != kb.accesses.size())
      return fail(fmt::format("kernel {} is another kernel at the new sizes", kb.name));
    // What changed: sizes of the domain, strides and offsets of accesses.
    uint32_t mask = 0;
    for (size_t k = 0; k < kb.domain.size(); ++k)
      if (ka.domain[k] != kb.domain[k]) mask |= 1u << k;
    bool any = mask != 0;
    std::vector<uint32_t> acc_mask(kb.accesses.size(), 0);
    for (size_t a = 0; a < kb.accesses.size(); ++a) {
      const ir::Access &x = ka.accesses[a], &y = kb.accesses[a];
      if (x.strides.size() != y.strides.size())
        return fail(fmt::format("kernel {} is another kernel at the new sizes", kb.name));
      for (size_t k = 0; k < y.strides.size(); ++k)
        if (x.strides[k] != y.strides[k]) acc_mask[a] |= 1u << k;
      if (x.offset != y.offset) acc_mask[a] |= 1u << ir::Access::kOffsetBit;
      any = any || acc_mask[a] != 0;
    }
    if (!any) {
      if (ka.name != kb.name)
        return fail(fmt::format("kernel {} changes in more than its sizes", kb.name));
      continue;
    }
    for (ir::Kernel* k : {&ka, &kb}) {
      k->dynamic = mask;
      for (size_t a = 0; a < k->accesses.size(); ++a) k->accesses[a].symbolic = acc_mask[a];
    }
    if (kb.kind == ir::Kernel::Kind::conv &&
        ((mask & ~1u) != 0 ||
         std::any_of(acc_mask.begin(), acc_mask.end(), [](uint32_t m) { return m != 0; })))
      return fail(fmt::format("kernel {} (a convolution) takes a symbolic batch only", kb.name));
    if (ir::identity_string(ka) != ir::identity_string(kb))
      return fail(
          fmt::format("kernel {} changes in more than its sizes, strides and offsets", kb.name));
    // Each value bound at launch is linear in s0, at least 2 (so that no
    // code decided for 0 or 1, a broadcast or a unit stride, depends on one).
    std::vector<int64_t> va, vb;
    ir::for_each_symbol(ka, [&](int64_t v) { va.push_back(v); });
    ir::for_each_symbol(kb, [&](int64_t v) { vb.push_back(v); });
    std::vector<SymSize>& rules = d.kernel_symbols[i];
    for (size_t j = 0; j < va.size(); ++j) {
      if (va[j] < 2 || vb[j] < 2) return too_small();
      std::optional<SymSize> q = line(va[j], sa, vb[j], sb);
      if (!q)
        return fail(
            fmt::format("kernel {}: a size, stride or offset ({} -> {}) is not a whole linear "
                        "function of s0",
                        kb.name, va[j], vb[j]));
      rules.push_back(*q);
    }
    kb.name = kernel_name(kb);
    ir::verify(kb);
    d.plan.kernels[i] = std::move(kb);
    ++d.dynamic_kernels;
  }
  auto affine = [](const SymSize& q) { return q.symbolic() && q.constant != 0; };
  for (const auto& v : d.node_dims) d.affine = d.affine || std::any_of(v.begin(), v.end(), affine);
  for (const auto& v : d.kernel_symbols)
    d.affine = d.affine || std::any_of(v.begin(), v.end(), affine);
  d.affine = d.affine || std::any_of(d.buffer_numel.begin(), d.buffer_numel.end(), affine);
  r.plan = std::move(d);
  return r;
}

std::optional<Plan> instantiate(const DynamicPlan& d, const ir::Graph& g, const Target& target,
                                std::string* why_not) {
  auto fail = [&](std::string why) -> std::optional<Plan> {
    if (why_not) *why_not = std::move(why);
    return std::nullopt;
  };
  if (g.size() != d.node_dims.size()) return fail("the graph differs in more than its sizes");
  const Shape& sym = g.node(d.symbol).shape;
  if (sym.size() <= static_cast<size_t>(d.symbol_dim))
    return fail("the graph differs in more than its sizes");
  const int64_t s = sym[d.symbol_dim];
  if (s < 2) return fail(fmt::format("s0 = {}: sizes 0 and 1 get plans of their own", s));
  for (size_t i = 0; i < g.size(); ++i) {
    const Shape& sh = g.node(static_cast<ir::NodeId>(i)).shape;
    if (sh.size() != d.node_dims[i].size()) return fail("the graph differs in more than its sizes");
    for (size_t k = 0; k < sh.size(); ++k) {
      const SymSize& rule = d.node_dims[i][k];
      const int64_t want = rule.at(s);
      if (sh[k] != want)
        return fail(
            rule.symbolic()
                ? fmt::format("dim {} of %{} is {}, not {} for s0 = {}", k, i, sh[k], want, s)
                : fmt::format("dim {} of %{} is {}, not the constant {}", k, i, sh[k], want));
      if (rule.symbolic() && want < 2)
        return fail(
            fmt::format("dim {} of %{} is {}: sizes 0 and 1 get plans of their own", k, i, want));
    }
  }
  if (split_choices(g, target) != d.splits)
    return fail("a reduction is split otherwise at these sizes");
  Plan p = d.plan;
  p.graph_hash = g.hash();
  for (size_t i = 0; i < p.kernels.size(); ++i) {
    ir::Kernel& k = p.kernels[i];
    if (!k.has_symbols()) continue;
    const std::vector<SymSize>& rules = d.kernel_symbols[i];
    size_t j = 0;
    bool ok = true;
    ir::for_each_symbol(k, [&](int64_t& v) {
      v = rules[j++].at(s);
      ok = ok && v >= 2;
    });
    if (!ok) return fail(fmt::format("s0 = {} is not a size kernel {} takes", s, k.name));
    // The launch's grain for these sizes; what the code depends on stays.
    const ir::TileConfig t = choose_tile(k, target);
    k.tile.block = t.block;
    k.tile.rows = t.rows;
  }
  for (size_t b = 0; b < p.buffers.size(); ++b) {
    const int64_t n = d.buffer_numel[b].at(s);
    if (n < 0) return fail(fmt::format("s0 = {} is not a size buffer {} takes", s, b));
    p.buffers[b].numel = n;
  }
  return p;
}

}  // namespace tj::sched
