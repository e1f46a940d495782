#include "jit/cuda/printer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>

#include "ir/check.h"
#include "jit/codegen/body_printer.h"
#include "jit/codegen/embedded_sources.h"

namespace tj::jit {

using ir::Access;
using ir::Kernel;
using ir::KInstr;
using ir::KOp;
using ir::Op;

namespace {

constexpr int kPointwiseThreads = 256;
constexpr int kWarpRowThreads = 128;  // 4 rows per block
constexpr int kThreadRowThreads = 128;
constexpr int64_t kThreadRowMax = 16;  // longest row reduced by one thread
constexpr int64_t kWarpRowMax = 1024;  // longest row reduced by one warp
constexpr int kPersistentValues = 32;  // registers of cached loads per thread, at most

enum class RowMode : uint8_t { thread, warp, block };

/// Everything the printer and the launcher must agree on.
struct Layout {
  int vec = 1;
  std::vector<bool> vector_access;  // per access: moved with vector loads/stores
  int threads = 256;
  int64_t grid = 1;
  bool idx32 = true;  // offsets and indices fit in int
  // row kernels
  RowMode mode = RowMode::block;
  int lanes = 1;  // threads sharing a row
  int64_t iters = 1;
  bool persistent = false;
  std::set<int32_t> cached_loads;  // element-level loads held in registers
  // A dynamic kernel's row length is read at launch: `iters` is a bound
  // rounded up to a power of 2 (or, with runtime_iters, computed at launch)
  // and every iteration checks that it is within the row.
  bool dynamic_row = false;
  bool runtime_iters = false;

  /// What the printed code depends on besides the kernel's identity: a
  /// dynamic kernel is compiled once per signature (cuda_variant).
  std::string signature() const {
    std::string s =
        fmt::format("v{} t{} i{} m{} l{} it{} p{} r{}{} a", vec, threads, idx32 ? 32 : 64,
                    static_cast<int>(mode), lanes, runtime_iters ? -1 : iters, persistent ? 1 : 0,
                    dynamic_row ? 1 : 0, runtime_iters ? 1 : 0);
    for (bool b : vector_access) s += b ? '1' : '0';
    s += " c";
    for (int32_t c : cached_loads) s += fmt::format("{},", c);
    return s;
  }
};

int64_t elem_size(DType t) { return dtype_size(t); }

/// Largest |offset| any access can reach, and the domain size.
bool fits_int32(const Kernel& k) {
  const int64_t lim = int64_t{1} << 30;  // headroom for index arithmetic
  if (shape_numel(k.domain) >= lim) return false;
  for (const Access& a : k.accesses) {
    int64_t m = std::llabs(a.offset);
    for (size_t d = 0; d < k.domain.size(); ++d)
      m += std::llabs(a.strides[d]) * std::max<int64_t>(k.domain[d] - 1, 0);
    if (a.gather_size >= 0)  // the index reaches gather_size - 1 (wrapped: at most that)
      m += std::llabs(a.gather_stride) * std::max<int64_t>(a.gather_size - 1, 0);
    if (m >= lim) return false;
  }
  return true;
}

/// Vector width over the innermost domain dim and which accesses use it.
void choose_vectors(const Kernel& k, Layout* L) {
  const size_t n = k.domain.size();
  L->vector_access.assign(k.accesses.size(), false);
  if (n == 0) return;
  const int64_t inner = k.domain[n - 1];
  // Only accesses that loads and stores use touch memory (Index instructions
  // use an access for their index arithmetic).
  std::vector<bool> memory(k.accesses.size(), false);
  for (const KInstr& in : k.body)
    if (in.kop == KOp::Load || in.kop == KOp::Store) memory[in.access] = true;
  if (k.kind == Kernel::Kind::matmul || k.kind == Kernel::Kind::conv) return;
  int64_t widest = 0;
  for (size_t i = 0; i < k.accesses.size(); ++i)
    if (memory[i] && k.accesses[i].strides[n - 1] == 1)
      widest = std::max(widest, elem_size(k.accesses[i].dtype));
  if (widest == 0) return;
  int vec = static_cast<int>(16 / widest);
  while (vec > 1 && inner % vec != 0) vec /= 2;
  if (vec <= 1) return;
  bool any = false;
  for (size_t i = 0; i < k.accesses.size(); ++i) {
    const Access& a = k.accesses[i];
    if (!memory[i] || a.strides[n - 1] != 1 || a.offset % vec != 0) continue;
    bool ok = true;
    for (size_t d = 0; d + 1 < n; ++d) ok = ok && a.strides[d] % vec == 0;
    L->vector_access[i] = ok;
    any = any || ok;
  }
  // Without vector accesses a thread still handles `vec` elements (more
  // independent work per thread), which needs no alignment.
  L->vec = vec;
  if (!any) L->vector_access.assign(k.accesses.size(), false);
}

/// Element-level loads read by more than one pass of a row kernel.
std::set<int32_t> multi_pass_loads(const Kernel& k) {
  // Passes: each stage, then the outputs. A load belongs to a pass when the
  // pass's values depend on it through element-level instructions.
  std::vector<std::set<int32_t>> deps(k.body.size());
  for (size_t i = 0; i < k.body.size(); ++i) {
    const KInstr& in = k.body[i];
    if (in.row_level) continue;
    if (in.kop == KOp::Load) deps[i].insert(static_cast<int32_t>(i));
    for (int32_t o : {in.a, in.b, in.c})
      if (o >= 0 && !k.body[o].row_level) deps[i].insert(deps[o].begin(), deps[o].end());
  }
  std::map<int32_t, int> passes;
  for (const ir::Stage& st : k.stages)
    for (int32_t l : deps[st.value]) ++passes[l];
  std::set<int32_t> out_loads;
  for (size_t i = 0; i < k.body.size(); ++i)
    if (k.body[i].kop == KOp::Store && !k.body[i].row_level)
      out_loads.insert(deps[i].begin(), deps[i].end());
  for (int32_t l : out_loads) ++passes[l];
  std::set<int32_t> r;
  for (auto [l, c] : passes)
    if (c > 1) r.insert(l);
  return r;
}

Layout layout(const Kernel& k) {
  Layout L;
  L.idx32 = fits_int32(k);
  switch (k.kind) {
    case Kernel::Kind::pointwise: {
      choose_vectors(k, &L);
      L.threads = kPointwiseThreads;
      const int64_t units = k.kept_numel() / L.vec;
      L.grid = (units + L.threads - 1) / L.threads;
      break;
    }
    case Kernel::Kind::row: {
      const int64_t rl = k.reduced_numel(), rows = k.kept_numel();
      if (rl <= kThreadRowMax) {
        L.mode = RowMode::thread;
        L.threads = kThreadRowThreads;
        L.lanes = 1;
        L.grid = (rows + L.threads - 1) / L.threads;
        L.vector_access.assign(k.accesses.size(), false);
      } else {
        choose_vectors(k, &L);
        if (rl <= kWarpRowMax) {
          L.mode = RowMode::warp;
          L.threads = kWarpRowThreads;
          L.lanes = 32;
          L.grid = (rows + L.threads / 32 - 1) / (L.threads / 32);
        } else {
          L.mode = RowMode::block;
          L.threads = rl <= 4096 ? 256 : rl <= 16384 ? 512 : 1024;
          L.lanes = L.threads;
          L.grid = rows;
        }
      }
      L.iters = (rl + int64_t{L.lanes} * L.vec - 1) / (int64_t{L.lanes} * L.vec);
      for (size_t d = k.domain.size() - k.reduced; d < k.domain.size(); ++d)
        L.dynamic_row = L.dynamic_row || k.symbolic(d);
      if (L.dynamic_row) {
        int64_t b = 1;
        while (b < L.iters) b *= 2;
        L.iters = b;
      }
      L.cached_loads = multi_pass_loads(k);
      // Registers the cached values take (an f64 or i64 value takes two).
      int64_t words = 0;
      for (int32_t l : L.cached_loads)
        words += std::max<int64_t>(1, dtype_size(k.body[l].dtype) / 4);
      const int64_t values = words * L.iters * L.vec;
      // A dynamic row checks every iteration against its length read at
      // launch: half the cached values leave registers for those checks.
      const int64_t most = L.dynamic_row ? kPersistentValues / 2 : kPersistentValues;
      L.persistent = L.iters > 0 && !L.cached_loads.empty() && values <= most;
      if (!L.persistent) L.cached_loads.clear();
      // A long row read at launch: its loop bound is computed there.
      L.runtime_iters = L.dynamic_row && !L.persistent && L.iters > 4;
      break;
    }
    case Kernel::Kind::scatter:
    case Kernel::Kind::scan:
    case Kernel::Kind::sort: {
      // A thread per row, walking the row in order.
      L.threads = kThreadRowThreads;
      L.grid = (k.kept_numel() + L.threads - 1) / L.threads;
      L.vector_access.assign(k.accesses.size(), false);
      break;
    }
    case Kernel::Kind::conv: {
      L.threads = 256;
      L.grid = (k.kept_numel() + L.threads - 1) / L.threads;
      L.vector_access.assign(k.accesses.size(), false);
      break;
    }
    case Kernel::Kind::matmul: {
      const size_t n = k.domain.size();
      const int64_t outs = shape_numel(Shape(k.domain.begin(), k.domain.end() - 1));
      L.threads = 256;
      L.grid = (outs + L.threads - 1) / L.threads;
      L.vector_access.assign(k.accesses.size(), false);
      (void)n;
      break;
    }
  }
  if (L.vector_access.empty()) L.vector_access.assign(k.accesses.size(), false);
  // Nothing to launch only when there is nothing to write: an empty reduced
  // extent (a matmul with K = 0, a sum over no elements) still writes its
  // identity to every output.
  if (k.kept_numel() == 0) L.grid = 0;
  return L;
}

bool has_vector_access(const Layout& L) {
  return std::any_of(L.vector_access.begin(), L.vector_access.end(), [](bool b) { return b; });
}

bool is_float(DType t) { return is_floating(t); }

class CudaPrinter : public BodyPrinter {
 public:
  CudaPrinter(const Kernel& k, CudaEntries entries)
      : BodyPrinter(k), L_(layout(k)), entries_(entries) {
    fp_ = "p.f";
    ip_ = "p.i";
  }

  std::string print() {
    const int np = std::max<int>(static_cast<int>(k_.params.size()), 1);
    out_ += fmt::format("// {}: {}\n", k_.name, k_.summary);
    // A dynamic kernel's sizes, strides and offsets bound at launch follow
    // the scalar parameters (ir::Kernel::dynamic, cuda_param_block).
    const std::string sym = symbols() ? fmt::format(" int64_t s[{}];", symbols()) : "";
    out_ +=
        fmt::format("struct {}_p {{ double f[{}]; int64_t i[{}];{} }};\n", k_.name, np, np, sym);
    std::vector<bool> written(k_.args.size(), false);
    for (const KInstr& in : k_.body)
      if (in.kop == KOp::Store || in.kop == KOp::Scatter)
        written[k_.accesses[in.access].arg] = true;
    if (k_.kind == Kernel::Kind::matmul || k_.kind == Kernel::Kind::conv)
      written[k_.accesses[2].arg] = true;
    if (k_.check_arg >= 0) written[k_.check_arg] = true;
    std::string params, names;
    for (size_t i = 0; i < k_.args.size(); ++i) {
      params += fmt::format("{}{}*{} a{}, ", written[i] ? "" : "const ", storage_type(k_.args[i]),
                            k_.aliased(static_cast<int32_t>(i)) ? "" : " __restrict__", i);
      names += fmt::format("a{}, ", i);
    }
    params += fmt::format("const {}_p& p", k_.name);
    const size_t sites = k_.checks.size();
    // Out-of-range gather indices: each site's largest, kept in registers by
    // the body and reported once after it (a report inside an unrolled loop
    // makes ptxas spill), even when the body returns early.
    out_ +=
        fmt::format("template <bool V>\nstatic __device__ __forceinline__ void {}_{}({}{}) {{\n",
                    k_.name, sites ? "run" : "body", params,
                    sites ? ", int64_t* __restrict__ tj_bad, int* __restrict__ tj_any" : "");
    out_ += L_.idx32 ? "  typedef int I;\n" : "  typedef int64_t I;\n";
    out_ += "  (void)p;\n";
    // The layout (vector width, threads per row, index type) was chosen for
    // this instance's values and is part of the kernel's name (cuda_variant),
    // so each value fits the index type.
    for (size_t j = 0; j < symbols(); ++j)
      out_ += fmt::format("  const I tj_s{0} = (I)p.s[{0}]; (void)tj_s{0};\n", j);
    print_kernel_body();
    out_ += "}\n";
    if (sites) {
      out_ +=
          fmt::format("template <bool V>\nstatic __device__ __forceinline__ void {}_body({}) {{\n",
                      k_.name, params);
      out_ += fmt::format("  int64_t tj_bad[{0}]; int tj_any[{0}];\n", sites);
      out_ += fmt::format(
          "  #pragma unroll\n  for (int s = 0; s < {}; ++s) {{ tj_bad[s] = INT64_MIN; tj_any[s] = "
          "0; }}\n",
          sites);
      out_ += fmt::format("  {}_run<V>({}p, tj_bad, tj_any);\n", k_.name, names);
      for (size_t q = 0; q < sites; ++q)
        out_ += fmt::format("  if (tj_any[{0}]) tj_index_report(a{1}, tj_bad[{0}], {2});\n", q,
                            k_.check_arg, site_args(static_cast<int32_t>(q)));
      out_ += "}\n";
    }
    std::string value_params = params;
    value_params.replace(value_params.rfind("const "), std::string::npos,
                         fmt::format("const {}_p p", k_.name));
    auto entry = [&](const std::string& name, bool vec) {
      out_ += fmt::format(
          "extern \"C\" __global__ void __launch_bounds__({}) {}({}) {{\n  {}_body<{}>({}p);\n}}\n",
          L_.threads, name, value_params, k_.name, vec ? "true" : "false", names);
    };
    const bool two = has_vector_access(L_);
    TJ_CHECK(two || entries_ != CudaEntries::scalar, "{} has no scalar variant", k_.name);
    if (entries_ != CudaEntries::scalar) entry(k_.name, two);
    if (two && entries_ != CudaEntries::main) entry(k_.name + "_s", false);
    return out_;
  }

 private:
  /// The number of elements of domain dims [from, to) divided by `div` (a
  /// divisor of it), as the source spells it: a number, or an expression of
  /// the symbols bound at launch.
  std::string extent(size_t from, size_t to, int64_t div = 1) const {
    int64_t c = 1;
    std::string sym;
    for (size_t d = from; d < to; ++d) {
      if (!k_.symbolic(d)) {
        c *= k_.domain[d];
        continue;
      }
      sym += (sym.empty() ? "" : " * ") + dim(d);
    }
    if (sym.empty()) return std::to_string(c / div);
    std::string e = c == 1 ? sym : fmt::format("{} * {}", c, sym);
    return div == 1 ? fmt::format("({})", e) : fmt::format("({} / {})", e, div);
  }

  // ---- loads and stores: vector registers, cached rows, or memory ------------------
  std::string load(int32_t i, const std::vector<std::string>& idx) override {
    const KInstr& in = k_.body[i];
    if (L_.cached_loads.count(i) && cache_ready_) return fmt::format("c{}[it * {} + e]", i, L_.vec);
    if (in_vector_scope_ && L_.vector_access[in.access] && !in.row_level)
      return fmt::format("(V ? {} : {})", load_expr(in.dtype, fmt::format("L{}.v[e]", i)),
                         BodyPrinter::load(i, idx));
    return BodyPrinter::load(i, idx);
  }

  void gather_report(int32_t i, const std::string& indent) override {
    const KInstr& in = k_.body[i];
    out_ += fmt::format(
        "{0}tj_any[{1}] |= !ok{2}; tj_bad[{1}] = (!ok{2} && {3} > tj_bad[{1}]) ? {3} : "
        "tj_bad[{1}];\n",
        indent, in.param, i, v(in.a));
  }

  void store(int32_t i, const std::vector<std::string>& idx, const std::string& indent) override {
    const KInstr& in = k_.body[i];
    if (in_vector_scope_ && L_.vector_access[in.access] && !in.row_level) {
      out_ += fmt::format(
          "{}if (V) S{}.v[e] = {}; else {} = {};\n", indent, i, store_expr(in.dtype, v(in.a)),
          ref(in.access, offset_expr(in.access, idx)), store_expr(in.dtype, v(in.a)));
      return;
    }
    BodyPrinter::store(i, idx, indent);
  }

  /// Vector loads (before the element loop) of the given element-level
  /// instructions, with the innermost index at its vector's first element.
  void open_vectors(const std::vector<int32_t>& el, const std::vector<std::string>& base_idx,
                    const std::string& ind) {
    for (int32_t i : el) {
      const KInstr& in = k_.body[i];
      if (in.row_level || !(in.kop == KOp::Load || in.kop == KOp::Store)) continue;
      if (!L_.vector_access[in.access]) continue;
      if (in.kop == KOp::Load && L_.cached_loads.count(i) && cache_ready_) continue;
      const char* st = storage_type(in.dtype);
      if (in.kop == KOp::Load)
        out_ += fmt::format(
            "{0}tj_vec<{1}, {2}> L{3};\n{0}if (V) L{3} = *reinterpret_cast<const tj_vec<{1}, "
            "{2}>*>(&{4});\n",
            ind, st, L_.vec, i, ref(in.access, offset_expr(in.access, base_idx)));
      else
        out_ += fmt::format("{}tj_vec<{}, {}> S{};\n", ind, st, L_.vec, i);
    }
  }

  void close_vectors(const std::vector<int32_t>& el, const std::vector<std::string>& base_idx,
                     const std::string& ind) {
    for (int32_t i : el) {
      const KInstr& in = k_.body[i];
      if (in.row_level || in.kop != KOp::Store || !L_.vector_access[in.access]) continue;
      out_ += fmt::format("{0}if (V) *reinterpret_cast<tj_vec<{1}, {2}>*>(&{3}) = S{4};\n", ind,
                          storage_type(in.dtype), L_.vec,
                          ref(in.access, offset_expr(in.access, base_idx)), i);
    }
  }

  /// `const I name_k = ...` for each dim of `dims` from the flat index `flat`.
  void unflatten(const std::string& flat, const std::vector<size_t>& dims,
                 const std::vector<std::string>& names, const std::string& ind,
                 const std::string& tmp) {
    if (dims.empty()) return;
    out_ += fmt::format("{}I {} = {}; (void){};\n", ind, tmp, flat, tmp);
    for (size_t q = dims.size(); q-- > 0;) {
      const std::string size = dim(dims[q]);
      if (q == 0) {
        out_ += fmt::format("{}const I {} = {};\n", ind, names[q], tmp);
      } else {
        out_ += fmt::format("{0}const I {1} = {2} % {3}; {2} /= {3};\n", ind, names[q], tmp, size);
      }
    }
  }

  // ---- pointwise ------------------------------------------------------------------
  void print_pointwise() override {
    const size_t n = k_.domain.size();
    const int vec = L_.vec;
    out_ += fmt::format("  const I t = (I)blockIdx.x * {} + (I)threadIdx.x;\n", L_.threads);
    out_ += fmt::format("  if (t >= {}) return;\n", extent(0, n, vec));
    std::vector<std::string> names(n), base(n), idx(n);
    std::vector<size_t> dims(n);
    for (size_t d = 0; d < n; ++d) {
      dims[d] = d;
      names[d] = "d" + std::to_string(d);
      base[d] = idx[d] = names[d];
    }
    if (n > 0) {
      unflatten(fmt::format("t * {}", vec), dims, names, "  ", "q");
      idx[n - 1] = fmt::format("({} + e)", names[n - 1]);
    }
    std::vector<int32_t> all;
    for (size_t i = 0; i < k_.body.size(); ++i) all.push_back(static_cast<int32_t>(i));
    for (int32_t i : all)
      if (k_.body[i].kop == KOp::Param) emit_instr(i, idx, "  ");
    in_vector_scope_ = true;
    open_vectors(all, base, "  ");
    out_ += fmt::format("  #pragma unroll\n  for (int e = 0; e < {}; ++e) {{\n", vec);
    for (int32_t i : all)
      if (k_.body[i].kop != KOp::Param) emit_instr(i, idx, "    ");
    out_ += "  }\n";
    close_vectors(all, base, "  ");
    in_vector_scope_ = false;
  }

  // ---- scatter and scan kernels -------------------------------------------------------
  void print_lines() override {
    const size_t n = k_.domain.size(), kept = n - 1;
    out_ += fmt::format("  const I t = (I)blockIdx.x * {} + (I)threadIdx.x;\n", L_.threads);
    out_ += fmt::format("  if (t >= {}) return;\n", extent(0, kept));
    std::vector<std::string> idx(n), names;
    std::vector<size_t> dims;
    for (size_t d = 0; d < n; ++d) idx[d] = (d < kept ? "d" : "r") + std::to_string(d);
    for (size_t d = 0; d < kept; ++d) {
      dims.push_back(d);
      names.push_back(idx[d]);
    }
    unflatten("t", dims, names, "  ", "q");
    for (size_t i = 0; i < k_.body.size(); ++i)
      if (k_.body[i].kop == KOp::Param) emit_instr(static_cast<int32_t>(i), idx, "  ");
    line_body(idx, "  ", "I");
  }

  // ---- row kernels ------------------------------------------------------------------
  void print_row() override {
    const size_t n = k_.domain.size();
    const size_t kept = n - k_.reduced;
    const std::string rows = extent(0, kept);
    switch (L_.mode) {
      case RowMode::thread:
        out_ += fmt::format("  const I row = (I)blockIdx.x * {} + (I)threadIdx.x;\n", L_.threads);
        out_ += "  const int lane = 0;\n";
        break;
      case RowMode::warp:
        out_ += fmt::format("  const I row = (I)blockIdx.x * {} + (I)(threadIdx.x >> 5);\n",
                            L_.threads / 32);
        out_ += "  const int lane = threadIdx.x & 31;\n";
        break;
      case RowMode::block:
        out_ += "  const I row = (I)blockIdx.x;\n  const int lane = threadIdx.x;\n";
        break;
    }
    // A warp leaves together (its shuffles need every lane).
    out_ += fmt::format("  if (row >= {}) return;\n  (void)lane;\n", rows);
    if (L_.dynamic_row) {
      // This thread's iterations within a row whose length is read at launch
      // (rb < length exactly when it < tj_n): one bound instead of a check
      // of every iteration's offset, which costs registers (ptxas spills).
      const int64_t step = int64_t{L_.lanes} * L_.vec;
      out_ += fmt::format("  const int tj_n = (int)(({} - (I)lane * {} + {}) / {});\n",
                          extent(kept, n), L_.vec, step - 1, step);
    }
    std::vector<std::string> idx(n);
    std::vector<size_t> kept_dims, red_dims;
    std::vector<std::string> kept_names, red_names;
    for (size_t d = 0; d < n; ++d) {
      idx[d] = (d < kept ? "d" : "r") + std::to_string(d);
      (d < kept ? kept_dims : red_dims).push_back(d);
      (d < kept ? kept_names : red_names).push_back(idx[d]);
    }
    unflatten("row", kept_dims, kept_names, "  ", "q");
    row_idx_ = idx;
    for (size_t d = kept; d < n; ++d) row_idx_[d] = "0";
    base_idx_ = idx;
    elem_idx_ = idx;
    if (!red_dims.empty()) elem_idx_[n - 1] = fmt::format("({} + e)", idx[n - 1]);
    red_dims_ = red_dims;
    red_names_ = red_names;
    rl_ = k_.reduced_numel();

    std::set<int32_t> emitted;
    auto emit_row_level = [&](const std::vector<int32_t>& roots) {
      for (int32_t i : closure(roots, true))
        if (emitted.insert(i).second && k_.body[i].kop != KOp::Store) emit_instr(i, row_idx_, "  ");
    };
    if (L_.persistent) {
      std::vector<int32_t> loads(L_.cached_loads.begin(), L_.cached_loads.end());
      emit_row_level(row_operands(loads));
      print_cache_fill(loads);
    }
    const RowPasses passes = row_passes();
    for (size_t s = 0; s < k_.stages.size(); ++s) {
      const std::vector<int32_t>& el = passes.stage_elements[s];
      emit_row_level(row_operands(el));
      if (k_.body[k_.stages[s].value].row_level) emit_row_level({k_.stages[s].value});
      print_stage(static_cast<int>(s), el);
    }
    emit_row_level(passes.row_store_values);
    if (!passes.row_stores.empty()) {
      out_ += "  if (lane == 0) {\n";
      for (int32_t i : passes.row_stores) emit_instr(i, row_idx_, "    ");
      out_ += "  }\n";
    }
    if (!passes.output_elements.empty()) {
      emit_row_level(passes.output_row_values);
      emit_row_level(row_operands(passes.output_elements));
      open_elements(passes.output_elements);
      for (int32_t i : passes.output_elements) emit_instr(i, elem_idx_, loop_ind_);
      close_elements(passes.output_elements);
    }
  }

  /// Opens the loop over this thread's elements of the row: iteration `it`
  /// covers elements [rb, rb + vec) with rb = (it * lanes + lane) * vec;
  /// inside, `e` is the element within the vector.
  void open_elements(const std::vector<int32_t>& el) {
    const int64_t step = int64_t{L_.lanes} * L_.vec;
    out_ += "  {\n";
    out_ += L_.persistent || L_.iters <= 4 ? "  #pragma unroll\n" : "  #pragma unroll 1\n";
    out_ += fmt::format("  for (int it = 0; it < {}; ++it) {{\n",
                        L_.runtime_iters ? "tj_n" : std::to_string(L_.iters));
    out_ += fmt::format("    const I rb = ((I)it * {} + (I)lane) * {};\n", L_.lanes, L_.vec);
    std::string ind = "    ";
    if (L_.dynamic_row && !L_.runtime_iters) {
      out_ += "    if (it < tj_n) {\n";
      ind = "      ";
      guarded_ = true;
    } else if (!L_.dynamic_row && rl_ % step != 0) {
      out_ += fmt::format("    if (rb < {}) {{\n", rl_);
      ind = "      ";
      guarded_ = true;
    } else {
      guarded_ = false;
    }
    unflatten("rb", red_dims_, red_names_, ind, "qr");
    in_vector_scope_ = true;
    open_vectors(el, base_idx_, ind);
    out_ += fmt::format("{}#pragma unroll\n{}for (int e = 0; e < {}; ++e) {{\n", ind, ind, L_.vec);
    loop_ind_ = ind + "  ";
  }

  void close_elements(const std::vector<int32_t>& el) {
    std::string ind = guarded_ ? "      " : "    ";
    out_ += ind + "}\n";
    close_vectors(el, base_idx_, ind);
    in_vector_scope_ = false;
    if (guarded_) out_ += "    }\n";
    out_ += "  }\n  }\n";
  }

  /// Persistent rows: the loads several passes read, into registers once.
  void print_cache_fill(const std::vector<int32_t>& loads) {
    for (int32_t i : loads)
      out_ += fmt::format("  {} c{}[{}];\n", value_type(k_.body[i].dtype), i, L_.iters * L_.vec);
    open_elements(loads);
    for (int32_t i : loads)
      out_ += fmt::format("{}c{}[it * {} + e] = {};\n", loop_ind_, i, L_.vec, load(i, elem_idx_));
    close_elements(loads);
    cache_ready_ = true;
  }

  void print_stage(int s, const std::vector<int32_t>& el) {
    const ir::Stage& st = k_.stages[s];
    DType vt = k_.body[st.value].dtype;
    const bool fl = is_float(vt);
    const DType acc_dt = vt == DType::f64 ? DType::f64 : fl ? DType::f32 : DType::i64;
    const char* acc_t = value_type(acc_dt);
    const std::string val = v(st.value);
    const std::string a = "acc" + std::to_string(s);
    std::string result;
    switch (st.op) {
      case Op::Sum:
      case Op::Prod: {
        const bool sum = st.op == Op::Sum;
        out_ += fmt::format("  {} {} = {};\n", acc_t, a, sum ? "0" : "1");
        open_elements(el);
        for (int32_t i : el) emit_instr(i, elem_idx_, loop_ind_);
        out_ += fmt::format("{}{} {}= ({}){};\n", loop_ind_, a, sum ? "+" : "*", acc_t, val);
        close_elements(el);
        cross_reduce(s, {{a, acc_t}},
                     sum ? fmt::format("{0} += o0;", a) : fmt::format("{0} *= o0;", a));
        result = convert(acc_dt, st.dtype, a);
        break;
      }
      case Op::Max:
      case Op::Min: {
        const bool mx = st.op == Op::Max;
        std::string init = fl ? (mx ? "-INFINITY" : "INFINITY") : (mx ? "INT64_MIN" : "INT64_MAX");
        const std::string nan = "nan" + std::to_string(s);
        out_ += fmt::format("  {} {} = {};\n  int {} = 0;\n", acc_t, a, init, nan);
        open_elements(el);
        for (int32_t i : el) emit_instr(i, elem_idx_, loop_ind_);
        out_ += fmt::format("{}{{ const {} x = ({}){}; {} = x {} {} ? x : {};{} }}\n", loop_ind_,
                            acc_t, acc_t, val, a, mx ? ">" : "<", a, a,
                            fl ? fmt::format(" {} |= (x != x);", nan) : "");
        close_elements(el);
        cross_reduce(
            s, {{a, acc_t}, {nan, "int"}},
            fmt::format("{0} = o0 {1} {0} ? o0 : {0}; {2} |= o1;", a, mx ? ">" : "<", nan));
        if (fl) out_ += fmt::format("  if ({}) {} = NAN;\n", nan, a);
        result = convert(acc_dt, st.dtype, a);
        break;
      }
      case Op::ArgMax:
      case Op::ArgMin: {
        const bool mx = st.op == Op::ArgMax;
        const char* gt = mx ? ">" : "<";
        std::string init = fl ? (mx ? "-INFINITY" : "INFINITY") : (mx ? "INT64_MIN" : "INT64_MAX");
        const std::string best = "best" + std::to_string(s), arg = "arg" + std::to_string(s);
        out_ += fmt::format("  {} {} = {}; int64_t {} = 0;\n", acc_t, best, init, arg);
        open_elements(el);
        for (int32_t i : el) emit_instr(i, elem_idx_, loop_ind_);
        std::string cond = fl ? fmt::format("(x {0} {1} || (x != x && {1} == {1}))", gt, best)
                              : fmt::format("(x {} {})", gt, best);
        out_ += fmt::format(
            "{}{{ const {} x = ({}){}; if {} {{ {} = x; {} = (int64_t)(rb + e); }} }}\n", loop_ind_,
            acc_t, acc_t, val, cond, best, arg);
        close_elements(el);
        // Across threads: NaN first (smallest index), then the larger value,
        // then the smaller index — the first occurrence, as on the CPU.
        std::string take =
            fl ? fmt::format(
                     "(o0 != o0) ? ({0} == {0} || o1 < {1}) : ({0} == {0} && (o0 {2} {0} || (o0 == "
                     "{0} && o1 < {1})))",
                     best, arg, gt)
               : fmt::format("o0 {2} {0} || (o0 == {0} && o1 < {1})", best, arg, gt);
        cross_reduce(s, {{best, acc_t}, {arg, "int64_t"}},
                     fmt::format("if ({}) {{ {} = o0; {} = o1; }}", take, best, arg));
        result = arg;
        break;
      }
#define TJ_OP(name, ...) \
  case Op::name:         \
    ir::not_a(st.op, "reduction");
#define TJ_REDUCE(name, ...)
#include "ir/ops.def"
    }
    out_ += fmt::format("  const {} red{} = {};\n", value_type(st.dtype), s, result);
  }

  /// Combines every thread's partial values of a row: `combine` merges the
  /// partner's values o0, o1, ... into the named variables.
  void cross_reduce(int s, const std::vector<std::pair<std::string, std::string>>& vars,
                    const std::string& combine) {
    if (L_.mode == RowMode::thread) return;
    out_ += "  #pragma unroll\n  for (int m = 16; m > 0; m >>= 1) {\n";
    for (size_t q = 0; q < vars.size(); ++q)
      out_ += fmt::format("    const {} o{} = tj_shfl({}, m);\n", vars[q].second, q, vars[q].first);
    out_ += "    " + combine + "\n  }\n";
    if (L_.mode == RowMode::warp) return;
    const int warps = L_.threads / 32;
    out_ += "  {\n";
    for (size_t q = 0; q < vars.size(); ++q)
      out_ += fmt::format("    __shared__ {} sm{}_{}[{}];\n", vars[q].second, s, q, warps);
    out_ += "    if ((lane & 31) == 0) {\n";
    for (size_t q = 0; q < vars.size(); ++q)
      out_ += fmt::format("      sm{}_{}[lane >> 5] = {};\n", s, q, vars[q].first);
    out_ += "    }\n    __syncthreads();\n";
    // Every thread combines the warps' values in the same order.
    for (size_t q = 0; q < vars.size(); ++q)
      out_ += fmt::format("    {} = sm{}_{}[0];\n", vars[q].first, s, q);
    out_ += fmt::format("    for (int w = 1; w < {}; ++w) {{\n", warps);
    for (size_t q = 0; q < vars.size(); ++q)
      out_ += fmt::format("      const {} o{} = sm{}_{}[w];\n", vars[q].second, q, s, q);
    out_ += "      " + combine + "\n    }\n  }\n";
  }

  // ---- matmul (a thread per output element) --------------------------------------------
  void print_matmul() override {
    const size_t n = k_.domain.size();  // [batch..., M, N, K]
    const std::string K = dim(n - 1), outs = extent(0, n - 1);
    const Access& A = k_.accesses[0];
    const Access& B = k_.accesses[1];
    const Access& C = k_.accesses[2];
    DType acc = C.dtype == DType::f64 ? DType::f64 : is_float(C.dtype) ? DType::f32 : DType::i64;
    const char* at = value_type(acc);
    out_ += fmt::format("  const I t = (I)blockIdx.x * {} + (I)threadIdx.x;\n", L_.threads);
    out_ += fmt::format("  if (t >= {}) return;\n", outs);
    std::vector<size_t> dims;
    std::vector<std::string> names;
    for (size_t d = 0; d + 1 < n; ++d) {
      dims.push_back(d);
      names.push_back("d" + std::to_string(d));
    }
    unflatten("t", dims, names, "  ", "q");
    names.push_back("k");
    auto off = [&](const Access& x) {
      const int32_t acc = static_cast<int32_t>(&x - k_.accesses.data());
      std::string s = offset(acc);
      for (size_t d = 0; d < n; ++d)
        if (x.strides[d] != 0 || x.symbolic_stride(d))
          s += fmt::format(" + (I){} * {}", names[d], stride(acc, d));
      return s;
    };
    out_ += fmt::format("  {} acc = 0;\n", at);
    out_ += fmt::format("  for (I k = 0; k < {}; ++k) {{\n", K);
    std::string av =
        convert(A.dtype, acc, load_expr(A.dtype, fmt::format("a{}[{}]", A.arg, off(A))));
    std::string bv =
        convert(B.dtype, acc, load_expr(B.dtype, fmt::format("a{}[{}]", B.arg, off(B))));
    if (acc == DType::i64)
      out_ += fmt::format("    acc = (int64_t)((uint64_t)acc + (uint64_t){} * (uint64_t){});\n", av,
                          bv);
    else
      out_ += fmt::format("    acc += {} * {};\n", av, bv);
    out_ += "  }\n";
    names.back() = "0";
    out_ += fmt::format("  a{}[{}] = {};\n", C.arg, off(C),
                        store_expr(C.dtype, convert(acc, C.dtype, "acc")));
  }

  // ---- conv (a thread per output element; ir::Kernel's conv kernels) ---------------
  void print_conv() override {
    const Shape& D = k_.domain;  // [N, O, OH, OW, Cg, KH, KW]
    const std::vector<int64_t>& cv = k_.conv;
    const int64_t O = D[1], OH = D[2], OW = D[3], Cg = D[4], KH = D[5], KW = D[6];
    const std::string outs = extent(0, 4);
    const Access& X = k_.accesses[0];
    const Access& Wt = k_.accesses[1];
    const Access& Y = k_.accesses[2];
    const Access* B = k_.accesses.size() > 3 ? &k_.accesses[3] : nullptr;
    const DType acc = Y.dtype == DType::f64 ? DType::f64 : DType::f32;
    const char* at = value_type(acc);
    auto ld = [&](const Access& a, const std::string& off) {
      return convert(a.dtype, acc, load_expr(a.dtype, fmt::format("a{}[{}]", a.arg, off)));
    };
    out_ += fmt::format("  const I t = (I)blockIdx.x * {} + (I)threadIdx.x;\n", L_.threads);
    out_ += fmt::format("  if (t >= {}) return;\n", outs);
    out_ += fmt::format(
        "  const I ow = t % {0}, oh = (t / {0}) % {1}, o = (t / ({0} * {1})) % {2}, "
        "n = t / ({0} * {1} * {2});\n",
        OW, OH, O);
    out_ += fmt::format("  const I c0 = (o / {}) * {};\n", O / cv[6], Cg);
    out_ += fmt::format("  {} acc = {};\n", at,
                        B ? ld(*B, fmt::format("{} + o * {}", B->offset, B->strides[0])) : "0");
    out_ += fmt::format("  for (I c = 0; c < {}; ++c)\n", Cg);
    out_ += fmt::format("    for (I i = 0; i < {}; ++i) {{\n", KH);
    out_ += fmt::format("      const I h = oh * {} - {} + i * {};\n", cv[0], cv[2], cv[4]);
    out_ += fmt::format("      if (h < 0 || h >= {}) continue;\n", cv[7]);
    out_ += fmt::format("      for (I j = 0; j < {}; ++j) {{\n", KW);
    out_ += fmt::format("        const I w = ow * {} - {} + j * {};\n", cv[1], cv[3], cv[5]);
    out_ += fmt::format("        if (w < 0 || w >= {}) continue;\n", cv[8]);
    out_ += fmt::format(
        "        acc += {} * {};\n",
        ld(X, fmt::format("{} + (int64_t)n * {} + (int64_t)(c0 + c) * {} + (int64_t)h * {} + "
                          "(int64_t)w * {}",
                          X.offset, X.strides[0], X.strides[1], X.strides[2], X.strides[3])),
        ld(Wt, fmt::format("{} + (int64_t)o * {} + (int64_t)c * {} + (int64_t)i * {} + "
                           "(int64_t)j * {}",
                           Wt.offset, Wt.strides[0], Wt.strides[1], Wt.strides[2], Wt.strides[3])));
    out_ += "      }\n    }\n";
    out_ += fmt::format(
        "  a{}[{} + (int64_t)n * {} + (int64_t)o * {} + (int64_t)oh * {} + "
        "(int64_t)ow * {}] = {};\n",
        Y.arg, Y.offset, Y.strides[0], Y.strides[1], Y.strides[2], Y.strides[3],
        store_expr(Y.dtype, convert(acc, Y.dtype, "acc")));
  }

  Layout L_;
  CudaEntries entries_;
  bool in_vector_scope_ = false;
  bool cache_ready_ = false;
  bool guarded_ = false;
  std::string loop_ind_ = "    ";
  std::vector<std::string> row_idx_, base_idx_, elem_idx_, red_names_;
  std::vector<size_t> red_dims_;
  int64_t rl_ = 0;
};

}  // namespace

CudaLaunchInfo cuda_launch_info(const ir::Kernel& k) {
  Layout L = layout(k);
  CudaLaunchInfo info;
  info.name = k.name;
  info.vec = L.vec;
  if (has_vector_access(L)) {
    info.scalar_name = k.name + "_s";
    std::set<int32_t> args;
    for (size_t a = 0; a < k.accesses.size(); ++a)
      if (L.vector_access[a]) args.insert(k.accesses[a].arg);
    for (int32_t a : args) {
      info.vector_args.push_back(a);
      info.align_bytes.push_back(static_cast<int32_t>(L.vec * dtype_size(k.args[a])));
    }
  }
  info.grid = L.grid;
  info.block = L.threads;
  info.params = static_cast<int>(k.params.size());
  return info;
}

bool CudaLaunchInfo::aligned(const std::vector<void*>& args) const {
  for (size_t q = 0; q < vector_args.size(); ++q)
    if (reinterpret_cast<uintptr_t>(args[vector_args[q]]) % static_cast<uintptr_t>(align_bytes[q]))
      return false;
  return true;
}

std::string cuda_variant_name(const ir::Kernel& k) {
  if (!k.has_symbols()) return k.name;
  // FNV-1a of the layout's signature.
  uint64_t h = 1469598103934665603ull;
  for (char c : layout(k).signature()) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return fmt::format("{}_l{:08x}", k.name, static_cast<uint32_t>(h ^ (h >> 32)));
}

int64_t cuda_grid(const ir::Kernel& k) { return layout(k).grid; }

std::vector<uint64_t> cuda_param_block(const ir::Kernel& k,
                                       const std::vector<const ir::ScalarValue*>& values) {
  const size_t np = std::max<size_t>(values.size(), 1);
  std::vector<uint64_t> block(2 * np, 0);
  ir::for_each_symbol(k, [&](int64_t v) { block.push_back(static_cast<uint64_t>(v)); });
  for (size_t q = 0; q < values.size(); ++q) {
    const ir::ScalarValue& v = *values[q];
    const double f = is_floating(k.params[q]) ? v.f : static_cast<double>(v.i);
    const int64_t i = is_floating(k.params[q]) ? static_cast<int64_t>(v.f) : v.i;
    std::memcpy(&block[q], &f, sizeof f);
    std::memcpy(&block[np + q], &i, sizeof i);
  }
  return block;
}

std::string print_cuda_kernel(const ir::Kernel& k, CudaEntries entries) {
  return CudaPrinter(k, entries).print();
}

const std::string& cuda_preamble() {
  static const std::string p = std::string(embedded::cuda_preamble_h) + "\n" +
                               embedded::kernel_common_h + "\n" + embedded::philox_core_h + "\n";
  return p;
}

std::string print_cuda_unit(const std::vector<const ir::Kernel*>& kernels, CudaEntries entries) {
  std::string s = cuda_preamble();
  for (const ir::Kernel* k : kernels) s += "\n" + print_cuda_kernel(*k, entries);
  return s;
}

}  // namespace tj::jit
