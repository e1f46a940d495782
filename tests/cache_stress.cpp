// cache_stress DIR ID KERNELS SHARED [MAX_BYTES]: one process of the
// multi-process cache test. It "compiles" KERNELS kernels (the first SHARED
// are the same in every process, the rest are its own) through the store in
// DIR, twice. The first round compiles each kernel at most once (a miss) and
// stores it; the second must be all disk hits with the right bytes.
// Prints "compiles=N hits=N" and exits 0, or prints the problems and exits 1.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "cache_test_util.h"

using namespace tj::cache;

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: cache_stress DIR ID KERNELS SHARED [MAX_BYTES]\n");
    return 2;
  }
  StoreOptions o;
  o.dir = argv[1];
  int id = std::atoi(argv[2]), kernels = std::atoi(argv[3]), shared = std::atoi(argv[4]);
  if (argc > 5) o.max_bytes = std::atoll(argv[5]);
  Store store(o);
  int compiles = 0, hits = 0, errors = 0;
  auto source_of = [&](int i) {
    return i < shared ? fmt::format("shared kernel {}", i)
                      : fmt::format("process {} kernel {}", id, i);
  };
  auto size_of = [](int i) { return static_cast<size_t>(512 + (i * 7919) % 65536); };
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < kernels; ++i) {
      Entry want = testing::fake_entry(source_of(i), size_of(i));
      auto got = store.get(want.key, want.key_fields());
      if (got) {
        hits++;
        if (got->binary != want.binary || got->source != want.source) {
          std::printf("process %d: kernel %d: wrong bytes from the cache\n", id, i);
          errors++;
        }
        continue;
      }
      if (round == 1) {
        std::printf("process %d: kernel %d: miss in round 2 (lost entry)\n", id, i);
        errors++;
      }
      compiles++;
      if (!store.put(want)) {
        std::printf("process %d: kernel %d: put failed (%s)\n", id, i, store.status().c_str());
        errors++;
      }
    }
  }
  if (compiles > kernels) {
    std::printf("process %d: %d compiles for %d kernels\n", id, compiles, kernels);
    errors++;
  }
  std::printf("compiles=%d hits=%d\n", compiles, hits);
  return errors ? 1 : 0;
}
