#include "ir/graph.h"

#include <algorithm>
#include <cstring>

#include "ir/check.h"
#include "ir/hash.h"

namespace tj::ir {

namespace {

/// With `sizes` false, only the rank of the node's shape (Graph::shape_class),
/// and of a buffer whose strides are contiguous for its shape, that they are
/// (a contiguous input's strides change with its sizes).
uint64_t node_hash(const Node& n, bool sizes = true) {
  Hasher h;
  h.add(static_cast<uint64_t>(n.op)).add(static_cast<uint64_t>(n.dtype));
  if (sizes)
    h.add(n.shape);
  else
    h.add(n.shape.size());
  if (!sizes && n.op == Op::Buffer && n.attrs == contiguous_strides(n.shape))
    h.add(uint64_t{0x636f6e746967ull});  // "contig"
  else
    h.add(n.attrs);
  h.add(static_cast<uint64_t>(static_cast<int64_t>(n.slot)));
  h.add(n.inputs.size());
  for (NodeId i : n.inputs) h.add(static_cast<uint64_t>(i));
  return h.get();
}

bool same_view(const BufferView& a, const BufferView& b) {
  return a.storage == b.storage && a.dtype == b.dtype && a.shape == b.shape &&
         a.strides == b.strides && a.offset == b.offset;
}

bool same_node(const Node& a, const Node& b) {
  return a.op == b.op && a.dtype == b.dtype && a.slot == b.slot && a.inputs == b.inputs &&
         a.shape == b.shape && a.attrs == b.attrs;
}

}  // namespace

NodeId GraphBuilder::intern(Node n) {
  const uint64_t h = node_hash(n);
  if (table_.size() < 2 * (g_.nodes_.size() + 1)) grow_table();
  const size_t mask = table_.size() - 1;
  size_t at = static_cast<size_t>(h) & mask;
  for (; table_[at] >= 0; at = (at + 1) & mask) {
    const NodeId id = table_[at];
    if (hashes_[id] == h && same_node(g_.nodes_[id], n)) return id;
  }
  const NodeId id = static_cast<NodeId>(g_.nodes_.size());
  g_.nodes_.push_back(std::move(n));
  hashes_.push_back(h);
  table_[at] = id;
  return id;
}

void GraphBuilder::grow_table() {
  size_t size = std::max<size_t>(64, table_.size() * 2);
  while (size < 2 * (g_.nodes_.size() + 1)) size *= 2;
  table_.assign(size, -1);
  const size_t mask = size - 1;
  for (size_t id = 0; id < hashes_.size(); ++id) {
    size_t at = static_cast<size_t>(hashes_[id]) & mask;
    while (table_[at] >= 0) at = (at + 1) & mask;
    table_[at] = static_cast<NodeId>(id);
  }
}

NodeId GraphBuilder::buffer(const BufferView& view) {
  TJ_CHECK(view.storage != nullptr, "buffer without storage");
  auto& slots = buffer_slots_[view.storage.get()];
  int32_t slot = -1;
  for (int32_t s : slots)
    if (same_view(g_.buffers_[s], view)) slot = s;
  if (slot < 0) {
    slot = static_cast<int32_t>(g_.buffers_.size());
    g_.buffers_.push_back(view);
    slots.push_back(slot);
  }
  Node n;
  n.op = Op::Buffer;
  n.dtype = view.dtype;
  n.shape = view.shape;
  n.attrs = view.strides;
  n.slot = slot;
  return intern(std::move(n));
}

NodeId GraphBuilder::scalar(DType dtype, ScalarValue value, bool intern_value) {
  // Scalars with equal values and dtypes are one node: x * 2 + x * 2
  // computes x * 2 once.
  uint64_t bits;
  std::memcpy(&bits, &value.f, sizeof bits);
  uint64_t key = Hasher()
                     .add(bits)
                     .add(static_cast<uint64_t>(value.i))
                     .add(static_cast<uint64_t>(dtype))
                     .get();
  if (intern_value)
    for (NodeId id : scalar_nodes_[key]) {
      const Node& n = g_.nodes_[id];
      const ScalarValue& v = g_.scalars_[n.slot];
      if (n.dtype == dtype && std::memcmp(&v.f, &value.f, sizeof(double)) == 0 && v.i == value.i)
        return id;
    }
  Node n;
  n.op = Op::Scalar;
  n.dtype = dtype;
  n.slot = static_cast<int32_t>(g_.scalars_.size());
  g_.scalars_.push_back(value);
  NodeId id = intern(std::move(n));
  if (intern_value) scalar_nodes_[key].push_back(id);
  return id;
}

NodeId GraphBuilder::add_inferred(Op op, std::vector<NodeId> inputs, std::vector<int64_t> attrs,
                                  DType dtype, Shape shape) {
  TJ_CHECK(op != Op::Buffer && op != Op::Scalar, "leaves are built with buffer()/scalar()");
  for (NodeId i : inputs)
    TJ_CHECK(i >= 0 && static_cast<size_t>(i) < g_.nodes_.size(), "input id {} out of range", i);
  Node n;
  n.op = op;
  n.dtype = dtype;
  n.shape = std::move(shape);
  n.inputs = std::move(inputs);
  n.attrs = std::move(attrs);
  return intern(std::move(n));
}

NodeId GraphBuilder::add(Op op, const std::vector<NodeId>& inputs, const OpArgs& args) {
  TJ_CHECK(op != Op::Buffer && op != Op::Scalar, "leaves are built with buffer()/scalar()");
  std::vector<TypeRef> types;
  types.reserve(inputs.size());
  for (NodeId i : inputs) {
    TJ_CHECK(i >= 0 && static_cast<size_t>(i) < g_.nodes_.size(), "input id {} out of range", i);
    types.push_back(g_.nodes_[i].type());
  }
  TypeShape t = infer(op, types, args);
  Node n;
  n.op = op;
  n.dtype = t.dtype;
  n.shape = std::move(t.shape);
  n.inputs = inputs;
  n.attrs = args.attrs;
  return intern(std::move(n));
}

void GraphBuilder::set_origin(NodeId id, uint32_t origin) {
  if (origin == 0 || id < 0 || static_cast<size_t>(id) >= g_.nodes_.size()) return;
  if (g_.origins_.size() <= static_cast<size_t>(id)) g_.origins_.resize(g_.nodes_.size(), 0);
  if (g_.origins_[id] == 0) g_.origins_[id] = origin;
}

void GraphBuilder::allow_donation(NodeId id) {
  const Node& n = g_.nodes_[id];
  TJ_CHECK(n.op == Op::Buffer, "allow_donation: node {} is not a buffer", id);
  if (g_.donatable_.size() <= static_cast<size_t>(n.slot)) g_.donatable_.resize(n.slot + 1, 0);
  g_.donatable_[n.slot] = 1;
}

namespace {

uint64_t combine(size_t n, const std::vector<uint64_t>& node_hashes,
                 const std::vector<NodeId>& outputs, const std::vector<uint8_t>& donatable) {
  Hasher h;
  h.add(n);
  for (uint64_t x : node_hashes) h.add(x);
  h.add(outputs.size());
  for (NodeId o : outputs) h.add(static_cast<uint64_t>(o));
  for (size_t s = 0; s < donatable.size(); ++s)
    if (donatable[s]) h.add(static_cast<uint64_t>(s) + 1);
  return h.get();
}

}  // namespace

uint64_t Graph::structure_hash(bool sizes) const {
  std::vector<uint64_t> hashes;
  hashes.reserve(nodes_.size());
  for (const Node& n : nodes_) hashes.push_back(node_hash(n, sizes));
  return combine(nodes_.size(), hashes, outputs_, donatable_);
}

Graph GraphBuilder::finish(std::vector<NodeId> outputs) {
  for (NodeId o : outputs)
    TJ_CHECK(o >= 0 && static_cast<size_t>(o) < g_.nodes_.size(), "output {} out of range", o);
  g_.outputs_ = std::move(outputs);
  g_.hash_ = combine(g_.nodes_.size(), hashes_, g_.outputs_, g_.donatable_);
  Graph out = std::move(g_);
  g_ = Graph{};
  table_.clear();
  hashes_.clear();
  buffer_slots_.clear();
  scalar_nodes_.clear();
  return out;
}

}  // namespace tj::ir
