#include "ir/print.h"

#include <fmt/format.h>

namespace tj::ir {

namespace {

std::string attr_str(const Node& n) {
  switch (op_info(n.op).kind) {
    case OpKind::Reduce:
      return " axes=" + shape_str(n.attrs);
    case OpKind::Movement:
      if (n.op == Op::Permute) return " perm=" + shape_str(n.attrs);
      if (n.op == Op::Cat) return fmt::format(" axis={}", n.attrs.at(0));
      if (n.op == Op::Slice) {
        size_t r = n.attrs.size() / 2;
        return " start=" + shape_str({n.attrs.begin(), n.attrs.begin() + r}) +
               " step=" + shape_str({n.attrs.begin() + r, n.attrs.end()});
      }
      return "";
    case OpKind::Source:
      if (n.op == Op::Iota) return fmt::format(" axis={}", n.attrs.at(0));
      return "";
    case OpKind::Index:
      return fmt::format(" axis={} api={}{}{}", n.attrs.at(0),
                         index_api_name(static_cast<IndexApi>(n.attrs.at(1))),
                         n.attrs.at(2) ? " wrap" : "",
                         n.op == Op::Scatter && n.attrs.at(3) ? " accumulate" : "");
    case OpKind::Scan:
      return fmt::format(" axis={}", n.attrs.at(0));
    case OpKind::Sort:
      return fmt::format(" axis={}{}", n.attrs.at(0), n.attrs.at(1) ? " descending" : "");
    case OpKind::Conv:
      return fmt::format(" stride={}x{} pad={}x{} dilation={}x{} groups={}", n.attrs.at(0),
                         n.attrs.at(1), n.attrs.at(2), n.attrs.at(3), n.attrs.at(4), n.attrs.at(5),
                         n.attrs.at(6));
    case OpKind::Unary:
    case OpKind::Binary:
    case OpKind::Ternary:
    case OpKind::Matmul:
      return "";
  }
  return "";
}

}  // namespace

std::string node_str(const Graph& g, NodeId id) {
  const Node& n = g.node(id);
  std::string s = fmt::format("{} {}{}", op_name(n.op), dtype_name(n.dtype), shape_str(n.shape));
  if (n.op == Op::Buffer) return s + fmt::format(" in{} strides={}", n.slot, shape_str(n.attrs));
  if (n.op == Op::Scalar) {
    const ScalarValue& v = g.scalars()[n.slot];
    return s + (is_floating(n.dtype) ? fmt::format(" s{}={}", n.slot, v.f)
                                     : fmt::format(" s{}={}", n.slot, v.i));
  }
  for (size_t i = 0; i < n.inputs.size(); ++i)
    s += fmt::format("{}%{}", i ? ", " : " ", n.inputs[i]);
  return s + attr_str(n);
}

std::string to_string(const Graph& g) {
  std::string s = fmt::format("graph: {} nodes, {} output{}, hash {:016x}\n", g.size(),
                              g.outputs().size(), g.outputs().size() == 1 ? "" : "s", g.hash());
  for (size_t i = 0; i < g.size(); ++i)
    s += fmt::format("  %{} = {}\n", i, node_str(g, static_cast<NodeId>(i)));
  s += "outputs:";
  for (NodeId o : g.outputs()) s += fmt::format(" %{}", o);
  return s + "\n";
}

}  // namespace tj::ir
