// Sorting: argsort, sort, topk. Each is one ArgSort node (ir/ops.def): a sort
// kernel whose thread sorts the positions of one line by value, stably (equal
// values keep their order, NaN above every number, as torch). The values are
// a gather of the input at those positions, fused into whatever uses them;
// topk keeps the first k positions.
#include "trace/ops_util.h"

namespace tj {

using ir::Op;

namespace {

/// The positions of `x`'s lines along `d` in order (0-d: a single 0).
Tensor argsort_node(std::string_view name, const Tensor& x, int64_t dim, bool descending,
                    int64_t* axis) {
  const auto& xi = trace::impl_of(x, name);
  const int64_t rank = static_cast<int64_t>(xi->shape.size());
  *axis = normalize_axis(name, dim, std::max<int64_t>(rank, 1));
  if (rank == 0)
    return trace::record(Op::ArgSort, {x.reshape({1})}, {.attrs = {0, descending ? 1 : 0}}, name)
        .reshape({});
  return trace::record(Op::ArgSort, {x}, {.attrs = {*axis, descending ? 1 : 0}}, name);
}

}  // namespace

Tensor argsort(const Tensor& x, int64_t dim, bool descending) {
  int64_t axis = 0;
  return argsort_node("argsort", x, dim, descending, &axis);
}

std::tuple<Tensor, Tensor> sort(const Tensor& x, int64_t dim, bool descending) {
  int64_t axis = 0;
  Tensor idx = argsort_node("sort", x, dim, descending, &axis);
  if (x.dim() == 0) return {x, idx};
  return {gather(x, axis, idx), idx};
}

std::tuple<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim, bool largest,
                                bool sorted) {
  (void)sorted;  // always sorted: the k first of a sort
  int64_t axis = 0;
  const auto& xi = trace::impl_of(x, "topk");
  const int64_t rank = static_cast<int64_t>(xi->shape.size());
  const int64_t size = rank == 0 ? 1 : xi->shape[normalize_axis("topk", dim, rank)];
  if (k < 0 || k > size)
    fail("topk: k ({}) must be in [0, {}], the size of dimension {} of the input of shape {}", k,
         size, dim, shape_str(xi->shape));
  Tensor idx = argsort_node("topk", x, dim, largest, &axis);
  if (rank == 0) return {x, idx};
  idx = idx.narrow(axis, 0, k);
  return {gather(x, axis, idx), idx};
}

Tensor Tensor::argsort(int64_t dim, bool descending) const {
  return tj::argsort(*this, dim, descending);
}
std::tuple<Tensor, Tensor> Tensor::sort(int64_t dim, bool descending) const {
  return tj::sort(*this, dim, descending);
}
std::tuple<Tensor, Tensor> Tensor::topk(int64_t k, int64_t dim, bool largest, bool sorted) const {
  return tj::topk(*this, k, dim, largest, sorted);
}

}  // namespace tj
