// Storing a compiled unit in the on-disk kernel cache, for both backends:
// the entry names the unit's kernels, the ops they fuse and their argument
// dtypes and domains, as `tilejit-cache list/show` print them.
#pragma once

#include <string>
#include <vector>

#include "cache/kernel_store.h"
#include "ir/kernel.h"

namespace tj::jit {

/// An entry for what was compiled from `f.source` into `binary`: the key
/// and the fields it is made of filled in (name, summary, signature left).
cache::Entry make_entry(const cache::KeyFields& f, std::string binary, double compile_ms);

/// Puts the unit compiled from `f.source` (its kernels `ks`, compiled to
/// `binary` in `compile_ms`) into the global store, when the cache is on.
void store_unit(const cache::KeyFields& f, const std::vector<const ir::Kernel*>& ks,
                const std::string& binary, double compile_ms);

}  // namespace tj::jit
