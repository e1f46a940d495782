// The on-disk kernel cache as both backends use it.
//
// One compiler run builds a *unit*: several kernels in one shared object (or
// CUBIN), which is faster than a run per kernel (the preamble is parsed
// once). The store holds the unit once, under the unit's key, and one small
// entry per kernel, under the kernel's own key, that names the unit: a later
// flush finds each kernel it needs by its own key, whichever kernels it was
// compiled beside. The entries name the kernels, the ops they fuse and their
// argument dtypes and domains, as `tilejit-cache list/show` print them.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cache/kernel_store.h"
#include "ir/kernel.h"

namespace tj::jit {

/// An entry for what was compiled from `f.source` into `binary`: the key
/// and the fields it is made of filled in (name, summary, signature left).
cache::Entry make_entry(const cache::KeyFields& f, std::string binary, double compile_ms);

/// The key fields of one kernel: `unit` (a unit's fields, whose source is
/// `preamble` followed by kernels) with the kernel's own source `kernel` and
/// the preamble's hash among the options.
cache::KeyFields kernel_fields(const cache::KeyFields& unit, const std::string& preamble,
                               const std::string& kernel);

/// The unit that holds the kernel with fields `f`, when the cache has both.
struct CachedUnit {
  std::string key;  // the unit's key (hex): kernels of one unit share one load
  std::string binary;
};
std::optional<CachedUnit> find_kernel(const cache::KeyFields& f);

/// Puts the unit compiled from `unit.source` (its kernels `ks`, whose own
/// fields are `kernels`, compiled to `binary` in `compile_ms`) into the global
/// store, with one entry per kernel that names it, when the cache is on.
void store_unit(const cache::KeyFields& unit, const std::vector<const ir::Kernel*>& ks,
                const std::vector<cache::KeyFields>& kernels, const std::string& binary,
                double compile_ms);

}  // namespace tj::jit
