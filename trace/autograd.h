// Reverse-mode autograd over the primitive ops of the op table.
//
// Every differentiable public op is a composition of primitive ops recorded
// by trace::record, so gradients are defined once per primitive (a Node per
// recorded op whose inputs require grad) and every composite (softmax,
// layer_norm, gelu, linear, mse_loss, ...) is differentiable through them.
// backward() walks the Nodes from the output in reverse topological order and
// records each formula as ordinary traced ops (with recording off), so the
// backward pass joins the lazy trace and fuses with the forward pass.
//
// Memory: a Node keeps its inputs' impls (to reach their Nodes; not counted
// as handles, so they are not stored at a flush for that) and, as counted
// handles, only the inputs its formula reads (stored at a flush, as
// PyTorch's saved tensors). backward() without retain_graph releases both.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "ir/op.h"
#include "tilejit/tensor.h"
#include "trace/tensor_impl.h"

namespace tj::trace::autograd {

struct Node;

/// What autograd knows about one impl.
struct Meta {
  bool requires_grad = false;
  std::shared_ptr<Node> grad_fn;  // null for a leaf
  std::mutex mu;                  // guards grad and current
  Tensor grad;                    // leaves: the accumulated gradient
  // Leaves updated in place (rebind): the newest value, which handles of
  // older values find through here. Owned while any handle of any version
  // lives (`handles` counts them all); the last one going resets it, which
  // breaks the cycle newest -> Meta -> newest.
  TensorImpl::Ptr current;
  std::atomic<int32_t> handles{0};
};

/// Tensor handles of impls with a Meta also count in it (see Meta::current).
void handle_added(TensorImpl& impl);
void handle_dropped(TensorImpl& impl);
/// Gives `impl` the Meta `m`, counting the handles it already has.
void attach(TensorImpl& impl, std::shared_ptr<Meta> m);
/// Whether a tensor handle reaches `impl`: one of its own or, for the newest
/// value of a parameter updated in place, a handle of an older version. A
/// flush computes exactly the pending values that are in use.
bool in_use(const TensorImpl& impl);
/// Whether `impl` is an older version of a parameter updated in place
/// (rebind): its handles read the newest value, never this one.
bool superseded(const TensorImpl& impl);

struct Node {
  ir::Op op = ir::Op::Copy;
  std::vector<int64_t> attrs;
  Shape out_shape;
  DType out_dtype = DType::f32;
  std::vector<TensorImpl::Ptr> inputs;  // every input (their Meta lead further back)
  std::vector<Shape> in_shapes;
  std::vector<DType> in_dtypes;
  std::vector<Tensor> saved;  // per input: its value when the formula reads it
  bool released = false;      // by a backward() without retain_graph
  std::mutex mu;
  ~Node();
};

/// Called by trace::record (and for views of computed tensors) for the
/// result `out` of `op` with `attrs` on `inputs`: makes out's Node when
/// recording is on and some floating input requires grad.
void on_record(ir::Op op, const std::vector<TensorImpl::Ptr>& inputs,
               const std::vector<int64_t>& attrs, const Tensor& out);

/// `p`, or for a leaf that requires grad and has been updated in place since
/// `p` was its value, its newest value: every handle of a parameter sees an
/// optimizer's update, while the ops recorded before it keep the value they read.
TensorImpl::Ptr newest(const TensorImpl::Ptr& p);

/// Whether `impl` requires grad.
inline bool requires_grad(const TensorImpl& impl) {
  return impl.autograd != nullptr && impl.autograd->requires_grad;
}

/// Tensor::backward: accumulates d root / d leaf into every leaf's grad().
void run_backward(const Tensor& root, const Tensor& gradient, bool retain_graph);

/// `self = value` for an in-place op named `op`: a leaf that requires grad
/// keeps its identity (its Meta moves to the new value) when recording is
/// off, and is an error when it is on.
Tensor& rebind(Tensor& self, Tensor value, std::string_view op);

}  // namespace tj::trace::autograd
