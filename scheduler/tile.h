// choose_tile(): tile sizes for one kernel on one target.
//
// CPU (a program is one task of the thread pool):
//  * pointwise: a program covers `block` consecutive domain elements. Below
//    32K elements the whole domain is one program (waking threads costs more
//    than the work). Otherwise block = ceil(N / (4 x threads)), at least 16K
//    elements and rounded up to a multiple of the innermost dim when that is
//    small, so most programs start at the beginning of a row: four programs
//    per thread balance uneven cores without making programs so small that
//    scheduling dominates.
//  * row: a program covers `rows` consecutive rows, with the same target of
//    four programs per thread and at least 16K elements of work each.
//    `persistent` means one row of every input fits in half of L2, so the
//    later passes over a row (softmax, layer_norm) hit cache, not memory.
//  * matmul: rows of the output (batch x M) are the programs.
//  * vector_width = vector register bytes / element bytes (the compiler
//    vectorizes the innermost loop; recorded so it is part of the identity).
// The chosen config is part of the kernel's source and so of its cache key.
// Autotuning hook: tile_candidates() lists configs worth timing; a tuner
// can time them and remember the fastest per kernel key.
#pragma once

#include <vector>

#include "ir/kernel.h"
#include "scheduler/plan.h"

namespace tj::sched {

ir::TileConfig choose_tile(const ir::Kernel& k, const Target& t);
std::vector<ir::TileConfig> tile_candidates(const ir::Kernel& k, const Target& t);

}  // namespace tj::sched
