#include "cuda_emulator.h"

#include <dlfcn.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>

#include "jit/codegen/body_printer.h"
#include "jit/cpu/compiler.h"
#include "jit/cuda/printer.h"
#include "scheduler/plan.h"

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

struct Unit {
  void* so = nullptr;
  ~Unit() {
    if (so) dlclose(so);
  }
};

void* aligned_buffer(size_t bytes) {
  void* p = nullptr;
  if (posix_memalign(&p, 256, std::max<size_t>(bytes, 1)) != 0) throw std::bad_alloc();
  return p;
}

}  // namespace

EmulatedRun run_cuda_emulated(const ir::Graph& g, bool force_scalar) {
  EmulatedRun run;
  const sched::Plan p = sched::make_plan(g, gpu_target());
  std::vector<const ir::Kernel*> ks;
  for (const ir::Kernel& k : p.kernels) ks.push_back(&k);
  std::string source = jit::print_cuda_unit(ks, jit::CudaEntries::both) + "\n";
  for (const ir::Kernel& k : p.kernels) {
    jit::CudaLaunchInfo info = jit::cuda_launch_info(k);
    source += wrapper(k, info.name);
    if (!info.scalar_name.empty()) source += wrapper(k, info.scalar_name);
  }
  char dir[] = "/tmp/tj-emu-XXXXXX";
  if (!mkdtemp(dir)) {
    run.error = "mkdtemp failed";
    return run;
  }
  const std::string src = std::string(dir) + "/unit.cpp", so = std::string(dir) + "/unit.so";
  std::ofstream(src) << source;
  const std::string cmd = fmt::format(
      "{} -std=c++17 -O1 -fPIC -shared -w -include {}/tests/cuda_emulation.h {} -o {} > {}/log "
      "2>&1",
      jit::cpu_compiler().command, TJ_SOURCE_DIR, src, so, dir);
  if (std::system(cmd.c_str()) != 0) {
    std::ifstream log(std::string(dir) + "/log");
    run.error =
        std::string(std::istreambuf_iterator<char>(log), {}) + "\n---- source ----\n" + source;
    return run;
  }
  Unit unit;
  unit.so = dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
  std::remove(src.c_str());
  std::remove(so.c_str());
  std::remove((std::string(dir) + "/log").c_str());
  rmdir(dir);
  if (!unit.so) {
    run.error = dlerror();
    return run;
  }
  auto launch = reinterpret_cast<LaunchFn>(dlsym(unit.so, "tj_emu_launch"));

  std::vector<std::shared_ptr<Storage>> store(p.buffers.size());
  std::vector<void*> base(p.buffers.size(), nullptr);
  auto alloc = [&](size_t b) {
    const sched::PlanBuffer& pb = p.buffers[b];
    auto s = std::make_shared<Storage>();
    s->bytes = static_cast<size_t>(pb.numel * dtype_size(pb.dtype));
    s->data = aligned_buffer(s->bytes);
    s->release = [](void* d, size_t, void*) { std::free(d); };
    store[b] = s;
    base[b] = s->data;
  };
  for (size_t b = 0; b < p.buffers.size(); ++b) {
    if (p.buffers[b].kind == sched::PlanBuffer::Kind::input)
      base[b] = g.buffers()[p.buffers[b].slot].data();
    else if (p.buffers[b].kind == sched::PlanBuffer::Kind::output)
      alloc(b);
  }
  for (const sched::Step& st : p.steps) {
    const ir::Kernel& k = p.kernels[st.kernel];
    const jit::CudaLaunchInfo info = jit::cuda_launch_info(k);
    std::vector<void*> args(st.args.size());
    for (size_t a = 0; a < st.args.size(); ++a) {
      if (!base[st.args[a]]) alloc(st.args[a]);
      args[a] = base[st.args[a]];
    }
    ++run.launches;
    if (info.grid == 0) continue;
    std::vector<const ir::ScalarValue*> values;
    for (int32_t q : st.params) values.push_back(&g.scalars()[q]);
    std::vector<uint64_t> params = jit::cuda_param_block(k, values);
    const std::string entry = !info.scalar_name.empty() && (force_scalar || !info.aligned(args))
                                  ? info.scalar_name
                                  : info.name;
    auto fn = reinterpret_cast<EntryFn>(dlsym(unit.so, (entry + "_emu").c_str()));
    std::vector<void*> kp(args.size() + 1);
    for (size_t a = 0; a < args.size(); ++a) kp[a] = &args[a];
    kp[args.size()] = params.data();
    const std::string body = jit::print_cuda_kernel(k, jit::CudaEntries::both);
    const bool sync = body.find("tj_shfl(") != std::string::npos ||
                      body.find("__syncthreads") != std::string::npos;
    launch(fn, kp.data(), static_cast<unsigned>(info.grid), static_cast<unsigned>(info.block),
           sync ? 1 : 0);
  }
  for (size_t i = 0; i < p.outputs.size(); ++i) {
    const ir::Node& n = g.node(g.outputs()[i]);
    BufferView v;
    v.dtype = n.dtype;
    v.shape = n.shape;
    v.strides = contiguous_strides(n.shape);
    v.storage = store[p.outputs[i]];
    run.outputs.push_back(std::move(v));
  }
  return run;
}

}  // namespace tj::testing
