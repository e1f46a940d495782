// tj::autocast: the per-thread setting and the casts the ops ask for.
#include "tilejit/autocast.h"

#include "trace/autocast.h"
#include "trace/ops_util.h"

namespace tj {

namespace {

struct AutocastState {
  bool enabled = false;
  DType dtype = DType::bf16;
};

thread_local AutocastState t_state;

}  // namespace

autocast::autocast(DType dtype, bool enabled)
    : prev_enabled_(t_state.enabled), prev_dtype_(t_state.dtype) {
  if (dtype != DType::f16 && dtype != DType::bf16)
    fail(
        "autocast: the autocast dtype must be f16 or bf16 (the lower precision that matmul and "
        "linear run in), got {}; write tj::autocast guard(tj::bf16) or tj::autocast "
        "guard(tj::f16)",
        dtype_name(dtype));
  t_state = {enabled, dtype};
}

autocast::~autocast() { t_state = {prev_enabled_, prev_dtype_}; }

bool is_autocast_enabled() { return t_state.enabled; }

DType autocast_dtype() { return t_state.dtype; }

namespace trace {

Tensor autocast_lower(const Tensor& t) {
  if (!t_state.enabled || !t.defined()) return t;
  // As in PyTorch: f64 stays f64 (a user who asks for f64 wants it).
  DType from = t.dtype();
  return is_floating(from) && from != DType::f64 ? cast_to(t, t_state.dtype) : t;
}

Tensor autocast_f32(const Tensor& t) {
  if (!t_state.enabled || !t.defined()) return t;
  DType from = t.dtype();
  return from == DType::f16 || from == DType::bf16 ? cast_to(t, DType::f32) : t;
}

Tensor autocast_for(ir::Op op, const Tensor& t) {
  switch (ir::op_info(op).autocast) {
    case ir::AutocastClass::None:
      return t;
    case ir::AutocastClass::F32:
      return autocast_f32(t);
    case ir::AutocastClass::Lower:
      return autocast_lower(t);
  }
  return t;
}

}  // namespace trace

}  // namespace tj
