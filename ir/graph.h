// The graph IR: what one flush hands to the scheduler.
//
// A Graph is an immutable DAG of nodes in topological order. Each node is an
// op from ir/ops.def with its result dtype and shape, its inputs (earlier
// node ids) and integer attributes. Leaves are Buffer nodes (computed tensors,
// with their strides) and Scalar nodes (run-time numbers). The data behind
// the leaves — buffer addresses and scalar values — is held beside the
// structure and is not part of the structural hash, so every iteration of a
// loop produces a graph with the same hash. Nodes are hash-consed while the
// graph is built: identical subgraphs are one node (common subexpressions are
// computed once).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "ir/buffer.h"
#include "ir/infer.h"
#include "ir/op.h"

namespace tj::ir {

using NodeId = int32_t;

/// A run-time number for a Scalar node: `f` for floating dtypes, `i` for
/// integer and bool dtypes.
struct ScalarValue {
  double f = 0;
  int64_t i = 0;
};

struct Node {
  Op op = Op::Buffer;
  DType dtype = DType::f32;
  Shape shape;
  std::vector<NodeId> inputs;
  std::vector<int64_t> attrs;  // Buffer: strides; Reduce: axes; Permute: perm;
                               // Slice: starts then steps; Cat/Iota: axis
  int32_t slot = -1;           // Buffer: index into buffers(); Scalar: into scalars()

  TypeRef type() const { return {dtype, shape}; }
};

class Graph {
 public:
  const std::vector<Node>& nodes() const { return nodes_; }
  const Node& node(NodeId id) const { return nodes_[id]; }
  size_t size() const { return nodes_.size(); }
  const std::vector<NodeId>& outputs() const { return outputs_; }
  const std::vector<BufferView>& buffers() const { return buffers_; }
  const std::vector<ScalarValue>& scalars() const { return scalars_; }
  /// Structural hash: ops, dtypes, shapes, attributes, wiring, which leaf is
  /// which input and which nodes are outputs — not data values.
  uint64_t hash() const { return hash_; }
  /// The structural hash without sizes (ranks, attributes and the strides of
  /// inputs that are not contiguous kept): equal for graphs that differ only
  /// in their sizes (scheduler/dynamic.h).
  /// Computed on each call.
  uint64_t shape_class() const { return structure_hash(/*sizes=*/false) ^ 0x5a17e5; }
  /// Where a node came from, for diagnostics: an opaque non-zero id that the
  /// tracer handed to GraphBuilder::set_origin (jit/observe/observe.h turns it into
  /// the user's source location), 0 when unknown. Not part of the structure:
  /// the hash, hash-consing and every pass ignore it.
  uint32_t origin(NodeId id) const {
    return static_cast<size_t>(id) < origins_.size() ? origins_[id] : 0;
  }

  /// Whether the buffer in `slot` may be overwritten by this graph's
  /// outputs: nothing outside the flush can read it any more (the tracer
  /// decides, GraphBuilder::allow_donation). Part of the hash: a plan writes
  /// into the buffers it was made for (a loop's iterations donate alike).
  bool donatable(int32_t slot) const {
    return static_cast<size_t>(slot) < donatable_.size() && donatable_[slot] != 0;
  }

  /// The same graph reading other buffers (one per slot, the same views).
  Graph with_buffers(std::vector<BufferView> buffers) const {
    Graph c = *this;
    c.buffers_ = std::move(buffers);
    return c;
  }

  /// Lets tests break a graph on purpose to check the verifier.
  std::vector<Node>& nodes_for_testing() { return nodes_; }

 private:
  friend class GraphBuilder;
  uint64_t structure_hash(bool sizes) const;
  std::vector<Node> nodes_;
  std::vector<NodeId> outputs_;
  std::vector<BufferView> buffers_;
  std::vector<ScalarValue> scalars_;
  std::vector<uint32_t> origins_;   // by node; may be shorter than nodes_
  std::vector<uint8_t> donatable_;  // by buffer slot; may be shorter than buffers_
  uint64_t hash_ = 0;
};

/// Builds a Graph node by node. Every factory checks the op's rules through
/// ir::infer (throwing tj::Error when they are broken) and returns the id of
/// an existing identical node when there is one.
class GraphBuilder {
 public:
  NodeId buffer(const BufferView& view);
  /// With `intern`, scalars of equal value and dtype are one node (so
  /// x * 2 + x * 2 computes x * 2 once); without, the scalar is a leaf of its
  /// own, so the graph's structure never depends on its value (random seeds
  /// and offsets).
  NodeId scalar(DType dtype, ScalarValue value, bool intern = true);
  /// Any non-leaf op (and Iota / Rand sources).
  NodeId add(Op op, const std::vector<NodeId>& inputs, const OpArgs& args);
  /// A node whose result type ir::infer already gave for these inputs' types
  /// (the tracer inferred it when the op was recorded): not inferred again.
  /// (jit::execute verifies every new graph structure, types included.)
  NodeId add_inferred(Op op, std::vector<NodeId> inputs, std::vector<int64_t> attrs, DType dtype,
                      Shape shape);

  // Convenience factories.
  NodeId unary(Op op, NodeId x) { return add(op, {x}, {}); }
  NodeId cast(NodeId x, DType to) { return add(Op::Cast, {x}, {.dtype = to}); }
  NodeId binary(Op op, NodeId a, NodeId b) { return add(op, {a, b}, {}); }
  NodeId reduce(Op op, NodeId x, std::vector<int64_t> axes) {
    return add(op, {x}, {.attrs = std::move(axes)});
  }
  NodeId reshape(NodeId x, Shape s) { return add(Op::Reshape, {x}, {.shape = std::move(s)}); }
  NodeId expand(NodeId x, Shape s) { return add(Op::Expand, {x}, {.shape = std::move(s)}); }
  NodeId permute(NodeId x, std::vector<int64_t> p) {
    return add(Op::Permute, {x}, {.attrs = std::move(p)});
  }

  /// Records where `id` came from (see Graph::origin). A node built from
  /// several places (hash-consed) keeps the first non-zero origin.
  void set_origin(NodeId id, uint32_t origin);
  /// Marks the buffer of Buffer node `id` as donatable (Graph::donatable).
  void allow_donation(NodeId id);
  /// How many buffer slots (distinct views) of `storage` the graph has.
  size_t views_of(const Storage* storage) const {
    auto it = buffer_slots_.find(storage);
    return it == buffer_slots_.end() ? 0 : it->second.size();
  }

  const Node& node(NodeId id) const { return g_.nodes_[id]; }
  size_t size() const { return g_.nodes_.size(); }
  /// Finishes the graph with these outputs (duplicates allowed).
  Graph finish(std::vector<NodeId> outputs);

 private:
  NodeId intern(Node n);
  void grow_table();
  Graph g_;
  // Hash-consing: an open-addressed table of node ids (-1: empty), probed by
  // node hash; `hashes_` holds each node's hash (the structural hash reuses
  // them).
  std::vector<NodeId> table_;
  std::vector<uint64_t> hashes_;
  std::unordered_map<const Storage*, std::vector<int32_t>> buffer_slots_;
  std::unordered_map<uint64_t, std::vector<NodeId>> scalar_nodes_;
};

}  // namespace tj::ir
