#include "ir/kernel.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "ir/check.h"

namespace tj::ir {

int64_t Kernel::kept_numel() const {
  int64_t n = 1;
  for (size_t d = 0; d + reduced < domain.size(); ++d) n *= domain[d];
  return n;
}

int64_t Kernel::reduced_numel() const {
  int64_t n = 1;
  for (size_t d = domain.size() - reduced; d < domain.size(); ++d) n *= domain[d];
  return n;
}

namespace {

std::string kop_name(const KInstr& in) {
  switch (in.kop) {
    case KOp::Load:
      return "load";
    case KOp::Param:
      return "param";
    case KOp::Index:
      return "index";
    case KOp::Rand:
      return std::string(op_name(in.op));
    case KOp::Unary:
    case KOp::Binary:
      return std::string(op_name(in.op));
    case KOp::Where:
      return "where";
    case KOp::Cast:
      return "cast";
    case KOp::Reduced:
      return "reduced";
    case KOp::Store:
      return "store";
    case KOp::Gather:
      return "gather";
    case KOp::Scatter:
      return in.op == Op::Add ? "scatter_add" : "scatter";
    case KOp::Scan:
      return std::string(op_name(in.op));
    case KOp::Sort:
      return in.param ? "sort_descending" : "sort";
  }
  return "?";
}

}  // namespace

std::string to_string(const Kernel& k) {
  const char* kind = k.kind == Kernel::Kind::pointwise ? "pointwise"
                     : k.kind == Kernel::Kind::row     ? "row"
                     : k.kind == Kernel::Kind::scatter ? "scatter"
                     : k.kind == Kernel::Kind::scan    ? "scan"
                     : k.kind == Kernel::Kind::sort    ? "sort"
                     : k.kind == Kernel::Kind::conv    ? "conv"
                                                       : "matmul";
  const std::string domain = domain_string(k, true);
  std::string s =
      fmt::format("kernel {} ({}): domain {} reduced {} tile(block={}, rows={}, vec={}{})\n",
                  k.name, kind, domain, k.reduced, k.tile.block, k.tile.rows, k.tile.vector_width,
                  k.tile.persistent ? ", persistent" : "");
  s += fmt::format("  fuses: {}\n", k.summary);
  if (!k.conv.empty())
    s += fmt::format("  conv: stride={}x{} pad={}x{} dilation={}x{} groups={} input={}x{}\n",
                     k.conv[0], k.conv[1], k.conv[2], k.conv[3], k.conv[4], k.conv[5], k.conv[6],
                     k.conv[7], k.conv[8]);
  for (size_t i = 0; i < k.args.size(); ++i)
    s += fmt::format("  arg{}: {}*\n", i, dtype_name(k.args[i]));
  for (size_t i = 0; i < k.params.size(); ++i)
    s += fmt::format("  param{}: {}\n", i, dtype_name(k.params[i]));
  for (const auto& [in, out] : k.aliases) s += fmt::format("  arg{} may be arg{}\n", out, in);
  for (size_t i = 0; i < k.accesses.size(); ++i) {
    const Access& a = k.accesses[i];
    if (a.symbolic) {  // symbols as s=<value>
      std::vector<std::string> st;
      for (size_t d = 0; d < a.strides.size(); ++d)
        st.push_back(a.symbolic_stride(d) ? fmt::format("s={}", a.strides[d])
                                          : std::to_string(a.strides[d]));
      s += fmt::format("  acc{}: arg{} {} strides=[{}] offset={}{}", i, a.arg, dtype_name(a.dtype),
                       fmt::join(st, ", "), a.symbolic_offset() ? "s=" : "", a.offset);
    } else {
      s += fmt::format("  acc{}: arg{} {} strides={} offset={}", i, a.arg, dtype_name(a.dtype),
                       shape_str(a.strides), a.offset);
    }
    if (a.gather_size >= 0)
      s += fmt::format(" + index * {} (size {}{})", a.gather_stride, a.gather_size,
                       a.gather_wrap ? ", wrap" : "");
    s += "\n";
  }
  for (size_t i = 0; i < k.checks.size(); ++i)
    s += fmt::format("  check{}: {} dim {} size {}{} -> arg{}\n", i,
                     index_api_name(static_cast<IndexApi>(k.checks[i].api)), k.checks[i].dim,
                     k.checks[i].size, k.checks[i].wrap ? " wrap" : "", k.check_arg);
  for (size_t i = 0; i < k.stages.size(); ++i)
    s += fmt::format("  stage{}: {} of v{} -> {}\n", i, op_name(k.stages[i].op), k.stages[i].value,
                     dtype_name(k.stages[i].dtype));
  for (size_t i = 0; i < k.body.size(); ++i) {
    const KInstr& in = k.body[i];
    std::string operands;
    for (int32_t o : {in.a, in.b, in.c})
      if (o >= 0) operands += fmt::format(" v{}", o);
    if (in.access >= 0) operands += fmt::format(" acc{}", in.access);
    if (in.param >= 0) operands += fmt::format(" #{}", in.param);
    s += fmt::format("  v{} = {} {}{}{}\n", i, kop_name(in), dtype_name(in.dtype), operands,
                     in.row_level ? "  (row)" : "");
  }
  return s;
}

std::string domain_string(const Kernel& k, bool instance) {
  if (!k.dynamic) return shape_str(k.domain);
  std::vector<std::string> dims, sizes;
  for (size_t d = 0; d < k.domain.size(); ++d) {
    if (!k.symbolic(d)) {
      dims.push_back(std::to_string(k.domain[d]));
      continue;
    }
    const std::string name = fmt::format("s{}", sizes.size());
    dims.push_back(name);
    sizes.push_back(fmt::format("{}={}", name, k.domain[d]));
  }
  std::string s = fmt::format("[{}]", fmt::join(dims, ", "));
  if (instance) s += fmt::format(" ({})", fmt::join(sizes, ", "));
  return s;
}

std::string identity_string(const Kernel& k) {
  Kernel c = k;
  c.name.clear();
  if (c.has_symbols()) {
    for_each_symbol(c, [](int64_t& v) { v = 0; });
    c.tile.block = c.tile.rows = 0;
  }
  return to_string(c);
}

void verify(const Kernel& k) {
  TJ_CHECK(!k.dynamic || (k.domain.size() <= 31 && (k.dynamic >> k.domain.size()) == 0),
           "{}: a symbolic dim past the domain", k.name);
  TJ_CHECK(k.kind != Kernel::Kind::conv || (k.dynamic & ~1u) == 0,
           "{}: a conv kernel's only symbolic dim is its batch", k.name);
  for (const Access& a : k.accesses)
    TJ_CHECK(!a.symbolic || (k.domain.size() <= 31 &&
                             (a.symbolic & ~(1u << Access::kOffsetBit)) >> k.domain.size() == 0 &&
                             k.kind != Kernel::Kind::conv),
             "{}: a symbolic stride past the domain, or in a conv kernel", k.name);
  TJ_CHECK(k.reduced >= 0 && static_cast<size_t>(k.reduced) <= k.domain.size(), "{}", k.name);
  for (const Access& a : k.accesses) {
    TJ_CHECK(a.strides.size() == k.domain.size(), "{}: access with {} strides for a {}-d domain",
             k.name, a.strides.size(), k.domain.size());
    TJ_CHECK(a.arg < static_cast<int32_t>(k.args.size()), "{}: access to missing arg {}", k.name,
             a.arg);
  }
  if (k.kind == Kernel::Kind::conv)
    TJ_CHECK(k.conv.size() == 9 && k.domain.size() == 7 && k.reduced == 3 &&
                 (k.accesses.size() == 3 || k.accesses.size() == 4),
             "{}: a conv kernel needs 9 attributes, a 7-d domain and 3 or 4 accesses", k.name);
  if (k.kind == Kernel::Kind::matmul || k.kind == Kernel::Kind::conv) return;
  for (size_t i = 0; i < k.body.size(); ++i) {
    const KInstr& in = k.body[i];
    for (int32_t o : {in.a, in.b, in.c}) {
      TJ_CHECK(o < static_cast<int32_t>(i), "{}: v{} uses v{} before it is defined", k.name, i, o);
      if (o >= 0 && in.row_level)
        TJ_CHECK(k.body[o].row_level, "{}: row-level v{} uses element-level v{}", k.name, i, o);
    }
    if (in.kop == KOp::Load || in.kop == KOp::Store || in.kop == KOp::Index ||
        in.kop == KOp::Gather || in.kop == KOp::Scatter || in.kop == KOp::Sort)
      TJ_CHECK(in.access >= 0 && in.access < static_cast<int32_t>(k.accesses.size()), "{}: v{}",
               k.name, i);
    if (in.kop == KOp::Scatter)
      TJ_CHECK(k.kind == Kernel::Kind::scatter && k.reduced == 1 && in.b >= 0 &&
                   (in.op == Op::Copy || in.op == Op::Add),
               "{}: scatter v{}", k.name, i);
    if (in.kop == KOp::Sort)
      TJ_CHECK(k.kind == Kernel::Kind::sort && k.reduced == 1 && (in.param == 0 || in.param == 1),
               "{}: sort v{}", k.name, i);
    if (in.kop == KOp::Scan)
      TJ_CHECK(k.kind == Kernel::Kind::scan && k.reduced == 1 && in.a >= 0 && is_scan(in.op) &&
                   in.dtype == k.body[in.a].dtype,
               "{}: scan v{}", k.name, i);
    if (in.kop == KOp::Gather || in.kop == KOp::Scatter)
      TJ_CHECK(in.a >= 0 && !is_floating(k.body[in.a].dtype) &&
                   k.accesses[in.access].gather_size >= 0 && in.param >= 0 &&
                   in.param < static_cast<int32_t>(k.checks.size()) && k.check_arg >= 0 &&
                   k.check_arg < static_cast<int32_t>(k.args.size()),
               "{}: indirect access v{}", k.name, i);
    if (in.kop == KOp::Param)
      TJ_CHECK(in.param >= 0 && in.param < static_cast<int32_t>(k.params.size()), "{}: v{}", k.name,
               i);
    if (in.kop == KOp::Reduced)
      TJ_CHECK(in.param >= 0 && in.param < static_cast<int32_t>(k.stages.size()) && in.row_level,
               "{}: v{}", k.name, i);
  }
  for (const Stage& s : k.stages)
    TJ_CHECK(s.value >= 0 && s.value < static_cast<int32_t>(k.body.size()), "{}: stage value",
             k.name);
}

}  // namespace tj::ir
