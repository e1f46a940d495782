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
    store_[b] = be_.alloc(static_cast<size_t>(pb.numel * dtype_size(pb.dtype)));
    base_[b] = store_[b]->data;
  }

  const ir::Graph& g_;
  const sched::Plan& p_;
  Backend& be_;
  std::vector<std::shared_ptr<Storage>> store_;
  std::vector<void*> base_;
};

}  // namespace

std::vector<BufferView> run_plan(const ir::Graph& g, const sched::Plan& p,
                                 const PreparedPlan& prepared, Backend& backend, int64_t* calls,
                                 std::string* index_error) {
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
