#!/usr/bin/env bash
# tilejit GPU check: runs the CUDA tests and the GPU benchmarks of this bundle
# and writes OUTDIR/report.md with the raw logs beside it.
#
#   ./run.sh [OUTDIR]          (default: results-<date> next to this script)
#
# Steps: card and driver info (nvidia-smi); every tests/*_test with
# --gtest_filter='*Cuda*' (each under a timeout, GoogleTest JSON in
# OUTDIR/tests/); bin/bench_torch_gpu.py when python3 can import torch;
# bin/bench_gpu with the torch JSON. About 3-6 minutes on an H100.
#
# Exit status: 0 when every CUDA test passed (skips allowed), 1 when a test
# failed, crashed or timed out, 2 when the tests passed but bench_gpu failed.
#
# Environment: TEST_TIMEOUT (seconds per test binary, default 180),
# BENCH_ITERS (timed iterations per benchmark row, default 50),
# TILEJIT_CUDA_HOME (the CUDA toolkit whose NVRTC and cuBLASLt to load; by
# default /usr/local/cuda, then the loader's path).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${1:-$HERE/results-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT/logs" "$OUT/tests" || exit 1
OUT=$(cd "$OUT" && pwd)
TEST_TIMEOUT=${TEST_TIMEOUT:-180}
BENCH_ITERS=${BENCH_ITERS:-50}
REPORT=$OUT/report.md
START=$(date +%s)

say() { echo "run.sh: $*"; }
with_timeout() {
  local secs=$1
  shift
  if command -v timeout >/dev/null; then timeout -k 10 "$secs" "$@"; else "$@"; fi
}

# A fresh kernel cache per run, so compile times are first-use times and an
# old cache cannot hide a problem.
export TILEJIT_CACHE_DIR=$OUT/kernel-cache
export TILEJIT_LOG=${TILEJIT_LOG:-warn}
# CPU kernels need a C++ compiler (c++ by default); use g++ or clang++ when
# only they exist. CUDA kernels need none (NVRTC).
if [[ -z ${TILEJIT_CXX:-} ]] && ! command -v c++ >/dev/null; then
  for cxx in g++ clang++; do
    if command -v "$cxx" >/dev/null; then
      export TILEJIT_CXX=$cxx
      break
    fi
  done
fi
# The binaries need a libstdc++ at least as new as BUILD_INFO says; where the
# system's is older, use the one in lib/compat (it needs a newer glibc).
need_cxx=$(sed -n 's/^libstdc++: \(GLIBCXX_[0-9.]*\).*/\1/p' "$HERE/BUILD_INFO")
sys_cxx=$(ldconfig -p 2>/dev/null | awk '/libstdc\+\+\.so\.6 .*x86-64/ { print $NF; exit }')
libstdcxx="system ($sys_cxx)"
if [[ -n $need_cxx ]] && ! { [[ -n $sys_cxx ]] && grep -qa "$need_cxx" "$sys_cxx"; }; then
  export LD_LIBRARY_PATH=$HERE/lib/compat${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  libstdcxx="bundled lib/compat (the system's ${sys_cxx:-libstdc++} lacks $need_cxx)"
fi

host_cxx=${TILEJIT_CXX:-c++}
command -v "$host_cxx" >/dev/null && host_cxx="$host_cxx ($(command -v "$host_cxx"))" ||
  host_cxx="none found (tests that compute on the CPU will fail)"

# ---- machine ---------------------------------------------------------------------
say "writing $OUT"
{
  nvidia-smi 2>&1 || echo "nvidia-smi: not available"
  echo
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem,power.limit --format=csv 2>&1
} >"$OUT/logs/nvidia-smi.txt"
card=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)
driver_cuda=$(nvidia-smi 2>/dev/null | sed -n 's/.*CUDA Version: *\([0-9.]*\).*/\1/p' | head -1)
cuda_home=${TILEJIT_CUDA_HOME:-/usr/local/cuda}
toolkit=$({ "$cuda_home/bin/nvcc" --version 2>/dev/null || nvcc --version 2>/dev/null || true; } | sed -n 's/.*release \([0-9.]*\).*/\1/p' | head -1)
nvrtc=$(ls "$cuda_home"/lib64/libnvrtc.so.* "$cuda_home"/targets/*/lib/libnvrtc.so.* 2>/dev/null | head -1)
say "card: ${card:-no GPU found by nvidia-smi}"
say "toolkit: ${toolkit:-not found} at $cuda_home; host compiler: $host_cxx; libstdc++: $libstdcxx"

# ---- CUDA tests ------------------------------------------------------------------
tests_passed=0 tests_failed=0 tests_skipped=0 binaries_failed=0
test_rows=()
failures=()
for bin in "$HERE"/tests/*_test; do
  [[ -x $bin ]] || continue
  name=$(basename "$bin")
  log=$OUT/logs/$name.log
  t0=$(date +%s)
  (cd "$OUT" && with_timeout "$TEST_TIMEOUT" "$bin" --gtest_filter='*Cuda*' \
    --gtest_output="json:$OUT/tests/$name.json" --gtest_color=no) >"$log" 2>&1
  rc=$?
  secs=$(($(date +%s) - t0))
  p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
  s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
  f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
  p=${p:-0} s=${s:-0} f=${f:-0}
  status=ok
  if [[ $rc -eq 124 || $rc -eq 137 ]]; then
    status="timed out after ${TEST_TIMEOUT} s"
  elif [[ $rc -ne 0 && $f -eq 0 ]]; then
    status="exit status $rc (crash?)"
  elif [[ $f -gt 0 ]]; then
    status="$f failed"
  fi
  if [[ $status != ok ]]; then
    binaries_failed=$((binaries_failed + 1))
    while read -r t; do failures+=("$name: $t"); done < <(sed -n 's/^\[  FAILED  \] \([^ ,]*\.[^ ,]*\).*/\1/p' "$log" | sort -u)
    [[ $f -eq 0 ]] && failures+=("$name: $status (see logs/$name.log)")
  fi
  tests_passed=$((tests_passed + p)) tests_skipped=$((tests_skipped + s)) tests_failed=$((tests_failed + f))
  test_rows+=("| $name | $p | $f | $s | ${secs} s | $status |")
  say "$name: $p passed, $f failed, $s skipped ($status, ${secs} s)"
done

# ---- benchmarks ------------------------------------------------------------------
torch_json=$OUT/bench-torch-gpu.json
torch_note=""
if command -v python3 >/dev/null; then
  say "bench_torch_gpu.py (PyTorch eager and torch.compile)"
  TORCHINDUCTOR_CACHE_DIR=$OUT/torchinductor-cache with_timeout 300 python3 "$HERE/bin/bench_torch_gpu.py" \
    --iters "$BENCH_ITERS" --compile-budget 150 --json "$torch_json" >"$OUT/logs/bench_torch_gpu.log" 2>&1
  trc=$?
  [[ $trc -eq 0 ]] || torch_note="bench_torch_gpu.py exited with status $trc (see logs/bench_torch_gpu.log)"
else
  torch_note="python3 not found: no PyTorch columns"
fi
[[ -n $torch_note ]] && say "$torch_note"

say "bench_gpu"
bench_args=(--iters "$BENCH_ITERS" --json "$OUT/bench-gpu.json" --commit "$(sed -n 's/^commit: //p' "$HERE/BUILD_INFO")")
[[ -s $torch_json ]] && bench_args+=(--torch "$torch_json")
(cd "$OUT" && with_timeout 300 "$HERE/bin/bench_gpu" "${bench_args[@]}") >"$OUT/logs/bench_gpu.log" 2>&1
brc=$?
cat "$OUT/logs/bench_gpu.log"

# ---- report ----------------------------------------------------------------------
total=$(($(date +%s) - START))
{
  echo "# tilejit GPU check"
  echo
  echo "| | |"
  echo "|---|---|"
  echo "| date | $(date -u '+%Y-%m-%d %H:%M UTC') |"
  echo "| card | ${card:-no GPU found by nvidia-smi} |"
  echo "| driver CUDA version | ${driver_cuda:-unknown} |"
  echo "| toolkit at run time | ${toolkit:-not found} (${cuda_home}; NVRTC: ${nvrtc:-not found}) |"
  echo "| host | $(uname -sm), $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME"), $(nproc) cores |"
  echo "| host C++ compiler | $host_cxx |"
  echo "| libstdc++ | $libstdcxx |"
  while IFS= read -r line; do
    echo "| bundle ${line%%:*} | ${line#*: } |"
  done <"$HERE/BUILD_INFO"
  echo "| run time | ${total} s |"
  echo
  echo "## CUDA tests (\`--gtest_filter='*Cuda*'\`)"
  echo
  echo "**$tests_passed passed, $tests_failed failed, $tests_skipped skipped**; $binaries_failed of ${#test_rows[@]} binaries not ok."
  echo
  echo "| binary | passed | failed | skipped | time | status |"
  echo "|---|---:|---:|---:|---:|---|"
  printf '%s\n' "${test_rows[@]}"
  if [[ ${#failures[@]} -gt 0 ]]; then
    echo
    echo "Failures:"
    echo
    printf -- '- %s\n' "${failures[@]}"
  fi
  if [[ $tests_skipped -gt 0 ]]; then
    echo
    echo "Skip reasons (count, message):"
    echo
    echo '```'
    grep -h -A1 ': Skipped$' "$OUT"/logs/*_test.log 2>/dev/null | grep -v ': Skipped$' | grep -v '^--$' |
      sort | uniq -c | sort -rn | head -10
    echo '```'
  fi
  echo
  echo "## Benchmarks (bench_gpu, exit status $brc)"
  echo
  [[ -n $torch_note ]] && echo "$torch_note" && echo
  # Table lines as Markdown, everything else as text.
  awk 'BEGIN { code = 0 }
    /^\|/ { if (code) { print "```"; code = 0 } print; next }
    /^$/ { next }
    { if (!code) { print ""; print "```"; code = 1 } print }
    END { if (code) print "```" }' "$OUT/logs/bench_gpu.log"
  if [[ -s $OUT/logs/bench_torch_gpu.log ]]; then
    echo
    echo "PyTorch:"
    echo
    echo '```'
    tail -20 "$OUT/logs/bench_torch_gpu.log"
    echo '```'
  fi
  echo
  echo "Raw data: \`bench-gpu.json\`, \`bench-torch-gpu.json\`, \`tests/*.json\`, \`logs/\`."
} >"$REPORT"

say "report: $REPORT (${total} s)"
say "tests: $tests_passed passed, $tests_failed failed, $tests_skipped skipped; bench_gpu exit status $brc"
if [[ $binaries_failed -gt 0 ]]; then exit 1; fi
if [[ $brc -ne 0 ]]; then exit 2; fi
exit 0
