// Type and shape rules of every op: the single place that decides whether a
// node is valid. The trace calls it when an op is recorded (so a user error
// is thrown at the call that caused it); GraphBuilder and the verifier call
// it again on every node.
#pragma once

#include <initializer_list>
#include <span>
#include <string_view>
#include <vector>

#include "ir/op.h"
#include "ir/shape.h"
#include "tilejit/dtype.h"

namespace tj::ir {

struct TypeShape {
  DType dtype = DType::f32;
  Shape shape;
};

/// An input's dtype and shape, by reference (no copies while tracing).
struct TypeRef {
  DType dtype;
  const Shape& shape;
};

/// What the caller supplies besides the inputs.
struct OpArgs {
  std::vector<int64_t> attrs;  // axes, permutation, slice starts/steps, cat axis
  DType dtype = DType::f32;    // result dtype for Any-rule ops (Cast, sources)
  Shape shape;                 // result shape for sources, Reshape, Expand, Slice
};

/// The result of `op` on `inputs`, or tj::Error naming `op` (or `user_op`
/// when given: the public function the user called).
TypeShape infer(Op op, std::span<const TypeRef> inputs, const OpArgs& args,
                std::string_view user_op = {});
inline TypeShape infer(Op op, std::initializer_list<TypeRef> inputs, const OpArgs& args,
                       std::string_view user_op = {}) {
  return infer(op, std::span<const TypeRef>(inputs.begin(), inputs.size()), args, user_op);
}

}  // namespace tj::ir
