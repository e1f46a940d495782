#include "jit/cuda/backend.h"

#include <fmt/format.h>

#include <cstring>
#include <map>
#include <mutex>
#include <optional>

#include "cache/kernel_store.h"
#include "ir/check.h"
#include "jit/cache_entry.h"
#include "jit/cuda/cublaslt.h"
#include "jit/cuda/driver.h"
#include "jit/cuda/memory.h"
#include "jit/cuda/printer.h"
#include "jit/cuda/nvrtc.h"
#include "jit/observe/observe.h"
#include "jit/options.h"
#include "ir/log.h"

namespace tj::jit {

namespace {

constexpr const char* kNvrtcOptions = "--std=c++17 -default-device";

struct LoadedCuda {
  void* fn = nullptr;  // the main entry (vector accesses where the kernel has any)
  CudaLaunchInfo info;
  std::shared_ptr<cuda::Module> module;
};

int device_arch(int dev) {
  const cuda::DeviceInfo& d = cuda::device_info(dev);
  return d.cc_major * 10 + d.cc_minor;
}

std::string nvrtc_identity() {
  const int v = cuda::nvrtc_version();
  return fmt::format("nvrtc {}.{}", v / 1000, v % 1000 / 10);
}

/// Compiled kernels by (device, kernel name). The name hashes the whole
/// Kernel IR, so equal names are equal kernels.
class CudaKernelCache {
 public:
  std::vector<LoadedCuda> get(const std::vector<ir::Kernel>& kernels, int dev,
                              CudaPrepareStats* st) {
    // One compile at a time per process: NVRTC runs use every core anyway,
    // and a second thread asking for the same kernels waits for them here.
    std::lock_guard lock(mu_);
    std::vector<size_t> missing;
    for (size_t i = 0; i < kernels.size(); ++i) {
      if (ready_.count({dev, kernels[i].name})) {
        ++st->mem_hits;
        obs::kernel_mem_hit(kernels[i]);
        continue;
      }
      bool dup = false;
      for (size_t j : missing) dup = dup || kernels[j].name == kernels[i].name;
      if (!dup) missing.push_back(i);
    }
    if (!missing.empty()) load(kernels, missing, dev, st);
    std::vector<LoadedCuda> out;
    out.reserve(kernels.size());
    for (const ir::Kernel& k : kernels) out.push_back(ready_.at({dev, k.name}));
    return out;
  }

  /// The scalar variant of `k` (for a launch with a misaligned argument),
  /// compiled the first time it is needed.
  void* scalar_entry(const ir::Kernel& k, int dev) {
    std::lock_guard lock(mu_);
    const std::pair<int, std::string> key{dev, k.name + "_s"};
    if (auto it = scalar_.find(key); it != scalar_.end()) return it->second.first;
    CudaPrepareStats ignored;
    std::shared_ptr<cuda::Module> m = compile({&k}, dev, CudaEntries::scalar, &ignored);
    void* fn = m->function(key.second);
    scalar_[key] = {fn, m};
    return fn;
  }

 private:
  void load(const std::vector<ir::Kernel>& kernels, const std::vector<size_t>& missing, int dev,
            CudaPrepareStats* st) {
    std::vector<const ir::Kernel*> ks;
    for (size_t i : missing) ks.push_back(&kernels[i]);
    std::shared_ptr<cuda::Module> module = compile(ks, dev, CudaEntries::main, st);
    for (const ir::Kernel* k : ks) {
      LoadedCuda lk;
      lk.info = cuda_launch_info(*k);
      lk.module = module;
      lk.fn = module->function(lk.info.name);
      ready_[{dev, k->name}] = std::move(lk);
    }
  }

  /// One NVRTC unit for `ks` (or its image from the disk cache), loaded.
  std::shared_ptr<cuda::Module> compile(const std::vector<const ir::Kernel*>& ks, int dev,
                                        CudaEntries entries, CudaPrepareStats* st) {
    const std::string source = print_cuda_unit(ks, entries);
    const int arch = device_arch(dev);
    cache::KeyFields f{"cuda", fmt::format("sm_{}", arch), nvrtc_identity(), kNvrtcOptions, source};
    cache::Store& store = cache::Store::global();
    if (store.effective_mode() != cache::Mode::off) {
      if (std::optional<cache::Entry> e = store.get(cache::make_key(f), f)) {
        try {
          std::shared_ptr<cuda::Module> m = cuda::Module::load(dev, e->binary);
          st->disk_hits += static_cast<int64_t>(ks.size());
          obs::kernels_loaded(ks, /*from_disk=*/true, 0, arch);
          return m;
        } catch (const Error& err) {
          // An entry the driver rejects (damaged, or from another driver):
          // compile again and replace it.
          log(LogLevel::warn, "cached CUDA kernel {} could not be loaded ({}); compiling it again",
              ks[0]->name, err.what());
        }
      }
    }
    cuda::CompiledImage im = cuda::nvrtc_compile(source, arch, ks[0]->name);
    st->compiled += static_cast<int64_t>(ks.size());
    st->compile_ms += im.ms;
    log(LogLevel::info, "compiled {} CUDA kernel(s) for {} in {:.0f} ms: {}", ks.size(), im.arch,
        im.ms, ks[0]->name);
    obs::kernels_loaded(ks, /*from_disk=*/false, im.ms, arch);
    std::shared_ptr<cuda::Module> module = cuda::Module::load(dev, im.image);
    store_unit(f, ks, im.image, im.ms);
    return module;
  }

  std::mutex mu_;
  std::map<std::pair<int, std::string>, LoadedCuda> ready_;
  std::map<std::pair<int, std::string>, std::pair<void*, std::shared_ptr<cuda::Module>>> scalar_;
};

CudaKernelCache& kernel_cache() {
  static CudaKernelCache* c = new CudaKernelCache;
  return *c;
}

/// cuBLASLt for a matmul kernel, when it can take its dtypes and layout.
bool run_cublaslt(const ir::Kernel& k, const std::vector<void*>& ptrs, int dev,
                  cuda::Epilogue epilogue = cuda::Epilogue::none, const void* bias = nullptr) {
  const ir::Access& A = k.accesses[0];
  const ir::Access& B = k.accesses[1];
  const ir::Access& C = k.accesses[2];
  const DType t = C.dtype;
  if (!(A.dtype == t && B.dtype == t &&
        (t == DType::f32 || t == DType::f16 || t == DType::bf16 || t == DType::f64)))
    return false;
  const size_t n = k.domain.size();
  if (C.strides[n - 2] != 1 && k.domain[n - 2] > 1) return false;
  const int64_t es = dtype_size(t);
  cuda::Gemm g;
  g.dev = dev;
  g.a_dtype = g.b_dtype = g.c_dtype = t;
  g.m = k.domain[n - 3];
  g.n = k.domain[n - 2];
  g.k = k.domain[n - 1];
  g.a_row_stride = A.strides[n - 3];
  g.a_col_stride = A.strides[n - 1];
  g.b_row_stride = B.strides[n - 1];
  g.b_col_stride = B.strides[n - 2];
  g.c_row_stride = C.strides[n - 3];
  g.allow_tf32 = options().allow_tf32;
  g.epilogue = epilogue;
  g.bias = bias;
  // Batch dims: one uniform stride per operand when they collapse, else one
  // call per batch index.
  const size_t nb = n - 3;
  auto collapsible = [&](const ir::Access& x) {
    for (size_t d = 0; d + 1 < nb; ++d)
      if (k.domain[d] > 1 && x.strides[d] != x.strides[d + 1] * k.domain[d + 1]) return false;
    return true;
  };
  const int64_t batch = shape_numel(Shape(k.domain.begin(), k.domain.begin() + nb));
  auto at = [&](const ir::Access& x, int64_t off) {
    return static_cast<char*>(ptrs[x.arg]) + (x.offset + off) * es;
  };
  if (nb == 0 || (collapsible(A) && collapsible(B) && collapsible(C))) {
    g.batch = batch;
    g.a_batch_stride = nb ? A.strides[nb - 1] : 0;
    g.b_batch_stride = nb ? B.strides[nb - 1] : 0;
    g.c_batch_stride = nb ? C.strides[nb - 1] : 0;
    g.a = at(A, 0);
    g.b = at(B, 0);
    g.c = at(C, 0);
    return cuda::cublaslt_gemm(g);
  }
  g.batch = 1;
  for (int64_t b = 0; b < batch; ++b) {
    int64_t t2 = b, oa = 0, ob = 0, oc = 0;
    for (size_t d = nb; d-- > 0;) {
      const int64_t i = t2 % k.domain[d];
      t2 /= k.domain[d];
      oa += i * A.strides[d];
      ob += i * B.strides[d];
      oc += i * C.strides[d];
    }
    g.a = at(A, oa);
    g.b = at(B, ob);
    g.c = at(C, oc);
    // A refusal after some batches were queued is fine too: the generated
    // kernel that runs instead rewrites all of C, after them on the stream.
    if (!cuda::cublaslt_gemm(g)) return false;
  }
  return true;
}

/// A GEMM whose pointwise epilogue cuBLASLt computes in the same call.
struct FusedGemm {
  cuda::Epilogue epilogue = cuda::Epilogue::none;
  int32_t bias_arg = -1;  // argument of the epilogue kernel holding the bias
  int32_t out_arg = -1;   // argument of the epilogue kernel it stores to
};

/// Whether step `s + 1` is an epilogue cuBLASLt can apply to the GEMM of
/// step `s`: the GEMM's output is a temporary that only that step reads, and
/// the step computes act(C + bias) or act(C) with act in {none, relu,
/// gelu-tanh} (cuBLASLt's GELU is the tanh form), a bias broadcast over
/// rows, stored densely in C's dtype.
std::optional<FusedGemm> match_epilogue(const sched::Plan& p, size_t s) {
  if (s + 1 >= p.steps.size()) return std::nullopt;
  const sched::Step& sm = p.steps[s];
  const sched::Step& se = p.steps[s + 1];
  const ir::Kernel& mm = p.kernels[sm.kernel];
  const ir::Kernel& ep = p.kernels[se.kernel];
  if (mm.kind != ir::Kernel::Kind::matmul || ep.kind != ir::Kernel::Kind::pointwise)
    return std::nullopt;
  if (mm.domain.size() != 3) return std::nullopt;  // batched GEMMs keep their epilogue kernel
  const int64_t M = mm.domain[0], N = mm.domain[1];
  const ir::Access& C = mm.accesses[2];
  const DType t = C.dtype;
  if (!(t == DType::f32 || t == DType::f16 || t == DType::bf16)) return std::nullopt;
  if (C.offset != 0 || C.strides[0] != N || C.strides[1] != 1) return std::nullopt;
  const int32_t cbuf = sm.args[C.arg];
  const sched::PlanBuffer& cb = p.buffers[cbuf];
  if (cb.kind != sched::PlanBuffer::Kind::temp || cb.last_use != static_cast<int>(s + 1))
    return std::nullopt;
  // The epilogue's domain is [M, N], or [M * N] when nothing broadcasts.
  const bool flat = ep.domain == Shape{M * N};
  if (ep.domain != Shape{M, N} && !flat) return std::nullopt;
  auto dense = [&](const ir::Access& a) {
    return a.offset == 0 && a.strides == (flat ? Strides{1} : Strides{N, 1}) && a.dtype == t;
  };
  FusedGemm f;
  int32_t c_val = -1, bias_val = -1, sum_val = -1, act_val = -1;
  for (size_t i = 0; i < ep.body.size(); ++i) {
    const ir::KInstr& in = ep.body[i];
    const auto me = static_cast<int32_t>(i);
    switch (in.kop) {
      case ir::KOp::Load: {
        const ir::Access& a = ep.accesses[in.access];
        if (se.args[a.arg] == cbuf && dense(a) && c_val < 0) {
          c_val = me;
        } else if (se.args[a.arg] != cbuf && !flat && a.offset == 0 && a.strides == Strides{0, 1} &&
                   a.dtype == t && bias_val < 0) {
          bias_val = me;
          f.bias_arg = a.arg;
        } else {
          return std::nullopt;
        }
        break;
      }
      case ir::KOp::Binary:
        if (in.op != ir::Op::Add || sum_val >= 0 || c_val < 0 || bias_val < 0 ||
            !((in.a == c_val && in.b == bias_val) || (in.a == bias_val && in.b == c_val)))
          return std::nullopt;
        sum_val = me;
        break;
      case ir::KOp::Unary:
        if ((in.op != ir::Op::Relu && in.op != ir::Op::GeluTanh) || act_val >= 0 ||
            in.a != (sum_val >= 0 ? sum_val : c_val))
          return std::nullopt;
        act_val = me;
        f.epilogue = in.op == ir::Op::Relu ? cuda::Epilogue::relu : cuda::Epilogue::gelu;
        break;
      case ir::KOp::Store: {
        const ir::Access& a = ep.accesses[in.access];
        const int32_t last = act_val >= 0 ? act_val : sum_val >= 0 ? sum_val : c_val;
        if (!dense(a) || in.a != last || f.out_arg >= 0 || se.args[a.arg] == cbuf)
          return std::nullopt;
        f.out_arg = a.arg;
        break;
      }
      default:
        return std::nullopt;
    }
  }
  if (f.out_arg < 0 || c_val < 0 || (bias_val >= 0) != (sum_val >= 0)) return std::nullopt;
  if (f.bias_arg >= 0)
    f.epilogue = f.epilogue == cuda::Epilogue::relu   ? cuda::Epilogue::bias_relu
                 : f.epilogue == cuda::Epilogue::gelu ? cuda::Epilogue::bias_gelu
                                                      : cuda::Epilogue::bias;
  if (f.epilogue == cuda::Epilogue::none) return std::nullopt;  // a plain copy: nothing to gain
  return f;
}

}  // namespace

struct CudaPlan {
  std::vector<LoadedCuda> kernels;              // per plan kernel
  std::vector<std::optional<FusedGemm>> fused;  // per step: its epilogue is the next step
};

std::string cuda_gemm_epilogue(const sched::Plan& p, size_t step) {
  std::optional<FusedGemm> f = match_epilogue(p, step);
  if (!f) return "";
  static constexpr const char* kNames[] = {"none",      "bias", "relu",
                                           "bias_relu", "gelu", "bias_gelu"};
  return kNames[static_cast<int>(f->epilogue)];
}

sched::Target cuda_target(int dev) {
  const cuda::DeviceInfo& d = cuda::device_info(dev);
  sched::Target t;
  t.name = "cuda";
  t.threads = std::max(1, d.sm_count) * 4;  // blocks in flight worth splitting a reduction for
  t.vector_bytes = 16;
  t.l2_bytes = d.l2_bytes > 0 ? d.l2_bytes : int64_t{40} << 20;
  return t;
}

std::shared_ptr<const CudaPlan> cuda_prepare(const sched::Plan& p, int dev,
                                             CudaPrepareStats* stats) {
  auto cp = std::make_shared<CudaPlan>();
  cp->kernels = kernel_cache().get(p.kernels, dev, stats);
  cp->fused.resize(p.steps.size());
  for (size_t s = 0; s < p.steps.size(); ++s) cp->fused[s] = match_epilogue(p, s);
  return cp;
}

std::vector<BufferView> cuda_run(const ir::Graph& g, const sched::Plan& p, const CudaPlan& cp,
                                 int dev, int64_t* launches) {
  cuda::ContextGuard context(dev);  // the thread's own context is back afterwards
  std::vector<std::shared_ptr<Storage>> store(p.buffers.size());
  std::vector<void*> base(p.buffers.size(), nullptr);
  auto alloc = [&](size_t b) {
    const sched::PlanBuffer& pb = p.buffers[b];
    store[b] = cuda::device_alloc(dev, static_cast<size_t>(pb.numel * dtype_size(pb.dtype)));
    base[b] = store[b]->data;
  };
  for (size_t b = 0; b < p.buffers.size(); ++b) {
    const sched::PlanBuffer& pb = p.buffers[b];
    if (pb.kind == sched::PlanBuffer::Kind::input) {
      const BufferView& in = g.buffers()[pb.slot];
      TJ_CHECK(in.storage && in.storage->device == Device::cuda(dev),
               "input {} of a cuda:{} plan is not on that device", pb.slot, dev);
      base[b] = in.data();
    } else if (pb.kind == sched::PlanBuffer::Kind::output) {
      alloc(b);
    }
  }
  auto release_after = [&](const sched::Step& st, size_t s) {
    for (int32_t b : st.args) {
      const sched::PlanBuffer& pb = p.buffers[b];
      if (pb.kind == sched::PlanBuffer::Kind::temp && pb.last_use == static_cast<int>(s)) {
        // Stream order makes immediate reuse safe: later work that gets this
        // block runs after this kernel on the same stream.
        store[b].reset();
        base[b] = nullptr;
      }
    }
  };
  for (size_t s = 0; s < p.steps.size(); ++s) {
    const sched::Step& st = p.steps[s];
    const ir::Kernel& k = p.kernels[st.kernel];
    const LoadedCuda& lk = cp.kernels[st.kernel];
    if (cp.fused[s]) {
      // GEMM and its epilogue in one cuBLASLt call, writing the epilogue's
      // output; the GEMM's own output is never allocated.
      const FusedGemm& f = *cp.fused[s];
      const sched::Step& se = p.steps[s + 1];
      std::vector<void*> ptrs(st.args.size(), nullptr);
      for (size_t a = 0; a < st.args.size(); ++a)
        if (static_cast<int32_t>(a) != k.accesses[2].arg) {
          if (!base[st.args[a]]) alloc(st.args[a]);
          ptrs[a] = base[st.args[a]];
        }
      const int32_t out = se.args[f.out_arg];
      if (!base[out]) alloc(out);
      ptrs[k.accesses[2].arg] = base[out];
      const void* bias = f.bias_arg >= 0 ? base[se.args[f.bias_arg]] : nullptr;
      obs::LaunchScope fused_launch(k, shape_numel(k.domain));
      if (!run_cublaslt(k, ptrs, dev, f.epilogue, bias)) {
        fused_launch.cancel();
      } else {
        ++*launches;
        release_after(st, s);
        release_after(se, s + 1);
        ++s;
        continue;
      }
    }
    std::vector<void*> args(st.args.size());
    for (size_t a = 0; a < st.args.size(); ++a) {
      const int32_t b = st.args[a];
      if (!base[b] && p.buffers[b].kind == sched::PlanBuffer::Kind::temp) alloc(b);
      args[a] = base[b];
    }
    // On CUDA a launch's time in the timeline is the time to queue it.
    obs::LaunchScope observe(
        k, k.kind == ir::Kernel::Kind::pointwise ? k.kept_numel() : shape_numel(k.domain));
    if (lk.info.grid > 0 || k.kind == ir::Kernel::Kind::matmul) ++*launches;
    bool done = k.kind == ir::Kernel::Kind::matmul && run_cublaslt(k, args, dev);
    if (!done && lk.info.grid > 0) {
      std::vector<const ir::ScalarValue*> values;
      for (int32_t q : st.params) values.push_back(&g.scalars()[q]);
      std::vector<uint64_t> params = cuda_param_block(k, values);
      void* fn = lk.info.aligned(args) ? lk.fn : kernel_cache().scalar_entry(k, dev);
      std::vector<void*> kp(args.size() + 1);
      for (size_t a = 0; a < args.size(); ++a) kp[a] = &args[a];
      kp[args.size()] = params.data();
      cuda::LaunchDims dims;
      TJ_CHECK(lk.info.grid < (int64_t{1} << 31), "kernel {} needs {} blocks", k.name,
               lk.info.grid);
      dims.grid[0] = static_cast<unsigned>(lk.info.grid);
      dims.block[0] = static_cast<unsigned>(lk.info.block);
      cuda::launch(dev, fn, dims, kp.data(), fn == lk.fn ? lk.info.name : lk.info.scalar_name);
    }
    release_after(st, s);
  }
  std::vector<BufferView> out;
  out.reserve(p.outputs.size());
  for (size_t i = 0; i < p.outputs.size(); ++i) {
    const ir::Node& n = g.node(g.outputs()[i]);
    BufferView v;
    v.dtype = n.dtype;
    v.shape = n.shape;
    v.strides = contiguous_strides(n.shape);
    v.storage = store[p.outputs[i]];
    TJ_CHECK(v.storage != nullptr, "output {} has no buffer", i);
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace tj::jit
