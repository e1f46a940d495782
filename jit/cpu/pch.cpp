#include "jit/cpu/pch.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "cache/kernel_store.h"
#include "cache/trust.h"
#include "ir/hash.h"
#include "ir/log.h"
#include "jit/cache_entry.h"
#include "jit/cpu/compiler.h"
#include "jit/cpu/process.h"
#include "jit/options.h"

namespace tj::jit::cpu {

namespace {

struct State {
  std::mutex mu;
  bool started = false;
  std::atomic<bool> ready{false};
  std::string header;  // valid once ready
  std::thread builder;
};

State& state() {
  static State* s = new State;  // never destroyed: joined at exit
  return *s;
}

void join_at_exit() {
  State& s = state();
  if (s.builder.joinable()) s.builder.join();
}

bool write_private(const std::string& path, const std::string& bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  return ::close(fd) == 0 && done == bytes.size();
}

std::string read_private(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return {};
  std::string out;
  char buf[1 << 16];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

/// Makes `header`.gch (from the disk cache or the compiler); true when ready.
bool build(const std::string& preamble, const std::string& header, double timeout_s) {
  const CpuCompiler& cc = cpu_compiler();
  cache::KeyFields f{"cpu-pch", cc.target, cc.identity, cc.flags, preamble};
  cache::Store& store = cache::Store::global();
  const std::string gch = header + ".gch";
  if (!write_private(header, preamble)) return false;
  if (store.effective_mode() != cache::Mode::off) {
    if (std::optional<cache::Entry> e = store.get(cache::make_key(f), f))
      return write_private(gch, e->binary);
  }
  std::vector<std::string> argv = cc.argv;
  for (const std::string& flag : cc.flag_list)
    if (flag != "-shared") argv.push_back(flag);
  argv.insert(argv.end(), {"-x", "c++-header", header, "-o", gch});
  const ProcessResult r = run_process(argv, timeout_s);
  if (!r.ok()) {
    log(LogLevel::info, "no precompiled kernel preamble ({}); units include its text",
        r.describe(timeout_s));
    ::unlink(gch.c_str());
    return false;
  }
  cache::Entry e = make_entry(f, read_private(gch), r.ms);
  e.name = "tj_preamble";
  e.summary = "the kernel preamble, precompiled";
  e.signature = fmt::format("{} lines", std::count(preamble.begin(), preamble.end(), '\n'));
  if (!e.binary.empty() && store.effective_mode() == cache::Mode::on) store.put(e);
  log(LogLevel::info, "precompiled the kernel preamble in {:.0f} ms", r.ms);
  return true;
}

}  // namespace

std::string precompiled_preamble(const std::string& preamble) {
  State& s = state();
  if (s.ready.load(std::memory_order_acquire)) return s.header;
  std::lock_guard lock(s.mu);
  if (s.started) return {};
  s.started = true;
  const std::string header =
      fmt::format("{}/tj_preamble_{:016x}.h", compile_dir(), Hasher().add(preamble).get());
  const double timeout = options().compile_timeout_s;
  cache::init_crypto();  // the builder may sign its entry while the process exits
  // The builder reads the same options and logs through the same logger.
  s.builder = std::thread([preamble, header, timeout, level = log_level()] {
    set_thread_log_level(level);
    try {
      if (build(preamble, header, timeout)) {
        State& st = state();
        st.header = header;
        st.ready.store(true, std::memory_order_release);
      }
    } catch (const std::exception& e) {
      log(LogLevel::info, "no precompiled kernel preamble: {}", e.what());
    }
  });
  std::atexit(join_at_exit);  // before the compile directory goes (registered earlier)
  return {};
}

}  // namespace tj::jit::cpu
