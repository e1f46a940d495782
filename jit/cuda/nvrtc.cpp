#include "jit/cuda/nvrtc.h"

#include <dlfcn.h>
#include <fmt/format.h>

#include <chrono>
#include <mutex>
#include <regex>
#include <thread>

#include "ir/check.h"
#include "jit/cuda/driver.h"
#include "jit/options.h"
#include "tilejit_build_config.h"

#if TJ_HAVE_CUDA
#include <nvrtc.h>
#endif

namespace tj::jit::cuda {

namespace {

#if TJ_HAVE_CUDA
struct Nvrtc {
  void* lib = nullptr;
  std::string reason;
  std::string path;
  decltype(&nvrtcGetErrorString) GetErrorString = nullptr;
  decltype(&nvrtcVersion) Version = nullptr;
  decltype(&nvrtcGetNumSupportedArchs) GetNumSupportedArchs = nullptr;
  decltype(&nvrtcGetSupportedArchs) GetSupportedArchs = nullptr;
  decltype(&nvrtcCreateProgram) CreateProgram = nullptr;
  decltype(&nvrtcDestroyProgram) DestroyProgram = nullptr;
  decltype(&nvrtcCompileProgram) CompileProgram = nullptr;
  decltype(&nvrtcGetProgramLogSize) GetProgramLogSize = nullptr;
  decltype(&nvrtcGetProgramLog) GetProgramLog = nullptr;
  decltype(&nvrtcGetCUBINSize) GetCUBINSize = nullptr;
  decltype(&nvrtcGetCUBIN) GetCUBIN = nullptr;
  decltype(&nvrtcGetPTXSize) GetPTXSize = nullptr;
  decltype(&nvrtcGetPTX) GetPTX = nullptr;
  int version = 0;
  std::vector<int> archs;
};

/// Candidate file names, most specific first.
std::vector<std::string> candidates() {
  std::vector<std::string> out;
  auto add_home = [&](const std::string& home) {
    if (home.empty()) return;
    for (const char* dir : {"/lib64/", "/lib/", "/targets/x86_64-linux/lib/"})
      for (const char* so : {"libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12"})
        out.push_back(home + dir + so);
  };
  add_home(options().cuda_home);
  add_home(TJ_CUDA_HOME);
  add_home("/usr/local/cuda");
  for (const char* so : {"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"}) out.push_back(so);
  return out;
}

Nvrtc load() {
  Nvrtc n;
  // The driver runs what NVRTC emits only if NVRTC's major version is not
  // newer than the driver's (CUDA's minor-version compatibility): skip a
  // newer NVRTC when an older one is also installed.
  const Probe& driver = probe();
  const int driver_major = driver.driver_loaded ? driver.driver_version / 1000 : 0;
  std::string too_new;
  for (const std::string& c : candidates()) {
    void* lib = dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib) continue;
    if (driver_major > 0) {
      using VersionFn = int (*)(int*, int*);
      auto version = reinterpret_cast<VersionFn>(dlsym(lib, "nvrtcVersion"));
      int major = 0, minor = 0;
      if (version && version(&major, &minor) == 0 && major > driver_major) {
        too_new = fmt::format("{} is NVRTC {}.{}, newer than the CUDA driver ({}.{})", c, major,
                              minor, driver_major, driver.driver_version % 1000 / 10);
        dlclose(lib);
        continue;
      }
    }
    n.lib = lib;
    n.path = c;
    break;
  }
  if (!n.lib) {
    n.reason = !too_new.empty()
                   ? too_new +
                         "; install a toolkit that matches the driver, or update the "
                         "driver, and set TILEJIT_CUDA_HOME to it"
                   : "NVRTC (libnvrtc.so) was not found; set TILEJIT_CUDA_HOME to the CUDA "
                     "toolkit's directory";
    return n;
  }
  bool ok = true;
  auto sym = [&](auto& fn, const char* name) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(n.lib, name));
    ok = ok && fn != nullptr;
  };
  sym(n.GetErrorString, "nvrtcGetErrorString");
  sym(n.Version, "nvrtcVersion");
  sym(n.GetNumSupportedArchs, "nvrtcGetNumSupportedArchs");
  sym(n.GetSupportedArchs, "nvrtcGetSupportedArchs");
  sym(n.CreateProgram, "nvrtcCreateProgram");
  sym(n.DestroyProgram, "nvrtcDestroyProgram");
  sym(n.CompileProgram, "nvrtcCompileProgram");
  sym(n.GetProgramLogSize, "nvrtcGetProgramLogSize");
  sym(n.GetProgramLog, "nvrtcGetProgramLog");
  sym(n.GetCUBINSize, "nvrtcGetCUBINSize");
  sym(n.GetCUBIN, "nvrtcGetCUBIN");
  sym(n.GetPTXSize, "nvrtcGetPTXSize");
  sym(n.GetPTX, "nvrtcGetPTX");
  if (!ok) {
    n.reason =
        fmt::format("{} lacks functions tilejit needs (NVRTC 12 or newer is required)", n.path);
    n.lib = nullptr;
    return n;
  }
  int major = 0, minor = 0;
  n.Version(&major, &minor);
  n.version = major * 1000 + minor * 10;
  int count = 0;
  n.GetNumSupportedArchs(&count);
  n.archs.resize(static_cast<size_t>(count));
  if (count > 0) n.GetSupportedArchs(n.archs.data());
  return n;
}

const Nvrtc& nvrtc() {
  static const Nvrtc* n = new Nvrtc(load());  // never destroyed: used until exit
  return *n;
}
#endif

}  // namespace

bool nvrtc_available(std::string* reason) {
#if TJ_HAVE_CUDA
  const auto& n = nvrtc();
  if (!n.lib && reason) *reason = n.reason;
  return n.lib != nullptr;
#else
  if (reason) *reason = "this build of tilejit was made without the CUDA toolkit's headers";
  return false;
#endif
}

int nvrtc_version() {
#if TJ_HAVE_CUDA
  return nvrtc().version;
#else
  return 0;
#endif
}

const std::vector<int>& nvrtc_archs() {
#if TJ_HAVE_CUDA
  return nvrtc().archs;
#else
  static const std::vector<int> none;
  return none;
#endif
}

CompiledImage nvrtc_compile(const std::string& source, int arch, const std::string& what,
                            bool ptx) {
  CompiledImage r;
#if TJ_HAVE_CUDA
  std::string why;
  if (!nvrtc_available(&why)) fail("cannot compile CUDA kernel {}: {}", what, why);
  const Nvrtc& n = nvrtc();
  // CUBIN for the device's architecture, or for the newest one NVRTC knows
  // of the same major version (binary compatible: sm_80 code runs on
  // sm_86); for a device of a newer major version than NVRTC knows, PTX for
  // the newest it knows (the driver compiles it for the device).
  int target = 0, same_major = 0;
  for (int a : n.archs) {
    if (a <= arch) target = std::max(target, a);
    if (a <= arch && a / 10 == arch / 10) same_major = std::max(same_major, a);
  }
  if (target == 0) {
    fail("cannot compile CUDA kernel {}: NVRTC {}.{} supports no architecture at or below sm_{}",
         what, n.version / 1000, n.version % 1000 / 10, arch);
  }
  if (same_major) target = same_major;
  r.ptx = same_major == 0 || ptx;
  r.arch = fmt::format("{}_{}", r.ptx ? "compute" : "sm", target);
  const std::string arch_opt = "--gpu-architecture=" + r.arch;
  const char* opts[] = {arch_opt.c_str(), "--std=c++17", "-default-device", "-Xptxas=-v"};
  const int nopts = r.ptx ? 3 : 4;  // ptxas runs only for CUBIN
  auto t0 = std::chrono::steady_clock::now();
  nvrtcProgram prog = nullptr;
  if (nvrtcResult e = n.CreateProgram(&prog, source.c_str(), "tilejit.cu", 0, nullptr, nullptr);
      e != NVRTC_SUCCESS)
    fail("NVRTC could not create a program for {}: {}", what, n.GetErrorString(e));
  struct Destroy {
    const Nvrtc& n;
    nvrtcProgram* p;
    ~Destroy() { n.DestroyProgram(p); }
  } destroy{n, &prog};
  nvrtcResult rc = n.CompileProgram(prog, nopts, opts);
  size_t log_size = 0;
  n.GetProgramLogSize(prog, &log_size);
  r.log.resize(log_size);
  if (log_size) n.GetProgramLog(prog, r.log.data());
  while (!r.log.empty() && (r.log.back() == '\0' || r.log.back() == '\n')) r.log.pop_back();
  if (rc != NVRTC_SUCCESS) {
    // A generated kernel that does not compile is a bug in tilejit.
    fail("internal error (a bug in tilejit): NVRTC failed to compile {} for {}: {}\n{}", what,
         r.arch, n.GetErrorString(rc), r.log.substr(0, 4000));
  }
  size_t size = 0;
  if (r.ptx) {
    n.GetPTXSize(prog, &size);
    r.image.resize(size);
    n.GetPTX(prog, r.image.data());
  } else {
    n.GetCUBINSize(prog, &size);
    r.image.resize(size);
    n.GetCUBIN(prog, r.image.data());
  }
  r.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
#else
  (void)source;
  (void)arch;
  (void)ptx;
  fail("cannot compile CUDA kernel {}: this build of tilejit was made without the CUDA toolkit",
       what);
#endif
  return r;
}

std::vector<ResourceUsage> parse_resource_usage(const std::string& log) {
  std::vector<ResourceUsage> out;
  static const std::regex entry(R"(Compiling entry function '([^']+)')");
  static const std::regex frame(
      R"((\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads)");
  static const std::regex used(R"(Used (\d+) registers)");
  static const std::regex smem(R"((\d+) bytes smem)");
  size_t pos = 0;
  while (pos < log.size()) {
    size_t end = log.find('\n', pos);
    if (end == std::string::npos) end = log.size();
    std::string line = log.substr(pos, end - pos);
    pos = end + 1;
    std::smatch m;
    if (std::regex_search(line, m, entry)) {
      out.push_back({});
      out.back().function = m[1];
      continue;
    }
    if (out.empty()) continue;
    if (std::regex_search(line, m, frame)) {
      out.back().stack_bytes = std::stoi(m[1]);
      out.back().spill_store_bytes = std::stoi(m[2]);
      out.back().spill_load_bytes = std::stoi(m[3]);
    }
    if (std::regex_search(line, m, used)) out.back().registers = std::stoi(m[1]);
    if (std::regex_search(line, m, smem)) out.back().shared_bytes = std::stoi(m[1]);
  }
  return out;
}

void warm_nvrtc_async() {
  // Joined at exit, so a short program never ends while NVRTC is running.
  struct Warmer {
    std::thread thread;
    ~Warmer() {
      if (thread.joinable()) thread.join();
    }
  };
  static Warmer warmer;
  static std::once_flag once;
  std::call_once(once, [] {
    warmer.thread = std::thread([] {
      try {
        if (nvrtc_available())
          nvrtc_compile("extern \"C\" __global__ void tj_warm(float* a) { a[threadIdx.x] = 1; }",
                        nvrtc_archs().empty() ? 80 : nvrtc_archs().back(), "tj_warm");
      } catch (...) {
        // Warming is an optimisation; a real compile reports any problem.
      }
    });
  });
}

}  // namespace tj::jit::cuda
