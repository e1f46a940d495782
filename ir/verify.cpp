#include "ir/verify.h"

#include <set>

#include "ir/check.h"
#include "ir/print.h"

namespace tj::ir {

void verify(const Graph& g) {
  const auto& nodes = g.nodes();
  for (size_t id = 0; id < nodes.size(); ++id) {
    const Node& n = nodes[id];
    auto where = [&] {
      return fmt::format("node %{}: {}", id, node_str(g, static_cast<NodeId>(id)));
    };
    for (NodeId in : n.inputs)
      TJ_CHECK(in >= 0 && static_cast<size_t>(in) < id, "{}: input %{} is not earlier", where(),
               in);
    if (n.op == Op::Buffer) {
      TJ_CHECK(n.slot >= 0 && static_cast<size_t>(n.slot) < g.buffers().size(), "{}", where());
      const BufferView& b = g.buffers()[n.slot];
      TJ_CHECK(b.dtype == n.dtype && b.shape == n.shape && b.strides == n.attrs,
               "{}: differs from its buffer", where());
      TJ_CHECK(n.inputs.empty(), "{}", where());
      continue;
    }
    if (n.op == Op::Scalar) {
      TJ_CHECK(n.slot >= 0 && static_cast<size_t>(n.slot) < g.scalars().size(), "{}", where());
      TJ_CHECK(n.shape.empty() && n.inputs.empty(), "{}", where());
      continue;
    }
    TJ_CHECK(n.slot == -1, "{}: only leaves have slots", where());
    std::vector<TypeRef> types;
    for (NodeId in : n.inputs) types.push_back(nodes[in].type());
    OpArgs args{.attrs = n.attrs, .dtype = n.dtype, .shape = n.shape};
    TypeShape t;
    try {
      t = infer(n.op, types, args);
    } catch (const Error& e) {
      TJ_CHECK(false, "{}: {}", where(), e.what());
    }
    TJ_CHECK(t.dtype == n.dtype && t.shape == n.shape, "{}: inferred {} {}", where(),
             dtype_name(t.dtype), shape_str(t.shape));
  }
  for (NodeId o : g.outputs())
    TJ_CHECK(o >= 0 && static_cast<size_t>(o) < nodes.size(), "output %{} out of range", o);
}

}  // namespace tj::ir
