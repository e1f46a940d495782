// Running a program without a shell: the host compiler, and its probes.
//
// The program is started with posix_spawnp and an argument vector (nothing
// is ever parsed by a shell, so no value, file name or environment variable
// can inject a command), with stdin from /dev/null and stdout and stderr
// captured together, in a process group of its own so that a timeout kills
// the compiler and every process it started.
#pragma once

#include <string>
#include <vector>

namespace tj::jit::cpu {

struct ProcessResult {
  enum class End { exited, signaled, timed_out, not_started };
  End end = End::not_started;
  int code = -1;       // exit status (exited) or signal number (signaled)
  std::string output;  // stdout and stderr, at most max_output bytes
  std::string error;   // not_started: why (e.g. "no such file")
  double ms = 0;       // wall time

  bool ok() const { return end == End::exited && code == 0; }
  /// "exit status 1", "killed by signal 9 (SIGKILL)", "timed out after 300 s", ...
  std::string describe(double timeout_s) const;
};

/// Runs argv[0] (looked up on PATH when it has no slash) with `argv`. Past
/// `timeout_s` seconds (0: no limit) the process group is killed.
ProcessResult run_process(const std::vector<std::string>& argv, double timeout_s,
                          size_t max_output = size_t{1} << 20);

/// Splits a command such as TILEJIT_CXX="ccache g++" into words at spaces
/// and tabs (no quoting: a program path with spaces is not supported).
std::vector<std::string> split_command(const std::string& command);

}  // namespace tj::jit::cpu
