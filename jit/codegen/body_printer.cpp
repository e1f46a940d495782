#include "jit/codegen/body_printer.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "ir/check.h"

namespace tj::jit {

using ir::Access;
using ir::KInstr;
using ir::KOp;
using ir::Op;

namespace {

bool is_float(DType t) { return is_floating(t); }

}  // namespace

/// C type a value of this dtype is computed in.
const char* value_type(DType t) {
  switch (t) {
    case DType::f32:
    case DType::f16:
    case DType::bf16:
      return "float";
    case DType::f64:
      return "double";
    case DType::i32:
    case DType::i64:
      return "int64_t";
    case DType::bool_:
      return "bool";
  }
  return "?";
}

/// C type a buffer of this dtype is stored in.
const char* storage_type(DType t) {
  switch (t) {
    case DType::f32:
      return "float";
    case DType::f64:
      return "double";
    case DType::f16:
    case DType::bf16:
      return "uint16_t";
    case DType::i32:
      return "int32_t";
    case DType::i64:
      return "int64_t";
    case DType::bool_:
      return "uint8_t";
  }
  return "?";
}

std::string load_expr(DType t, const std::string& ref) {
  switch (t) {
    case DType::f16:
      return "tj_half_to_float(" + ref + ")";
    case DType::bf16:
      return "tj_bf16_to_float(" + ref + ")";
    case DType::bool_:
      return "(" + ref + " != 0)";
    case DType::i32:
      return "(int64_t)" + ref;
    case DType::f32:
    case DType::f64:
    case DType::i64:
      return ref;
  }
  return ref;
}

std::string store_expr(DType t, const std::string& v) {
  switch (t) {
    case DType::f16:
      return "tj_float_to_half(" + v + ")";
    case DType::bf16:
      return "tj_float_to_bf16(" + v + ")";
    case DType::bool_:
      return "(uint8_t)(" + v + " ? 1 : 0)";
    case DType::i32:
      return "(int32_t)" + v;
    case DType::f32:
      return "(float)" + v;
    case DType::f64:
    case DType::i64:
      return v;
  }
  return v;
}

/// `v` (computed as `from`) rounded/converted to a value of dtype `to`.
std::string convert(DType from, DType to, const std::string& v) {
  if (from == to) return v;
  const bool ff = is_float(from), tf = is_float(to);
  if (to == DType::bool_) return "(" + v + " != 0)";
  if (tf) {
    std::string base = to == DType::f64 ? "(double)" + v : "(float)" + v;
    if (to == DType::f16) return "tj_round_f16(" + base + ")";
    if (to == DType::bf16) return "tj_round_bf16(" + base + ")";
    return base;
  }
  // integer target
  // Floats saturate to the integer range (NaN: 0); integers wrap.
  if (ff) return (to == DType::i32 ? "tj_f2i32((double)" : "tj_f2i((double)") + v + ")";
  return to == DType::i32 ? "tj_wrap32((int64_t)" + v + ")" : "(int64_t)" + v;
}

namespace {

std::string unary_float(Op op, const std::string& x, bool f64) {
  const char* sfx = f64 ? "_f64" : "";
  auto call = [&](const char* fn) { return fmt::format("{}{}({})", fn, sfx, x); };
  switch (op) {
#define TJ_OP(name, ...) \
  case Op::name:         \
    ir::not_a(op, "unary op");
#define TJ_UNARY(name, ...)
#define TJ_MATH1(name, api, ac, gen, fn, ref) \
  case Op::name:                              \
    return call(#fn);
#include "ir/ops.def"
    case Op::Copy:
      return x;
    case Op::Neg:
      return "-" + x;
    case Op::Abs:
      return call("tj_fabs");
    case Op::Relu:
      return fmt::format("({0} > 0 ? {0} : ({0} != {0} ? {0} : 0))", x);
    case Op::Floor:
      return call("tj_floor");
    case Op::Ceil:
      return call("tj_ceil");
    case Op::Round:
      return call("tj_round");
    case Op::Reciprocal:
      return fmt::format("({} / {})", f64 ? "1.0" : "1.0f", x);
    case Op::LogicalNot:
      return "(" + x + " == 0)";
    case Op::Cast:  // a KOp of its own
      break;
  }
  TJ_CHECK(false, "{} is not a unary float op", ir::op_name(op));
}

std::string unary_int(Op op, const std::string& x) {
  switch (op) {
#define TJ_OP(name, ...) \
  case Op::name:         \
    ir::not_a(op, "unary op with an integer form");
#define TJ_UNARY(name, ...)
#include "ir/ops.def"
    case Op::Copy:
    case Op::Floor:
    case Op::Ceil:
    case Op::Round:
      return x;
    case Op::Neg:
      return "(int64_t)(0ull - (uint64_t)" + x + ")";
    case Op::Abs:
      return fmt::format("({0} < 0 ? (int64_t)(0ull - (uint64_t){0}) : {0})", x);
    case Op::Relu:
      return fmt::format("({0} > 0 ? {0} : 0)", x);
    case Op::LogicalNot:
      return "(!" + x + ")";
    case Op::Cast:
    case Op::Reciprocal:
      break;
  }
  TJ_CHECK(false, "{} has no integer form", ir::op_name(op));
}

std::string binary(Op op, const std::string& a, const std::string& b, DType operand, DType result) {
  const bool fl = is_float(operand), f64 = operand == DType::f64;
  const char* sfx = f64 ? "_f64" : "";
  std::string r;
  auto call = [&](const char* fn) { return fmt::format("{}{}({}, {})", fn, sfx, a, b); };
  switch (op) {
#define TJ_OP(name, ...) \
  case Op::name:         \
    ir::not_a(op, "binary op");
#define TJ_BINARY(name, ...)
#define TJ_MATH2(name, api, ac, gen, fn, ref) \
  case Op::name:                              \
    r = call(#fn);                            \
    break;
#include "ir/ops.def"
    case Op::Add:
      r = fl ? fmt::format("({} + {})", a, b)
             : fmt::format("(int64_t)((uint64_t){} + (uint64_t){})", a, b);
      break;
    case Op::Sub:
      r = fl ? fmt::format("({} - {})", a, b)
             : fmt::format("(int64_t)((uint64_t){} - (uint64_t){})", a, b);
      break;
    case Op::Mul:
      r = fl ? fmt::format("({} * {})", a, b)
             : fmt::format("(int64_t)((uint64_t){} * (uint64_t){})", a, b);
      break;
    case Op::Div:
      r = fmt::format("({} / {})", a, b);
      break;
    case Op::FloorDiv:
      r = fl ? fmt::format("tj_floordiv{}({}, {})", sfx, a, b)
             : fmt::format("tj_floordiv_i({}, {})", a, b);
      break;
    case Op::Remainder:
      r = fl ? fmt::format("tj_remainder{}({}, {})", sfx, a, b)
             : fmt::format("tj_remainder_i({}, {})", a, b);
      break;
    case Op::Pow:
      r = fl ? fmt::format("tj_pow{}({}, {})", sfx, a, b) : fmt::format("tj_pow_i({}, {})", a, b);
      break;
    case Op::Maximum:
      r = fl ? fmt::format("tj_maximum{}({}, {})", sfx, a, b)
             : fmt::format("({0} > {1} ? {0} : {1})", a, b);
      break;
    case Op::Minimum:
      r = fl ? fmt::format("tj_minimum{}({}, {})", sfx, a, b)
             : fmt::format("({0} < {1} ? {0} : {1})", a, b);
      break;
    case Op::Eq:
      return fmt::format("({} == {})", a, b);
    case Op::Ne:
      return fmt::format("({} != {})", a, b);
    case Op::Lt:
      return fmt::format("({} < {})", a, b);
    case Op::Le:
      return fmt::format("({} <= {})", a, b);
    case Op::Gt:
      return fmt::format("({} > {})", a, b);
    case Op::Ge:
      return fmt::format("({} >= {})", a, b);
    case Op::LogicalAnd:
      return fmt::format("({} && {})", a, b);
    case Op::LogicalOr:
      return fmt::format("({} || {})", a, b);
    case Op::LogicalXor:
      return fmt::format("({} != {})", a, b);
  }
  if (result == DType::i32) return "tj_wrap32(" + r + ")";
  if (result == DType::bool_) return "(" + r + " != 0)";
  return r;
}

}  // namespace

void BodyPrinter::print_kernel_body() {
  switch (k_.kind) {
    case ir::Kernel::Kind::pointwise:
      print_pointwise();
      return;
    case ir::Kernel::Kind::row:
      print_row();
      return;
    case ir::Kernel::Kind::matmul:
      print_matmul();
      return;
    case ir::Kernel::Kind::conv:
      print_conv();
      return;
    case ir::Kernel::Kind::scatter:
    case ir::Kernel::Kind::scan:
    case ir::Kernel::Kind::sort:
      print_lines();
      return;
  }
}

std::string BodyPrinter::load(int32_t i, const std::vector<std::string>& idx) {
  const KInstr& in = k_.body[i];
  return load_expr(in.dtype, ref(in.access, offset_expr(in.access, idx)));
}

void BodyPrinter::store(int32_t i, const std::vector<std::string>& idx, const std::string& indent) {
  const KInstr& in = k_.body[i];
  out_ += fmt::format("{}{} = {};\n", indent, ref(in.access, offset_expr(in.access, idx)),
                      store_expr(in.dtype, v(in.a)));
}

BodyPrinter::BodyPrinter(const ir::Kernel& k) : k_(k) {
  auto name = [&] { return "tj_s" + std::to_string(symbols_++); };
  // Names in ir::for_each_symbol's order.
  for (size_t d = 0; d < k.domain.size(); ++d)
    dim_.push_back(k.symbolic(d) ? name() : std::to_string(k.domain[d]));
  for (const Access& a : k.accesses) {
    std::vector<std::string> st;
    for (size_t d = 0; d < a.strides.size(); ++d)
      st.push_back(a.symbolic_stride(d) ? name() : std::to_string(a.strides[d]));
    stride_.push_back(std::move(st));
    offset_.push_back(a.symbolic_offset() ? name() : std::to_string(a.offset));
  }
}

// ---- offsets ----------------------------------------------------------------
/// Expression for access k's element offset given domain index names. A
/// symbolic stride is at least 2 (scheduler/dynamic.h), never 0 or 1.
std::string BodyPrinter::offset_expr(int32_t acc, const std::vector<std::string>& idx) const {
  const Access& a = k_.accesses[acc];
  std::string s = offset(acc);
  for (size_t d = 0; d < idx.size(); ++d) {
    if (a.symbolic_stride(d)) {
      s += fmt::format(" + {} * {}", idx[d], stride(acc, d));
      continue;
    }
    if (a.strides[d] == 0) continue;
    if (a.strides[d] == 1)
      s += " + " + idx[d];
    else
      s += fmt::format(" + {} * {}", idx[d], a.strides[d]);
  }
  return s;
}

std::string BodyPrinter::ref(int32_t acc, const std::string& offset) const {
  return fmt::format("a{}[{}]", k_.accesses[acc].arg, offset);
}

// ---- instructions -----------------------------------------------------------

/// The C expression for instruction i, given how offsets are spelled.
std::string BodyPrinter::expr(int32_t i, const std::vector<std::string>& idx) {
  const KInstr& in = k_.body[i];
  switch (in.kop) {
    case KOp::Load:
      return load(i, idx);
    case KOp::Param: {
      if (is_float(in.dtype))
        return convert(DType::f64, in.dtype, fmt::format("{}[{}]", fp_, in.param));
      if (in.dtype == DType::bool_) return fmt::format("({}[{}] != 0)", ip_, in.param);
      if (in.dtype == DType::i32) return fmt::format("tj_wrap32({}[{}])", ip_, in.param);
      return fmt::format("{}[{}]", ip_, in.param);
    }
    case KOp::Index:
      return "(int64_t)(" + offset_expr(in.access, idx) + ")";
    case KOp::Rand: {
      std::string c = fmt::format("(uint64_t)({} + {})", v(in.b), v(in.c));
      std::string s = fmt::format("(uint64_t){}", v(in.a));
      if (in.op == Op::RandNormal)
        return convert(DType::f64, in.dtype, fmt::format("tj_rand_normal({}, {})", c, s));
      const char* fn = in.dtype == DType::f64    ? "tj_rand_uniform_f64"
                       : in.dtype == DType::f16  ? "tj_rand_uniform_f16"
                       : in.dtype == DType::bf16 ? "tj_rand_uniform_bf16"
                                                 : "tj_rand_uniform_f32";
      return fmt::format("{}({}, {})", fn, c, s);
    }
    case KOp::Unary: {
      DType od = k_.body[in.a].dtype;
      if (in.op == Op::LogicalNot) return "(!" + v(in.a) + ")";
      return is_float(od) ? unary_float(in.op, v(in.a), od == DType::f64)
                          : unary_int(in.op, v(in.a));
    }
    case KOp::Binary:
      return binary(in.op, v(in.a), v(in.b), k_.body[in.a].dtype, in.dtype);
    case KOp::Where:
      return fmt::format("({} ? {} : {})", v(in.a), v(in.b), v(in.c));
    case KOp::Cast:
      return convert(k_.body[in.a].dtype, in.dtype, v(in.a));
    case KOp::Reduced:
      return fmt::format("red{}", in.param);
    case KOp::Store:
    case KOp::Gather:  // statements of their own: emit_instr
    case KOp::Scatter:
    case KOp::Scan:
    case KOp::Sort:
      break;
  }
  TJ_CHECK(false, "{}: v{} is not an expression", k_.name, i);
}

std::string BodyPrinter::site_args(int32_t site) const {
  const ir::CheckSite& c = k_.checks[site];
  return fmt::format("{}, {}, {}, {}", c.api, c.dim, c.size, c.wrap ? 1 : 0);
}

std::string BodyPrinter::indirect_offset(int32_t i, const std::vector<std::string>& idx,
                                         const std::string& indent) {
  const KInstr& in = k_.body[i];
  const Access& a = k_.accesses[in.access];
  const std::string raw = v(in.a), j = "j" + std::to_string(i), ok = "ok" + std::to_string(i);
  out_ += fmt::format(
      "{}const int64_t {} = {};\n", indent, j,
      a.gather_wrap ? fmt::format("({0} < 0 ? {0} + {1} : {0})", raw, a.gather_size) : raw);
  out_ +=
      fmt::format("{}const bool {} = (uint64_t){} < (uint64_t){};\n", indent, ok, j, a.gather_size);
  gather_report(i, indent);
  std::string off = offset_expr(in.access, idx);
  off += a.gather_stride == 1 ? " + " + j : fmt::format(" + {} * {}", j, a.gather_stride);
  return off;
}

void BodyPrinter::gather(int32_t i, const std::vector<std::string>& idx,
                         const std::string& indent) {
  const KInstr& in = k_.body[i];
  const std::string off = indirect_offset(i, idx, indent);
  out_ += fmt::format("{}const {} {} = ok{} ? {} : ({})0;\n", indent, value_type(in.dtype), v(i), i,
                      load_expr(in.dtype, ref(in.access, off)), value_type(in.dtype));
}

void BodyPrinter::scatter(int32_t i, const std::vector<std::string>& idx,
                          const std::string& indent) {
  const KInstr& in = k_.body[i];
  const std::string off = indirect_offset(i, idx, indent);
  const std::string at = ref(in.access, off);
  const std::string value =
      in.op == Op::Add ? binary(Op::Add, load_expr(in.dtype, at), v(in.b), in.dtype, in.dtype)
                       : v(in.b);
  out_ += fmt::format("{}if (ok{}) {} = {};\n", indent, i, at, store_expr(in.dtype, value));
}

void BodyPrinter::line_body(const std::vector<std::string>& idx, const std::string& indent,
                            const char* index_type) {
  if (k_.kind == ir::Kernel::Kind::sort) {
    sort_line(idx, indent);
    return;
  }
  scan_inits(indent);
  out_ += fmt::format("{0}for ({1} {2} = 0; {2} < {3}; ++{2}) {{\n", indent, index_type, idx.back(),
                      dim(k_.domain.size() - 1));
  for (size_t i = 0; i < k_.body.size(); ++i)
    if (k_.body[i].kop != KOp::Param) emit_instr(static_cast<int32_t>(i), idx, indent + "  ");
  out_ += indent + "}\n";
}

void BodyPrinter::sort_line(const std::vector<std::string>& idx, const std::string& indent) {
  int32_t si = -1, oi = -1;
  for (size_t i = 0; i < k_.body.size(); ++i) {
    if (k_.body[i].kop == KOp::Sort) si = static_cast<int32_t>(i);
    if (k_.body[i].kop == KOp::Store) oi = static_cast<int32_t>(i);
  }
  TJ_CHECK(si >= 0 && oi >= 0, "{}: a sort kernel needs its Sort and Store", k_.name);
  const KInstr& sort = k_.body[si];
  const Access& keys = k_.accesses[sort.access];
  const Access& out = k_.accesses[k_.body[oi].access];
  std::vector<std::string> first = idx;
  first.back() = "0";
  const char* t = value_type(sort.dtype);
  const bool desc = sort.param != 0, fl = is_float(sort.dtype);
  auto key = [&](const char* j) {
    return load_expr(sort.dtype,
                     fmt::format("kp[{} * {}]", j, stride(sort.access, keys.strides.size() - 1)));
  };
  out_ += indent + "{\n";
  out_ += fmt::format("{}  const {}* kp = &{};\n", indent, storage_type(sort.dtype),
                      ref(sort.access, offset_expr(sort.access, first)));
  out_ += fmt::format("{}  int64_t* op = &{};\n", indent,
                      ref(k_.body[oi].access, offset_expr(k_.body[oi].access, first)));
  // p before q: by value (NaN above numbers), then by position (stable).
  out_ += fmt::format("{}  auto before = [&](int64_t p, int64_t q) -> bool {{\n", indent);
  out_ += fmt::format("{}    const {} x = {}, y = {};\n", indent, t, key("p"), key("q"));
  if (fl)
    out_ += fmt::format("{}    if ((x != x) != (y != y)) return {};\n", indent,
                        desc ? "x != x" : "y != y");
  out_ += fmt::format("{0}    if (x {1} y) return true;\n{0}    if (y {1} x) return false;\n",
                      indent, desc ? ">" : "<");
  out_ += fmt::format("{}    return p < q;\n{}  }};\n", indent, indent);
  out_ += fmt::format("{}  tj_sort_line(op, {}, {}, before);\n{}}}\n", indent,
                      stride(k_.body[oi].access, out.strides.size() - 1), dim(k_.domain.size() - 1),
                      indent);
}

void BodyPrinter::scan_inits(const std::string& indent) {
  for (size_t i = 0; i < k_.body.size(); ++i) {
    const KInstr& in = k_.body[i];
    if (in.kop != KOp::Scan) continue;
    const char* t = value_type(in.dtype);
    const char* init = in.op == Op::CumSum ? "0" : in.op == Op::CumProd ? "1" : "-INFINITY";
    if (scan_lanes_ > 0)
      out_ += fmt::format(
          "{0}{1} s{2}[{3}];\n{0}for (int64_t b = 0; b < {3}; ++b) s{2}[b] = ({1}){4};\n", indent,
          t, i, scan_lanes_, init);
    else
      out_ += fmt::format("{}{} s{} = ({}){};\n", indent, t, i, t, init);
  }
}

void BodyPrinter::scan(int32_t i, const std::string& indent) {
  const KInstr& in = k_.body[i];
  const std::string s = "s" + std::to_string(i) + (scan_lanes_ > 0 ? "[b]" : "");
  std::string next;
  if (in.op == Op::LogCumSumExp)
    next = fmt::format("tj_logaddexp{}({}, {})", in.dtype == DType::f64 ? "_f64" : "", s, v(in.a));
  else
    next = binary(in.op == Op::CumSum ? Op::Add : Op::Mul, s, v(in.a), in.dtype, in.dtype);
  out_ += fmt::format("{}{} = {};\n{}const {} {} = {};\n", indent, s, next, indent,
                      value_type(in.dtype), v(i), s);
}

void BodyPrinter::emit_instr(int32_t i, const std::vector<std::string>& idx,
                             const std::string& indent) {
  const KInstr& in = k_.body[i];
  if (in.kop == KOp::Store) {
    store(i, idx, indent);
    return;
  }
  if (in.kop == KOp::Gather) {
    gather(i, idx, indent);
    return;
  }
  if (in.kop == KOp::Scatter) {
    scatter(i, idx, indent);
    return;
  }
  if (in.kop == KOp::Scan) {
    scan(i, indent);
    return;
  }
  const char* t = in.kop == KOp::Index ? "int64_t" : value_type(in.dtype);
  out_ += fmt::format("{}const {} {} = {};\n", indent, t, v(i), expr(i, idx));
}

/// Instructions needed for `roots`, in order, restricted by row-levelness.
std::vector<int32_t> BodyPrinter::closure(const std::vector<int32_t>& roots, bool row_level) const {
  std::set<int32_t> need;
  std::vector<int32_t> stack(roots.begin(), roots.end());
  while (!stack.empty()) {
    int32_t i = stack.back();
    stack.pop_back();
    if (i < 0 || need.count(i)) continue;
    const KInstr& in = k_.body[i];
    if (in.row_level != row_level && in.kop != KOp::Store) continue;
    need.insert(i);
    for (int32_t o : {in.a, in.b, in.c}) stack.push_back(o);
  }
  return {need.begin(), need.end()};
}

std::vector<int32_t> BodyPrinter::row_operands(const std::vector<int32_t>& el) const {
  std::vector<int32_t> r;
  for (int32_t i : el)
    for (int32_t o : {k_.body[i].a, k_.body[i].b, k_.body[i].c})
      if (o >= 0 && k_.body[o].row_level) r.push_back(o);
  return r;
}

BodyPrinter::RowPasses BodyPrinter::row_passes() const {
  RowPasses p;
  for (const ir::Stage& st : k_.stages)
    p.stage_elements.push_back(k_.body[st.value].row_level ? std::vector<int32_t>{}
                                                           : closure({st.value}, false));
  std::vector<int32_t> el_stores;
  for (size_t i = 0; i < k_.body.size(); ++i)
    if (k_.body[i].kop == KOp::Store)
      (k_.body[i].row_level ? p.row_stores : el_stores).push_back(static_cast<int32_t>(i));
  for (int32_t i : p.row_stores) p.row_store_values.push_back(k_.body[i].a);
  for (int32_t i : el_stores) {
    const int32_t v = k_.body[i].a;
    if (k_.body[v].row_level) p.output_row_values.push_back(v);
    std::vector<int32_t> c = closure({v}, false);
    p.output_elements.insert(p.output_elements.end(), c.begin(), c.end());
  }
  p.output_elements.insert(p.output_elements.end(), el_stores.begin(), el_stores.end());
  std::sort(p.output_elements.begin(), p.output_elements.end());
  p.output_elements.erase(std::unique(p.output_elements.begin(), p.output_elements.end()),
                          p.output_elements.end());
  return p;
}

}  // namespace tj::jit
