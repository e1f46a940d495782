// The kernel preamble, precompiled (a GCC/Clang precompiled header): it is
// 1000 lines of math that every kernel unit would otherwise parse again,
// over half of a small unit's compile time.
//
// The first compile of a process starts making it in the background — from
// the on-disk kernel cache when an earlier process stored it there (it is an
// entry like any other: keyed by compiler, target, flags and the preamble,
// signed, in the trusted directory), else by running the compiler once and
// storing the result. Until it is ready, units include the preamble's text;
// afterwards they include the header whose .gch sits next to it in the
// private compile directory. The compiler checks that a .gch matches its
// flags and ignores one that does not, so a stale one costs time, never
// correctness; the cache key of a unit is its full source either way.
#pragma once

#include <string>

namespace tj::jit::cpu {

/// The path of a header holding `preamble` whose precompiled form is ready
/// next to it, or "" (include the text instead). The first call starts
/// making it; later calls return "" until it is done.
std::string precompiled_preamble(const std::string& preamble);

}  // namespace tj::jit::cpu
