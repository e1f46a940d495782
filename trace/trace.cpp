#include "trace/trace.h"

#include <algorithm>
#include <chrono>
#include <thread>
#include <unordered_map>

#include "ir/check.h"
#include "ir/dtype.h"
#include "ir/log.h"
#include "ir/print.h"
#include "ir/verify.h"
#include "jit/backend.h"
#include "jit/executor.h"
#include "jit/observe/observe.h"
#include "trace/autograd.h"
#include "trace/config_sync.h"
#include "trace/stats.h"

namespace tj::trace {

namespace {

/// Source locations of traced ops are recorded for TILEJIT_TRACE and
/// TILEJIT_DUMP_DIR.
bool locating(const Config& c = config()) { return !c.trace.empty() || !c.dump_dir.empty(); }

struct Trace {
  std::vector<std::weak_ptr<TensorImpl>> pending;
  bool flushing = false;
};

FlushObserver& observer() {
  static FlushObserver fn;
  return fn;
}

Trace& this_trace() {
  thread_local Trace t;
  return t;
}

}  // namespace

void check_device(const Device& d, std::string_view op) {
  if (d.is_cpu()) return;
  std::string why;
  if (!jit::available(d, &why)) {
    if (!cuda_is_available()) fail("{}: cannot use a tensor on {}: {}", op, d.str(), why);
    fail("{}: {}", op, why);
  }
  jit::backend(d);  // made now: the first kernel's NVRTC starts loading off this thread
}

namespace {

/// Thrown by a graph build that reached a buffer another flush is writing
/// into (TensorImpl::flush_readers == -1): the build starts again once that
/// flush is done, when the pending values that read the buffer are computed.
struct BufferTaken {
  TensorImpl::Ptr impl;
};

/// The ready leaves a flush reads, counted in their flush_readers while it
/// runs; those whose memory it takes for an output hold -1 instead.
class LeafReaders {
 public:
  LeafReaders() = default;
  LeafReaders(const LeafReaders&) = delete;
  LeafReaders& operator=(const LeafReaders&) = delete;
  ~LeafReaders() {
    for (size_t i = 0; i < leaves_.size(); ++i)
      if (taken_[i])
        leaves_[i]->flush_readers.store(0, std::memory_order_release);
      else
        leaves_[i]->flush_readers.fetch_sub(1, std::memory_order_acq_rel);
  }
  /// Counts this flush as a reader of `p`; throws BufferTaken when another
  /// flush is writing into it.
  void add(const TensorImpl::Ptr& p) {
    int32_t n = p->flush_readers.load(std::memory_order_acquire);
    do {
      if (n < 0) throw BufferTaken{p};
    } while (!p->flush_readers.compare_exchange_weak(n, n + 1, std::memory_order_acq_rel));
    leaves_.push_back(p);
    taken_.push_back(false);
  }
  /// Takes the memory of leaf `i` when this flush is its only reader.
  bool take(size_t i) {
    int32_t one = 1;
    if (!leaves_[i]->flush_readers.compare_exchange_strong(one, -1, std::memory_order_acq_rel))
      return false;
    taken_[i] = true;
    return true;
  }
  const std::vector<TensorImpl::Ptr>& leaves() const { return leaves_; }

 private:
  std::vector<TensorImpl::Ptr> leaves_;
  std::vector<bool> taken_;
};

/// Whether no tensor handle can read `p`'s value any more: none reaches it
/// (the newest value of a parameter is reached by the handles of its older
/// versions), or it is an older version (its handles read the newest).
bool unreachable(const TensorImpl& p) { return !autograd::in_use(p) || autograd::superseded(p); }

void materialize_once(const std::vector<TensorImpl::Ptr>& roots, FlushReason reason);

/// A flush's map from impls to numbers: open addressing, nothing allocated
/// per entry (a flush walks every pending impl of the trace).
class ImplMap {
 public:
  /// The number of `p`, or null.
  int32_t* find(const TensorImpl* p) {
    if (slots_.empty()) return nullptr;
    for (size_t at = slot(p);; at = (at + 1) & (slots_.size() - 1)) {
      if (slots_[at].first == p) return &slots_[at].second;
      if (slots_[at].first == nullptr) return nullptr;
    }
  }
  bool contains(const TensorImpl* p) { return find(p) != nullptr; }
  /// The number of `p`, 0 when it is new.
  int32_t& operator[](const TensorImpl* p) {
    if (2 * (used_ + 1) > slots_.size()) grow();
    size_t at = slot(p);
    for (; slots_[at].first != nullptr; at = (at + 1) & (slots_.size() - 1))
      if (slots_[at].first == p) return slots_[at].second;
    ++used_;
    slots_[at] = {p, 0};
    return slots_[at].second;
  }

 private:
  size_t slot(const TensorImpl* p) const {
    return static_cast<size_t>((reinterpret_cast<uintptr_t>(p) >> 4) * 0x9e3779b97f4a7c15ull >>
                               20) &
           (slots_.size() - 1);
  }
  void grow() {
    std::vector<std::pair<const TensorImpl*, int32_t>> old(std::max<size_t>(64, 2 * slots_.size()));
    old.swap(slots_);
    for (const auto& [p, v] : old) {
      if (!p) continue;
      size_t at = slot(p);
      while (slots_[at].first) at = (at + 1) & (slots_.size() - 1);
      slots_[at] = {p, v};
    }
  }
  std::vector<std::pair<const TensorImpl*, int32_t>> slots_;
  size_t used_ = 0;
};

/// Builds the graph that computes `roots` (and every pending impl reached
/// that a handle holds), executes it and stores the results.
void materialize(const std::vector<TensorImpl::Ptr>& roots, FlushReason reason) {
  // A graph runs on one device; ops never mix devices, so roots on different
  // devices have disjoint pending graphs.
  const Device device = roots.empty() ? Device::cpu() : roots[0]->device;
  for (const auto& r : roots) {
    if (r->device == device) continue;
    std::vector<TensorImpl::Ptr> here, rest;
    for (const auto& q : roots) (q->device == device ? here : rest).push_back(q);
    materialize(here, reason);
    materialize(rest, reason);
    return;
  }
  for (;;) {
    try {
      materialize_once(roots, reason);
      return;
    } catch (const BufferTaken& t) {
      while (t.impl->flush_readers.load(std::memory_order_acquire) < 0)
        std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  }
}

void materialize_once(const std::vector<TensorImpl::Ptr>& roots, FlushReason reason) {
  const Device device = roots.empty() ? Device::cpu() : roots[0]->device;
  std::vector<TensorImpl::Ptr> pending_roots;
  for (const auto& r : roots)
    if (!r->is_ready()) pending_roots.push_back(r);
  if (pending_roots.empty()) return;  // computed by the flush this one waited for
  JitScope jit_scope;                 // this thread's configuration, for everything below
  const bool locate = locating();
  ir::GraphBuilder b;
  ImplMap ids;  // impl -> its node
  std::vector<TensorImpl::Ptr> outs;
  std::vector<ir::NodeId> out_ids;
  ImplMap root_set;
  for (const auto& r : pending_roots) root_set[r.get()] = 1;

  // Iterative post-order walk: deep chains must not overflow the stack. The
  // inputs of the impls on the stack are copied (under each impl's lock: a
  // flush on another thread may store it and drop them) into one pool.
  struct Frame {
    TensorImpl::Ptr impl;
    uint32_t first = 0, count = 0, next = 0;  // its inputs: pool[first, first + count)
    bool leaf = false;
  };
  std::vector<Frame> stack;
  std::vector<TensorImpl::Ptr> pool;
  stack.reserve(64);
  pool.reserve(256);
  LeafReaders readers;
  ImplMap reads;  // ready leaf -> pending impls reading it here
  auto push = [&](const TensorImpl::Ptr& p) {
    Frame f;
    f.impl = p;
    std::lock_guard lock(p->mu);
    if (p->is_ready() || p->op == ir::Op::Scalar) {
      f.leaf = true;
    } else {
      f.first = static_cast<uint32_t>(pool.size());
      f.count = static_cast<uint32_t>(p->inputs.size());
      pool.insert(pool.end(), p->inputs.begin(), p->inputs.end());
    }
    stack.push_back(std::move(f));
  };
  std::vector<ir::NodeId> in_ids;
  for (const auto& r : pending_roots) {
    if (ids.contains(r.get())) continue;
    push(r);
    while (!stack.empty()) {
      Frame& f = stack.back();
      if (!f.leaf && f.next < f.count) {
        TensorImpl::Ptr in = pool[f.first + f.next++];  // a copy: push may grow the pool
        if (!ids.contains(in.get())) push(in);          // and the stack: `f` is not used after
        continue;
      }
      TensorImpl* p = f.impl.get();
      ir::NodeId id;
      if (f.leaf && p->is_ready()) {
        readers.add(f.impl);
        id = b.buffer(p->value);
      } else if (f.leaf) {
        // Never merged by value: a C++ scalar is a run-time argument, and two
        // that happen to be equal this time must not change the graph's
        // structure (and so miss the plan cache) next time.
        id = b.scalar(p->dtype, p->scalar, /*intern=*/false);
      } else {
        in_ids.clear();
        for (uint32_t k = 0; k < f.count; ++k) {
          TensorImpl* in = pool[f.first + k].get();
          in_ids.push_back(*ids.find(in));
          if (in->is_ready()) ++reads[in];
        }
        // Typed when it was recorded (trace::record ran ir::infer).
        id = b.add_inferred(p->op, in_ids, p->attrs, p->dtype, p->shape);
        if (locate) b.set_origin(id, obs::origin_of(p));  // for dumps and traces
        bool is_root = root_set.contains(p);
        if (is_root || autograd::in_use(*p)) {
          outs.push_back(f.impl);
          out_ids.push_back(id);
        }
      }
      ids[p] = id;
      stack.pop_back();
    }
  }
  if (outs.empty()) return;
  // Buffers nothing outside this flush can read any more: this graph holds
  // every pending reader, no handle reaches them, no other flush reads them
  // and no other tensor shares their memory. Outputs may be written there.
  // Several views of one memory (a parameter and its transpose) must all
  // qualify; the plan runner then checks that the views other than the
  // donor are read only before the output is written.
  if (!observer()) {  // an observer keeps the graph, inputs included
    const auto& leaves = readers.leaves();
    std::unordered_map<const Storage*, std::vector<size_t>> by_storage;
    for (size_t i = 0; i < leaves.size(); ++i)
      by_storage[leaves[i]->value.storage.get()].push_back(i);
    for (auto& [storage, at] : by_storage) {
      bool ok = true;
      for (size_t i : at) {
        TensorImpl& p = *leaves[i];
        const int32_t* r = reads.find(&p);
        ok = ok && r != nullptr && *r == p.pending_readers.load(std::memory_order_acquire) &&
             unreachable(p);
      }
      // Referenced by these impls' views and the graph's, nothing else.
      const long refs = static_cast<long>(at.size() + b.views_of(storage));
      if (!ok || leaves[at[0]]->value.storage.use_count() != refs) continue;
      for (size_t i : at) ok = ok && readers.take(i);
      if (!ok) continue;
      for (size_t i : at) {
        const BufferView& v = leaves[i]->value;
        if (v.offset == 0 && v.contiguous()) b.allow_donation(*ids.find(leaves[i].get()));
      }
    }
  }
  ir::Graph g = b.finish(out_ids);
  if (log_enabled(LogLevel::debug))
    log(LogLevel::debug, "flush ({}): {}", flush_reason_name(reason), ir::to_string(g));
  if (observer()) observer()(g);
  obs::FlushScope observe(flush_reason_name(reason), g);  // TILEJIT_TRACE / DUMP_DIR / TIMELINE
  std::string index_error;  // thrown once the results are stored: the process keeps working
  std::vector<BufferView> results = jit::execute(g, device, &index_error);
  record_flush(reason, static_cast<int64_t>(g.size()), g, static_cast<int64_t>(outs.size()));

  for (size_t k = 0; k < outs.size(); ++k) {
    TensorImpl& impl = *outs[k];
    std::vector<TensorImpl::Ptr> dropped;
    {
      std::lock_guard lock(impl.mu);
      if (impl.is_ready()) continue;  // another thread stored it first
      impl.value = std::move(results[k]);
      dropped = std::move(impl.inputs);
      impl.inputs.clear();
      impl.attrs.clear();
      impl.ready.store(true, std::memory_order_release);
    }
    drop_inputs(std::move(dropped));
  }
  if (!index_error.empty()) fail("{}", index_error);
}

}  // namespace

namespace {

void require_defined(const Tensor& t, std::string_view op) {
  if (!t.defined()) [[unlikely]]
    fail(
        "{}: the tensor is undefined (default-constructed or moved from); assign it a value "
        "first",
        op);
}

}  // namespace

TensorImpl::Ptr impl_of(const Tensor& t, std::string_view op) {
  require_defined(t, op);
  const TensorImpl::Ptr& p = t.impl();
  if (p->autograd) [[unlikely]]
    return autograd::newest(p);
  return p;
}

const TensorImpl& impl_ref(const Tensor& t, std::string_view op) {
  require_defined(t, op);
  const TensorImpl::Ptr& p = t.impl();
  if (p->autograd) [[unlikely]]
    return *autograd::newest(p);
  return *p;
}

Tensor record(ir::Op op, std::span<const Tensor> inputs, ir::OpArgs args, std::string_view user_op,
              Device device) {
  std::vector<TensorImpl::Ptr> in;
  in.reserve(inputs.size());
  for (const Tensor& t : inputs) in.push_back(impl_of(t, user_op));
  if (!in.empty()) device = in[0]->device;
  // The inputs' types for ir::infer, in a vector this thread keeps (an
  // allocation per op was a tenth of the tracing time); infer records nothing.
  thread_local std::vector<ir::TypeRef> types;
  types.clear();
  for (const TensorImpl::Ptr& impl : in) {
    if (impl->device != device)
      fail("{}: tensors are on different devices ({} and {}); move one with .to(device)", user_op,
           device.str(), impl->device.str());
    types.push_back({impl->dtype, impl->shape});
  }
  check_device(device, user_op);
  ir::TypeShape ts = ir::infer(op, types, args, user_op);
  types.clear();

  Trace& tr = this_trace();
  const Config& cfg = config();  // one thread-local lookup for the three reads
  const bool lazy = cfg.lazy;
  if (lazy && static_cast<int64_t>(tr.pending.size()) >= cfg.max_trace)
    flush(FlushReason::trace_limit);

  auto impl = std::make_shared<TensorImpl>();
  impl->dtype = ts.dtype;
  impl->shape = std::move(ts.shape);
  impl->device = device;
  impl->op = op;
  impl->attrs = std::move(args.attrs);
  for (const TensorImpl::Ptr& p : in) p->pending_readers.fetch_add(1, std::memory_order_relaxed);
  impl->inputs = std::move(in);
  count_op();
  if (locating(cfg)) obs::note_origin(impl);  // where the user called the op

  Tensor out(impl);
  // The Node backward() walks, when gradients are on.
  autograd::on_record(op, impl->inputs, impl->attrs, out);
  if (!lazy) {
    materialize({impl}, FlushReason::eager);
    return out;
  }
  tr.pending.push_back(impl);
  return out;
}

Tensor scalar_tensor(Scalar value, DType t, Device device, bool shared) {
  auto impl = std::make_shared<TensorImpl>();
  if (!shared) impl->attrs = {1};
  impl->dtype = t;
  impl->device = device;
  impl->op = ir::Op::Scalar;
  if (is_floating(t)) {
    impl->scalar.f = value.to_double();
    impl->scalar.i = value.to_int();
  } else if (t == DType::bool_) {
    impl->scalar.i =
        value.kind() == Scalar::Kind::floating ? value.to_double() != 0 : value.to_int() != 0;
    impl->scalar.f = static_cast<double>(impl->scalar.i);
  } else {
    impl->scalar.i = value.kind() == Scalar::Kind::floating ? double_to_int(value.to_double(), t)
                                                            : value.to_int();
    impl->scalar.f = static_cast<double>(impl->scalar.i);
  }
  return Tensor(impl);
}

void flush(FlushReason reason) {
  Trace& tr = this_trace();
  if (tr.flushing) return;
  std::vector<std::weak_ptr<TensorImpl>> pending;
  pending.swap(tr.pending);
  std::vector<TensorImpl::Ptr> roots;
  for (auto& w : pending) {
    TensorImpl::Ptr p = w.lock();
    if (p && !p->is_ready() && autograd::in_use(*p)) roots.push_back(std::move(p));
  }
  pending.clear();
  if (roots.empty()) return;
  tr.flushing = true;
  try {
    materialize(roots, reason);
  } catch (...) {
    tr.flushing = false;
    throw;
  }
  tr.flushing = false;
}

void ensure_ready(const TensorImpl::Ptr& impl, FlushReason reason) {
  if (impl->is_ready()) return;
  flush(reason);
  if (impl->is_ready()) return;
  materialize({impl}, reason);  // pending in another thread's trace
}

size_t pending_count() { return this_trace().pending.size(); }

void set_flush_observer(FlushObserver fn) { observer() = std::move(fn); }

}  // namespace tj::trace
