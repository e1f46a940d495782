// Cache keys and payload checksums (xxHash XXH3).
#include <xxhash.h>

#include <cstring>

#include "cache/kernel_store.h"
#include "tilejit_build_config.h"

namespace tj::cache {

namespace {

void add_u64(XXH3_state_t* st, uint64_t v) {
  unsigned char b[8];
  for (int i = 0; i < 8; ++i)
    b[i] = static_cast<unsigned char>(v >> (8 * i));  // little endian on every host
  XXH3_128bits_update(st, b, sizeof b);
}

void add_str(XXH3_state_t* st, std::string_view s) {
  add_u64(st, s.size());
  XXH3_128bits_update(st, s.data(), s.size());
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

struct StateDeleter {
  void operator()(XXH3_state_t* s) const { XXH3_freeState(s); }
};

}  // namespace

std::string Key::hex() const {
  static const char* digits = "0123456789abcdef";
  std::string s(32, '0');
  for (int i = 0; i < 16; ++i) {
    s[i] = digits[(hi >> (60 - 4 * i)) & 15];
    s[16 + i] = digits[(lo >> (60 - 4 * i)) & 15];
  }
  return s;
}

std::optional<Key> Key::from_hex(std::string_view hex) {
  if (hex.size() != 32) return std::nullopt;
  Key k;
  for (int i = 0; i < 32; ++i) {
    int d = hex_digit(hex[i]);
    if (d < 0) return std::nullopt;
    uint64_t& half = i < 16 ? k.hi : k.lo;
    half = (half << 4) | static_cast<uint64_t>(d);
  }
  return k;
}

std::string_view library_version() { return TJ_VERSION; }

Key make_key(const KeyFields& f) {
  std::unique_ptr<XXH3_state_t, StateDeleter> st(XXH3_createState());
  XXH3_128bits_reset(st.get());
  add_str(st.get(), "tilejit kernel");
  add_u64(st.get(), static_cast<uint64_t>(kFormatVersion));
  add_str(st.get(), library_version());
  add_str(st.get(), f.backend);
  add_str(st.get(), f.target);
  add_str(st.get(), f.compiler);
  add_str(st.get(), f.options);
  add_str(st.get(), f.source);
  XXH128_hash_t h = XXH3_128bits_digest(st.get());
  return Key{h.high64, h.low64};
}

uint64_t payload_checksum(std::string_view source, std::string_view binary) {
  std::unique_ptr<XXH3_state_t, StateDeleter> st(XXH3_createState());
  XXH3_64bits_reset(st.get());
  unsigned char b[8];
  auto add = [&](std::string_view s) {
    uint64_t n = s.size();
    for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(n >> (8 * i));
    XXH3_64bits_update(st.get(), b, sizeof b);
    XXH3_64bits_update(st.get(), s.data(), s.size());
  };
  add(source);
  add(binary);
  return XXH3_64bits_digest(st.get());
}

}  // namespace tj::cache
