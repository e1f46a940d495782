#include "jit/cpu/process.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

extern char** environ;

namespace tj::jit::cpu {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

std::string ProcessResult::describe(double timeout_s) const {
  switch (end) {
    case End::exited:
      return fmt::format("exit status {}", code);
    case End::signaled: {
      const char* name = sigabbrev_np(code);
      return fmt::format("killed by signal {}{}", code, name ? fmt::format(" (SIG{})", name) : "");
    }
    case End::timed_out:
      return fmt::format("stopped after {:g} s (TILEJIT_COMPILE_TIMEOUT)", timeout_s);
    case End::not_started:
      return "could not be started: " + error;
  }
  return "?";
}

std::vector<std::string> split_command(const std::string& command) {
  std::vector<std::string> words;
  std::string w;
  for (char c : command) {
    if (c == ' ' || c == '\t') {
      if (!w.empty()) words.push_back(std::move(w));
      w.clear();
    } else {
      w += c;
    }
  }
  if (!w.empty()) words.push_back(std::move(w));
  return words;
}

ProcessResult run_process(const std::vector<std::string>& argv, double timeout_s,
                          size_t max_output) {
  ProcessResult r;
  const Clock::time_point t0 = Clock::now();
  if (argv.empty() || argv[0].empty()) {
    r.error = "no program given";
    return r;
  }
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) {
    r.error = fmt::format("pipe: {}", std::strerror(errno));
    return r;
  }
  Fd rd{pipefd[0]}, wr{pipefd[1]};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, wr.fd, 1);
  posix_spawn_file_actions_adddup2(&fa, wr.fd, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);  // its own group: a timeout kills its children too
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, argv[0].c_str(), &fa, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  ::close(wr.fd);
  wr.fd = -1;
  if (rc != 0) {
    r.error = fmt::format("{}: {}", argv[0], std::strerror(rc));
    r.ms = ms_since(t0);
    return r;
  }
  bool timed_out = false;
  char buf[8192];
  for (;;) {
    int wait_ms = -1;
    if (timeout_s > 0) {
      const double left = timeout_s * 1000 - ms_since(t0);
      if (left <= 0) {
        timed_out = true;
        break;
      }
      wait_ms = static_cast<int>(std::min(left, 1000.0)) + 1;
    }
    pollfd p{rd.fd, POLLIN, 0};
    const int n = ::poll(&p, 1, wait_ms);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;  // a timeout slice: check the deadline
    const ssize_t got = ::read(rd.fd, buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;  // every writer closed its end: the process (group) is done
    if (r.output.size() < max_output)
      r.output.append(buf,
                      std::min<size_t>(static_cast<size_t>(got), max_output - r.output.size()));
  }
  if (timed_out) ::kill(-pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    r.end = ProcessResult::End::timed_out;
  } else if (WIFEXITED(status)) {
    r.end = ProcessResult::End::exited;
    r.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    r.end = ProcessResult::End::signaled;
    r.code = WTERMSIG(status);
  }
  r.ms = ms_since(t0);
  return r;
}

}  // namespace tj::jit::cpu
