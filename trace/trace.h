// The lazy trace: each thread records ops into its own trace; a flush turns
// the pending part into values.
//
// Flush policy. A flush computes every pending tensor that a live tj::Tensor
// handle refers to (tensors nobody holds are not computed, except as
// intermediates of ones that are). It happens on a host read, on tj::sync()
// or Tensor::eval(), when the thread's trace holds TILEJIT_MAX_TRACE pending
// ops, before an op that cannot be traced (a device transfer), and after
// every op in eager mode (TILEJIT_LAZY=0).
//
// Threads. Tensors may be passed between threads. An op in thread B on a
// tensor still pending in thread A's trace records a node that depends on it;
// when B flushes, it computes what it needs (and stores every pending tensor
// that some handle holds). A never waits for B or the other way round.
#pragma once

#include <functional>
#include <initializer_list>
#include <span>
#include <string_view>
#include <vector>

#include "ir/infer.h"
#include "tilejit/config.h"
#include "tilejit/tensor.h"
#include "trace/tensor_impl.h"

namespace tj::trace {

/// Fails with a clear tj::Error when tilejit cannot run on `d` here.
void check_device(const Device& d, std::string_view op);

/// Records `op` on `inputs` and returns the (pending, or in eager mode
/// computed) result. Errors are thrown here, naming `user_op`. An op without
/// tensor inputs runs on `device`.
Tensor record(ir::Op op, std::span<const Tensor> inputs, ir::OpArgs args, std::string_view user_op,
              Device device = Device::cpu());
/// The same for a braced list of inputs (`record(op, {a, b}, ...)`), without a vector.
inline Tensor record(ir::Op op, std::initializer_list<Tensor> inputs, ir::OpArgs args,
                     std::string_view user_op, Device device = Device::cpu()) {
  return record(op, std::span<const Tensor>(inputs.begin(), inputs.size()), std::move(args),
                user_op, device);
}

/// A 0-d constant of dtype `t` (a run-time value, not part of the graph's
/// structural hash).
/// `shared`: equal values may be one graph node (see GraphBuilder::scalar).
Tensor scalar_tensor(Scalar value, DType t, Device device, bool shared = true);

/// Computes everything pending in this thread's trace.
void flush(FlushReason reason);

/// Makes sure `impl` is computed: flushes this thread's trace and, if the
/// impl belongs to another thread's trace, computes it directly.
void ensure_ready(const TensorImpl::Ptr& impl, FlushReason reason);

/// The impl behind a handle; throws tj::Error naming `op` when undefined. For
/// a leaf that requires grad and was updated in place through another handle
/// (an optimizer step), the newest value (trace/autograd.h).
TensorImpl::Ptr impl_of(const Tensor& t, std::string_view op);

/// The same impl for reading its fields, without touching its reference
/// count (two atomic operations a call, several calls an op). Valid while
/// `t` holds it: the newest value of a parameter is owned by its autograd
/// record for as long as any handle lives.
const TensorImpl& impl_ref(const Tensor& t, std::string_view op);

/// Pending ops in this thread's trace (including ones no handle holds).
size_t pending_count();

/// Called with every graph a flush executes (before it runs), in the thread
/// that flushes; for tests and tools. An empty function removes it.
using FlushObserver = std::function<void(const ir::Graph&)>;
void set_flush_observer(FlushObserver fn);

}  // namespace tj::trace
