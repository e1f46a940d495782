#include "jit/cpu/printer.h"

#include <fmt/format.h>

#include <algorithm>
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

bool is_float(DType t) { return is_floating(t); }

/// Prints one kernel. Domain indices are named d0, d1, ...; each access has
/// a base offset `o<k>` for the current row/outer index, plus the inner
/// terms added per element.
class KernelPrinter : public BodyPrinter {
 public:
  explicit KernelPrinter(const Kernel& k) : BodyPrinter(k) {}

  std::string print() {
    out_ += fmt::format("// {}: {}\n", k_.name, k_.summary);
    out_ += fmt::format(
        "extern \"C\" void {}(void* const* args, const double* fp, const int64_t* ip, int64_t "
        "begin, int64_t end) {{\n",
        k_.name);
    for (size_t i = 0; i < k_.args.size(); ++i) {
      const char* st = storage_type(k_.args[i]);
      out_ += fmt::format("  {0}*{2} a{1} = ({0}*)args[{1}];\n", st, i,
                          k_.aliased(static_cast<int32_t>(i)) ? "" : " __restrict");
    }
    out_ += "  (void)fp; (void)ip;\n";
    // A dynamic kernel's sizes, strides and offsets bound at launch follow
    // the scalar parameters (ir::Kernel::dynamic).
    for (size_t j = 0; j < symbols(); ++j)
      out_ += fmt::format("  const int64_t tj_s{0} = ip[{1}]; (void)tj_s{0};\n", j,
                          k_.params.size() + j);
    // Out-of-range gather indices: reductions over the program (vectorizable),
    // reported once at its end.
    for (size_t p = 0; p < k_.checks.size(); ++p)
      out_ += fmt::format("  int64_t tj_bad{0} = INT64_MIN; int tj_any{0} = 0;\n", p);
    print_kernel_body();
    for (size_t p = 0; p < k_.checks.size(); ++p)
      out_ += fmt::format("  if (tj_any{0}) tj_index_report(a{1}, tj_bad{0}, {2});\n", p,
                          k_.check_arg, site_args(static_cast<int32_t>(p)));
    out_ += "}\n";
    return out_;
  }

  void gather_report(int32_t i, const std::string& indent) override {
    const KInstr& in = k_.body[i];
    out_ += fmt::format(
        "{0}tj_any{1} |= !ok{2}; tj_bad{1} = (!ok{2} && {3} > tj_bad{1}) ? {3} : tj_bad{1};\n",
        indent, in.param, i, v(in.a));
  }

  /// omp simd clauses for the report variables of the gathers among `el`.
  std::string gather_clauses(const std::vector<int32_t>& el) const {
    std::string c;
    for (int32_t i : el)
      if (k_.body[i].kop == KOp::Gather || k_.body[i].kop == KOp::Scatter)
        c += fmt::format(" reduction(max:tj_bad{0}) reduction(|:tj_any{0})", k_.body[i].param);
    return c;
  }

 private:
  // ---- pointwise ------------------------------------------------------------------
  void print_pointwise() override {
    const size_t n = k_.domain.size();
    const std::string inner = dim(n - 1);
    std::vector<int32_t> all;
    for (size_t i = 0; i < k_.body.size(); ++i) all.push_back(static_cast<int32_t>(i));
    // Parameters are loop-invariant; print them once.
    std::vector<std::string> none(n, "0");
    for (int32_t i : all)
      if (k_.body[i].kop == KOp::Param) emit_instr(i, none, "  ");
    std::vector<std::string> idx(n);
    for (size_t d = 0; d + 1 < n; ++d) idx[d] = "d" + std::to_string(d);
    idx[n - 1] = "j";
    std::vector<int32_t> el;
    for (int32_t i : all)
      if (k_.body[i].kop != KOp::Param) el.push_back(i);
    const std::vector<std::vector<int32_t>> stages = latency_stages(el);
    const bool staged = stages.size() > 1;
    // The element loop over [lo, hi) of the innermost dim.
    auto elements = [&](const std::string& ind, const std::string& lo, const std::string& hi) {
      if (staged) {
        print_stages(stages, idx, ind, lo, hi);
        return;
      }
      out_ += fmt::format("{0}#pragma GCC ivdep\n{0}for (int64_t j = {1}; j < {2}; ++j) {{\n", ind,
                          lo, hi);
      for (int32_t i : el) emit_instr(i, idx, ind + "  ");
      out_ += ind + "}\n";
    };
    if (n == 1) {
      elements("  ", "begin", "end");
      return;
    }
    out_ += fmt::format("  for (int64_t i = begin; i < end;) {{\n");
    out_ += fmt::format("    const int64_t j0 = i % {0}; int64_t t = i / {0};\n", inner);
    for (size_t d = n - 1; d-- > 0;)
      out_ += fmt::format("    const int64_t d{0} = t % {1}; t /= {1};\n", d, dim(d));
    out_ += "    (void)t;\n";
    out_ += fmt::format(
        "    const int64_t cnt = ({0} - j0) < (end - i) ? ({0} - j0) : (end - i);\n", inner);
    elements("    ", "j0", "j0 + cnt");
    out_ += "    i += cnt;\n  }\n";
  }

  /// How many elements a staged loop's block holds.
  static constexpr int kStageBlock = 128;

  /// Whether instruction i calls a math function of jit/cpu/math.h (exp,
  /// tanh, ...: tens of operations) rather than one instruction (sqrt).
  bool is_math_call(int32_t i) const {
    auto is_math = [](Op op) {
      switch (op) {
#define TJ_OP(name, ...) \
  case Op::name:         \
    return false;
#define TJ_MATH1(name, ...) \
  case Op::name:            \
    return true;
#define TJ_MATH2(name, ...) \
  case Op::name:            \
    return true;
#include "ir/ops.def"
      }
      return false;
    };
    const KInstr& in = k_.body[i];
    return (in.kop == KOp::Unary || in.kop == KOp::Binary) && is_math(in.op) && in.op != Op::Sqrt &&
           in.op != Op::Rsqrt;
  }

  /// A pointwise body with several math calls (exp, tanh, ...) per element
  /// chained one after another is one long dependency chain per element:
  /// longer than the core's reorder window, so successive elements do not
  /// overlap and the loop runs at the chain's latency (50 ops with 10 tanh
  /// over 1K floats: 35 us). Such a body is cut after each math call into
  /// stages, each a loop over a block of elements, the values later stages
  /// read kept in block arrays in L1: every stage's iterations are
  /// independent. Two calls are enough: with 512-bit vectors bench_cpu's
  /// chain8 (sigmoid, then tanh) took 1.20 ns per element in one loop and
  /// 0.91 in two stages of 128 elements (0.97 with blocks of 64: eight
  /// vectors per stage keep more of them in flight). Returns one stage (no
  /// cut) for other bodies.
  std::vector<std::vector<int32_t>> latency_stages(const std::vector<int32_t>& el) const {
    int n_heavy = 0;
    for (int32_t i : el) n_heavy += is_math_call(i) ? 1 : 0;
    if (n_heavy < 2 || !k_.checks.empty()) return {el};
    std::vector<std::vector<int32_t>> stages(1);
    for (int32_t i : el) {
      stages.back().push_back(i);
      if (is_math_call(i)) stages.emplace_back();
    }
    // Whatever follows the last math call (its stores) joins that stage.
    if (stages.size() > 1) {
      std::vector<int32_t> tail = std::move(stages.back());
      stages.pop_back();
      stages.back().insert(stages.back().end(), tail.begin(), tail.end());
    }
    return stages;
  }

  /// Prints the stages of latency_stages over elements [lo, hi) of the
  /// innermost dim in blocks of kStageBlock.
  void print_stages(const std::vector<std::vector<int32_t>>& stages,
                    const std::vector<std::string>& idx, const std::string& ind,
                    const std::string& lo, const std::string& hi) {
    std::vector<int> stage_of(k_.body.size(), -1);
    for (size_t s = 0; s < stages.size(); ++s)
      for (int32_t i : stages[s]) stage_of[i] = static_cast<int>(s);
    // Values a later stage reads; each stage's reads of earlier ones.
    std::vector<bool> carried(k_.body.size(), false);
    std::vector<std::set<int32_t>> reads(stages.size());
    for (size_t s = 0; s < stages.size(); ++s)
      for (int32_t i : stages[s]) {
        const KInstr& in = k_.body[i];
        for (int32_t o : {in.a, in.b, in.c})
          if (o >= 0 && stage_of[o] >= 0 && stage_of[o] < static_cast<int>(s)) {
            carried[o] = true;
            reads[s].insert(o);
          }
      }
    auto type_of = [&](int32_t i) {
      return k_.body[i].kop == KOp::Index ? "int64_t" : value_type(k_.body[i].dtype);
    };
    const int B = kStageBlock;
    out_ += fmt::format("{0}for (int64_t jb = {1}; jb < {2}; jb += {3}) {{\n", ind, lo, hi, B);
    out_ +=
        fmt::format("{0}  const int64_t je = ({1}) - jb < {2} ? ({1}) : jb + {2};\n", ind, hi, B);
    for (size_t i = 0; i < carried.size(); ++i)
      if (carried[i])
        out_ += fmt::format("{}  {} tj_c{}[{}];\n", ind, type_of(static_cast<int32_t>(i)), i, B);
    const std::string body = ind + "    ";
    for (size_t s = 0; s < stages.size(); ++s) {
      out_ += ind + "  #pragma GCC ivdep\n";
      out_ += ind + "  for (int64_t j = jb; j < je; ++j) {\n";
      for (int32_t o : reads[s])
        out_ += fmt::format("{}const {} {} = tj_c{}[j - jb];\n", body, type_of(o), v(o), o);
      for (int32_t i : stages[s]) {
        emit_instr(i, idx, body);
        if (carried[i]) out_ += fmt::format("{}tj_c{}[j - jb] = {};\n", body, i, v(i));
      }
      out_ += ind + "  }\n";
    }
    out_ += ind + "}\n";
  }

  // ---- scatter and scan kernels -------------------------------------------------------
  // A line's elements in order, one at a time: repeated indices within a
  // line write the same element and a scan carries its running value, so the
  // loop must not be vectorized.
  void print_lines() override {
    const size_t n = k_.domain.size(), kept = n - 1;
    std::vector<std::string> idx(n);
    for (size_t d = 0; d < n; ++d) idx[d] = (d < kept ? "d" : "r") + std::to_string(d);
    for (size_t i = 0; i < k_.body.size(); ++i)
      if (k_.body[i].kop == KOp::Param) emit_instr(static_cast<int32_t>(i), idx, "  ");
    if (k_.kind == Kernel::Kind::scan && kept >= 1 && strided_lines()) {
      print_scan_chunks(idx);
      return;
    }
    out_ += "  for (int64_t row = begin; row < end; ++row) {\n";
    out_ += "    int64_t t = row; (void)t;\n";
    for (size_t d = kept; d-- > 0;)
      out_ += fmt::format("    const int64_t d{0} = t % {1}; t /= {1};\n", d, dim(d));
    line_body(idx, "    ", "int64_t");
    out_ += "  }\n";
  }

  /// Whether a line's elements are not adjacent in memory (a scan along a
  /// dim other than the innermost).
  bool strided_lines() const {
    for (const KInstr& in : k_.body)
      if (in.kop == KOp::Store) return k_.accesses[in.access].strides.back() != 1;
    return false;
  }

  // Lines along an outer dim, walked a chunk of neighbours at a time: each
  // step of the walk reads and writes up to kScanLanes adjacent elements (one
  // per line, a vector loop) instead of one element per cache line.
  static constexpr int kScanLanes = 64;
  void print_scan_chunks(std::vector<std::string> idx) {
    const size_t kept = k_.domain.size() - 1, in = kept - 1;
    out_ += "  for (int64_t row = begin; row < end;) {\n";
    out_ += "    int64_t t = row; (void)t;\n";
    for (size_t d = kept; d-- > 0;)
      out_ += fmt::format("    const int64_t d{0} = t % {1}; t /= {1};\n", d, dim(d));
    // The chunk stays within one run of the innermost kept dim.
    out_ += fmt::format(
        "    int64_t len = end - row;\n    if (len > {0} - d{1}) len = {0} - d{1};\n"
        "    if (len > {2}) len = {2};\n",
        dim(in), in, kScanLanes);
    scan_lanes_ = kScanLanes;
    scan_inits("    ");
    idx[in] = fmt::format("(d{} + b)", in);
    out_ += fmt::format("    for (int64_t {0} = 0; {0} < {1}; ++{0}) {{\n", idx.back(),
                        dim(k_.domain.size() - 1));
    out_ += "      for (int64_t b = 0; b < len; ++b) {\n";
    for (size_t i = 0; i < k_.body.size(); ++i)
      if (k_.body[i].kop != KOp::Param) emit_instr(static_cast<int32_t>(i), idx, "        ");
    out_ += "      }\n    }\n    row += len;\n  }\n";
    scan_lanes_ = 0;
  }

  // ---- row kernels ------------------------------------------------------------------
  /// Floats of one row a row kernel may keep in L1 arrays between its passes.
  static constexpr int64_t kRowCacheElems = 4096;

  /// Math values (exp, tanh, ...) that a pass of a row kernel computes and a
  /// later pass needs again: softmax's exp(x - max) is summed, then divided
  /// by the sum. The pass that computes one stores it in an array of one row
  /// (rows of constant length up to kRowCacheElems), later passes read it
  /// there, and the code that fed it there is dead. Softmax over 4096-float
  /// rows: 0.78 -> 0.60 ns per element on one core (bench_cpu's causal
  /// attention 12.5-14.5 -> 11.7-12.2 ms). Sets row_cache_pass_ and declares
  /// the arrays at the start of the row.
  void plan_row_cache(const RowPasses& passes) {
    row_cache_pass_.assign(k_.body.size(), -1);
    const size_t n = k_.domain.size(), kept = n - k_.reduced;
    int64_t len = 1;
    for (size_t d = kept; d < n; ++d) {
      if (k_.dynamic & (1u << d)) return;
      len *= k_.domain[d];
    }
    if (len > kRowCacheElems || !k_.checks.empty()) return;
    std::vector<const std::vector<int32_t>*> lists;
    for (const auto& el : passes.stage_elements) lists.push_back(&el);
    lists.push_back(&passes.output_elements);
    int64_t budget = kRowCacheElems;
    for (size_t p = 0; p + 1 < lists.size(); ++p)
      for (int32_t i : *lists[p]) {
        if (!is_math_call(i) || row_cache_pass_[i] >= 0 || budget < len) continue;
        bool later = false;
        for (size_t q = p + 1; q < lists.size() && !later; ++q)
          later = std::find(lists[q]->begin(), lists[q]->end(), i) != lists[q]->end();
        if (!later) continue;
        row_cache_pass_[i] = static_cast<int>(p);
        budget -= len;
        out_ +=
            fmt::format("    alignas(64) {} tj_rc{}[{}];\n", value_type(k_.body[i].dtype), i, len);
      }
  }

  /// An element-level instruction of pass `pass` of a row kernel: computed
  /// (and kept when a later pass reads it) or read from the row cache.
  void emit_el(int32_t i, const std::vector<std::string>& idx, int pass) {
    const int at = row_cache_pass_[i];
    if (at >= 0 && pass > at) {
      out_ += fmt::format("{}const {} {} = tj_rc{}[{}];\n", loop_indent_,
                          value_type(k_.body[i].dtype), v(i), i, flat_reduced_index(idx));
      return;
    }
    emit_instr(i, idx, loop_indent_);
    if (at == pass)
      out_ += fmt::format("{}tj_rc{}[{}] = {};\n", loop_indent_, i, flat_reduced_index(idx), v(i));
  }

  void print_row() override {
    const size_t n = k_.domain.size();
    const size_t kept = n - k_.reduced;
    std::vector<std::string> idx(n);
    for (size_t d = 0; d < n; ++d) idx[d] = (d < kept ? "d" : "r") + std::to_string(d);
    out_ += "  for (int64_t row = begin; row < end; ++row) {\n";
    out_ += "    int64_t t = row; (void)t;\n";
    for (size_t d = kept; d-- > 0;)
      out_ += fmt::format("    const int64_t d{0} = t % {1}; t /= {1};\n", d, dim(d));
    // Row-level index: reduced dims are 0.
    std::vector<std::string> row_idx = idx;
    for (size_t d = kept; d < n; ++d) row_idx[d] = "0";
    std::set<int32_t> emitted;
    auto emit_row_level = [&](const std::vector<int32_t>& roots) {
      for (int32_t i : closure(roots, true))
        if (emitted.insert(i).second && k_.body[i].kop != KOp::Store)
          emit_instr(i, row_idx, "    ");
    };
    const RowPasses passes = row_passes();
    plan_row_cache(passes);
    for (size_t s = 0; s < k_.stages.size(); ++s) {
      const std::vector<int32_t>& el = passes.stage_elements[s];
      emit_row_level(row_operands(el));
      if (k_.body[k_.stages[s].value].row_level) emit_row_level({k_.stages[s].value});
      print_stage(static_cast<int>(s), el, idx);
    }
    // Outputs: row-level stores once per row, element-level ones in a loop.
    emit_row_level(passes.row_store_values);
    for (int32_t i : passes.row_stores) emit_instr(i, row_idx, "    ");
    if (!passes.output_elements.empty()) {
      emit_row_level(passes.output_row_values);
      emit_row_level(row_operands(passes.output_elements));
      open_reduced_loops(idx, false, "");
      for (int32_t i : passes.output_elements) emit_el(i, idx, static_cast<int>(k_.stages.size()));
      close_reduced_loops();
    }
    out_ += "  }\n";
  }

  void open_reduced_loops(const std::vector<std::string>& idx, bool simd,
                          const std::string& clause) {
    const size_t n = k_.domain.size(), kept = n - k_.reduced;
    out_ += "    {\n";  // a scope per pass: element values are redeclared in each
    std::string ind = "      ";
    for (size_t d = kept; d < n; ++d) {
      if (d + 1 == n)
        out_ += ind + (simd ? "#pragma omp simd" + clause + "\n" : "#pragma GCC ivdep\n");
      out_ += fmt::format("{0}for (int64_t {1} = 0; {1} < {2}; ++{1}) {{\n", ind, idx[d], dim(d));
      ind += "  ";
    }
    loop_indent_ = ind;
  }

  void close_reduced_loops() {
    const size_t n = k_.domain.size(), kept = n - k_.reduced;
    for (size_t d = n; d-- > kept;) {
      std::string ind(6 + 2 * (d - kept), ' ');
      out_ += ind + "}\n";
    }
    out_ += "    }\n";
    loop_indent_ = "    ";
  }

  std::string flat_reduced_index(const std::vector<std::string>& idx) const {
    const size_t n = k_.domain.size(), kept = n - k_.reduced;
    std::string s = "0";
    for (size_t d = kept; d < n; ++d) s = fmt::format("({}) * {} + {}", s, dim(d), idx[d]);
    return s;
  }

  void print_stage(int s, const std::vector<int32_t>& el, const std::vector<std::string>& idx) {
    const ir::Stage& st = k_.stages[s];
    DType vt = k_.body[st.value].dtype;
    const bool fl = is_float(vt);
    const char* acc_t = vt == DType::f64 ? "double" : fl ? "float" : "int64_t";
    std::string val = v(st.value);
    std::string clause;
    switch (st.op) {
      case Op::Sum:
      case Op::Prod: {
        const char* init = st.op == Op::Sum ? "0" : "1";
        out_ += fmt::format("    {} acc{} = {};\n", acc_t, s, init);
        clause = fmt::format(" reduction({}:acc{})", st.op == Op::Sum ? "+" : "*", s) +
                 gather_clauses(el);
        open_reduced_loops(idx, true, clause);
        for (int32_t i : el) emit_el(i, idx, s);
        out_ += fmt::format("{}acc{} {}= ({}){};\n", loop_indent_, s, st.op == Op::Sum ? "+" : "*",
                            acc_t, val);
        close_reduced_loops();
        out_ += fmt::format("    const {} red{} = {};\n", value_type(st.dtype), s,
                            convert(fl ? (vt == DType::f64 ? DType::f64 : DType::f32) : DType::i64,
                                    st.dtype, "acc" + std::to_string(s)));
        return;
      }
      case Op::Max:
      case Op::Min: {
        const bool mx = st.op == Op::Max;
        std::string init = fl ? (mx ? "-INFINITY" : "INFINITY") : (mx ? "INT64_MIN" : "INT64_MAX");
        out_ += fmt::format("    {} acc{} = {};\n", acc_t, s, init);
        if (fl) out_ += fmt::format("    int nan{} = 0;\n", s);
        clause = fmt::format(" reduction({}:acc{}){}", mx ? "max" : "min", s,
                             fl ? fmt::format(" reduction(|:nan{})", s) : "") +
                 gather_clauses(el);
        open_reduced_loops(idx, true, clause);
        for (int32_t i : el) emit_el(i, idx, s);
        out_ += fmt::format("{}{{ const {} e = ({}){}; acc{} = e {} acc{} ? e : acc{};{} }}\n",
                            loop_indent_, acc_t, acc_t, val, s, mx ? ">" : "<", s, s,
                            fl ? fmt::format(" nan{} |= (e != e);", s) : "");
        close_reduced_loops();
        if (fl) out_ += fmt::format("    if (nan{0}) acc{0} = NAN;\n", s);
        out_ += fmt::format("    const {} red{} = {};\n", value_type(st.dtype), s,
                            convert(fl ? (vt == DType::f64 ? DType::f64 : DType::f32) : DType::i64,
                                    st.dtype, "acc" + std::to_string(s)));
        return;
      }
      case Op::ArgMax:
      case Op::ArgMin: {
        const bool mx = st.op == Op::ArgMax;
        std::string init = fl ? (mx ? "-INFINITY" : "INFINITY") : (mx ? "INT64_MIN" : "INT64_MAX");
        out_ += fmt::format("    {} best{} = {}; int64_t arg{} = 0;\n", acc_t, s, init, s);
        open_reduced_loops(idx, false, "");
        for (int32_t i : el) emit_el(i, idx, s);
        std::string cond =
            fl ? fmt::format("(e {0} best{1} || (e != e && best{1} == best{1}))", mx ? ">" : "<", s)
               : fmt::format("(e {} best{})", mx ? ">" : "<", s);
        out_ += fmt::format("{}{{ const {} e = ({}){}; if {} {{ best{} = e; arg{} = {}; }} }}\n",
                            loop_indent_, acc_t, acc_t, val, cond, s, s, flat_reduced_index(idx));
        close_reduced_loops();
        out_ += fmt::format("    const int64_t red{0} = arg{0};\n", s);
        return;
      }
#define TJ_OP(name, ...) \
  case Op::name:         \
    ir::not_a(st.op, "reduction");
#define TJ_REDUCE(name, ...)
#include "ir/ops.def"
    }
  }

  // ---- matmul --------------------------------------------------------------------
  void print_matmul() override {
    const size_t n = k_.domain.size();  // [batch..., M, N, K]
    const std::string M = dim(n - 3), N = dim(n - 2), K = dim(n - 1);
    const Access& A = k_.accesses[0];
    const Access& B = k_.accesses[1];
    const Access& C = k_.accesses[2];
    DType acc = C.dtype == DType::f64 ? DType::f64 : is_float(C.dtype) ? DType::f32 : DType::i64;
    const char* at = value_type(acc);
    out_ += "  for (int64_t row = begin; row < end; ++row) {\n";
    out_ += fmt::format("    const int64_t m = row % {}; int64_t t = row / {}; (void)t;\n", M, M);
    out_ +=
        fmt::format("    int64_t oa = {}, ob = {}, oc = {};\n", offset(0), offset(1), offset(2));
    for (size_t d = n - 3; d-- > 0;) {
      out_ += fmt::format(
          "    {{ const int64_t b = t % {0}; t /= {0}; oa += b * {1}; ob += b * {2}; oc += b * "
          "{3}; }}\n",
          dim(d), stride(0, d), stride(1, d), stride(2, d));
    }
    out_ += fmt::format("    oa += m * {}; oc += m * {};\n", stride(0, n - 3), stride(2, n - 3));
    out_ += fmt::format(
        "    for (int64_t n0 = 0; n0 < {0}; n0 += 256) {{\n      const int64_t nn = ({0} - n0) < "
        "256 ? ({0} - n0) : 256;\n",
        N);
    out_ +=
        fmt::format("      {} acc[256];\n      for (int64_t q = 0; q < nn; ++q) acc[q] = 0;\n", at);
    out_ += fmt::format("      for (int64_t k = 0; k < {}; ++k) {{\n", K);
    out_ += fmt::format(
        "        const {} av = {};\n", at,
        convert(A.dtype, acc,
                load_expr(A.dtype, fmt::format("a{}[oa + k * {}]", A.arg, stride(0, n - 1)))));
    std::string bl =
        convert(B.dtype, acc,
                load_expr(B.dtype, fmt::format("a{}[ob + k * {} + (n0 + q) * {}]", B.arg,
                                               stride(1, n - 1), stride(1, n - 2))));
    if (acc == DType::i64)
      out_ += fmt::format(
          "        #pragma GCC ivdep\n        for (int64_t q = 0; q < nn; ++q) acc[q] = "
          "(int64_t)((uint64_t)acc[q] + (uint64_t)av * (uint64_t){});\n",
          bl);
    else
      out_ += fmt::format(
          "        #pragma GCC ivdep\n        for (int64_t q = 0; q < nn; ++q) acc[q] += av * "
          "{};\n",
          bl);
    out_ += "      }\n";
    out_ +=
        fmt::format("      for (int64_t q = 0; q < nn; ++q) a{}[oc + (n0 + q) * {}] = {};\n", C.arg,
                    stride(2, n - 2), store_expr(C.dtype, convert(acc, C.dtype, "acc[q]")));
    out_ += "    }\n  }\n";
  }

  // ---- conv (ir::Kernel's conv kernels) -------------------------------------------
  // A program computes rows (n, o, oh) of OW outputs, 256 at a time in a local
  // accumulator; for each (c, i, j) tap the inner loop runs over the outputs
  // whose input column is inside the image, so padding costs no test.
  void print_conv() override {
    const Shape& D = k_.domain;  // [N, O, OH, OW, Cg, KH, KW]
    const std::vector<int64_t>& cv = k_.conv;
    const int64_t O = D[1], OH = D[2], OW = D[3], Cg = D[4], KH = D[5], KW = D[6];
    const int64_t sh = cv[0], sw = cv[1], ph = cv[2], pw = cv[3], dh = cv[4], dw = cv[5];
    const int64_t Og = O / cv[6], H = cv[7], W = cv[8];
    const Access& X = k_.accesses[0];
    const Access& Wt = k_.accesses[1];
    const Access& Y = k_.accesses[2];
    const Access* B = k_.accesses.size() > 3 ? &k_.accesses[3] : nullptr;
    const DType acc = Y.dtype == DType::f64 ? DType::f64 : DType::f32;
    const char* at = value_type(acc);
    auto ld = [&](const Access& a, const std::string& off) {
      return convert(a.dtype, acc, load_expr(a.dtype, fmt::format("a{}[{}]", a.arg, off)));
    };
    out_ += "  for (int64_t row = begin; row < end; ++row) {\n";
    out_ += fmt::format(
        "    const int64_t oh = row % {0}, o = (row / {0}) % {1}, n = row / ({0} * {1});\n", OH, O);
    out_ += fmt::format("    const int64_t c0 = (o / {}) * {};\n", Og, Cg);
    out_ += fmt::format("    for (int64_t w0 = 0; w0 < {0}; w0 += 256) {{\n", OW);
    out_ += fmt::format("      const int64_t nw = ({0} - w0) < 256 ? ({0} - w0) : 256;\n", OW);
    out_ += fmt::format("      {} acc[256];\n", at);
    out_ += fmt::format("      for (int64_t q = 0; q < nw; ++q) acc[q] = {};\n",
                        B ? ld(*B, fmt::format("{} + o * {}", B->offset, B->strides[0])) : "0");
    out_ += fmt::format("      for (int64_t c = 0; c < {}; ++c)\n", Cg);
    out_ += fmt::format("        for (int64_t i = 0; i < {}; ++i) {{\n", KH);
    out_ += fmt::format("          const int64_t h = oh * {} - {} + i * {};\n", sh, ph, dh);
    out_ += fmt::format("          if (h < 0 || h >= {}) continue;\n", H);
    out_ += fmt::format("          const int64_t xb = {} + n * {} + (c0 + c) * {} + h * {};\n",
                        X.offset, X.strides[0], X.strides[1], X.strides[2]);
    out_ += fmt::format("          for (int64_t j = 0; j < {}; ++j) {{\n", KW);
    out_ += fmt::format(
        "            const {} wv = {};\n", at,
        ld(Wt, fmt::format("{} + o * {} + c * {} + i * {} + j * {}", Wt.offset, Wt.strides[0],
                           Wt.strides[1], Wt.strides[2], Wt.strides[3])));
    // Input column of output w0 + q: (w0 + q) * sw + j * dw - pw.
    out_ += fmt::format("            const int64_t base = j * {} - {} + w0 * {};\n", dw, pw, sw);
    out_ += fmt::format("            const int64_t lo = base >= 0 ? 0 : (-base + {0} - 1) / {0};\n",
                        sw);
    out_ += fmt::format(
        "            const int64_t lim = {} - 1 - base;\n"
        "            const int64_t hi = lim < 0 ? 0 : (lim / {} + 1 < nw ? lim / {} + 1 : nw);\n",
        W, sw, sw);
    out_ += "            #pragma GCC ivdep\n";
    out_ += fmt::format("            for (int64_t q = lo; q < hi; ++q) acc[q] += {} * wv;\n",
                        ld(X, fmt::format("xb + (base + q * {}) * {}", sw, X.strides[3])));
    out_ += "          }\n        }\n";
    out_ += fmt::format(
        "      for (int64_t q = 0; q < nw; ++q) a{}[{} + n * {} + o * {} + oh * {} + (w0 + q) * "
        "{}] "
        "= {};\n",
        Y.arg, Y.offset, Y.strides[0], Y.strides[1], Y.strides[2], Y.strides[3],
        store_expr(Y.dtype, convert(acc, Y.dtype, "acc[q]")));
    out_ += "    }\n  }\n";
  }

  std::string loop_indent_ = "    ";
  // Row kernels: per instruction, the pass that stores it in the row cache (-1: none).
  std::vector<int> row_cache_pass_;
};

}  // namespace

std::string print_cpp_kernel(const ir::Kernel& k) { return KernelPrinter(k).print(); }

const std::string& cpp_preamble() {
  static const std::string p = std::string(embedded::cpu_math_h) +
                               "\n#define TJ_FN static inline\n" + embedded::kernel_common_h +
                               "\n" + embedded::philox_core_h + "\n";
  return p;
}

std::string print_cpp_unit(const std::vector<const ir::Kernel*>& kernels) {
  std::string s = cpp_preamble();
  for (const ir::Kernel* k : kernels) s += "\n" + print_cpp_kernel(*k);
  return s;
}

}  // namespace tj::jit
