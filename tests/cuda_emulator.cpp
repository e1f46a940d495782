#include "cuda_emulator.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <set>

#include "ir/check.h"
#include "jit/backend.h"
#include "jit/codegen/body_printer.h"
#include "jit/cpu/compiler.h"
#include "jit/cuda/printer.h"
#include "jit/run_plan.h"
#include "scheduler/make_plan.h"

namespace tj::testing {

namespace {

using LaunchFn = void (*)(void (*)(void**), void**, unsigned, unsigned, int);
using EntryFn = void (*)(void**);

/// The scheduler's target for a GPU like an H100 (132 SMs).
sched::Target gpu_target() {
  sched::Target t;
  t.name = "cuda";
  t.threads = 132 * 4;
  t.vector_bytes = 16;
  t.l2_bytes = int64_t{50} << 20;
  t.dynamic_dims = true;
  return t;
}

/// `extern "C" void NAME_emu(void** p)`: unpacks cuLaunchKernel-style
/// parameters into the kernel's typed ones.
std::string wrapper(const ir::Kernel& k, const std::string& entry) {
  std::string args;
  for (size_t i = 0; i < k.args.size(); ++i)
    args += fmt::format("*({}**)p[{}], ", jit::storage_type(k.args[i]), i);
  return fmt::format("extern \"C\" void {0}_emu(void** p) {{ {0}({1}*(const {2}_p*)p[{3}]); }}\n",
                     entry, args, k.name, k.args.size());
}

/// A plan's CUDA unit compiled as C++ against tests/cuda_emulation.h.
struct EmulatedPlan final : jit::PreparedPlan {
  std::shared_ptr<jit::CpuModule> module;
  LaunchFn launch = nullptr;
  struct Entries {
    jit::CudaLaunchInfo info;
    EntryFn main = nullptr, scalar = nullptr;
    bool synchronising = false;  // uses shuffles or barriers: threads run as fibers
  };
  std::vector<Entries> kernels;
};

void* aligned_buffer(size_t bytes) {
  void* p = nullptr;
  if (posix_memalign(&p, 256, std::max<size_t>(bytes, 1)) != 0) throw std::bad_alloc();
  return p;
}

/// The CUDA backend's launch rules on host memory: grid, block size,
/// parameters and the vector/scalar entry choice as jit/cuda/backend.cpp
/// makes them (GEMMs run the generated matmul kernel, never cuBLASLt).
class EmulatorBackend final : public jit::Backend {
 public:
  explicit EmulatorBackend(bool force_scalar) : force_scalar_(force_scalar) {}

  Device device() const override { return Device::cpu(); }
  const std::string& name() const override { return name_; }
  std::string description() const override { return "CUDA emulated on the CPU"; }
  const sched::Target& target() const override { return target_; }

  std::shared_ptr<const jit::PreparedPlan> prepare(const sched::Plan& p,
                                                   jit::PrepareStats* st) override {
    // Dynamic kernels under the name of their layout, as the CUDA backend
    // compiles them (jit::cuda_variant_name).
    std::vector<ir::Kernel> variants = p.kernels;
    for (ir::Kernel& k : variants) k.name = jit::cuda_variant_name(k);
    // Each name once (kernels equal but for the values they read at launch
    // share one, as in the CUDA backend's kernel cache).
    std::vector<const ir::Kernel*> ks;
    std::set<std::string> names;
    for (const ir::Kernel& k : variants)
      if (names.insert(k.name).second) ks.push_back(&k);
    std::string source = jit::print_cuda_unit(ks, jit::CudaEntries::both) + "\n";
    for (const ir::Kernel* kp : ks) {
      const ir::Kernel& k = *kp;
      jit::CudaLaunchInfo info = jit::cuda_launch_info(k);
      source += wrapper(k, info.name);
      if (!info.scalar_name.empty()) source += wrapper(k, info.scalar_name);
    }
    auto ep = std::make_shared<EmulatedPlan>();
    double ms = 0;
    ep->module = jit::CpuModule::compile_with(
        source, p.kernels.empty() ? std::string("emulated") : "emulated_" + p.kernels[0].name,
        {"-std=c++17", "-O1", "-w", "-include", TJ_SOURCE_DIR "/tests/cuda_emulation.h"}, &ms);
    ++st->compiled;
    ep->launch = reinterpret_cast<LaunchFn>(ep->module->symbol("tj_emu_launch"));
    for (const ir::Kernel& k : variants) {
      EmulatedPlan::Entries e;
      e.info = jit::cuda_launch_info(k);
      e.main = reinterpret_cast<EntryFn>(ep->module->symbol(e.info.name + "_emu"));
      if (!e.info.scalar_name.empty())
        e.scalar = reinterpret_cast<EntryFn>(ep->module->symbol(e.info.scalar_name + "_emu"));
      const std::string body = jit::print_cuda_kernel(k, jit::CudaEntries::both);
      e.synchronising = body.find("tj_shfl(") != std::string::npos ||
                        body.find("__syncthreads") != std::string::npos;
      ep->kernels.push_back(e);
    }
    return ep;
  }

  jit::Launched launch(const jit::StepRun& r) override {
    const EmulatedPlan& ep = static_cast<const EmulatedPlan&>(r.prepared);
    const sched::Step& st = r.plan.steps[r.step];
    const ir::Kernel& k = r.plan.kernels[st.kernel];
    const EmulatedPlan::Entries& e = ep.kernels[st.kernel];
    std::vector<void*> args(st.args.size());
    for (size_t a = 0; a < st.args.size(); ++a) args[a] = r.buffers.at(st.args[a]);
    // A dynamic kernel's grid is computed for each instance, as on a GPU.
    const int64_t grid = k.has_symbols() ? jit::cuda_grid(k) : e.info.grid;
    if (grid == 0) return {};
    std::vector<const ir::ScalarValue*> values;
    for (int32_t q : st.params) values.push_back(&r.scalars[q]);
    std::vector<uint64_t> params = jit::cuda_param_block(k, values);
    EntryFn fn = e.scalar && (force_scalar_ || !e.info.aligned(args)) ? e.scalar : e.main;
    std::vector<void*> kp(args.size() + 1);
    for (size_t a = 0; a < args.size(); ++a) kp[a] = &args[a];
    kp[args.size()] = params.data();
    ep.launch(fn, kp.data(), static_cast<unsigned>(grid), static_cast<unsigned>(e.info.block),
              e.synchronising ? 1 : 0);
    return {};
  }

  void synchronize() override {}

  std::shared_ptr<Storage> alloc(size_t bytes) override {
    auto s = std::make_shared<Storage>();
    s->bytes = bytes;
    s->data = aligned_buffer(bytes);
    // Device memory starts as garbage: all ones (NaN, -1, true) shows any
    // output a kernel forgets to write.
    std::memset(s->data, 0xff, bytes);
    s->release = [](void* d, size_t, void*) { std::free(d); };
    return s;
  }
  std::shared_ptr<Storage> alloc_host(size_t bytes) override { return alloc(bytes); }
  void copy_from_host(void* dst, const void* src, size_t bytes) override {
    if (bytes) std::memcpy(dst, src, bytes);
  }
  void copy_to_host(void* dst, const void* src, size_t bytes) override {
    if (bytes) std::memcpy(dst, src, bytes);
  }
  jit::MemoryStats memory_stats() const override { return {}; }
  void reset_peak_memory_stats() override {}
  void empty_cache() override {}
  void* event_create() override { return nullptr; }
  void event_destroy(void*) override {}
  void event_record(void*) override {}
  float event_elapsed_ms(void*, void*) override { return 0; }

 private:
  const bool force_scalar_;
  const std::string name_ = "cuda-emulator";
  const sched::Target target_ = gpu_target();
};

}  // namespace

sched::Target emulated_target() { return gpu_target(); }

EmulatedRun run_cuda_emulated(const ir::Graph& g, bool force_scalar) {
  return run_cuda_emulated(g, sched::make_plan(g, gpu_target()), force_scalar);
}

EmulatedRun run_cuda_emulated(const ir::Graph& g, const sched::Plan& p, bool force_scalar) {
  EmulatedRun run;
  EmulatorBackend be(force_scalar);
  std::shared_ptr<const jit::PreparedPlan> prepared;
  try {
    jit::PrepareStats st;
    prepared = be.prepare(p, &st);
  } catch (const Error& e) {
    run.error = e.what();
    return run;
  }
  int64_t calls = 0;
  run.outputs = jit::run_plan(g, p, *prepared, be, &calls);
  run.launches = static_cast<int>(p.steps.size());
  return run;
}

}  // namespace tj::testing
