#include "scheduler/name_kernel.h"

#include <fmt/format.h>

#include <algorithm>

#include "ir/hash.h"

namespace tj::sched {

namespace {

bool has_stage(const ir::Kernel& k, ir::Op op) {
  return std::any_of(k.stages.begin(), k.stages.end(),
                     [&](const ir::Stage& s) { return s.op == op; });
}

bool has_op(const ir::Kernel& k, ir::Op op) {
  return std::any_of(k.body.begin(), k.body.end(), [&](const ir::KInstr& in) {
    return (in.kop == ir::KOp::Unary || in.kop == ir::KOp::Binary) && in.op == op;
  });
}

/// The row kernels with names of their own, by what they compute.
std::string row_kind(const ir::Kernel& k) {
  using ir::Op;
  const bool max_sum = has_stage(k, Op::Max) && has_stage(k, Op::Sum) && has_op(k, Op::Exp);
  if (max_sum && has_op(k, Op::Log)) return "row_log_softmax";
  if (max_sum && has_op(k, Op::Div)) return "row_softmax";
  if (has_op(k, Op::Rsqrt)) return k.stages.size() >= 2 ? "row_layer_norm" : "row_rms_norm";
  std::string kind = "row";
  for (const ir::Stage& st : k.stages) kind += "_" + std::string(ir::op_name(st.op));
  return kind;
}

}  // namespace

std::string kernel_name(const ir::Kernel& k) {
  const uint64_t h = Hasher().add(ir::identity_string(k)).get();
  std::string kind;
  switch (k.kind) {
    case ir::Kernel::Kind::pointwise:
      kind = "pointwise";
      break;
    case ir::Kernel::Kind::matmul:
      kind = "matmul";
      break;
    case ir::Kernel::Kind::conv:
      kind = "conv";
      break;
    case ir::Kernel::Kind::row:
      kind = row_kind(k);
      break;
    case ir::Kernel::Kind::scatter:
      kind = "scatter";
      break;
    case ir::Kernel::Kind::scan:
      kind = "scan";
      break;
    case ir::Kernel::Kind::sort:
      kind = "sort";
      break;
  }
  // All 64 bits: the in-memory kernel cache takes equal names for equal
  // kernels, and a process (a fuzzer, a server) may make 10^5 of them.
  return fmt::format("tj_{}_{:016x}", kind, h);
}

}  // namespace tj::sched
