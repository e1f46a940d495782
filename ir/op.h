// Ops: the enum and static facts generated from ir/ops.def (the op table,
// which documents the columns).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tj::ir {

enum class Op : uint8_t {
#define TJ_OP(name, str, arity, kind, rule, autocast) name,
#include "ir/ops.def"
};

enum class OpKind : uint8_t {
  Source,
  Unary,
  Binary,
  Ternary,
  Reduce,
  Movement,
  Matmul,
  Conv,
  Index,
  Scan,
  Sort
};

/// How an op's result dtype relates to its inputs (see ir/ops.def).
enum class DTypeRule : uint8_t { Same, Float, Bool, Index, Any };

/// What tj::autocast does to an op's floating inputs (see ir/ops.def).
enum class AutocastClass : uint8_t { None, F32, Lower };

struct OpInfo {
  std::string_view name;
  int arity;
  OpKind kind;
  DTypeRule rule;
  AutocastClass autocast;
};

const OpInfo& op_info(Op op);
inline std::string_view op_name(Op op) { return op_info(op).name; }
inline bool is_pointwise(Op op) {
  auto k = op_info(op).kind;
  return k == OpKind::Unary || k == OpKind::Binary || k == OpKind::Ternary;
}
inline bool is_reduce(Op op) { return op_info(op).kind == OpKind::Reduce; }
inline bool is_movement(Op op) { return op_info(op).kind == OpKind::Movement; }
inline bool is_source(Op op) { return op_info(op).kind == OpKind::Source; }
inline bool is_scan(Op op) { return op_info(op).kind == OpKind::Scan; }
int num_ops();

/// The public function an indirect load (Op::Gather) was traced from: its
/// attrs[1], so that an out-of-range index is reported under the name the
/// user called.
enum class IndexApi : uint8_t {
  gather,
  index_select,
  take,
  embedding,
  index,
  scatter,
  scatter_add,
  index_copy,
  index_add,
  index_put,
  index_fill,
  masked_scatter  // reads the source at the running count of the mask
};
std::string_view index_api_name(IndexApi api);
/// Whether the api writes at its indices (Op::Scatter) rather than reading.
inline bool is_write_api(IndexApi api) {
  return api >= IndexApi::scatter && api != IndexApi::masked_scatter;
}
/// "index_select: index 7 is out of range for dimension 0 with size 5 ...".
std::string index_error(IndexApi api, int64_t index, int64_t dim, int64_t size, bool wrap);

/// The internal error of a switch over ops that handles one kind and is
/// given another: `case Op::X: ir::not_a(op, "reduction");`. Kind-specific
/// switches list the other kinds' ops through ir/ops.def (see there).
[[noreturn]] void not_a(Op op, const char* what);

}  // namespace tj::ir
