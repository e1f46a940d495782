// A CPU emulation of the parts of CUDA's execution model that tilejit's
// generated kernels use, so the CUDA printer's kernels run (and are checked
// against the reference evaluator) on machines without a GPU.
//
// Included (g++ -include) before a generated CUDA translation unit. A block
// runs its threads as fibers (ucontext) on one OS thread; every
// synchronisation point — __syncthreads() and each __shfl_xor_sync() —
// yields to a round-robin scheduler, so all live threads of the block reach
// the point before any goes past it (generated kernels are uniform: every
// thread of a block, or every lane of a live warp, passes the same points in
// the same order). Shared memory is a function-local static: blocks run one
// after another. Kernels without synchronisation run as plain calls.
#pragma once

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(n)
#define __shared__ static

struct tj_emu_dim {
  unsigned x = 0, y = 0, z = 0;
};

struct tj_emu_thread {
  ucontext_t ctx;
  tj_emu_dim tid;
  bool done = false;
};

inline tj_emu_dim tj_emu_block_idx;
inline tj_emu_thread* tj_emu_cur = nullptr;
inline ucontext_t tj_emu_sched;
inline uint64_t tj_emu_slots[1024];

#define blockIdx tj_emu_block_idx
#define threadIdx (tj_emu_cur->tid)

inline void tj_emu_yield() { swapcontext(&tj_emu_cur->ctx, &tj_emu_sched); }
inline void __syncthreads() { tj_emu_yield(); }

template <typename T>
T __shfl_xor_sync(unsigned, T v, int mask) {
  static_assert(sizeof(T) <= sizeof(uint64_t), "shuffles move at most 8 bytes");
  const unsigned t = tj_emu_cur->tid.x;
  memcpy(&tj_emu_slots[t], &v, sizeof v);
  tj_emu_yield();  // every lane has written its value
  T r;
  memcpy(&r, &tj_emu_slots[t ^ static_cast<unsigned>(mask)], sizeof r);
  tj_emu_yield();  // every lane has read before the slots are reused
  return r;
}

// Blocks and threads run one at a time on one OS thread: nothing interleaves.
inline unsigned long long atomicCAS(unsigned long long* p, unsigned long long cmp,
                                    unsigned long long v) {
  const unsigned long long old = *p;
  if (old == cmp) *p = v;
  return old;
}

inline float __int_as_float(int i) {
  float f;
  memcpy(&f, &i, 4);
  return f;
}
inline float __uint_as_float(unsigned u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}
inline unsigned __float_as_uint(float f) {
  unsigned u;
  memcpy(&u, &f, 4);
  return u;
}

inline void (*tj_emu_fn)(void**) = nullptr;
inline void** tj_emu_params = nullptr;

inline void tj_emu_entry() {
  tj_emu_fn(tj_emu_params);
  tj_emu_cur->done = true;
}

/// Runs `grid` blocks of `block` threads of the kernel wrapper `fn`.
extern "C" void tj_emu_launch(void (*fn)(void**), void** params, unsigned grid, unsigned block,
                              int synchronising) {
  tj_emu_fn = fn;
  tj_emu_params = params;
  static tj_emu_thread threads[1024];
  constexpr size_t kStack = 128 * 1024;
  // Fiber stacks for one launch (touched pages only; freed at the end, since
  // the unit is unloaded after its plan ran).
  char* stacks = synchronising ? static_cast<char*>(malloc(kStack * 1024)) : nullptr;
  for (unsigned b = 0; b < grid; ++b) {
    tj_emu_block_idx.x = b;
    if (!synchronising) {
      for (unsigned t = 0; t < block; ++t) {
        threads[t].tid.x = t;
        tj_emu_cur = &threads[t];
        fn(params);
      }
      continue;
    }
    for (unsigned t = 0; t < block; ++t) {
      tj_emu_thread& th = threads[t];
      th.tid.x = t;
      th.done = false;
      getcontext(&th.ctx);
      th.ctx.uc_stack.ss_sp = stacks + kStack * t;
      th.ctx.uc_stack.ss_size = kStack;
      th.ctx.uc_link = &tj_emu_sched;
      makecontext(&th.ctx, tj_emu_entry, 0);
    }
    for (bool live = true; live;) {
      live = false;
      for (unsigned t = 0; t < block; ++t) {
        if (threads[t].done) continue;
        tj_emu_cur = &threads[t];
        swapcontext(&tj_emu_sched, &threads[t].ctx);
        live = live || !threads[t].done;
      }
    }
  }
  free(stacks);
}
