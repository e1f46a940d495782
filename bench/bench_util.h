// Helpers shared by the CPU benchmarks: timing, a small thread pool for the
// hand-written baselines, vectorisable math for those baselines, and the
// libtorch bridge (implemented in bench_torch.cpp, a stub when libtorch is not
// installed).
//
// The hand-written loops are the "practical limit" a generated kernel can
// reach with the same compiler flags (-O3 -march=native). They use no
// intrinsics and no scalar libm calls in hot loops: exp is a polynomial with
// memcpy bit casts and plain selects, which g++ vectorises (AVX-512 here).
#pragma once

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace bench {

// ---- child processes --------------------------------------------------------------

/// The standard output of `argv` (run without a shell, stderr passed
/// through), trailing blanks trimmed; "" when it cannot start. `env`: NAME=value
/// entries that replace or join this process's environment.
inline std::string capture(const std::vector<std::string>& argv,
                           const std::vector<std::string>& env = {}) {
  std::vector<std::string> envs = env;
  for (char** e = environ; e && *e; ++e) {
    const std::string entry = *e;
    const std::string name = entry.substr(0, entry.find('='));
    bool replaced = false;
    for (const std::string& x : env) replaced = replaced || x.substr(0, x.find('=')) == name;
    if (!replaced) envs.push_back(entry);
  }
  std::vector<char*> envp;
  for (std::string& x : envs) envp.push_back(x.data());
  envp.push_back(nullptr);
  int fds[2];
  if (pipe(fds) != 0) return "";
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  posix_spawn_file_actions_addclose(&fa, fds[1]);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  std::string out;
  if (rc == 0) {
    char buf[4096];
    for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;)
      out.append(buf, static_cast<size_t>(n));
    int status = 0;
    waitpid(pid, &status, 0);
  }
  close(fds[0]);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

// ---- timing -------------------------------------------------------------------

inline double now_s() {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/// Keeps the compiler from deleting a computation whose result is unused.
template <class T>
inline void do_not_optimize(const T& v) {
  asm volatile("" : : "r,m"(v) : "memory");
}

// ---- thread pool for the hand-written baselines ---------------------------------

/// A fixed pool over all cores; `run(n, fn)` calls fn(begin, end) on disjoint
/// chunks of [0, n) (about 8 per thread, taken dynamically so a thread that
/// the OS preempts does not hold the others up); the calling thread works too.
/// Workers spin for a short while (~100 us) after each job, as OpenMP's and a
/// JIT's pools do, so back-to-back jobs do not pay a futex wake-up; then they
/// block on a condition variable so they do not steal cycles from tilejit's
/// or libtorch's own threads between measurements.
class ThreadPool {
 public:
  explicit ThreadPool(int threads) : nthreads_(std::max(1, threads)) {
    for (int t = 1; t < nthreads_; ++t) workers_.emplace_back([this] { loop(); });
  }
  ~ThreadPool() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
  }
  int threads() const { return nthreads_; }

  void run(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
    if (nthreads_ == 1 || n < 2) {
      fn(0, n);
      return;
    }
    fn_ = &fn;
    n_ = n;
    grain_ = std::max<int64_t>(1, n / (8 * nthreads_));
    next_.store(0, std::memory_order_relaxed);
    pending_.store(nthreads_ - 1, std::memory_order_relaxed);
    {
      std::lock_guard lock(mu_);  // pairs with the workers' wait: no lost wake-up
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    work();
    while (pending_.load(std::memory_order_acquire) != 0) pause();
  }

 private:
  static void pause() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }
  void work() {
    for (;;) {
      int64_t b = next_.fetch_add(grain_, std::memory_order_relaxed);
      if (b >= n_) return;
      (*fn_)(b, std::min(n_, b + grain_));
    }
  }
  void loop() {
    uint64_t seen = 0;
    for (;;) {
      bool got = false;
      for (int spin = 0; spin < 2000 && !got; ++spin) {
        got = generation_.load(std::memory_order_acquire) != seen;
        if (!got) pause();
      }
      if (!got) {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
      }
      seen = generation_.load(std::memory_order_acquire);
      if (stop_) return;
      work();
      pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }

  int nthreads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0, grain_ = 1;
  std::atomic<int64_t> next_{0};
  std::atomic<int> pending_{0};
  std::atomic<uint64_t> generation_{0};
  bool stop_ = false;
};

// ---- vectorisable f32 math ---------------------------------------------------------

inline float bits_to_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

/// c ? a : b through bit masks. A ternary on floats is a branch to g++ until it
/// if-converts it, and jump threading first copies the code after it into
/// each side: fast_exp's clamp became a path where x / (1 + e^88) is a
/// division by a constant, computed for every lane and blended in, whose
/// subnormal results cost a microcode assist each on Intel cores (tanh-form
/// GELU 6.2 ns per element instead of 0.6). The kernels select the same way.
inline float select(bool c, float a, float b) {
  uint32_t ua, ub;
  std::memcpy(&ua, &a, sizeof ua);
  std::memcpy(&ub, &b, sizeof ub);
  const uint32_t m = 0u - static_cast<uint32_t>(c);
  return bits_to_float((ua & m) | (ub & ~m));
}

/// exp(x) for f32: range reduction with the 1.5*2^23 rounding trick and the
/// Cephes degree-6 polynomial; ~1-2 ulp on [-87, 88], clamped outside.
inline float fast_exp(float x) {
  x = select(x < -87.0f, -87.0f, x);
  x = select(x > 88.0f, 88.0f, x);
  const float magic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  float kf = x * 1.44269504088896341f + magic;
  uint32_t kb;
  std::memcpy(&kb, &kf, sizeof kb);
  kf -= magic;
  float r = x - kf * 0.693359375f;
  r = r + kf * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  int32_t n = static_cast<int32_t>(kb) - 0x4B400000;
  float scale = bits_to_float(static_cast<uint32_t>(n + 127) << 23);
  return p * scale;
}

inline float fast_sigmoid(float x) { return 1.0f / (1.0f + fast_exp(-x)); }

/// tanh(x): an odd Taylor polynomial for |x| < 0.25, (1 - e^-2|x|)/(1 + e^-2|x|)
/// with the sign of x elsewhere; both computed, one selected.
inline float fast_tanh(float x) {
  float ax = x < 0 ? -x : x;
  float t = fast_exp(-2.0f * ax);
  float big = (1.0f - t) / (1.0f + t);
  big = x < 0 ? -big : big;
  float x2 = x * x;
  float small =
      x +
      x * x2 * (-0.333333333f + x2 * (0.133333333f + x2 * (-0.0539682540f + x2 * 0.0218694885f)));
  return ax < 0.25f ? small : big;
}

/// GELU, tanh form: 0.5 x (1 + tanh(u)) == x * sigmoid(2u),
/// u = sqrt(2/pi) (x + 0.044715 x^3).
inline float fast_gelu_tanh(float x) {
  float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
  return x / (1.0f + fast_exp(-2.0f * u));
}

// ---- libtorch bridge (bench_torch.cpp) --------------------------------------------

struct HostTensor {
  std::vector<float> data;
  std::vector<int64_t> shape;
};

/// One workload run through libtorch's CPU ops.
class TorchCase {
 public:
  virtual ~TorchCase() = default;
  /// Runs the workload once; the result stays inside for `result()`.
  virtual void run() = 0;
  virtual std::vector<float> result() = 0;
  /// train_step: the most bytes allocated during one run() above what was
  /// live before it (a counting wrapper around libtorch's CPU allocator);
  /// negative where not measured.
  virtual double peak_step_bytes() { return -1; }
};

bool torch_available();
/// "1.13.1" or "not installed".
std::string torch_version();
void torch_set_threads(int n);
/// Workloads: chain8, softmax, layer_norm, sum, bias_gelu, mlp (inputs as the
/// tilejit side gets them), and for host overhead `ops:N` (N ops of the
/// 5-op cycle below on inputs {a, b}) and `loop50`. Null when libtorch is not
/// installed.
std::unique_ptr<TorchCase> make_torch_case(const std::string& name,
                                           const std::vector<HostTensor>& inputs);

/// The 5-op cycle used by the host-overhead rows (ops:N and loop50), op k of
/// the cycle being k % 5: t*b, t+a, t*0.9, tanh(t), t+0.1.
inline constexpr int kCycleOps = 5;

}  // namespace bench
