// kernel_name(): a name that says what a kernel does, for profilers, logs
// and dumps: tj_<kind>_<hash>, with <kind> pointwise, matmul, row_softmax,
// row_log_softmax, row_layer_norm, row_rms_norm or row_<stage ops>
// (row_sum, row_max_sum, ...), from the kernel's kind, its stages and the
// ops of its body. <hash> covers the whole Kernel IR (tile config included),
// so two kernels with one name are the same kernel: the in-memory kernel
// cache relies on it.
//
// Pre: k is coalesced and tiled (its name is ignored). Post: none.
#pragma once

#include <string>

#include "ir/kernel.h"

namespace tj::sched {

std::string kernel_name(const ir::Kernel& k);

}  // namespace tj::sched
