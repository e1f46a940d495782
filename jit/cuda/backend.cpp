#include "jit/cuda/backend.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "cache/kernel_store.h"
#include "ir/check.h"
#include "ir/log.h"
#include "jit/cache_entry.h"
#include "jit/cuda/driver.h"
#include "jit/cuda/gemm.h"
#include "jit/cuda/memory.h"
#include "jit/cuda/nvrtc.h"
#include "jit/cuda/printer.h"
#include "jit/kernel_cache.h"
#include "jit/observe/observe.h"
#include "jit/options.h"

namespace tj::jit::cuda {

namespace {

constexpr const char* kNvrtcOptions = "--std=c++17 -default-device";

struct CudaKernel final : LoadedKernel {
  void* fn = nullptr;  // the entry point (the main one: vector accesses where the kernel has any)
  CudaLaunchInfo info;
  std::shared_ptr<Module> module;
};

int device_arch(int dev) {
  const DeviceInfo& d = device_info(dev);
  return d.cc_major * 10 + d.cc_minor;
}

std::string nvrtc_identity() {
  const int v = nvrtc_version();
  return fmt::format("nvrtc {}.{}", v / 1000, v % 1000 / 10);
}

/// TILEJIT_DUMP_DIR: a kernel's NVRTC unit and its PTX for `arch` (PTX is
/// not what runs, that is CUBIN for the device, but it is its readable
/// form; compiled again only when dumping).
obs::KernelDump dumper(int arch) {
  return [arch](const ir::Kernel& k) {
    std::vector<obs::DumpFile> files{{".cu", print_cuda_unit({&k}), /*source=*/true}};
    try {
      files.push_back({".ptx", nvrtc_compile(files[0].text, arch, k.name, /*ptx=*/true).image});
    } catch (const std::exception& e) {
      log(LogLevel::warn, "TILEJIT_DUMP_DIR: no PTX for {}: {}", k.name, e.what());
    }
    return files;
  };
}

/// One entry point of each of `ks` loaded on `dev`: the main ones, or the
/// scalar variants (of kernels that have one). Each kernel the disk cache
/// has is loaded from the unit it was compiled in (one load per unit); the
/// others are compiled in one NVRTC unit and stored, the unit once and each
/// kernel by its own key.
std::vector<LoadedPtr> load(const std::vector<const ir::Kernel*>& ks, int dev, CudaEntries entries,
                            PrepareStats* st) {
  const int arch = device_arch(dev);
  const cache::KeyFields unit_like{"cuda", fmt::format("sm_{}", arch), nvrtc_identity(),
                                   kNvrtcOptions, ""};
  std::vector<std::shared_ptr<Module>> modules(ks.size());
  std::vector<const ir::Kernel*> found, missing;
  std::vector<cache::KeyFields> missing_fields;
  std::vector<size_t> missing_at;
  std::unordered_map<std::string, std::shared_ptr<Module>> units;  // by unit key
  for (size_t i = 0; i < ks.size(); ++i) {
    cache::KeyFields f =
        kernel_fields(unit_like, cuda_preamble(), print_cuda_kernel(*ks[i], entries));
    if (std::optional<CachedUnit> u = find_kernel(f)) {
      try {
        std::shared_ptr<Module>& m = units[u->key];
        if (!m) m = Module::load(dev, u->binary);
        modules[i] = m;
        found.push_back(ks[i]);
        continue;
      } catch (const Error& err) {
        // An entry the driver rejects (damaged, or from another driver):
        // compile again and replace it.
        log(LogLevel::warn, "cached CUDA kernel {} could not be loaded ({}); compiling it again",
            ks[i]->name, err.what());
      }
    }
    missing.push_back(ks[i]);
    missing_fields.push_back(std::move(f));
    missing_at.push_back(i);
  }
  if (!found.empty()) {
    st->disk_hits += static_cast<int64_t>(found.size());
    obs::kernels_loaded(found, /*from_disk=*/true, 0, dumper(arch));
  }
  if (!missing.empty()) {
    cache::KeyFields unit = unit_like;
    unit.source = print_cuda_unit(missing, entries);
    CompiledImage im = nvrtc_compile(unit.source, arch, missing[0]->name);
    st->compiled += static_cast<int64_t>(missing.size());
    st->compile_ms += im.ms;
    log(LogLevel::info, "compiled {} CUDA kernel(s) for {} in {:.0f} ms: {}", missing.size(),
        im.arch, im.ms, missing[0]->name);
    obs::kernels_loaded(missing, /*from_disk=*/false, im.ms, dumper(arch));
    std::shared_ptr<Module> module = Module::load(dev, im.image);
    store_unit(unit, missing, missing_fields, im.image, im.ms);
    for (size_t i : missing_at) modules[i] = module;
  }
  std::vector<LoadedPtr> out;
  for (size_t i = 0; i < ks.size(); ++i) {
    auto lk = std::make_shared<CudaKernel>();
    lk->info = cuda_launch_info(*ks[i]);
    lk->module = modules[i];
    lk->fn =
        modules[i]->function(entries == CudaEntries::scalar ? lk->info.scalar_name : lk->info.name);
    out.push_back(std::move(lk));
  }
  return out;
}

struct CudaPlan final : PreparedPlan {
  std::vector<LoadedPtr> kernels;               // per plan kernel (CudaKernel)
  std::vector<std::optional<FusedGemm>> fused;  // per step: its epilogue is the next step
  std::vector<int64_t> grids;                   // per plan kernel: blocks for this instance
};

const CudaKernel& kernel_of(const CudaPlan& cp, int32_t k) {
  return static_cast<const CudaKernel&>(*cp.kernels[k]);
}

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int dev)
      : dev_(dev), name_(fmt::format("cuda:{}", dev)), target_(target_of(dev)) {
    // The first kernel will need NVRTC: start loading it now, off this thread.
    warm_nvrtc_async();
  }

  Device device() const override { return Device::cuda(dev_); }
  const std::string& name() const override { return name_; }
  std::string description() const override {
    const DeviceInfo& i = device_info(dev_);
    return fmt::format("{} (sm_{}{}, {} SMs, {:.1f} GiB)", i.name, i.cc_major, i.cc_minor,
                       i.sm_count, static_cast<double>(i.total_bytes) / (1 << 30));
  }
  const sched::Target& target() const override { return target_; }

  std::shared_ptr<const PreparedPlan> prepare(const sched::Plan& p, PrepareStats* st) override {
    std::vector<const ir::Kernel*> ks;
    ks.reserve(p.kernels.size());
    // Dynamic kernels under the name of their layout at these sizes.
    std::vector<ir::Kernel> variants;
    variants.reserve(p.kernels.size());
    for (const ir::Kernel& k : p.kernels) {
      if (!k.has_symbols()) {
        ks.push_back(&k);
        continue;
      }
      variants.push_back(k);
      variants.back().name = cuda_variant_name(k);
      ks.push_back(&variants.back());
    }
    auto cp = std::make_shared<CudaPlan>();
    const int dev = dev_;
    cp->kernels = kernel_cache().get(
        name_, ks,
        [dev](const std::vector<const ir::Kernel*>& todo, PrepareStats* s) {
          return load(todo, dev, CudaEntries::main, s);
        },
        st);
    // A dynamic kernel's grid follows this instance's sizes (computed once
    // per plan, not per launch); the others' is their loaded launch info's.
    cp->grids.reserve(p.kernels.size());
    for (size_t i = 0; i < p.kernels.size(); ++i)
      cp->grids.push_back(p.kernels[i].has_symbols()
                              ? cuda_grid(p.kernels[i])
                              : static_cast<const CudaKernel&>(*cp->kernels[i]).info.grid);
    cp->fused.resize(p.steps.size());
    for (size_t s = 0; s < p.steps.size(); ++s) cp->fused[s] = match_epilogue(p, s);
    return cp;
  }

  std::shared_ptr<void> begin_run() override {
    // The thread's own context is back when the run ends.
    return std::make_shared<ContextGuard>(dev_);
  }

  Launched launch(const StepRun& r) override {
    const CudaPlan& cp = static_cast<const CudaPlan&>(r.prepared);
    const sched::Plan& p = r.plan;
    const size_t s = r.step;
    const sched::Step& st = p.steps[s];
    const ir::Kernel& k = p.kernels[st.kernel];
    const bool tf32 = options().allow_tf32;
    if (cp.fused[s]) {
      // GEMM and its epilogue in one cuBLASLt call, writing the epilogue's
      // output; the GEMM's own output is never allocated.
      const FusedGemm& f = *cp.fused[s];
      const sched::Step& se = p.steps[s + 1];
      std::vector<void*> ptrs(st.args.size(), nullptr);
      for (size_t a = 0; a < st.args.size(); ++a)
        if (static_cast<int32_t>(a) != k.accesses[2].arg) ptrs[a] = r.buffers.at(st.args[a]);
      ptrs[k.accesses[2].arg] = r.buffers.at(se.args[f.out_arg]);
      const void* bias = f.bias_arg >= 0 ? r.buffers.at(se.args[f.bias_arg]) : nullptr;
      obs::LaunchScope fused_launch(k, shape_numel(k.domain));
      if (run_cublaslt(k, ptrs, dev_, tf32, f.epilogue, bias)) return {2, 1};
      fused_launch.cancel();
    }
    std::vector<void*> args(st.args.size());
    for (size_t a = 0; a < st.args.size(); ++a) args[a] = r.buffers.at(st.args[a]);
    const CudaKernel& lk = kernel_of(cp, st.kernel);
    // On CUDA a launch's time in the timeline is the time to queue it.
    obs::LaunchScope observe(
        k, k.kind == ir::Kernel::Kind::pointwise ? k.kept_numel() : shape_numel(k.domain));
    const int64_t calls = lk.info.grid > 0 || k.kind == ir::Kernel::Kind::matmul ? 1 : 0;
    if (k.kind == ir::Kernel::Kind::matmul && run_cublaslt(k, args, dev_, tf32)) return {1, calls};
    const int64_t grid = cp.grids[st.kernel];
    if (grid == 0) return {1, calls};
    std::vector<const ir::ScalarValue*> values;
    values.reserve(st.params.size());
    for (int32_t q : st.params) values.push_back(&r.scalars[q]);
    std::vector<uint64_t> params = cuda_param_block(k, values);
    void* fn = lk.info.aligned(args) ? lk.fn : scalar_entry(k);
    std::vector<void*> kp(args.size() + 1);
    for (size_t a = 0; a < args.size(); ++a) kp[a] = &args[a];
    kp[args.size()] = params.data();
    LaunchDims dims;
    TJ_CHECK(grid < (int64_t{1} << 31), "kernel {} needs {} blocks", k.name, grid);
    dims.grid[0] = static_cast<unsigned>(grid);
    dims.block[0] = static_cast<unsigned>(lk.info.block);
    cuda::launch(dev_, fn, dims, kp.data(), fn == lk.fn ? lk.info.name : lk.info.scalar_name);
    return {1, calls};
  }

  void synchronize() override { cuda::synchronize(dev_); }

  std::shared_ptr<Storage> alloc(size_t bytes) override { return device_alloc(dev_, bytes); }
  std::shared_ptr<Storage> alloc_host(size_t bytes) override { return pinned_alloc(bytes); }
  void copy_from_host(void* dst, const void* src, size_t bytes) override {
    if (bytes) copy_to_device(dev_, dst, src, bytes);
  }
  void copy_to_host(void* dst, const void* src, size_t bytes) override {
    if (bytes) cuda::copy_to_host(dev_, dst, src, bytes);
  }
  MemoryStats memory_stats() const override { return cuda::memory_stats(dev_); }
  void reset_peak_memory_stats() override { reset_peak(dev_); }
  void empty_cache() override { cuda::empty_cache(dev_); }

  void* event_create() override { return cuda::event_create(dev_); }
  void event_destroy(void* ev) override { cuda::event_destroy(dev_, ev); }
  void event_record(void* ev) override { cuda::event_record(dev_, ev); }
  float event_elapsed_ms(void* start, void* end) override {
    return cuda::event_elapsed_ms(dev_, start, end);
  }

 private:
  /// The scalar variant of `k` (for a launch with a misaligned argument),
  /// compiled the first time it is needed.
  void* scalar_entry(const ir::Kernel& plan_kernel) {
    PrepareStats ignored;
    const int dev = dev_;
    std::optional<ir::Kernel> variant;
    if (plan_kernel.has_symbols()) {
      variant = plan_kernel;
      variant->name = cuda_variant_name(plan_kernel);
    }
    const ir::Kernel& k = variant ? *variant : plan_kernel;
    std::vector<LoadedPtr> l = kernel_cache().get(
        name_ + "/scalar", {&k},
        [dev](const std::vector<const ir::Kernel*>& todo, PrepareStats* s) {
          return load(todo, dev, CudaEntries::scalar, s);
        },
        &ignored);
    return static_cast<const CudaKernel&>(*l[0]).fn;
  }

  const int dev_;
  const std::string name_;
  const sched::Target target_;
};

}  // namespace

bool usable(int dev, std::string* why) {
  const Probe& p = probe();
  if (p.device_count == 0) {
    if (why) *why = p.reason;
    return false;
  }
  std::string nv;
  if (!nvrtc_available(&nv)) {
    if (why) *why = fmt::format("found {} CUDA device(s), but {}", p.device_count, nv);
    return false;
  }
  if (dev < 0 || dev >= p.device_count) {
    if (why)
      *why = fmt::format(
          "there is no device cuda:{}: this machine has {} CUDA device(s) (cuda:0 "
          "to cuda:{})",
          dev, p.device_count, p.device_count - 1);
    return false;
  }
  return true;
}

int usable_count() {
  static const int n = probe().device_count > 0 && nvrtc_available() ? probe().device_count : 0;
  return n;
}

sched::Target target_of(int dev) {
  const DeviceInfo& d = device_info(dev);
  sched::Target t;
  t.name = "cuda";
  t.threads = std::max(1, d.sm_count) * 4;  // blocks in flight worth splitting a reduction for
  t.vector_bytes = 16;
  t.l2_bytes = d.l2_bytes > 0 ? d.l2_bytes : int64_t{40} << 20;
  t.dynamic_dims = true;
  return t;
}

Backend& backend(int dev) {
  static std::mutex mu;
  static auto* all = new std::map<int, std::unique_ptr<CudaBackend>>;  // never destroyed
  std::lock_guard lock(mu);
  auto& b = (*all)[dev];
  if (!b) {
    std::string why;
    if (!usable(dev, &why)) fail("cannot use cuda:{}: {}", dev, why);
    b = std::make_unique<CudaBackend>(dev);
  }
  return *b;
}

}  // namespace tj::jit::cuda
