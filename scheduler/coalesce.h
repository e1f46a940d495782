// coalesce(): simplifies a kernel's domain without changing what it computes.
//
// Pre: k from lower(). Post: no size-1 dims; adjacent kept dims (and
// adjacent reduced dims) merged wherever every access walks them as one
// (stride[d] == stride[d+1] * size[d+1]), so contiguous data is one flat
// loop with no div/mod; a pointwise domain keeps at least one dim.
// Matmul kernels are left as they are.
#pragma once

#include "ir/kernel.h"

namespace tj::sched {

void coalesce(ir::Kernel& k);

}  // namespace tj::sched
