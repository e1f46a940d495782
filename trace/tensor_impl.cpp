#include "trace/tensor_impl.h"

namespace tj::trace {

TensorImpl::~TensorImpl() {
  if (!inputs.empty()) drop_inputs(std::move(inputs));
}

void drop_inputs(std::vector<TensorImpl::Ptr>&& in) {
  for (const auto& p : in) p->pending_readers.fetch_sub(1, std::memory_order_relaxed);
  release_inputs(std::move(in));
}

void release_inputs(std::vector<TensorImpl::Ptr>&& in) {
  // Impls freed while draining push their own inputs here instead of
  // recursing, so the stack depth stays constant for any chain length.
  thread_local std::vector<TensorImpl::Ptr> pending;
  thread_local bool draining = false;
  for (auto& p : in) pending.push_back(std::move(p));
  in.clear();
  if (draining) return;
  draining = true;
  while (!pending.empty()) {
    TensorImpl::Ptr p = std::move(pending.back());
    pending.pop_back();
    p.reset();  // may call ~TensorImpl, which appends to `pending`
  }
  draining = false;
}

TensorImpl::Ptr make_ready(BufferView view, Device device) {
  auto impl = std::make_shared<TensorImpl>();
  impl->dtype = view.dtype;
  impl->shape = view.shape;
  impl->device = device;
  impl->value = std::move(view);
  impl->ready.store(true, std::memory_order_release);
  return impl;
}

}  // namespace tj::trace
