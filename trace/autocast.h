// Hooks through which the op implementations apply tj::autocast
// (include/tilejit/autocast.h has the semantics and the op lists).
#pragma once

#include "ir/op.h"
#include "tilejit/tensor.h"

namespace tj::trace {

/// For ops on the lower-precision list: `t` cast to the autocast dtype when
/// autocast is on in this thread and `t` is floating; otherwise `t` itself
/// (also when undefined, so the op reports that).
Tensor autocast_lower(const Tensor& t);

/// For ops on the f32 list: `t` cast to f32 when autocast is on in this
/// thread and `t` is f16 or bf16; otherwise `t` itself (also when undefined).
Tensor autocast_f32(const Tensor& t);

/// `t` as an input of `op` under the calling thread's autocast: by the op's
/// Autocast column in ir/ops.def (None: `t` itself).
Tensor autocast_for(ir::Op op, const Tensor& t);

}  // namespace tj::trace
