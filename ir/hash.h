// A small, fast 64-bit hash combiner for structural hashing (not for
// security, not stable across tilejit versions).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace tj {

class Hasher {
 public:
  explicit Hasher(uint64_t seed = 0x9e3779b97f4a7c15ull) : h_(seed) {}
  Hasher& add(uint64_t v) {
    h_ = mix(h_ ^ (v + 0x9e3779b97f4a7c15ull + (h_ << 6) + (h_ >> 2)));
    return *this;
  }
  Hasher& add(const std::vector<int64_t>& v) {
    add(v.size());
    for (int64_t x : v) add(static_cast<uint64_t>(x));
    return *this;
  }
  Hasher& add(std::string_view s) {
    add(s.size());
    for (char c : s) add(static_cast<uint64_t>(static_cast<unsigned char>(c)));
    return *this;
  }
  uint64_t get() const { return h_; }

  static uint64_t mix(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
  }

 private:
  uint64_t h_;
};

}  // namespace tj
