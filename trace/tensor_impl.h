// TensorImpl: what a tj::Tensor handle points to.
//
// An impl is either pending — the op that will compute it, with its inputs —
// or ready — a BufferView of computed values. It moves from pending to ready
// once (under `mu`) and never changes afterwards, which is what makes sharing
// impls between handles and threads safe. `handles` counts the tj::Tensor
// handles that refer to it: a pending impl with no handles is only an
// intermediate of other ops and is never stored.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "ir/buffer.h"
#include "ir/graph.h"
#include "ir/op.h"

namespace tj::trace {

namespace autograd {
struct Meta;
}

struct TensorImpl {
  using Ptr = std::shared_ptr<TensorImpl>;

  // Fixed at creation.
  DType dtype = DType::f32;
  Shape shape;
  Device device;

  // Pending state (read and cleared under mu).
  ir::Op op = ir::Op::Buffer;
  std::vector<Ptr> inputs;
  std::vector<int64_t> attrs;
  ir::ScalarValue scalar;  // for op == Scalar

  // Ready state (written once under mu, then immutable).
  BufferView value;
  std::atomic<bool> ready{false};

  std::atomic<int32_t> handles{0};
  std::mutex mu;

  // Donation (scheduler/donate.h): how many pending impls hold this one in
  // their `inputs` (counted by record() and drop_inputs()), and how many
  // flushes are reading its value now (-1: a flush is writing an output into
  // its memory; flushes that reach it wait, then find its readers computed).
  std::atomic<int32_t> pending_readers{0};
  std::atomic<int32_t> flush_readers{0};

  // Autograd (trace/autograd.h): null for a tensor that never required grad.
  // Set when the impl is made; a leaf's may be set later by requires_grad_().
  std::shared_ptr<autograd::Meta> autograd;

  TensorImpl() = default;
  TensorImpl(const TensorImpl&) = delete;
  TensorImpl& operator=(const TensorImpl&) = delete;
  ~TensorImpl();

  bool is_ready() const { return ready.load(std::memory_order_acquire); }
};

/// Releases a pending impl's inputs (uncounting it as their reader).
void drop_inputs(std::vector<TensorImpl::Ptr>&& in);

/// A ready impl holding `view`.
TensorImpl::Ptr make_ready(BufferView view, Device device);

/// Drops references to impls without recursing: releasing the last handle
/// of a long chain of pending ops frees it iteratively.
void release_inputs(std::vector<TensorImpl::Ptr>&& inputs);

}  // namespace tj::trace
