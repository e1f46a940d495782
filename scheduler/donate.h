// choose_donors(): which outputs may be written into an input's memory.
//
// An output (or temporary) of a pointwise step may take the buffer of an
// input of the same step when the step is the input's last reader (steps run
// in order: the earlier readers are done), both have
// the same dtype and element count, and every access of the input in the
// kernel reads exactly the element the output's store writes (so each element
// is read before it is overwritten, by the same thread). Steps right after a
// GEMM or a convolution that read its result are left alone: they may run as
// its fused epilogue. The pass records the
// pair in PlanBuffer::donor and Kernel::aliases (the kernel is then printed
// without restrict for those two arguments). Only buffers the graph allows
// donate (ir::Graph::donatable, part of its hash): the tracer allows it for
// buffers nothing outside the flush can read, such as the old value of
// `p -= lr * g` or an optimizer's moment that was just replaced; the plan
// runner checks the rest at run time (the memory is dense and large enough,
// other views of it are read before).
#pragma once

#include "ir/graph.h"
#include "scheduler/plan.h"

namespace tj::sched {

/// Pre: p from lower() of a graph with the buffer slots of `g` (kernels not
/// yet tiled or named). Only buffers g allows (ir::Graph::donatable) donate.
void choose_donors(Plan& p, const ir::Graph& g);

}  // namespace tj::sched
