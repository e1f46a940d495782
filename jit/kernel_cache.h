// The in-memory kernel cache: every kernel loaded in this process, for
// every backend, by (backend name, kernel name). A kernel's name hashes its
// whole Kernel IR (scheduler/name_kernel.h), so equal names are equal kernels.
//
// At most 4 x options().plan_cache_size kernels are held, least recently
// used out first; plans keep the kernels they use alive.
//
// Each kernel is compiled once per process: a thread that asks for kernels
// another thread is compiling waits for that thread's result (or its
// error), and no lock is held while a compiler runs, so threads compiling
// different kernels do not wait for each other.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ir/kernel.h"
#include "jit/backend.h"

namespace tj::jit {

/// A kernel as its backend loaded it (a function pointer and the module
/// holding it, a CUfunction, ...).
struct LoadedKernel {
  virtual ~LoadedKernel() = default;
};
using LoadedPtr = std::shared_ptr<const LoadedKernel>;

/// Compiles (or loads from the disk cache) `ks`, returning one loaded kernel
/// per kernel, in order, and counting what it did in `st`.
using CompileFn = std::function<std::vector<LoadedPtr>(const std::vector<const ir::Kernel*>& ks,
                                                       PrepareStats* st)>;

class KernelCache {
 public:
  /// The loaded form of each of `ks` in `space` (a backend name, with a
  /// variant suffix where a backend keeps several forms of a kernel). The
  /// ones nobody has are given to one call of `compile`; an error of
  /// `compile` is thrown here and to every thread waiting for those kernels,
  /// and the next call tries again.
  std::vector<LoadedPtr> get(std::string_view space, const std::vector<const ir::Kernel*>& ks,
                             const CompileFn& compile, PrepareStats* st);

  /// Kernels held (ready or being compiled).
  size_t size() const;
  /// Drops the least recently used ready kernels past `max_kernels`.
  void trim(size_t max_kernels);

  struct Impl;
  KernelCache();
  ~KernelCache();

 private:
  std::unique_ptr<Impl> impl_;
};

/// The process's cache (never destroyed: kernels may run during exit).
KernelCache& kernel_cache();

}  // namespace tj::jit
