#include "jit/executor.h"

#include <fmt/format.h>

#include <chrono>
#include <future>
#include <mutex>
#include <unordered_map>

#include "cache/kernel_store.h"
#include "ir/check.h"
#include "ir/hash.h"
#include "ir/kernel.h"
#include "ir/verify.h"
#include "jit/cpu/printer.h"
#include "jit/cache_entry.h"
#include "jit/cpu/compiler.h"
#include "jit/cuda/backend.h"
#include "jit/cpu/allocator.h"
#include "jit/observe/observe.h"
#include "jit/cpu/thread_pool.h"
#include "scheduler/plan.h"
#include "tilejit_build_config.h"
#include "ir/log.h"

#if TJ_HAVE_CBLAS
#include <cblas.h>
#endif

namespace tj::jit {

using KernelFn = void (*)(void* const*, const double*, const int64_t*, int64_t, int64_t);

namespace {

// ---- counters (reported through tj::stats()) ---------------------------------
struct JitCounters {
  std::atomic<int64_t> plan_hits{0}, plan_misses{0}, compiled{0}, launched{0}, disk_hits{0},
      mem_hits{0};
  std::atomic<int64_t> compile_us{0};
};
JitCounters& counters() {
  static JitCounters c;
  return c;
}

// ---- compiled kernels, by name (the name hashes the whole Kernel IR) -----------
struct LoadedKernel {
  KernelFn fn = nullptr;
  std::shared_ptr<CpuModule> module;
};

class KernelCache {
 public:
  /// Function pointers for `kernels`, compiling the missing ones in one
  /// translation unit. Kernels another thread is compiling are waited for.
  std::vector<KernelFn> get(const std::vector<ir::Kernel>& kernels) {
    std::vector<KernelFn> fns(kernels.size(), nullptr);
    std::vector<size_t> mine;
    std::vector<std::shared_future<LoadedKernel>> theirs(kernels.size());
    std::vector<std::promise<LoadedKernel>> promises;
    {
      std::lock_guard lock(mu_);
      for (size_t i = 0; i < kernels.size(); ++i) {
        const std::string& name = kernels[i].name;
        if (auto it = ready_.find(name); it != ready_.end()) {
          fns[i] = it->second.fn;
          ++counters().mem_hits;
          obs::kernel_mem_hit(kernels[i]);
        } else if (auto f = inflight_.find(name); f != inflight_.end()) {
          theirs[i] = f->second;
          ++counters().mem_hits;
          obs::kernel_mem_hit(kernels[i]);
        } else {
          bool dup = false;
          for (size_t j : mine) dup = dup || kernels[j].name == name;
          if (dup) continue;
          mine.push_back(i);
          promises.emplace_back();
          inflight_[name] = promises.back().get_future().share();
        }
      }
    }
    if (!mine.empty()) compile(kernels, mine, promises);
    for (size_t i = 0; i < kernels.size(); ++i) {
      if (fns[i]) continue;
      if (theirs[i].valid()) {
        fns[i] = theirs[i].get().fn;  // rethrows the other thread's compile error
        continue;
      }
      std::lock_guard lock(mu_);
      fns[i] = ready_.at(kernels[i].name).fn;
    }
    return fns;
  }

 private:
  void compile(const std::vector<ir::Kernel>& kernels, const std::vector<size_t>& mine,
               std::vector<std::promise<LoadedKernel>>& promises) {
    std::vector<const ir::Kernel*> ks;
    for (size_t i : mine) ks.push_back(&kernels[i]);
    std::string source = print_cpp_unit(ks);
    try {
      std::shared_ptr<CpuModule> module = from_disk(source, kernels[mine[0]].name);
      if (module) {
        counters().disk_hits += static_cast<int64_t>(mine.size());
        obs::kernels_loaded(ks, /*from_disk=*/true, 0);
      } else {
        double ms = 0;
        module = CpuModule::compile(source, kernels[mine[0]].name, &ms);
        counters().compiled += static_cast<int64_t>(mine.size());
        counters().compile_us += static_cast<int64_t>(ms * 1000);
        log(LogLevel::info, "compiled {} kernel(s) in {:.0f} ms: {}", mine.size(), ms,
            kernels[mine[0]].name);
        obs::kernels_loaded(ks, /*from_disk=*/false, ms);
        to_disk(source, ks, *module, ms);
      }
      std::lock_guard lock(mu_);
      for (size_t k = 0; k < mine.size(); ++k) {
        const ir::Kernel& kn = kernels[mine[k]];
        LoadedKernel lk{reinterpret_cast<KernelFn>(module->symbol(kn.name)), module};
        ready_[kn.name] = lk;
        inflight_.erase(kn.name);
        promises[k].set_value(lk);
      }
    } catch (...) {
      std::lock_guard lock(mu_);
      for (size_t k = 0; k < mine.size(); ++k) {
        inflight_.erase(kernels[mine[k]].name);
        promises[k].set_exception(std::current_exception());
      }
      throw;
    }
  }

  static cache::KeyFields key_fields(const std::string& source) {
    const CpuCompiler& cc = cpu_compiler();
    return {"cpu", cc.target, cc.identity, cc.flags, source};
  }

  /// The compiled unit from the on-disk cache, or null on a miss.
  static std::shared_ptr<CpuModule> from_disk(const std::string& source, const std::string& name) {
    cache::KeyFields f = key_fields(source);
    cache::Store& store = cache::Store::global();
    if (store.effective_mode() == cache::Mode::off) return nullptr;
    std::optional<cache::Entry> e = store.get(cache::make_key(f), f);
    if (!e) return nullptr;
    auto m = CpuModule::load(e->binary, name);
    if (!m) log(LogLevel::warn, "cached kernel {} could not be loaded; compiling it again", name);
    return m;
  }

  static void to_disk(const std::string& source, const std::vector<const ir::Kernel*>& ks,
                      const CpuModule& m, double ms) {
    store_unit(key_fields(source), ks, m.binary(), ms);
  }

  std::mutex mu_;
  std::unordered_map<std::string, LoadedKernel> ready_;
  std::unordered_map<std::string, std::shared_future<LoadedKernel>> inflight_;
};

KernelCache& kernel_cache() {
  static KernelCache* c = new KernelCache;
  return *c;
}

// ---- plans, by graph hash -------------------------------------------------------
struct ReadyPlan {
  sched::Plan plan;
  std::vector<KernelFn> fns;             // CPU plans
  std::shared_ptr<const CudaPlan> cuda;  // CUDA plans
};

/// Plans are cached per graph structure and device: the same program on
/// the CPU and on a GPU gets two plans (different targets, kernels, code).
uint64_t plan_key(uint64_t graph_hash, Device d) {
  if (d.is_cpu()) return graph_hash;
  return graph_hash ^ (0x9e3779b97f4a7c15ull * static_cast<uint64_t>(d.index + 1));
}

sched::Target cpu_target() {
  sched::Target t;
  t.name = "cpu";
  t.threads = cpu_threads();
#if defined(__x86_64__)
  __builtin_cpu_init();
  t.vector_bytes = __builtin_cpu_supports("avx512f") ? 64
                   : __builtin_cpu_supports("avx2")  ? 32
                                                     : 16;
#else
  t.vector_bytes = 16;
#endif
  t.l2_bytes = int64_t{1} << 20;
  return t;
}

std::function<void(const sched::Plan&)>& new_plan_hook() {
  static std::function<void(const sched::Plan&)> hook;
  return hook;
}

class PlanCache {
 public:
  bool contains(uint64_t h) {
    std::lock_guard lock(mu_);
    return ready_.count(h) != 0;
  }

  std::shared_ptr<const ReadyPlan> get(const ir::Graph& g, Device device) {
    const uint64_t key = plan_key(g.hash(), device);
    std::shared_future<std::shared_ptr<const ReadyPlan>> wait;
    std::promise<std::shared_ptr<const ReadyPlan>> mine;
    {
      std::lock_guard lock(mu_);
      if (auto it = ready_.find(key); it != ready_.end()) {
        ++counters().plan_hits;
        obs::plan_ready(g, it->second->plan, /*hit=*/true);
        return it->second;
      }
      if (auto it = inflight_.find(key); it != inflight_.end()) {
        wait = it->second;
      } else {
        inflight_[key] = mine.get_future().share();
      }
    }
    if (wait.valid()) {
      ++counters().plan_hits;
      std::shared_ptr<const ReadyPlan> rp = wait.get();
      obs::plan_ready(g, rp->plan, /*hit=*/true);
      return rp;
    }
    ++counters().plan_misses;
    try {
      static const sched::Target target = cpu_target();
      ir::verify(g);  // every new graph structure is checked once
      auto rp = std::make_shared<ReadyPlan>();
      {
        obs::ScheduleScope observe;
        rp->plan = sched::make_plan(g, device.is_cpu() ? target : cuda_target(device.index));
      }
      obs::plan_ready(g, rp->plan, /*hit=*/false);
      if (new_plan_hook()) new_plan_hook()(rp->plan);
      if (device.is_cpu()) {
        rp->fns = kernel_cache().get(rp->plan.kernels);
      } else {
        CudaPrepareStats cs;
        rp->cuda = cuda_prepare(rp->plan, device.index, &cs);
        counters().compiled += cs.compiled;
        counters().disk_hits += cs.disk_hits;
        counters().mem_hits += cs.mem_hits;
        counters().compile_us += static_cast<int64_t>(cs.compile_ms * 1000);
      }
      if (log_enabled(LogLevel::debug)) {
        log(LogLevel::debug, "plan {:016x}: {} step(s)\n{}", g.hash(), rp->plan.steps.size(),
            rp->plan.schedule_text);
        for (const auto& k : rp->plan.kernels) log(LogLevel::debug, "{}", ir::to_string(k));
      }
      std::lock_guard lock(mu_);
      ready_[key] = rp;
      inflight_.erase(key);
      mine.set_value(rp);
      return rp;
    } catch (...) {
      std::lock_guard lock(mu_);
      inflight_.erase(key);
      mine.set_exception(std::current_exception());
      throw;
    }
  }

 private:
  std::mutex mu_;
  std::unordered_map<uint64_t, std::shared_ptr<const ReadyPlan>> ready_;
  std::unordered_map<uint64_t, std::shared_future<std::shared_ptr<const ReadyPlan>>> inflight_;
};

PlanCache& plan_cache() {
  static PlanCache* c = new PlanCache;
  return *c;
}

// ---- GEMM through CBLAS ------------------------------------------------------------
#if TJ_HAVE_CBLAS
/// Transposition and leading dimension for a rows x cols operand with element
/// strides (s_row, s_col); false when a GEMM cannot read it.
bool blas_layout(int64_t rows, int64_t cols, int64_t s_row, int64_t s_col, CBLAS_TRANSPOSE* t,
                 int64_t* ld) {
  if (cols <= 1 || s_col == 1) {
    *t = CblasNoTrans;
    *ld = rows <= 1 ? std::max<int64_t>(cols, 1) : s_row;
    return *ld >= std::max<int64_t>(cols, 1);
  }
  if (rows <= 1 || s_row == 1) {
    *t = CblasTrans;
    *ld = cols <= 1 ? std::max<int64_t>(rows, 1) : s_col;
    return *ld >= std::max<int64_t>(rows, 1);
  }
  return false;
}

bool run_blas(const ir::Kernel& k, const std::vector<void*>& ptrs) {
  const ir::Access& A = k.accesses[0];
  const ir::Access& B = k.accesses[1];
  const ir::Access& C = k.accesses[2];
  if (!(A.dtype == C.dtype && B.dtype == C.dtype &&
        (C.dtype == DType::f32 || C.dtype == DType::f64)))
    return false;
  const size_t n = k.domain.size();
  const int64_t M = k.domain[n - 3], N = k.domain[n - 2], K = k.domain[n - 1];
  CBLAS_TRANSPOSE ta, tb;
  int64_t lda, ldb;
  if (!blas_layout(M, K, A.strides[n - 3], A.strides[n - 1], &ta, &lda)) return false;
  if (!blas_layout(K, N, B.strides[n - 1], B.strides[n - 2], &tb, &ldb)) return false;
  const int64_t batch = shape_numel(Shape(k.domain.begin(), k.domain.end() - 3));
  const int64_t es = dtype_size(C.dtype);
  for (int64_t b = 0; b < batch; ++b) {
    int64_t t = b, oa = A.offset, ob = B.offset, oc = C.offset;
    for (size_t d = n - 3; d-- > 0;) {
      int64_t i = t % k.domain[d];
      t /= k.domain[d];
      oa += i * A.strides[d];
      ob += i * B.strides[d];
      oc += i * C.strides[d];
    }
    char* pa = static_cast<char*>(ptrs[A.arg]) + oa * es;
    char* pb = static_cast<char*>(ptrs[B.arg]) + ob * es;
    char* pc = static_cast<char*>(ptrs[C.arg]) + oc * es;
    if (C.dtype == DType::f32)
      cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, 1.0f, reinterpret_cast<float*>(pa), lda,
                  reinterpret_cast<float*>(pb), ldb, 0.0f, reinterpret_cast<float*>(pc),
                  std::max<int64_t>(N, 1));
    else
      cblas_dgemm(CblasRowMajor, ta, tb, M, N, K, 1.0, reinterpret_cast<double*>(pa), lda,
                  reinterpret_cast<double*>(pb), ldb, 0.0, reinterpret_cast<double*>(pc),
                  std::max<int64_t>(N, 1));
  }
  return true;
}
#endif

}  // namespace

std::vector<BufferView> execute(const ir::Graph& g, Device device) {
  std::shared_ptr<const ReadyPlan> rp = plan_cache().get(g, device);
  const sched::Plan& p = rp->plan;
  if (device.is_cuda()) {
    int64_t launches = 0;
    std::vector<BufferView> out = cuda_run(g, p, *rp->cuda, device.index, &launches);
    counters().launched += launches;
    return out;
  }

  // Storage for every plan buffer: graph inputs are bound by slot, outputs
  // are allocated now, temporaries at their first use.
  std::vector<std::shared_ptr<Storage>> store(p.buffers.size());
  std::vector<void*> base(p.buffers.size(), nullptr);
  for (size_t b = 0; b < p.buffers.size(); ++b) {
    const sched::PlanBuffer& pb = p.buffers[b];
    if (pb.kind == sched::PlanBuffer::Kind::input) {
      base[b] = g.buffers()[pb.slot].data();
    } else if (pb.kind == sched::PlanBuffer::Kind::output) {
      store[b] = host_alloc(static_cast<size_t>(pb.numel * dtype_size(pb.dtype)));
      base[b] = store[b]->data;
    }
  }
  std::vector<double> fp;
  std::vector<int64_t> ip;
  for (size_t s = 0; s < p.steps.size(); ++s) {
    const sched::Step& st = p.steps[s];
    const ir::Kernel& k = p.kernels[st.kernel];
    std::vector<void*> args(st.args.size());
    for (size_t a = 0; a < st.args.size(); ++a) {
      int32_t b = st.args[a];
      const sched::PlanBuffer& pb = p.buffers[b];
      if (!base[b] && pb.kind == sched::PlanBuffer::Kind::temp) {
        store[b] = host_alloc(static_cast<size_t>(pb.numel * dtype_size(pb.dtype)));
        base[b] = store[b]->data;
      }
      args[a] = base[b];
    }
    fp.assign(st.params.size(), 0);
    ip.assign(st.params.size(), 0);
    for (size_t q = 0; q < st.params.size(); ++q) {
      const ir::ScalarValue& v = g.scalars()[st.params[q]];
      fp[q] = is_floating(k.params[q]) ? v.f : static_cast<double>(v.i);
      ip[q] = is_floating(k.params[q]) ? static_cast<int64_t>(v.f) : v.i;
    }
    ++counters().launched;
    obs::LaunchScope observe(
        k, k.kind == ir::Kernel::Kind::pointwise ? k.kept_numel() : shape_numel(k.domain));
    bool done = false;
#if TJ_HAVE_CBLAS
    if (k.kind == ir::Kernel::Kind::matmul) done = run_blas(k, args);
#endif
    if (!done) {
      KernelFn fn = rp->fns[st.kernel];
      int64_t total = k.kind == ir::Kernel::Kind::matmul
                          ? shape_numel(Shape(k.domain.begin(), k.domain.end() - 2))
                          : k.kept_numel();
      int64_t grain = k.kind == ir::Kernel::Kind::pointwise ? k.tile.block : k.tile.rows;
      void* const* argp = args.data();
      const double* fpp = fp.data();
      const int64_t* ipp = ip.data();
      parallel_for(total, grain, [&](int64_t b, int64_t e) { fn(argp, fpp, ipp, b, e); });
    }
    // Release temporaries after their last use.
    for (int32_t b : st.args) {
      const sched::PlanBuffer& pb = p.buffers[b];
      if (pb.kind == sched::PlanBuffer::Kind::temp && pb.last_use == static_cast<int>(s)) {
        store[b].reset();
        base[b] = nullptr;
      }
    }
  }
  std::vector<BufferView> out;
  out.reserve(p.outputs.size());
  for (size_t k = 0; k < p.outputs.size(); ++k) {
    int32_t b = p.outputs[k];
    const ir::Node& n = g.node(g.outputs()[k]);
    BufferView v;
    v.dtype = n.dtype;
    v.shape = n.shape;
    v.strides = contiguous_strides(n.shape);
    v.storage = store[b];
    TJ_CHECK(v.storage != nullptr, "output {} has no buffer", k);
    out.push_back(std::move(v));
  }
  return out;
}

void set_new_plan_hook(std::function<void(const sched::Plan&)> hook) {
  new_plan_hook() = std::move(hook);
}

bool plan_cached(uint64_t graph_hash) { return plan_cache().contains(graph_hash); }

JitStats jit_stats() {
  JitCounters& c = counters();
  JitStats s;
  s.plan_hits = c.plan_hits.load();
  s.plan_misses = c.plan_misses.load();
  s.kernels_compiled = c.compiled.load();
  s.kernels_launched = c.launched.load();
  s.disk_hits = c.disk_hits.load();
  s.mem_hits = c.mem_hits.load();
  s.compile_ms = static_cast<double>(c.compile_us.load()) / 1000.0;
  return s;
}

void reset_jit_stats() {
  JitCounters& c = counters();
  c.plan_hits = 0;
  c.plan_misses = 0;
  c.compiled = 0;
  c.launched = 0;
  c.compile_us = 0;
  c.disk_hits = 0;
  c.mem_hits = 0;
}

}  // namespace tj::jit
