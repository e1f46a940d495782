#include "jit/run_plan.h"

#include "ir/check.h"

namespace tj::jit {

namespace {

class PlanBuffers final : public RunBuffers {
 public:
  PlanBuffers(const ir::Graph& g, const sched::Plan& p, Backend& be)
      : g_(g), p_(p), be_(be), store_(p.buffers.size()), base_(p.buffers.size(), nullptr) {
    for (size_t b = 0; b < p.buffers.size(); ++b) {
      const sched::PlanBuffer& pb = p.buffers[b];
      if (pb.kind == sched::PlanBuffer::Kind::input) {
        const BufferView& in = g.buffers()[pb.slot];
        TJ_CHECK(in.storage && in.storage->device == be.device(), "input {} of a {} plan is on {}",
                 pb.slot, be.name(), in.storage ? in.storage->device.str() : "no device");
        base_[b] = in.data();
      } else if (pb.kind == sched::PlanBuffer::Kind::output) {
        allocate(b);
      } else if (pb.kind == sched::PlanBuffer::Kind::check) {
        allocate(b);
        const int64_t zero[ir::kCheckCellSize] = {};
        be.copy_from_host(base_[b], zero, sizeof zero);
      }
    }
  }

  void* at(int32_t b) override {
    if (!base_[b]) allocate(static_cast<size_t>(b));
    return base_[b];
  }

  /// Releases the temporaries whose last use is step `s`.
  void release_after(size_t s) {
    for (int32_t b : p_.steps[s].args) {
      const sched::PlanBuffer& pb = p_.buffers[b];
      if (pb.kind == sched::PlanBuffer::Kind::temp && pb.last_use == static_cast<int>(s)) {
        store_[b].reset();
        base_[b] = nullptr;
      }
    }
  }

  int64_t donated() const { return donated_; }

  std::vector<BufferView> outputs() {
    std::vector<BufferView> out;
    out.reserve(p_.outputs.size());
    for (size_t i = 0; i < p_.outputs.size(); ++i) {
      const ir::Node& n = g_.node(g_.outputs()[i]);
      BufferView v;
      v.dtype = n.dtype;
      v.shape = n.shape;
      v.strides = contiguous_strides(n.shape);
      v.storage = store_[p_.outputs[i]];
      TJ_CHECK(v.storage != nullptr, "output {} has no buffer", i);
      out.push_back(std::move(v));
    }
    return out;
  }

 private:
  void allocate(size_t b) {
    const sched::PlanBuffer& pb = p_.buffers[b];
    TJ_CHECK(pb.kind != sched::PlanBuffer::Kind::input, "input buffer {} is not bound", b);
    const size_t bytes = static_cast<size_t>(pb.numel * dtype_size(pb.dtype));
    if (pb.donor >= 0) {
      // The input's memory, when this flush may overwrite it and the view is
      // the start of its storage, dense, of the same size.
      const sched::PlanBuffer& d = p_.buffers[pb.donor];
      const BufferView& in = g_.buffers()[d.slot];
      if (g_.donatable(d.slot) && in.offset == 0 && in.contiguous() && in.dtype == pb.dtype &&
          in.numel() == pb.numel && in.storage->bytes >= bytes && others_done(in, b)) {
        store_[b] = in.storage;
        base_[b] = in.storage->data;
        ++donated_;
        return;
      }
    }
    store_[b] = be_.alloc(bytes);
    base_[b] = store_[b]->data;
  }

  /// Whether every other view of `in`'s memory is last read before the step
  /// that writes buffer `b` (its first use).
  bool others_done(const BufferView& in, size_t b) const {
    const int writer = p_.buffers[b].first_use;
    for (size_t i = 0; i < p_.buffers.size(); ++i) {
      const sched::PlanBuffer& q = p_.buffers[i];
      if (q.kind == sched::PlanBuffer::Kind::input &&
          static_cast<int32_t>(i) != p_.buffers[b].donor &&
          g_.buffers()[q.slot].storage == in.storage && q.last_use >= writer)
        return false;
    }
    return true;
  }

  const ir::Graph& g_;
  const sched::Plan& p_;
  Backend& be_;
  std::vector<std::shared_ptr<Storage>> store_;
  std::vector<void*> base_;
  int64_t donated_ = 0;
};

}  // namespace

std::vector<BufferView> run_plan(const ir::Graph& g, const sched::Plan& p,
                                 const PreparedPlan& prepared, Backend& backend, int64_t* calls,
                                 std::string* index_error, int64_t* donated) {
  std::shared_ptr<void> run = backend.begin_run();
  PlanBuffers buffers(g, p, backend);
  int64_t queued = 0;
  for (size_t s = 0; s < p.steps.size();) {
    const Launched l = backend.launch({p, prepared, s, buffers, g.scalars()});
    TJ_CHECK(l.steps >= 1 && s + l.steps <= p.steps.size(), "{} ran {} steps at step {} of {}",
             backend.name(), l.steps, s, p.steps.size());
    queued += l.calls;
    for (size_t k = s; k < s + l.steps; ++k) buffers.release_after(k);
    s += l.steps;
  }
  if (calls) *calls = queued;
  if (donated) *donated = buffers.donated();
  std::vector<BufferView> out = buffers.outputs();
  if (p.check_buffer >= 0) {
    int64_t cell[ir::kCheckCellSize] = {};
    backend.copy_to_host(cell, buffers.at(p.check_buffer), sizeof cell);
    if (cell[0] != 0) {
      std::string e = ir::index_error(static_cast<ir::IndexApi>(cell[2]), cell[1], cell[3], cell[4],
                                      cell[5] != 0);
      const auto api = static_cast<ir::IndexApi>(cell[2]);
      e +=
          ir::is_write_api(api) ? "; nothing was written there" : "; the elements read at it are 0";
      if (!index_error) fail("{}", e);
      *index_error = std::move(e);
    }
  }
  return out;
}

}  // namespace tj::jit
