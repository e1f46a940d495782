#include "jit/cpu/backend.h"

#include <fmt/format.h>

#include <fmt/ranges.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "cache/kernel_store.h"
#include "ir/check.h"
#include "ir/dtype.h"
#include "ir/log.h"
#include "jit/cache_entry.h"
#include "jit/cpu/allocator.h"
#include "jit/cpu/blas.h"
#include "jit/cpu/compiler.h"
#include "jit/cpu/onednn.h"
#include "jit/cpu/pch.h"
#include "jit/cpu/printer.h"
#include "jit/cpu/thread_pool.h"
#include "jit/kernel_cache.h"
#include "jit/observe/observe.h"

namespace tj::jit::cpu {

namespace {

/// The entry point every CPU kernel has (jit/cpu/printer.h).
using KernelFn = void (*)(void* const*, const double*, const int64_t*, int64_t, int64_t);

struct CpuKernel final : LoadedKernel {
  KernelFn fn = nullptr;
  std::shared_ptr<CpuModule> module;
};

struct CpuPlan final : PreparedPlan {
  std::vector<LoadedPtr> kernels;  // per plan kernel (CpuKernel)
  std::vector<KernelFn> fns;       // the same, unwrapped
  // Per step: the oneDNN matmul that runs it, and the next step's epilogue
  // when that matmul computes it too.
  std::vector<std::shared_ptr<const OnednnGemm>> gemms;
  std::vector<std::shared_ptr<const OnednnConv>> convs;  // oneDNN convolutions, by step
  std::vector<std::optional<FusedGemm>> fused;
};

/// Says once per process that matmul runs tilejit's own kernel because the
/// build found no GEMM library for it.
void warn_slow_matmul(const ir::Kernel& k) {
  static std::once_flag once;
  std::call_once(once, [&] {
    log(LogLevel::warn,
        "matmul ({} {}) runs tilejit's generated GEMM, which is far slower than a tuned "
        "library: {}",
        dtype_name(k.accesses[2].dtype), fmt::join(Shape(k.domain.begin(), k.domain.end()), "x"),
        onednn_version().empty()
            ? "this build found neither oneDNN nor a CBLAS (install libdnnl-dev and build "
              "again; ./dev does both)"
            : "TILEJIT_ONEDNN=0 turned oneDNN off and this build has no CBLAS");
  });
}

cache::KeyFields key_fields(const std::string& source) {
  const CpuCompiler& cc = cpu_compiler();
  return {"cpu", cc.target, cc.identity, cc.flags, source};
}

/// TILEJIT_DUMP_DIR: a kernel's standalone translation unit.
std::vector<obs::DumpFile> dump(const ir::Kernel& k) {
  return {{".cpp", print_cpp_unit({&k}), /*source=*/true}};
}

/// The kernels `ks`: each one the disk cache has is loaded from the unit it
/// was compiled in (one load per unit); the others are compiled together in
/// one shared object and stored, the unit once and each kernel by its own key.
std::vector<LoadedPtr> compile(const std::vector<const ir::Kernel*>& ks, PrepareStats* st) {
  const std::string& preamble = cpp_preamble();
  const cache::KeyFields unit_like = key_fields("");
  std::vector<std::shared_ptr<CpuModule>> modules(ks.size());
  std::vector<cache::KeyFields> fields(ks.size());
  std::vector<const ir::Kernel*> found, missing;
  std::vector<cache::KeyFields> missing_fields;
  std::vector<size_t> missing_at;
  std::unordered_map<std::string, std::shared_ptr<CpuModule>> units;  // by unit key
  for (size_t i = 0; i < ks.size(); ++i) {
    fields[i] = kernel_fields(unit_like, preamble, print_cpp_kernel(*ks[i]));
    if (std::optional<CachedUnit> u = find_kernel(fields[i])) {
      std::shared_ptr<CpuModule>& m = units[u->key];
      if (!m) m = CpuModule::load(u->binary, ks[i]->name);
      if (m && m->has_symbol(ks[i]->name)) {
        modules[i] = m;
        found.push_back(ks[i]);
        continue;
      }
      log(LogLevel::warn, "cached kernel {} could not be loaded; compiling it again", ks[i]->name);
    }
    missing.push_back(ks[i]);
    missing_fields.push_back(fields[i]);
    missing_at.push_back(i);
  }
  if (!found.empty()) {
    st->disk_hits += static_cast<int64_t>(found.size());
    obs::kernels_loaded(found, /*from_disk=*/true, 0, dump);
  }
  if (!missing.empty()) {
    const std::string source = print_cpp_unit(missing);
    double ms = 0;
    // The same unit, with the preamble precompiled once it is (jit/cpu/pch.h).
    const std::string pch = precompiled_preamble(preamble);
    std::shared_ptr<CpuModule> module = CpuModule::compile(
        pch.empty() ? source : "#include \"" + pch + "\"\n" + source.substr(preamble.size()),
        missing[0]->name, &ms);
    st->compiled += static_cast<int64_t>(missing.size());
    st->compile_ms += ms;
    log(LogLevel::info, "compiled {} kernel(s) in {:.0f} ms: {}", missing.size(), ms,
        missing[0]->name);
    obs::kernels_loaded(missing, /*from_disk=*/false, ms, dump);
    store_unit(key_fields(source), missing, missing_fields, module->binary(), ms);
    for (size_t i : missing_at) modules[i] = module;
  }
  std::vector<LoadedPtr> out;
  out.reserve(ks.size());
  for (size_t i = 0; i < ks.size(); ++i) {
    auto lk = std::make_shared<CpuKernel>();
    lk->fn = reinterpret_cast<KernelFn>(modules[i]->symbol(ks[i]->name));
    lk->module = std::move(modules[i]);
    out.push_back(std::move(lk));
  }
  return out;
}

std::string processor_name() {
  std::ifstream f("/proc/cpuinfo");
  for (std::string line; std::getline(f, line);) {
    if (line.rfind("model name", 0) != 0) continue;
    size_t colon = line.find(':');
    if (colon != std::string::npos && colon + 2 <= line.size()) return line.substr(colon + 2);
  }
  return "CPU";
}

class CpuBackend final : public Backend {
 public:
  CpuBackend() : target_(host_target()) {}

  Device device() const override { return Device::cpu(); }
  const std::string& name() const override { return name_; }
  std::string description() const override {
    return fmt::format("{} ({} threads)", processor_name(), target_.threads);
  }
  const sched::Target& target() const override { return target_; }

  std::shared_ptr<const PreparedPlan> prepare(const sched::Plan& p, PrepareStats* st) override {
    auto cp = std::make_shared<CpuPlan>();
    // oneDNN first: a kernel that only runs as a oneDNN call (a GEMM, or the
    // epilogue it computes) is never compiled.
    cp->gemms.resize(p.steps.size());
    cp->convs.resize(p.steps.size());
    cp->fused.resize(p.steps.size());
    std::vector<bool> needed(p.kernels.size(), false);
    const bool onednn = options().onednn;
    for (size_t s = 0; s < p.steps.size(); ++s) {
      const ir::Kernel& k = p.kernels[p.steps[s].kernel];
      if (k.kind == ir::Kernel::Kind::matmul && onednn) {
        if (std::optional<FusedGemm> f = match_epilogue(p, s, onednn_epilogue_rules())) {
          if ((cp->gemms[s] = onednn_gemm(k, f->epilogue))) {
            cp->fused[s] = f;
            ++s;  // the epilogue step runs inside the call
            continue;
          }
        }
        if ((cp->gemms[s] = onednn_gemm(k, Epilogue::none))) continue;
      }
      if (k.kind == ir::Kernel::Kind::conv && onednn && (cp->convs[s] = onednn_conv(k))) continue;
      needed[p.steps[s].kernel] = true;
    }
    std::vector<const ir::Kernel*> ks;
    for (size_t i = 0; i < p.kernels.size(); ++i)
      if (needed[i]) ks.push_back(&p.kernels[i]);
    std::vector<LoadedPtr> loaded = kernel_cache().get(name_, ks, compile, st);
    cp->kernels.resize(p.kernels.size());
    cp->fns.resize(p.kernels.size(), nullptr);
    for (size_t i = 0, j = 0; i < p.kernels.size(); ++i) {
      if (!needed[i]) continue;
      cp->kernels[i] = loaded[j++];
      cp->fns[i] = static_cast<const CpuKernel&>(*cp->kernels[i]).fn;
    }
    return cp;
  }

  Launched launch(const StepRun& r) override {
    const sched::Step& st = r.plan.steps[r.step];
    const ir::Kernel& k = r.plan.kernels[st.kernel];
    thread_local std::vector<void*> args;
    thread_local std::vector<double> fp;
    thread_local std::vector<int64_t> ip;
    args.resize(st.args.size());
    for (size_t a = 0; a < st.args.size(); ++a) args[a] = r.buffers.at(st.args[a]);
    fp.resize(st.params.size());
    ip.resize(st.params.size());
    for (size_t q = 0; q < st.params.size(); ++q) {
      const ir::ScalarValue& v = r.scalars[st.params[q]];
      fp[q] = is_floating(k.params[q]) ? v.f : static_cast<double>(v.i);
      ip[q] = is_floating(k.params[q]) ? static_cast<int64_t>(v.f) : v.i;
    }
    // The values a dynamic kernel reads at launch (ir::for_each_symbol).
    if (k.has_symbols()) ir::for_each_symbol(k, [&](int64_t v) { ip.push_back(v); });
    const CpuPlan& cp = static_cast<const CpuPlan&>(r.prepared);
    obs::LaunchScope observe(
        k, k.kind == ir::Kernel::Kind::pointwise ? k.kept_numel() : shape_numel(k.domain));
    if (k.kind == ir::Kernel::Kind::conv) {
      if (const OnednnConv* c = cp.convs[r.step].get()) {
        run_onednn(*c, k, args);
        return {};
      }
    }
    if (k.kind == ir::Kernel::Kind::matmul) {
      if (const OnednnGemm* g = cp.gemms[r.step].get()) {
        const std::optional<FusedGemm>& f = cp.fused[r.step];
        if (!f) {
          run_onednn(*g, k, args, nullptr);
          return {};
        }
        // The GEMM and its epilogue in one call, writing the epilogue's
        // output; the GEMM's own output is never allocated.
        const sched::Step& se = r.plan.steps[r.step + 1];
        args[k.accesses[2].arg] = r.buffers.at(se.args[f->out_arg]);
        const void* bias = f->bias_arg >= 0 ? r.buffers.at(se.args[f->bias_arg]) : nullptr;
        std::shared_ptr<Storage> rounded;  // an f32 bias the epilogue rounds to C's dtype
        if (bias && f->bias_dtype != k.accesses[2].dtype) {
          const DType t = k.accesses[2].dtype;
          const int64_t n = k.domain[k.domain.size() - 2];
          rounded = host_alloc(static_cast<size_t>(n * dtype_size(t)));
          for (int64_t i = 0; i < n; ++i)
            store_double(rounded->data, i, t, load_as_double(bias, i, f->bias_dtype));
          bias = rounded->data;
        }
        run_onednn(*g, k, args, bias);
        return {2, 1};
      }
      if (run_blas(k, args)) return {};
      if ((onednn_version().empty() || !options().onednn) && !have_blas()) warn_slow_matmul(k);
    }
    const KernelFn fn = cp.fns[st.kernel];
    TJ_CHECK(fn != nullptr, "kernel {} was left to oneDNN but oneDNN did not run it", k.name);
    const int64_t total = k.kind == ir::Kernel::Kind::matmul
                              ? shape_numel(Shape(k.domain.begin(), k.domain.end() - 2))
                          : k.kind == ir::Kernel::Kind::conv
                              ? k.domain[0] * k.domain[1] * k.domain[2]
                              : k.kept_numel();
    const int64_t grain = k.kind == ir::Kernel::Kind::pointwise ? k.tile.block : k.tile.rows;
    void* const* argp = args.data();
    const double* fpp = fp.data();
    const int64_t* ipp = ip.data();
    parallel_for(total, grain, [&](int64_t b, int64_t e) { fn(argp, fpp, ipp, b, e); });
    return {};
  }

  void synchronize() override {}

  std::shared_ptr<Storage> alloc(size_t bytes) override { return host_alloc(bytes); }
  std::shared_ptr<Storage> alloc_host(size_t bytes) override { return host_alloc(bytes); }
  void copy_from_host(void* dst, const void* src, size_t bytes) override {
    if (bytes) std::memcpy(dst, src, bytes);
  }
  void copy_to_host(void* dst, const void* src, size_t bytes) override {
    if (bytes) std::memcpy(dst, src, bytes);
  }
  MemoryStats memory_stats() const override {
    const HostAllocatorStats h = host_allocator_stats();
    MemoryStats m;
    m.allocated_bytes = static_cast<size_t>(h.bytes_in_use);
    m.reserved_bytes = static_cast<size_t>(h.bytes_in_use + h.bytes_cached);
    m.peak_allocated_bytes = static_cast<size_t>(h.peak_bytes_in_use);
    m.allocations = h.allocs;
    m.cache_hits = h.cache_hits;
    m.device_mallocs = h.allocs - h.cache_hits;
    return m;
  }
  void reset_peak_memory_stats() override { host_allocator_reset_peak(); }
  void empty_cache() override { host_allocator_trim(); }

  // Work has finished when launch() returns: an event is a time stamp.
  void* event_create() override { return new std::chrono::steady_clock::time_point(); }
  void event_destroy(void* ev) override {
    delete static_cast<std::chrono::steady_clock::time_point*>(ev);
  }
  void event_record(void* ev) override {
    *static_cast<std::chrono::steady_clock::time_point*>(ev) = std::chrono::steady_clock::now();
  }
  float event_elapsed_ms(void* start, void* end) override {
    using TP = std::chrono::steady_clock::time_point;
    return std::chrono::duration<float, std::milli>(*static_cast<TP*>(end) -
                                                    *static_cast<TP*>(start))
        .count();
  }

 private:
  const std::string name_ = "cpu";
  const sched::Target target_;
};

}  // namespace

sched::Target host_target() {
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
  t.dynamic_dims = true;
  return t;
}

Backend& backend() {
  static CpuBackend* b = new CpuBackend;  // never destroyed: tensors may be freed at exit
  return *b;
}

}  // namespace tj::jit::cpu
