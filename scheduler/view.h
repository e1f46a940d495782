// Views: how a kernel's domain index maps to a node's index.
//
// For a node of rank r inside a kernel with a domain of rank n, a View holds
// an r x n integer matrix and an offset vector: node_idx[j] =
// base[j] + sum_d coef[j][d] * dom[d]. Movement ops transform views exactly
// (permute, expand, slice, and reshapes that split dims or add/remove size-1
// dims); at a buffer the view becomes an Access: strides over the domain and
// a constant offset. A reshape that merges dims of a computed value is not
// affine: through_reshape() then reports failure and the scheduler
// materializes that value instead.
#pragma once

#include <optional>
#include <vector>

#include "ir/graph.h"

namespace tj::sched {

struct View {
  std::vector<std::vector<int64_t>> coef;  // [node rank][domain rank]
  std::vector<int64_t> base;               // [node rank]
  size_t dims = 0;                         // domain rank

  bool operator==(const View&) const = default;
  bool operator<(const View& o) const {
    if (dims != o.dims) return dims < o.dims;
    return coef != o.coef ? coef < o.coef : base < o.base;
  }
  /// The view of a node whose dims are exactly the domain dims in `order`
  /// (node dim j is domain dim order[j]).
  static View identity(size_t domain_rank, const std::vector<int64_t>& order);
  /// True when no node index depends on domain dim d.
  bool invariant_in(size_t d) const;
};

/// The view of input `x` of a pointwise node of shape `out` under `v`
/// (implicit broadcasting: trailing dims aligned, size-1 dims repeated).
View through_broadcast(const View& v, const Shape& out, const Shape& x);
/// The view of the input of a movement node under `v`; nullopt when the
/// mapping is not affine (a reshape that merges dims of its input).
std::optional<View> through_movement(const View& v, const ir::Node& m, const Shape& in);
/// Strides over the domain and element offset of a buffer with `strides`.
void to_access(const View& v, const Strides& strides, Strides* out, int64_t* offset);

}  // namespace tj::sched
