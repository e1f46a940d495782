#include "scheduler/lower.h"

#include <algorithm>
#include <map>

#include "ir/check.h"
#include "scheduler/fuse.h"
#include "scheduler/view.h"

namespace tj::sched {

using ir::Access;
using ir::Graph;
using ir::Kernel;
using ir::KInstr;
using ir::KOp;
using ir::Node;
using ir::NodeId;
using ir::Op;

namespace {

std::vector<int64_t> iota_order(size_t n) {
  std::vector<int64_t> o(n);
  for (size_t i = 0; i < n; ++i) o[i] = static_cast<int64_t>(i);
  return o;
}

/// Buffers of the plan being built, shared by all groups.
struct Buffers {
  const Graph& g;
  std::vector<PlanBuffer>& list;
  std::map<int32_t, int32_t> by_input_slot;
  std::map<NodeId, int32_t> by_node;

  int32_t of_leaf(NodeId n) {
    int32_t slot = g.node(n).slot;
    auto it = by_input_slot.find(slot);
    if (it != by_input_slot.end()) return it->second;
    PlanBuffer b;
    b.kind = PlanBuffer::Kind::input;
    b.slot = slot;
    b.node = n;
    b.dtype = g.node(n).dtype;
    b.numel = shape_numel(g.node(n).shape);
    list.push_back(b);
    return by_input_slot[slot] = static_cast<int32_t>(list.size() - 1);
  }

  int32_t* check_buffer = nullptr;

  /// The plan's check cell (made on first use).
  int32_t check() {
    if (*check_buffer >= 0) return *check_buffer;
    PlanBuffer b;
    b.kind = PlanBuffer::Kind::check;
    b.dtype = DType::i64;
    b.numel = ir::kCheckCellSize;
    list.push_back(b);
    return *check_buffer = static_cast<int32_t>(list.size() - 1);
  }

  int32_t of_node(NodeId n) {
    if (g.node(n).op == Op::Buffer) return of_leaf(n);
    auto it = by_node.find(n);
    if (it != by_node.end()) return it->second;
    PlanBuffer b;
    b.kind = PlanBuffer::Kind::temp;
    b.node = n;
    b.dtype = g.node(n).dtype;
    b.numel = shape_numel(g.node(n).shape);
    list.push_back(b);
    return by_node[n] = static_cast<int32_t>(list.size() - 1);
  }
};

class GroupLowerer {
 public:
  GroupLowerer(const Graph& g, const Schedule& s, const Group& gr, Buffers& bufs)
      : g_(g), s_(s), gr_(gr), bufs_(bufs) {}

  Kernel lower(Step* step) {
    switch (gr_.kind) {
      case Group::Kind::pointwise:
        lower_pointwise();
        break;
      case Group::Kind::cat_part:
        lower_cat_part();
        break;
      case Group::Kind::row:
        lower_row();
        break;
      case Group::Kind::matmul:
        lower_matmul();
        break;
      case Group::Kind::conv:
        lower_conv();
        break;
      case Group::Kind::scatter_init:
        lower_scatter_init();
        break;
      case Group::Kind::scatter:
        lower_scatter();
        break;
      case Group::Kind::scan:
      case Group::Kind::sort:
        lower_line_op();
        break;
    }
    step->args = arg_buffers_;
    step->params = param_slots_;
    step->arg_offsets.assign(arg_buffers_.size(), 0);
    std::string ops;
    for (NodeId n : fused_) {
      if (!ops.empty()) ops += ", ";
      ops += ir::op_name(g_.node(n).op);
    }
    k_.summary = ops.empty() ? "copy" : ops;
    return std::move(k_);
  }

 private:
  // ---- arguments ----------------------------------------------------------
  int32_t arg_for(int32_t plan_buffer, DType dt) {
    for (size_t i = 0; i < arg_buffers_.size(); ++i)
      if (arg_buffers_[i] == plan_buffer) return static_cast<int32_t>(i);
    arg_buffers_.push_back(plan_buffer);
    k_.args.push_back(dt);
    return static_cast<int32_t>(arg_buffers_.size() - 1);
  }

  int32_t access(int32_t plan_buffer, DType dt, const Strides& st, int64_t off,
                 const Access* gather = nullptr) {
    Access a;
    a.arg = plan_buffer < 0 ? -1 : arg_for(plan_buffer, dt);
    a.dtype = dt;
    a.strides = st;
    a.offset = off;
    if (gather) {
      a.gather_stride = gather->gather_stride;
      a.gather_size = gather->gather_size;
      a.gather_wrap = gather->gather_wrap;
    }
    // Conv accesses are positional (input, weight, output, bias).
    for (size_t i = 0; i < k_.accesses.size() && k_.kind != Kernel::Kind::conv; ++i) {
      const Access& b = k_.accesses[i];
      if (b.arg == a.arg && b.dtype == a.dtype && b.strides == a.strides && b.offset == a.offset &&
          b.gather_stride == a.gather_stride && b.gather_size == a.gather_size &&
          b.gather_wrap == a.gather_wrap)
        return static_cast<int32_t>(i);
    }
    k_.accesses.push_back(a);
    return static_cast<int32_t>(k_.accesses.size() - 1);
  }

  int32_t param_for(NodeId scalar) {
    int32_t slot = g_.node(scalar).slot;
    for (size_t i = 0; i < param_slots_.size(); ++i)
      if (param_slots_[i] == slot && k_.params[i] == g_.node(scalar).dtype)
        return static_cast<int32_t>(i);
    param_slots_.push_back(slot);
    k_.params.push_back(g_.node(scalar).dtype);
    return static_cast<int32_t>(param_slots_.size() - 1);
  }

  // ---- instructions -------------------------------------------------------
  bool reduced_invariant(const Strides& st) const {
    for (size_t d = st.size() - k_.reduced; d < st.size(); ++d)
      if (st[d] != 0) return false;
    return true;
  }

  int32_t push(KInstr in) {
    if (k_.kind != Kernel::Kind::row) {
      in.row_level = false;
    } else {
      switch (in.kop) {
        case KOp::Load:
        case KOp::Index:
          in.row_level = reduced_invariant(k_.accesses[in.access].strides);
          break;
        case KOp::Param:
        case KOp::Reduced:
          in.row_level = true;
          break;
        case KOp::Store:
          in.row_level = reduced_invariant(k_.accesses[in.access].strides);
          break;
        case KOp::Gather:
          in.row_level =
              k_.body[in.a].row_level && reduced_invariant(k_.accesses[in.access].strides);
          break;
        case KOp::Scatter:  // scatter, scan and sort kernels only
        case KOp::Scan:
        case KOp::Sort:
          in.row_level = false;
          break;
        case KOp::Rand:
        case KOp::Unary:
        case KOp::Binary:
        case KOp::Where:
        case KOp::Cast: {
          bool r = true;
          for (int32_t o : {in.a, in.b, in.c})
            if (o >= 0) r = r && k_.body[o].row_level;
          in.row_level = r;
          break;
        }
      }
    }
    k_.body.push_back(in);
    return static_cast<int32_t>(k_.body.size() - 1);
  }

  int32_t load(int32_t plan_buffer, DType dt, const View& v, const Strides& buf_strides,
               int64_t buf_offset) {
    Strides st;
    int64_t off;
    to_access(v, buf_strides, &st, &off);
    KInstr in;
    in.kop = KOp::Load;
    in.dtype = dt;
    in.access = access(plan_buffer, dt, st, off + buf_offset);
    return push(in);
  }

  void note_fused(NodeId n) {
    if (std::find(fused_.begin(), fused_.end(), n) == fused_.end()) fused_.push_back(n);
  }

  /// The value of node n at the domain points, seen through view v.
  int32_t emit(NodeId n, const View& v, bool as_root = false) {
    auto key = std::make_pair(n, v);
    auto it = memo_.find(key);
    if (it != memo_.end()) return it->second;
    int32_t r = emit_uncached(n, v, as_root);
    memo_.emplace(std::move(key), r);
    return r;
  }

  int32_t emit_uncached(NodeId n, const View& v, bool as_root) {
    const Node& nd = g_.node(n);
    if (nd.op == Op::Buffer) return load(bufs_.of_leaf(n), nd.dtype, v, nd.attrs, 0);
    if (nd.op == Op::Scalar) {
      KInstr in;
      in.kop = KOp::Param;
      in.dtype = nd.dtype;
      in.param = param_for(n);
      return push(in);
    }
    if (s_.materialized[n] && !as_root)
      return load(bufs_.of_node(n), nd.dtype, v, contiguous_strides(nd.shape), 0);
    if (ir::is_movement(nd.op)) {
      if (auto bv = buffer_view(g_, s_.materialized, n, /*skip_self=*/as_root)) {
        const Node& b = g_.node(bv->buffer);
        int32_t pb = b.op == Op::Buffer ? bufs_.of_leaf(bv->buffer) : bufs_.of_node(bv->buffer);
        return load(pb, b.dtype, v, bv->strides, bv->offset);
      }
      auto iv = through_movement(v, nd, g_.node(nd.inputs[0]).shape);
      TJ_CHECK(iv.has_value(), "a view of %{} ({}) is not affine in this kernel", n,
               ir::op_name(nd.op));
      return emit(nd.inputs[0], *iv);
    }
    note_fused(n);
    switch (ir::op_info(nd.op).kind) {
      case ir::OpKind::Source:
        return emit_source(n, v);
      case ir::OpKind::Unary:
      case ir::OpKind::Binary:
      case ir::OpKind::Ternary: {
        std::vector<int32_t> ops;
        for (NodeId x : nd.inputs)
          ops.push_back(emit(x, through_broadcast(v, nd.shape, g_.node(x).shape)));
        KInstr in;
        in.op = nd.op;
        in.dtype = nd.dtype;
        in.a = ops[0];
        if (ops.size() > 1) in.b = ops[1];
        if (ops.size() > 2) in.c = ops[2];
        in.kop = nd.op == Op::Where  ? KOp::Where
                 : nd.op == Op::Cast ? KOp::Cast
                 : ops.size() == 1   ? KOp::Unary
                                     : KOp::Binary;
        return push(in);
      }
      case ir::OpKind::Reduce: {
        TJ_CHECK(gr_.kind == Group::Kind::row, "reduction %{} inlined outside a row kernel", n);
        int32_t stage = stage_of(n);
        KInstr in;
        in.kop = KOp::Reduced;
        in.dtype = nd.dtype;
        in.param = stage;
        return push(in);
      }
      case ir::OpKind::Index:
        return emit_gather(n, v);
      case ir::OpKind::Movement:
      case ir::OpKind::Matmul:
      case ir::OpKind::Conv:
      case ir::OpKind::Scan:  // always materialized
      case ir::OpKind::Sort:
        break;
    }
    TJ_CHECK(false, "cannot inline %{} ({})", n, ir::op_name(nd.op));
  }

  /// The access and check site of Gather or Scatter instruction `in` of node
  /// nd (attrs [axis, api, wrap, ...]): the buffer (strides, offset) at the
  /// domain point seen through v, with the axis coordinate replaced by the
  /// index value in [0, size).
  void indirect(KInstr* in, const Node& nd, const View& v, int32_t plan_buffer,
                const Strides& buf_strides, int64_t buf_offset, int64_t size) {
    const int64_t axis = nd.attrs[0];
    View sv = v;
    std::fill(sv.coef[axis].begin(), sv.coef[axis].end(), 0);
    sv.base[axis] = 0;
    Strides st;
    int64_t off;
    to_access(sv, buf_strides, &st, &off);
    Access ga;
    ga.gather_stride = buf_strides[axis];
    ga.gather_size = size;
    ga.gather_wrap = nd.attrs[2] != 0;
    ir::CheckSite site;
    site.api = static_cast<int32_t>(nd.attrs[1]);
    site.dim = axis;
    site.size = size;
    site.wrap = ga.gather_wrap;
    k_.checks.push_back(site);
    if (k_.check_arg < 0) k_.check_arg = arg_for(bufs_.check(), DType::i64);
    in->access = access(plan_buffer, in->dtype, st, off + buf_offset, &ga);
    in->param = static_cast<int32_t>(k_.checks.size() - 1);
  }

  /// Gather (see ir/ops.def): the source is a buffer view (fuse() makes it
  /// one) read at the domain point with its axis coordinate replaced by the
  /// index value.
  int32_t emit_gather(NodeId n, const View& v) {
    const Node& nd = g_.node(n);
    TJ_CHECK(nd.op == Op::Gather, "%{} ({}) is always materialized", n, ir::op_name(nd.op));
    const int64_t axis = nd.attrs[0];
    auto bv = buffer_view(g_, s_.materialized, nd.inputs[0]);
    TJ_CHECK(bv.has_value(), "the source of gather %{} is not a buffer view", n);
    const Node& b = g_.node(bv->buffer);
    int32_t pb = b.op == Op::Buffer ? bufs_.of_leaf(bv->buffer) : bufs_.of_node(bv->buffer);
    int32_t index = emit(nd.inputs[1], v);
    KInstr in;
    in.kop = KOp::Gather;
    in.dtype = b.dtype;
    in.a = index;
    indirect(&in, nd, v, pb, bv->strides, bv->offset, g_.node(nd.inputs[0]).shape[axis]);
    return push(in);
  }

  int32_t emit_source(NodeId n, const View& v) {
    const Node& nd = g_.node(n);
    if (nd.op == Op::Iota) {
      int64_t axis = nd.attrs[0];
      KInstr idx;
      idx.kop = KOp::Index;
      idx.dtype = DType::i64;
      idx.access = access(-1, DType::i64, v.coef[axis], v.base[axis]);
      int32_t i = push(idx);
      if (nd.dtype == DType::i64) return i;
      KInstr c;
      c.kop = KOp::Cast;
      c.op = Op::Cast;
      c.dtype = nd.dtype;
      c.a = i;
      return push(c);
    }
    // RandUniform / RandNormal: counter = offset + flat index in the node.
    Strides st;
    int64_t off;
    to_access(v, contiguous_strides(nd.shape), &st, &off);
    KInstr idx;
    idx.kop = KOp::Index;
    idx.dtype = DType::i64;
    idx.access = access(-1, DType::i64, st, off);
    int32_t i = push(idx);
    KInstr r;
    r.kop = KOp::Rand;
    r.op = nd.op;
    r.dtype = nd.dtype;
    r.a = emit(nd.inputs[0], View{});
    r.b = emit(nd.inputs[1], View{});
    r.c = i;
    return push(r);
  }

  int32_t stage_of(NodeId r) {
    auto it = stages_.find(r);
    if (it != stages_.end()) return it->second;
    const Node& nd = g_.node(r);
    int32_t value = emit(nd.inputs[0], full_view_);
    ir::Stage st;
    st.op = nd.op;
    st.value = value;
    st.dtype = nd.dtype;
    k_.stages.push_back(st);
    int32_t id = static_cast<int32_t>(k_.stages.size() - 1);
    stages_[r] = id;
    return id;
  }

  void store(NodeId root, int32_t plan_buffer, const View& v, const Strides& st_node,
             int64_t offset, int32_t value) {
    Strides st;
    int64_t off;
    to_access(v, st_node, &st, &off);
    KInstr in;
    in.kop = KOp::Store;
    in.dtype = g_.node(root).dtype;
    in.a = value;
    in.access = access(plan_buffer, in.dtype, st, off + offset);
    push(in);
  }

  // ---- group kinds ----------------------------------------------------------
  void lower_pointwise() {
    k_.kind = Kernel::Kind::pointwise;
    k_.domain = gr_.shape;
    View id = View::identity(k_.domain.size(), iota_order(k_.domain.size()));
    for (NodeId r : gr_.roots) {
      if (gr_.reshape_copy) {
        // Row-major order is what a reshape keeps: element i of the input
        // is element i of the result.
        int32_t v = emit(g_.node(r).inputs[0], id);
        store(r, bufs_.of_node(r), id, contiguous_strides(k_.domain), 0, v);
        continue;
      }
      int32_t v = emit(r, id, true);
      store(r, bufs_.of_node(r), id, contiguous_strides(g_.node(r).shape), 0, v);
    }
  }

  void lower_cat_part() {
    k_.kind = Kernel::Kind::pointwise;
    k_.domain = gr_.shape;
    const Node& cat = g_.node(gr_.cat);
    View id = View::identity(k_.domain.size(), iota_order(k_.domain.size()));
    int32_t v = emit(cat.inputs[gr_.cat_input], id);
    Strides cs = contiguous_strides(cat.shape);
    int64_t axis = cat.attrs[0], at = 0;
    for (int k = 0; k < gr_.cat_input; ++k) at += g_.node(cat.inputs[k]).shape[axis];
    store(gr_.cat, bufs_.of_node(gr_.cat), id, cs, at * cs[axis], v);
  }

  /// The destination of a Scatter node, copied into its buffer.
  void lower_scatter_init() {
    k_.kind = Kernel::Kind::pointwise;
    k_.domain = gr_.shape;
    const Node& sc = g_.node(gr_.scatter);
    View id = View::identity(k_.domain.size(), iota_order(k_.domain.size()));
    int32_t v = emit(sc.inputs[0], id);
    store(gr_.scatter, bufs_.of_node(gr_.scatter), id, contiguous_strides(sc.shape), 0, v);
  }

  /// Makes the domain of a kernel that walks the lines of `axis` of shape I
  /// (kept dims in order, then the axis, reduced); returns the view of I.
  View walk_axis_last(const Shape& I, int64_t axis) {
    const size_t r = I.size();
    std::vector<int64_t> order(r);
    int64_t p = 0;
    for (size_t d = 0; d < r; ++d)
      if (static_cast<int64_t>(d) != axis) {
        order[d] = p++;
        k_.domain.push_back(I[d]);
      }
    order[axis] = p;
    k_.domain.push_back(I[axis]);
    k_.reduced = 1;
    return View::identity(r, order);
  }

  /// A scan node (its input along each line of the axis, the running value
  /// stored at every element) or an ArgSort node (each line's positions
  /// sorted by the keys, read from their buffer).
  void lower_line_op() {
    const NodeId n = gr_.roots.at(0);
    const Node& nd = g_.node(n);
    note_fused(n);
    const bool sort = nd.op == Op::ArgSort;
    k_.kind = sort ? Kernel::Kind::sort : Kernel::Kind::scan;
    View v = walk_axis_last(nd.shape, nd.attrs[0]);
    KInstr in;
    in.op = nd.op;
    if (sort) {
      auto bv = buffer_view(g_, s_.materialized, nd.inputs[0]);
      TJ_CHECK(bv.has_value(), "the keys of argsort %{} are not a buffer view", n);
      Strides st;
      int64_t off;
      to_access(v, bv->strides, &st, &off);
      in.kop = KOp::Sort;
      in.dtype = g_.node(nd.inputs[0]).dtype;
      in.param = nd.attrs[1] != 0 ? 1 : 0;
      const bool leaf = g_.node(bv->buffer).op == Op::Buffer;
      in.access = access(leaf ? bufs_.of_leaf(bv->buffer) : bufs_.of_node(bv->buffer), in.dtype, st,
                         off + bv->offset);
    } else {
      in.kop = KOp::Scan;
      in.dtype = nd.dtype;
      in.a = emit(nd.inputs[0], v);
    }
    const int32_t value = push(in);
    store(n, bufs_.of_node(n), v, contiguous_strides(nd.shape), 0, value);
  }

  /// The writes of a Scatter node: the domain is the index's shape with the
  /// axis last (reduced: walked in order within each row).
  void lower_scatter() {
    k_.kind = Kernel::Kind::scatter;
    const Node& sc = g_.node(gr_.scatter);
    note_fused(gr_.scatter);
    const int64_t axis = sc.attrs[0];
    View v = walk_axis_last(gr_.shape, axis);
    int32_t index = emit(sc.inputs[1], v);
    int32_t src = emit(sc.inputs[2], v);
    KInstr in;
    in.kop = KOp::Scatter;
    in.op = sc.attrs[3] != 0 ? Op::Add : Op::Copy;
    in.dtype = sc.dtype;
    in.a = index;
    in.b = src;
    indirect(&in, sc, v, bufs_.of_node(gr_.scatter), contiguous_strides(sc.shape), 0,
             sc.shape[axis]);
    push(in);
  }

  void lower_row() {
    k_.kind = Kernel::Kind::row;
    const Shape& F = gr_.shape;
    std::vector<int64_t> kept, order(F.size());
    for (size_t d = 0; d < F.size(); ++d)
      if (std::find(gr_.axes.begin(), gr_.axes.end(), static_cast<int64_t>(d)) == gr_.axes.end())
        kept.push_back(static_cast<int64_t>(d));
    for (int64_t d : kept) k_.domain.push_back(F[d]);
    for (int64_t d : gr_.axes) k_.domain.push_back(F[d]);
    k_.reduced = static_cast<int>(gr_.axes.size());
    for (size_t p = 0; p < kept.size(); ++p) order[kept[p]] = static_cast<int64_t>(p);
    for (size_t p = 0; p < gr_.axes.size(); ++p)
      order[gr_.axes[p]] = static_cast<int64_t>(kept.size() + p);
    full_view_ = View::identity(F.size(), order);
    for (NodeId r : gr_.roots) {
      const Shape& rs = g_.node(r).shape;
      View v;
      v.dims = F.size();
      if (rs == F) {
        v = full_view_;
      } else {
        // One value per row: non-1 dims of the root are the non-1 kept dims.
        v.coef.assign(rs.size(), std::vector<int64_t>(F.size(), 0));
        v.base.assign(rs.size(), 0);
        size_t p = 0;
        for (size_t j = 0; j < rs.size(); ++j) {
          if (rs[j] == 1) continue;
          while (p < kept.size() && F[kept[p]] == 1) ++p;
          TJ_CHECK(p < kept.size() && F[kept[p]] == rs[j], "root %{} does not fit the rows", r);
          v.coef[j][p++] = 1;
        }
      }
      int32_t val = emit(r, v, true);
      store(r, bufs_.of_node(r), v, contiguous_strides(rs), 0, val);
    }
  }

  void lower_matmul() {
    k_.kind = Kernel::Kind::matmul;
    NodeId mm = gr_.roots[0];
    const Node& nd = g_.node(mm);
    note_fused(mm);
    const size_t r = nd.shape.size();
    const Node& a = g_.node(nd.inputs[0]);
    const int64_t K = a.shape[r - 1];
    k_.domain = nd.shape;  // [batch..., M, N]
    k_.domain.push_back(K);
    k_.reduced = 1;
    auto operand = [&](NodeId x, bool is_a) {
      auto bv = buffer_view(g_, s_.materialized, x);
      TJ_CHECK(bv.has_value(), "matmul operand %{} is not a buffer view", x);
      const Node& buf = g_.node(bv->buffer);
      int32_t pb = buf.op == Op::Buffer ? bufs_.of_leaf(bv->buffer) : bufs_.of_node(bv->buffer);
      Strides st(r + 1, 0);
      for (size_t d = 0; d + 2 < r; ++d) st[d] = bv->strides[d];
      if (is_a) {
        st[r - 2] = bv->strides[r - 2];  // M
        st[r] = bv->strides[r - 1];      // K
      } else {
        st[r - 1] = bv->strides[r - 1];  // N
        st[r] = bv->strides[r - 2];      // K
      }
      return access(pb, buf.dtype, st, bv->offset);
    };
    operand(nd.inputs[0], true);
    operand(nd.inputs[1], false);
    Strides cs = contiguous_strides(nd.shape);
    cs.push_back(0);
    access(bufs_.of_node(mm), nd.dtype, cs, 0);
  }

  /// See ir::Kernel's conv kernels.
  void lower_conv() {
    k_.kind = Kernel::Kind::conv;
    NodeId cv = gr_.roots[0];
    const Node& nd = g_.node(cv);
    note_fused(cv);
    const Shape& xs = g_.node(nd.inputs[0]).shape;
    const Shape& ws = g_.node(nd.inputs[1]).shape;
    k_.domain = {nd.shape[0], nd.shape[1], nd.shape[2], nd.shape[3], ws[1], ws[2], ws[3]};
    k_.reduced = 3;
    k_.conv.assign(nd.attrs.begin(), nd.attrs.end());
    k_.conv.push_back(xs[2]);
    k_.conv.push_back(xs[3]);
    auto operand = [&](NodeId x) {
      auto bv = buffer_view(g_, s_.materialized, x);
      TJ_CHECK(bv.has_value(), "conv2d operand %{} is not a buffer view", x);
      const Node& buf = g_.node(bv->buffer);
      int32_t pb = buf.op == Op::Buffer ? bufs_.of_leaf(bv->buffer) : bufs_.of_node(bv->buffer);
      Strides st(7, 0);
      std::copy(bv->strides.begin(), bv->strides.end(), st.begin());
      return access(pb, buf.dtype, st, bv->offset);
    };
    operand(nd.inputs[0]);
    operand(nd.inputs[1]);
    Strides os = contiguous_strides(nd.shape);
    os.resize(7, 0);
    access(bufs_.of_node(cv), nd.dtype, os, 0);
    if (nd.inputs.size() > 2) operand(nd.inputs[2]);
  }

  const Graph& g_;
  const Schedule& s_;
  const Group& gr_;
  Buffers& bufs_;
  Kernel k_;
  std::vector<int32_t> arg_buffers_;
  std::vector<int32_t> param_slots_;
  std::map<std::pair<NodeId, View>, int32_t> memo_;
  std::map<NodeId, int32_t> stages_;
  std::vector<NodeId> fused_;
  View full_view_;
};

}  // namespace

Plan lower(const Graph& g, const Schedule& s) {
  Plan p;
  p.graph_hash = g.hash();
  Buffers bufs{g, p.buffers, {}, {}};
  bufs.check_buffer = &p.check_buffer;
  // Graph outputs first, so each gets a buffer of its own.
  for (size_t k = 0; k < g.outputs().size(); ++k) {
    NodeId o = g.outputs()[k];
    int32_t b = bufs.of_node(o);
    if (p.buffers[b].kind == PlanBuffer::Kind::temp) {
      p.buffers[b].kind = PlanBuffer::Kind::output;
      p.buffers[b].slot = static_cast<int32_t>(k);
    }
    p.outputs.push_back(b);
  }
  std::map<std::string, int32_t> kernel_ids;
  for (size_t gi = 0; gi < s.groups.size(); ++gi) {
    const Group& gr = s.groups[gi];
    if (shape_numel(g.node(gr.roots[0]).shape) == 0 || shape_numel(gr.shape) == 0) {
      if (gr.kind != Group::Kind::row) continue;  // nothing to compute
    }
    Step step;
    Kernel k = GroupLowerer(g, s, gr, bufs).lower(&step);
    if (k.kind != Kernel::Kind::matmul && k.kind != Kernel::Kind::conv) {
      // Rows of an empty reduction still get their initial value; other
      // empty domains are skipped.
      if (k.kept_numel() == 0) continue;
    }
    std::string text = ir::to_string(k);
    auto it = kernel_ids.find(text);
    if (it == kernel_ids.end()) {
      p.kernels.push_back(std::move(k));
      it = kernel_ids.emplace(text, static_cast<int32_t>(p.kernels.size() - 1)).first;
    }
    step.kernel = it->second;
    step.group = static_cast<int32_t>(gi);
    p.steps.push_back(std::move(step));
  }
  // Liveness of temporaries.
  for (size_t i = 0; i < p.steps.size(); ++i)
    for (int32_t b : p.steps[i].args) {
      PlanBuffer& pb = p.buffers[b];
      if (pb.first_use < 0) pb.first_use = static_cast<int>(i);
      pb.last_use = static_cast<int>(i);
    }
  p.schedule_text = to_string(g, s);
  return p;
}

}  // namespace tj::sched
