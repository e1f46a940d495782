#include "scheduler/donate.h"

#include <algorithm>

#include "ir/shape.h"

namespace tj::sched {

void choose_donors(Plan& p, const ir::Graph& g) {
  std::vector<bool> taken(p.buffers.size(), false);  // inputs already donated
  for (size_t si = 0; si < p.steps.size(); ++si) {
    Step& st = p.steps[si];
    ir::Kernel& k = p.kernels[st.kernel];
    if (k.kind != ir::Kernel::Kind::pointwise || !k.checks.empty()) continue;
    // A step reading the result of the GEMM or convolution just before it may
    // run as that call's epilogue, which writes this step's output while the
    // call reads its operands.
    if (si > 0) {
      const Step& ps = p.steps[si - 1];
      const ir::Kernel& pk = p.kernels[ps.kernel];
      if ((pk.kind == ir::Kernel::Kind::matmul || pk.kind == ir::Kernel::Kind::conv) &&
          std::find(st.args.begin(), st.args.end(), ps.args[pk.accesses[2].arg]) != st.args.end())
        continue;
    }
    const int64_t n = k.kept_numel();
    const Strides dense = contiguous_strides(k.domain);
    for (size_t store_at = 0; store_at < k.body.size(); ++store_at) {
      const ir::KInstr& in = k.body[store_at];
      if (in.kop != ir::KOp::Store) continue;
      const ir::Access& w = k.accesses[in.access];
      const int32_t ob = st.args[w.arg];
      PlanBuffer& out = p.buffers[ob];
      if (out.kind != PlanBuffer::Kind::output && out.kind != PlanBuffer::Kind::temp) continue;
      if (out.donor >= 0 || out.numel != n || w.offset != 0 || w.strides != dense ||
          st.arg_offsets[w.arg] != 0)
        continue;
      // Inputs read by this step alone first: the others may serve other outputs.
      for (int pass = 0; pass < 2 && out.donor < 0; ++pass)
        for (int32_t a = 0; a < static_cast<int32_t>(k.args.size()); ++a) {
          const int32_t ib = st.args[a];
          const PlanBuffer& src = p.buffers[ib];
          if (src.kind != PlanBuffer::Kind::input || taken[ib] || src.dtype != out.dtype ||
              src.numel != n || st.arg_offsets[a] != 0 || !g.donatable(src.slot))
            continue;
          // Steps run in order, each finished (CPU) or queued on one stream
          // (CUDA) before the next: after the input's last reader nothing reads it.
          if (src.last_use != static_cast<int>(si) ||
              (pass == 0) != (src.first_use == src.last_use))
            continue;
          // Every access of the input reads the element the store writes, and
          // every load of it comes before the store in the body.
          bool same = true, read = false;
          for (const ir::Access& r : k.accesses) {
            if (r.arg != a) continue;
            read = true;
            same = same && r.gather_size < 0 && r.offset == 0 && r.strides == dense;
          }
          for (size_t j = store_at + 1; j < k.body.size() && same; ++j)
            same = !(k.body[j].kop == ir::KOp::Load && k.accesses[k.body[j].access].arg == a);
          if (!read || !same) continue;
          out.donor = ib;
          taken[ib] = true;
          if (std::find(k.aliases.begin(), k.aliases.end(), std::make_pair(a, w.arg)) ==
              k.aliases.end())
            k.aliases.emplace_back(a, w.arg);
          break;
        }
    }
  }
}

}  // namespace tj::sched
