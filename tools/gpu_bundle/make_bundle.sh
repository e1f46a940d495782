#!/usr/bin/env bash
# Builds the GPU check bundle: a folder that runs tilejit's CUDA tests and GPU
# benchmarks on a machine with a GPU but no compiler toolchain packages or
# package registry. `./dev gpu-bundle [DIR]` calls this script.
#
#   tools/gpu_bundle/make_bundle.sh [DIR]
#
# Builds in build-bundle/ (release, static where a static library exists,
# RPATH $ORIGIN/../lib), then assembles DIR (default build-bundle/gpu-bundle)
# and DIR.tar.gz:
#
#   run.sh            runs everything and writes OUTDIR/report.md (see README, "GPU check")
#   BUILD_INFO        commit, date, compiler, toolkit headers, glibc needed
#   tests/*_test      the GoogleTest binaries that have CUDA tests (`Cuda` in a suite or
#                     instance name); run.sh runs them with --gtest_filter='*Cuda*'
#   bin/bench_gpu     the GPU benchmarks;  bin/bench_torch_gpu.py  the PyTorch baseline
#   lib/              the shared libraries the binaries need beyond glibc and libstdc++ (fmt)
#   lib/compat/       libstdc++ and libgcc_s of this machine, which run.sh uses only where the
#                     GPU machine's libstdc++ is older than the binaries need
#
# The CUDA driver, NVRTC and cuBLASLt are not bundled: tilejit opens them at
# run time on the GPU machine. CBLAS is left out of this build on purpose (a
# static OpenBLAS adds ~25 MB to every test binary, its shared library is
# 36 MB): CPU matmuls in the bundle use tilejit's generated kernels.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUNDLE_BUILD_DIR:-$ROOT/build-bundle}
DEST=${1:-$BUILD/gpu-bundle}
JOBS=${JOBS:-$(nproc)}
MAX_BYTES=$((64 * 1024 * 1024))

log() { echo "gpu-bundle: $*"; }
die() {
  echo "gpu-bundle: error: $*" >&2
  exit 1
}

# ---- configure -----------------------------------------------------------------
# pkg-config sees every .pc file of the system except the BLAS ones, so Meson
# does not find OpenBLAS (see above). The list lives in the build dir and a
# native file points Meson at it, so reconfigures by ninja see the same.
mkdir -p "$BUILD/pkgconfig-no-blas"
for dir in $(pkg-config --variable pc_path pkg-config | tr ':' '\n'); do
  [[ -d $dir ]] || continue
  for pc in "$dir"/*.pc; do
    [[ -e $pc ]] || continue
    name=$(basename "$pc")
    case $name in openblas* | blas* | cblas* | lapack*) continue ;; esac
    [[ -e $BUILD/pkgconfig-no-blas/$name ]] || ln -s "$pc" "$BUILD/pkgconfig-no-blas/$name"
  done
done
cat >"$BUILD/bundle-native.ini" <<EOF
[properties]
pkg_config_libdir = ['$BUILD/pkgconfig-no-blas']
EOF

if [[ ! -e $BUILD/build.ninja ]]; then
  log "configuring $BUILD"
  meson setup "$BUILD" "$ROOT" \
    --native-file "$BUILD/bundle-native.ini" \
    --buildtype=release \
    -Ddefault_library=static -Dprefer_static=true \
    -Dcuda=enabled -Donednn=disabled \
    "-Dcpp_link_args=['-Wl,--disable-new-dtags','-Wl,-rpath,\$ORIGIN/../lib']"
fi

# ---- build only what goes into the bundle ----------------------------------------
mapfile -t targets < <(meson introspect "$BUILD" --targets | python3 -c '
import json, os, sys
build = sys.argv[1]
for t in json.load(sys.stdin):
    if t["type"] != "executable":
        continue
    for f in t["filename"]:
        rel = os.path.relpath(f, build)
        name = os.path.basename(rel)
        if (rel.startswith("tests/") and name.endswith("_test")) or rel == "bench/bench_gpu":
            print(rel)
' "$BUILD")
[[ ${#targets[@]} -gt 0 ]] || die "no test executables or bench_gpu among the build's targets"
log "building ${#targets[@]} executables in $BUILD"
ninja -C "$BUILD" -j "$JOBS" "${targets[@]}"

# ---- assemble --------------------------------------------------------------------
rm -rf "$DEST"
mkdir -p "$DEST/bin" "$DEST/tests" "$DEST/lib/compat"
for t in "${targets[@]}"; do
  case $t in
    bench/*) cp "$BUILD/$t" "$DEST/bin/" ;;
    *) cp "$BUILD/$t" "$DEST/tests/" ;;
  esac
done
strip --strip-unneeded "$DEST"/bin/* "$DEST"/tests/*
# Only binaries with CUDA tests go in (each is ~3 MB). One that cannot list its
# tests stays, so that run.sh shows the failure.
left_out=()
for t in "$DEST"/tests/*; do
  if listing=$(TILEJIT_CACHE_DIR=$BUILD/list-cache "$t" --gtest_list_tests --gtest_filter='*Cuda*' 2>/dev/null) &&
    ! grep -q '^  ' <<<"$listing"; then
    left_out+=("$(basename "$t")")
    rm "$t"
  fi
done
cp "$ROOT/bench/bench_torch_gpu.py" "$DEST/bin/"
cp "$ROOT/tools/gpu_bundle/run.sh" "$DEST/run.sh"
chmod +x "$DEST/run.sh" "$DEST/bin/bench_torch_gpu.py"

# Shared libraries beyond glibc, copied until the set is closed (a copied
# library may need others). libstdc++ and libgcc_s go to lib/compat: this
# machine's need a newer glibc than the binaries do, so the GPU machine's own
# are used unless they are too old (run.sh decides).
is_elf() { [[ -f $1 ]] && [[ $(head -c 4 "$1" | tail -c 3) == ELF ]]; }
is_system_lib() {
  case $1 in
    linux-vdso.so.* | ld-linux*.so.* | libc.so.* | libm.so.* | libdl.so.* | libpthread.so.* | librt.so.*) return 0 ;;
  esac
  return 1
}
is_compat_lib() { [[ $1 == libstdc++.so.* || $1 == libgcc_s.so.* ]]; }
while true; do
  added=0
  for f in "$DEST"/bin/* "$DEST"/tests/* "$DEST"/lib/* "$DEST"/lib/compat/*; do
    is_elf "$f" || continue
    while read -r soname path; do
      is_system_lib "$soname" && continue
      to=$DEST/lib
      is_compat_lib "$soname" && to=$DEST/lib/compat
      [[ -e $to/$soname ]] && continue
      [[ $path == /* ]] || die "$(basename "$f") needs $soname, which is not found here"
      cp -L "$path" "$to/$soname"
      chmod u+w "$to/$soname"
      strip --strip-unneeded "$to/$soname" 2>/dev/null || true
      added=1
    done < <(ldd "$f" 2>/dev/null | awk '/=>/ { print $1, $3 }')
  done
  [[ $added -eq 0 ]] && break
done

# Every non-glibc library must now resolve inside the bundle.
bad=0
for f in "$DEST"/bin/* "$DEST"/tests/*; do
  is_elf "$f" || continue
  while read -r soname path; do
    is_system_lib "$soname" && continue
    is_compat_lib "$soname" && continue
    if [[ $(realpath -m "$path") != "$(realpath -m "$DEST/lib")/"* ]]; then
      echo "gpu-bundle: $(basename "$f"): $soname resolves to $path, not to the bundle" >&2
      bad=1
    fi
  done < <(ldd "$f" 2>/dev/null | awk '/=>/ { print $1, ($3 == "not" ? "not-found" : $3) }')
done
[[ $bad -eq 0 ]] || die "some libraries do not resolve inside the bundle (see above)"

# ---- build info ------------------------------------------------------------------
commit=$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null | head -c 1)
[[ -n $dirty ]] && commit="$commit (with uncommitted changes)"
# The newest symbol versions the binaries and lib/ need, and what lib/compat needs.
symbols() { for f in "$@"; do if is_elf "$f"; then objdump -T "$f" 2>/dev/null; fi; done; }
glibc=$(symbols "$DEST"/bin/* "$DEST"/tests/* "$DEST"/lib/* | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
glibcxx=$(symbols "$DEST"/bin/* "$DEST"/tests/* "$DEST"/lib/* | grep -o 'GLIBCXX_[0-9.]*' | sort -uV | tail -1)
compat_glibc=$(symbols "$DEST"/lib/compat/* | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
cuda_home=$(sed -n 's/^#define TJ_CUDA_HOME "\(.*\)"/\1/p' "$BUILD/tilejit_build_config.h")
cuda_version=$({ "${cuda_home:-/usr/local/cuda}/bin/nvcc" --version 2>/dev/null || true; } | sed -n 's/.*release \([0-9.]*\).*/\1/p')
cat >"$DEST/BUILD_INFO" <<EOF
commit: $commit
built: $(date -u '+%Y-%m-%d %H:%M UTC') on $(uname -sm), $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")
compiler: $(c++ --version | head -1)
cuda headers: ${cuda_home:-unknown} (toolkit ${cuda_version:-unknown}); NVRTC, cuBLASLt and the driver are loaded on the GPU machine
glibc: ${glibc:-unknown} or newer
libstdc++: ${glibcxx:-none} or newer (else lib/compat, which needs ${compat_glibc:-unknown})
tests left out (no Cuda tests): ${left_out[*]:-none}
CPU matmul: neither oneDNN (40 MB) nor a CBLAS in this build (CPU matmuls use generated kernels)
EOF

# ---- size ------------------------------------------------------------------------
size=$(du -sb "$DEST" | cut -f1)
((size < MAX_BYTES)) || die "bundle is $((size / 1024 / 1024)) MiB, over the 64 MiB limit"
tar -C "$(dirname "$DEST")" -czf "$DEST.tar.gz" "$(basename "$DEST")"
log "bundle: $DEST ($((size / 1024 / 1024)) MiB; $(du -h "$DEST.tar.gz" | cut -f1) as $DEST.tar.gz)"
log "test binaries: $(cd "$DEST/tests" && echo *)"
log "libraries: $(cd "$DEST/lib" && find . -type f | sed 's|^\./||' | sort | tr '\n' ' ')"
cat "$DEST/BUILD_INFO"
log "copy it to the GPU machine and run: ./run.sh [OUTDIR]   (report: OUTDIR/report.md)"
