// Shared by the cache tests and the cache_stress helper: deterministic fake
// kernels (a source and a "binary" derived from it) and small file helpers.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <string>

#include "cache/kernel_store.h"

namespace tj::cache::testing {

// A "compiled" binary: deterministic bytes from the source, `size` long,
// starting with a marker the fault-injection tests search for in the files.
inline std::string fake_binary(const std::string& source, size_t size) {
  std::string b = "TJBIN<" + std::to_string(payload_checksum(source, "")) + ">";
  uint64_t x = payload_checksum(source, "seed") | 1;
  while (b.size() < size) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b.push_back(static_cast<char>(x & 0xff));
  }
  b.resize(size);
  return b;
}

inline Entry fake_entry(const std::string& source, size_t binary_size = 4096,
                        const std::string& backend = "cpu",
                        const std::string& summary = "add, mul") {
  Entry e;
  e.backend = backend;
  e.target = backend == "cuda" ? "sm_90" : "x86_64 -march=native (test)";
  e.compiler = backend == "cuda" ? "nvrtc 13.0" : "g++ 12.2.0";
  e.options = "-O3";
  e.source = source;
  e.key = make_key(e.key_fields());
  e.name = "tj_" + e.key.hex().substr(0, 8);
  e.summary = summary;
  e.signature = "f32[1024, 4096] -> f32[1024, 4096]";
  e.binary = fake_binary(source, binary_size);
  e.compile_ms = 12.5;
  return e;
}

}  // namespace tj::cache::testing
