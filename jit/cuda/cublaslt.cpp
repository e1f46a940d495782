// cuBLASLt GEMMs for row-major tilejit tensors.
//
// cuBLASLt works on column-major matrices. A row-major m x n matrix C with
// row stride ldc is, read column-major, the n x m matrix C^T with leading
// dimension ldc, and C^T = B^T A^T. So every call computes
// D(n x m, col-major) = op(B^T) op(A^T): cuBLASLt's operand "A" is our B and
// its operand "B" is our A. An operand whose columns are contiguous (col
// stride 1) is passed as is (op N), one whose rows are contiguous as the
// transpose of a column-major matrix (op T); any other layout is declined.
// CUBLASLT_ORDER_ROW is not used: cuBLASLt rejects bias epilogues on it.
//
// With D column-major n x m, cuBLASLt's bias (one value per row of D) is one
// value per column of C, broadcast over C's rows and over the batch (bias
// batch stride 0), and its type is C's (CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE
// left at its default, "the type of D").
//
// cuBLASLt's GELU epilogue is the tanh approximation
// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), so Epilogue::gelu and
// bias_gelu must only be requested for gelu with approximate="tanh", never
// for the exact (erf) gelu.
//
// Descriptors, the algorithm chosen by cublasLtMatmulAlgoGetHeuristic and
// the workspace it needs are cached per problem key (shapes, strides,
// dtypes, epilogue and pointer alignments: cuBLASLt picks kernels by
// alignment, so a differently aligned pointer is a different key).
//
// A bias that is not 16-byte aligned is declined: cuBLASLt has no alignment
// preference for the bias, and its heuristic has been seen to pick kernels
// that assume 16 bytes and fault with a misaligned address (a sticky error
// that makes the context unusable); the caller then runs the GEMM and the
// epilogue as separate kernels.
//
// Falling back instead of failing: a cuBLASLt that cannot run here (a driver
// older than the cuBLASLt major, or cublasLtCreate failing, for instance
// because its CUDA runtime cannot initialise on this driver) makes every
// GEMM on that device decline, after one warning. A problem that cuBLASLt
// reports as NOT_SUPPORTED or INVALID_VALUE is declined (and remembered);
// other cuBLASLt errors throw tj::Error.
#include "jit/cuda/cublaslt.h"

#include <dlfcn.h>
#include <fmt/format.h>

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "ir/check.h"
#include "ir/log.h"
#include "jit/cuda/driver.h"
#include "jit/cuda/memory.h"
#include "jit/options.h"
#include "tilejit_build_config.h"

#if TJ_HAVE_CUDA
#include <cublasLt.h>
#endif

namespace tj::jit::cuda {

#if TJ_HAVE_CUDA

namespace {

struct Lt {
  void* lib = nullptr;
  std::string path;
  std::string reason;  // why it could not be loaded
  decltype(&cublasLtCreate) create = nullptr;
  decltype(&cublasLtGetVersion) get_version = nullptr;
  decltype(&cublasLtGetStatusName) status_name = nullptr;
  decltype(&cublasLtGetStatusString) status_string = nullptr;
  decltype(&cublasLtMatmulDescCreate) desc_create = nullptr;
  decltype(&cublasLtMatmulDescDestroy) desc_destroy = nullptr;
  decltype(&cublasLtMatmulDescSetAttribute) desc_set = nullptr;
  decltype(&cublasLtMatrixLayoutCreate) layout_create = nullptr;
  decltype(&cublasLtMatrixLayoutDestroy) layout_destroy = nullptr;
  decltype(&cublasLtMatrixLayoutSetAttribute) layout_set = nullptr;
  decltype(&cublasLtMatmulPreferenceCreate) pref_create = nullptr;
  decltype(&cublasLtMatmulPreferenceDestroy) pref_destroy = nullptr;
  decltype(&cublasLtMatmulPreferenceSetAttribute) pref_set = nullptr;
  decltype(&cublasLtMatmulAlgoGetHeuristic) heuristic = nullptr;
  decltype(&cublasLtMatmul) matmul = nullptr;
};

template <class Fn>
bool bind(void* lib, Fn& fn, const char* name, std::string* missing) {
  fn = reinterpret_cast<Fn>(dlsym(lib, name));
  if (!fn && missing->empty()) *missing = name;
  return fn != nullptr;
}

// Tries one path; on success fills `lt` and returns true, else says why in
// `why`. Only a library of the major version whose headers tilejit was
// built with is accepted: attribute numbers and struct layouts may change
// between majors.
bool try_open(const std::string& path, Lt* lt, std::string* why) {
  void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    if (why->empty()) *why = fmt::format("{} could not be loaded", path);
    return false;
  }
  Lt l;
  l.lib = lib;
  l.path = path;
  std::string missing;
  bind(lib, l.create, "cublasLtCreate", &missing);
  bind(lib, l.get_version, "cublasLtGetVersion", &missing);
  bind(lib, l.status_name, "cublasLtGetStatusName", &missing);
  bind(lib, l.status_string, "cublasLtGetStatusString", &missing);
  bind(lib, l.desc_create, "cublasLtMatmulDescCreate", &missing);
  bind(lib, l.desc_destroy, "cublasLtMatmulDescDestroy", &missing);
  bind(lib, l.desc_set, "cublasLtMatmulDescSetAttribute", &missing);
  bind(lib, l.layout_create, "cublasLtMatrixLayoutCreate", &missing);
  bind(lib, l.layout_destroy, "cublasLtMatrixLayoutDestroy", &missing);
  bind(lib, l.layout_set, "cublasLtMatrixLayoutSetAttribute", &missing);
  bind(lib, l.pref_create, "cublasLtMatmulPreferenceCreate", &missing);
  bind(lib, l.pref_destroy, "cublasLtMatmulPreferenceDestroy", &missing);
  bind(lib, l.pref_set, "cublasLtMatmulPreferenceSetAttribute", &missing);
  bind(lib, l.heuristic, "cublasLtMatmulAlgoGetHeuristic", &missing);
  bind(lib, l.matmul, "cublasLtMatmul", &missing);
  if (!missing.empty()) {
    *why = fmt::format("{} lacks {}", path, missing);
    dlclose(lib);
    return false;
  }
  size_t version = l.get_version();
  if (static_cast<int>(version / 10000) != CUBLAS_VER_MAJOR) {
    *why = fmt::format("{} is cuBLASLt {}, but tilejit was built with the headers of cuBLAS {}.x",
                       path, version, CUBLAS_VER_MAJOR);
    dlclose(lib);
    return false;
  }
  *lt = l;
  return true;
}

Lt load_lt() {
  const std::string so = "libcublasLt.so";
  const std::string so_major = fmt::format("libcublasLt.so.{}", CUBLAS_VER_MAJOR);
  std::vector<std::string> candidates;
  auto add_home = [&](const std::string& home) {
    if (home.empty()) return;
    for (const char* dir : {"/lib64/", "/lib/"}) {
      candidates.push_back(home + dir + so_major);
      candidates.push_back(home + dir + so);
    }
  };
  add_home(options().cuda_home);
  add_home(TJ_CUDA_HOME);
  candidates.push_back(so_major);
  candidates.push_back(so);
  Lt lt;
  std::string why;
  for (const std::string& c : candidates)
    if (try_open(c, &lt, &why)) return lt;
  lt.reason = fmt::format("cuBLASLt was not found ({}); set TILEJIT_CUDA_HOME to a CUDA {} toolkit",
                          why, CUBLAS_VER_MAJOR);
  return lt;
}

const Lt& lt() {
  static const Lt* l = new Lt(load_lt());  // never unloaded
  return *l;
}

std::string status_text(cublasStatus_t s) {
  const Lt& l = lt();
  const char* name = l.status_name ? l.status_name(s) : nullptr;
  const char* text = l.status_string ? l.status_string(s) : nullptr;
  std::string out = name ? name : fmt::format("status {}", static_cast<int>(s));
  if (text) out += fmt::format(" ({})", text);
  return out;
}

void check(cublasStatus_t s, const std::string& what) {
  if (s == CUBLAS_STATUS_SUCCESS) return;
  fail("cuBLASLt error {} in {}", status_text(s), what);
}

// Thrown inside this file (never out of it) when cuBLASLt declines: for one
// problem, or, with `device_unusable`, for every problem on the device.
struct Declined {
  bool device_unusable = false;
  std::string why;
};

// This problem is not for cuBLASLt; the generated kernel runs it.
bool declines_problem(cublasStatus_t s) {
  return s == CUBLAS_STATUS_NOT_SUPPORTED || s == CUBLAS_STATUS_INVALID_VALUE;
}

// cuBLASLt cannot run on this device or driver at all.
bool declines_device(cublasStatus_t s) {
  return s == CUBLAS_STATUS_NOT_INITIALIZED || s == CUBLAS_STATUS_ARCH_MISMATCH;
}

// Like check(), but a status that declines throws Declined instead.
void need(cublasStatus_t s, const std::string& what) {
  if (s == CUBLAS_STATUS_SUCCESS) return;
  if (declines_problem(s) || declines_device(s))
    throw Declined{declines_device(s), fmt::format("{} in {}", status_text(s), what)};
  check(s, what);
}

std::optional<cudaDataType_t> data_type(DType t) {
  switch (t) {
    case DType::f32:
      return CUDA_R_32F;
    case DType::f16:
      return CUDA_R_16F;
    case DType::bf16:
      return CUDA_R_16BF;
    case DType::f64:
      return CUDA_R_64F;
    case DType::i32:
    case DType::i64:
    case DType::bool_:
      return std::nullopt;
  }
  return std::nullopt;
}

// One operand as cuBLASLt sees it: a column-major matrix and whether it is
// used transposed.
struct Operand {
  bool transpose = false;
  uint64_t rows = 0, cols = 0;  // of the stored column-major matrix
  int64_t ld = 0;
};

// The transpose X^T (c x r) of a row-major r x c matrix X with element
// strides (rs, cs), as a column-major operand. Strides of size-1 dimensions
// do not matter and are normalised.
std::optional<Operand> transposed_operand(int64_t r, int64_t c, int64_t rs, int64_t cs) {
  if (rs < 0 || cs < 0) return std::nullopt;
  if (cs == 1 || c == 1) {
    // X^T is column-major c x r with leading dimension rs.
    int64_t ld = r == 1 ? c : rs;
    if (ld >= c) return Operand{false, static_cast<uint64_t>(c), static_cast<uint64_t>(r), ld};
  }
  if (rs == 1 || r == 1) {
    // X is column-major r x c with leading dimension cs; use it transposed.
    int64_t ld = c == 1 ? r : cs;
    if (ld >= r) return Operand{true, static_cast<uint64_t>(r), static_cast<uint64_t>(c), ld};
  }
  return std::nullopt;
}

// The largest power of two (up to 256) that divides the address of every
// matrix of the batch and the leading dimension in bytes (cuBLASLt's
// minimum alignments apply to the pointer, the leading dimension and the
// other strides).
uint32_t alignment(const void* p, int64_t ld_bytes, int64_t batch_stride_bytes, bool batched) {
  uint64_t v = reinterpret_cast<uintptr_t>(p) | 256;
  if (ld_bytes > 0) v |= static_cast<uint64_t>(ld_bytes);
  if (batched && batch_stride_bytes != 0) v |= static_cast<uint64_t>(batch_stride_bytes);
  return static_cast<uint32_t>(v & (~v + 1));
}

// cuBLASLt's epilogue kernels may read the bias with 16-byte vector loads
// whatever its pointer's alignment (see the comment at the top).
constexpr uintptr_t kBiasAlignment = 16;

struct Key {
  int dev;
  DType a_dtype, b_dtype, c_dtype;
  int64_t m, n, k, batch;
  bool a_t, b_t;
  int64_t lda, ldb, ldc;
  int64_t a_bs, b_bs, c_bs;
  Epilogue epilogue;
  bool tf32;
  uint32_t align_a, align_b, align_c, align_bias;
  auto operator<=>(const Key&) const = default;
};

struct Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t lt_a = nullptr, lt_b = nullptr, lt_d = nullptr;
  cublasLtMatmulAlgo_t algo{};
  size_t workspace = 0;
  bool supported = false;  // false: cuBLASLt has no algorithm for this key
};

void destroy(const Plan& p) {
  const Lt& l = lt();
  if (p.desc) l.desc_destroy(p.desc);
  if (p.lt_a) l.layout_destroy(p.lt_a);
  if (p.lt_b) l.layout_destroy(p.lt_b);
  if (p.lt_d) l.layout_destroy(p.lt_d);
}

constexpr size_t kWorkspaceBytes = size_t{32} << 20;
constexpr size_t kMaxPlans = 1024;

struct DeviceLt {
  std::mutex mu;  // descriptors are updated per call (bias pointer)
  cublasLtHandle_t handle = nullptr;
  std::shared_ptr<Storage> workspace;
  std::map<Key, Plan> plans;
  std::atomic<bool> unusable{false};  // cuBLASLt cannot run on this device
};

// Makes every later GEMM on `dev` decline, with one warning.
void mark_unusable(DeviceLt& d, int dev, const std::string& why) {
  if (d.unusable.exchange(true)) return;
  log(LogLevel::warn,
      "cuBLASLt cannot be used on cuda:{} ({}); matmuls there run as tilejit's generated GEMM "
      "kernels",
      dev, why);
}

// The device's handle and workspace, made at the first call; null when
// cuBLASLt cannot be used on it. The device's context must be current.
DeviceLt* device_lt(int dev) {
  static std::mutex mu;
  static auto* all = new std::map<int, DeviceLt>;  // never destroyed
  std::lock_guard lock(mu);
  DeviceLt& d = (*all)[dev];
  if (d.unusable) return nullptr;
  if (!d.handle) {
    // The workspace first: if it throws (out of memory), no handle leaks.
    if (!d.workspace) d.workspace = device_alloc(dev, kWorkspaceBytes);
    cublasLtHandle_t h = nullptr;
    cublasStatus_t st = lt().create(&h);
    if (st != CUBLAS_STATUS_SUCCESS) {
      d.workspace.reset();
      mark_unusable(d, dev, fmt::format("cublasLtCreate returned {}", status_text(st)));
      return nullptr;
    }
    d.handle = h;
  }
  return &d;
}

cublasLtEpilogue_t lt_epilogue(Epilogue e) {
  switch (e) {
    case Epilogue::none:
      return CUBLASLT_EPILOGUE_DEFAULT;
    case Epilogue::bias:
      return CUBLASLT_EPILOGUE_BIAS;
    case Epilogue::relu:
      return CUBLASLT_EPILOGUE_RELU;
    case Epilogue::bias_relu:
      return CUBLASLT_EPILOGUE_RELU_BIAS;
    case Epilogue::gelu:
      return CUBLASLT_EPILOGUE_GELU;
    case Epilogue::bias_gelu:
      return CUBLASLT_EPILOGUE_GELU_BIAS;
    case Epilogue::gelu_erf:
    case Epilogue::bias_gelu_erf:
      break;  // refused in cublaslt_gemm: cuBLASLt's GELU is the tanh form
  }
  return CUBLASLT_EPILOGUE_DEFAULT;
}

// Builds descriptors and asks the heuristic; `supported` is false when
// cuBLASLt has no algorithm or declines the problem. Throws Declined with
// `device_unusable` when cuBLASLt cannot run on the device, tj::Error for
// other failures.
Plan make_plan(DeviceLt& d, const Key& key, const Gemm& g, const Operand& opa_lt,
               const Operand& opb_lt) {
  const Lt& l = lt();
  Plan p;
  const std::string what = fmt::format("a {} x {} x {} GEMM (batch {}) on cuda:{}", key.m, key.n,
                                       key.k, key.batch, key.dev);
  try {
    const bool f64 = key.a_dtype == DType::f64;
    cublasComputeType_t compute =
        f64 ? CUBLAS_COMPUTE_64F
            : (key.tf32 && key.a_dtype == DType::f32 ? CUBLAS_COMPUTE_32F_FAST_TF32
                                                     : CUBLAS_COMPUTE_32F);
    cudaDataType_t scale = f64 ? CUDA_R_64F : CUDA_R_32F;
    need(l.desc_create(&p.desc, compute, scale), "cublasLtMatmulDescCreate for " + what);
    auto set_desc = [&](cublasLtMatmulDescAttributes_t attr, const void* v, size_t size,
                        const char* name) {
      need(l.desc_set(p.desc, attr, v, size),
           fmt::format("cublasLtMatmulDescSetAttribute({}) for {}", name, what));
    };
    int32_t ta = opa_lt.transpose ? CUBLAS_OP_T : CUBLAS_OP_N;
    int32_t tb = opb_lt.transpose ? CUBLAS_OP_T : CUBLAS_OP_N;
    set_desc(CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta), "TRANSA");
    set_desc(CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb), "TRANSB");
    uint32_t epi = lt_epilogue(key.epilogue);
    set_desc(CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi), "EPILOGUE");
    if (has_bias(key.epilogue)) {
      // The heuristic reads the pointer's alignment from here.
      const void* bias = g.bias;
      set_desc(CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias), "BIAS_POINTER");
    }

    auto layout = [&](cublasLtMatrixLayout_t* out, DType t, uint64_t rows, uint64_t cols,
                      int64_t ld, int64_t batch_stride, const char* name) {
      need(l.layout_create(out, *data_type(t), rows, cols, ld),
           fmt::format("cublasLtMatrixLayoutCreate({}) for {}", name, what));
      if (key.batch == 1) return;
      int32_t count = static_cast<int32_t>(key.batch);
      need(l.layout_set(*out, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)),
           fmt::format("cublasLtMatrixLayoutSetAttribute(BATCH_COUNT) for {}", what));
      need(l.layout_set(*out, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &batch_stride,
                        sizeof(batch_stride)),
           fmt::format("cublasLtMatrixLayoutSetAttribute(STRIDED_BATCH_OFFSET) for {}", what));
    };
    layout(&p.lt_a, key.b_dtype, opa_lt.rows, opa_lt.cols, opa_lt.ld, key.b_bs, "B");
    layout(&p.lt_b, key.a_dtype, opb_lt.rows, opb_lt.cols, opb_lt.ld, key.a_bs, "A");
    layout(&p.lt_d, key.c_dtype, static_cast<uint64_t>(key.n), static_cast<uint64_t>(key.m),
           key.ldc, key.c_bs, "C");

    cublasLtMatmulPreference_t pref = nullptr;
    need(l.pref_create(&pref), "cublasLtMatmulPreferenceCreate for " + what);
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    cublasStatus_t st = CUBLAS_STATUS_SUCCESS;
    try {
      auto set_pref = [&](cublasLtMatmulPreferenceAttributes_t attr, const void* v, size_t size) {
        need(l.pref_set(pref, attr, v, size), "cublasLtMatmulPreferenceSetAttribute for " + what);
      };
      uint64_t ws = d.workspace->bytes;
      set_pref(CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));
      // cuBLASLt's operand A is our B, its B our A.
      uint32_t al_a = key.align_b, al_b = key.align_a, al_c = key.align_c;
      set_pref(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al_a, sizeof(al_a));
      set_pref(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al_b, sizeof(al_b));
      set_pref(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al_c, sizeof(al_c));
      set_pref(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al_c, sizeof(al_c));
      st = l.heuristic(d.handle, p.desc, p.lt_a, p.lt_b, p.lt_d, p.lt_d, pref, 1, &result, &found);
    } catch (...) {
      l.pref_destroy(pref);
      throw;
    }
    l.pref_destroy(pref);
    if (st == CUBLAS_STATUS_SUCCESS && found == 0) return p;  // supported stays false
    need(st, "cublasLtMatmulAlgoGetHeuristic for " + what);
    if (result.state != CUBLAS_STATUS_SUCCESS) return p;
    p.algo = result.algo;
    p.workspace = result.workspaceSize;
    p.supported = p.workspace <= d.workspace->bytes;
    return p;
  } catch (const Declined& e) {
    destroy(p);
    if (e.device_unusable) throw;
    return Plan{};  // declined: supported is false, nothing to destroy
  } catch (...) {
    destroy(p);
    throw;
  }
}

// Whether cuBLASLt takes these dtypes (compute in f32 with an f32 scale, or
// all f64).
bool dtypes_supported(const Gemm& g) {
  if (g.a_dtype != g.b_dtype) return false;
  switch (g.a_dtype) {
    case DType::f32:
      return g.c_dtype == DType::f32;
    case DType::f16:
    case DType::bf16:
      return g.c_dtype == g.a_dtype || g.c_dtype == DType::f32;
    case DType::f64:
      return g.c_dtype == DType::f64;
    case DType::i32:
    case DType::i64:
    case DType::bool_:
      return false;
  }
  return false;
}

}  // namespace

bool cublaslt_available(std::string* reason) {
  const Probe& p = probe();
  if (p.device_count == 0) {
    if (reason) *reason = p.reason;
    return false;
  }
  const Lt& l = lt();
  if (!l.lib) {
    if (reason) *reason = l.reason;
    return false;
  }
  // cuBLASLt links its CUDA runtime statically; a runtime of major N needs
  // a driver of CUDA N.0 or newer (cublasLtCreate fails on an older one).
  if (p.driver_version < CUBLAS_VER_MAJOR * 1000) {
    if (reason)
      *reason = fmt::format(
          "{} is cuBLASLt {}, which needs a CUDA {}.0 driver or newer, but the NVIDIA driver "
          "supports CUDA {}.{}; update the driver",
          l.path, CUBLAS_VER_MAJOR, CUBLAS_VER_MAJOR, p.driver_version / 1000,
          p.driver_version % 1000 / 10);
    return false;
  }
  if (reason) reason->clear();
  return true;
}

bool cublaslt_gemm(const Gemm& g) {
  if (!dtypes_supported(g)) return false;
  if (g.m <= 0 || g.n <= 0 || g.k <= 0 || g.batch <= 0 || g.batch > INT32_MAX) return false;
  if (!g.a || !g.b || !g.c) return false;
  if (g.epilogue == Epilogue::gelu_erf || g.epilogue == Epilogue::bias_gelu_erf) return false;
  if (has_bias(g.epilogue)) {
    if (!g.bias) return false;
    if (reinterpret_cast<uintptr_t>(g.bias) % kBiasAlignment != 0) return false;
  }
  if (g.c_row_stride < g.n) return false;
  if (g.batch > 1) {
    // Outputs of the batch must not overlap; inputs may be broadcast (0).
    if (g.c_batch_stride < g.m * g.c_row_stride) return false;
    if (g.a_batch_stride < 0 || g.b_batch_stride < 0) return false;
  }
  if (std::string why; !cublaslt_available(&why)) {
    // Said once: the library is there but cannot run (driver too old).
    static std::once_flag once;
    if (lt().lib)
      std::call_once(once, [&] {
        log(LogLevel::warn, "cuBLASLt cannot be used ({}); matmuls run as generated GEMM kernels",
            why);
      });
    return false;
  }

  // Our A (m x k) becomes cuBLASLt's B as op(A^T) (k x m); our B (k x n)
  // becomes cuBLASLt's A as op(B^T) (n x k).
  std::optional<Operand> lt_b = transposed_operand(g.m, g.k, g.a_row_stride, g.a_col_stride);
  std::optional<Operand> lt_a = transposed_operand(g.k, g.n, g.b_row_stride, g.b_col_stride);
  if (!lt_a || !lt_b) return false;

  const bool batched = g.batch > 1;
  Key key{};
  key.dev = g.dev;
  key.a_dtype = g.a_dtype;
  key.b_dtype = g.b_dtype;
  key.c_dtype = g.c_dtype;
  key.m = g.m;
  key.n = g.n;
  key.k = g.k;
  key.batch = g.batch;
  key.a_t = lt_b->transpose;
  key.b_t = lt_a->transpose;
  key.lda = lt_b->ld;
  key.ldb = lt_a->ld;
  key.ldc = g.m == 1 ? std::max<int64_t>(g.n, 1) : g.c_row_stride;
  key.a_bs = batched ? g.a_batch_stride : 0;
  key.b_bs = batched ? g.b_batch_stride : 0;
  key.c_bs = batched ? g.c_batch_stride : 0;
  key.epilogue = g.epilogue;
  key.tf32 = g.allow_tf32 && g.a_dtype == DType::f32;
  const int64_t as = dtype_size(g.a_dtype), bs = dtype_size(g.b_dtype), cs = dtype_size(g.c_dtype);
  key.align_a = alignment(g.a, key.lda * as, g.a_batch_stride * as, batched);
  key.align_b = alignment(g.b, key.ldb * bs, g.b_batch_stride * bs, batched);
  key.align_c = alignment(g.c, key.ldc * cs, g.c_batch_stride * cs, batched);
  key.align_bias = has_bias(g.epilogue) ? alignment(g.bias, 0, 0, false) : 0;

  // Everything below runs in the device's context: cublasLtCreate and the
  // heuristic read the current device's properties through the CUDA
  // runtime. The calling thread's context is restored on return.
  ContextGuard guard(g.dev);
  DeviceLt* dp = device_lt(g.dev);
  if (!dp) return false;
  DeviceLt& d = *dp;
  std::lock_guard lock(d.mu);
  if (d.unusable) return false;
  auto it = d.plans.find(key);
  if (it == d.plans.end()) {
    if (d.plans.size() >= kMaxPlans) {
      for (auto& [k, p] : d.plans) destroy(p);
      d.plans.clear();
    }
    try {
      it = d.plans.emplace(key, make_plan(d, key, g, *lt_a, *lt_b)).first;
    } catch (const Declined& e) {  // only for the whole device
      mark_unusable(d, g.dev, e.why);
      return false;
    }
  }
  const Plan& p = it->second;
  if (!p.supported) return false;

  const Lt& l = lt();
  const std::string what =
      fmt::format("cublasLtMatmul for a {} x {} x {} {} GEMM (batch {}) on cuda:{}", g.m, g.n, g.k,
                  dtype_name(g.a_dtype), g.batch, g.dev);
  if (has_bias(g.epilogue)) {
    const void* bias = g.bias;
    check(l.desc_set(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)), what);
  }
  const float one_f = 1, zero_f = 0;
  const double one_d = 1, zero_d = 0;
  const bool f64 = g.a_dtype == DType::f64;
  const void* alpha = f64 ? static_cast<const void*>(&one_d) : &one_f;
  const void* beta = f64 ? static_cast<const void*>(&zero_d) : &zero_f;
  // beta is 0, so C is not read; D is also passed as C.
  cublasStatus_t st =
      l.matmul(d.handle, p.desc, alpha, g.b, p.lt_a, g.a, p.lt_b, beta, g.c, p.lt_d, g.c, p.lt_d,
               &p.algo, d.workspace->data, p.workspace, static_cast<cudaStream_t>(stream(g.dev)));
  // These statuses come from the argument checks, before anything is queued.
  if (declines_problem(st)) return false;
  if (declines_device(st)) {
    mark_unusable(d, g.dev, fmt::format("{} in {}", status_text(st), what));
    return false;
  }
  check(st, what);
  return true;
}

#else  // !TJ_HAVE_CUDA

bool cublaslt_available(std::string* reason) {
  if (reason) *reason = probe().reason;
  return false;
}

bool cublaslt_gemm(const Gemm&) { return false; }

#endif  // TJ_HAVE_CUDA

}  // namespace tj::jit::cuda
