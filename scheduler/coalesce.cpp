#include "scheduler/coalesce.h"

namespace tj::sched {

void coalesce(ir::Kernel& k) {
  if (k.kind == ir::Kernel::Kind::matmul || k.kind == ir::Kernel::Kind::conv) return;
  const size_t n = k.domain.size();
  const size_t kept_n = n - k.reduced;
  // Keep dims that are not size 1 (and the walked dim of a scatter or scan
  // kernel, which its printers walk as the one reduced dim).
  const bool scatter = k.walks_lines();
  std::vector<size_t> keep;
  for (size_t d = 0; d < n; ++d)
    if (k.domain[d] != 1 || (scatter && d >= kept_n)) keep.push_back(d);
  auto mergeable = [&](size_t a, size_t b) {  // a directly before b
    for (const ir::Access& acc : k.accesses)
      if (acc.strides[a] != acc.strides[b] * k.domain[b]) return false;
    return true;
  };
  // Build groups within each segment.
  std::vector<std::vector<size_t>> groups;
  std::vector<bool> group_reduced;
  for (size_t d : keep) {
    bool red = d >= kept_n;
    if (!groups.empty() && group_reduced.back() == red && mergeable(groups.back().back(), d)) {
      groups.back().push_back(d);
      continue;
    }
    groups.push_back({d});
    group_reduced.push_back(red);
  }
  Shape dom;
  int reduced = 0;
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    int64_t size = 1;
    for (size_t d : groups[gi]) size *= k.domain[d];
    dom.push_back(size);
    reduced += group_reduced[gi] ? 1 : 0;
  }
  for (ir::Access& acc : k.accesses) {
    Strides st;
    for (const auto& grp : groups) st.push_back(acc.strides[grp.back()]);
    acc.strides = std::move(st);
  }
  if (dom.empty() && k.kind == ir::Kernel::Kind::pointwise) {
    dom.push_back(1);
    for (ir::Access& acc : k.accesses) acc.strides.push_back(0);
  }
  k.domain = std::move(dom);
  k.reduced = reduced;
}

}  // namespace tj::sched
