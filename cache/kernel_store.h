// The on-disk kernel store: compiled kernels (shared objects for the CPU,
// CUBINs for CUDA) keyed by a 128-bit hash of everything that changes the
// binary, kept in one SQLite database (WAL mode) under TILEJIT_CACHE_DIR so
// the next process starts warm. It knows nothing about ops: the JIT hands it
// strings (source, target, compiler, options) and bytes.
//
// Guarantees (see cache/README.md):
// - many threads and processes may read and write one directory at once;
// - a damaged entry is a miss (warned once, removed), never a crash;
// - an unusable directory or a full disk degrades to a memory-only store
//   with one warning;
// - the payload bytes stay under max_bytes, least recently used out first.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tj::cache {

// ---- keys -------------------------------------------------------------------

struct Key {
  uint64_t hi = 0, lo = 0;
  std::string hex() const;                                   // 32 lowercase hex chars, hi first
  static std::optional<Key> from_hex(std::string_view hex);  // exactly 32 hex chars
  bool operator==(const Key&) const = default;
};

struct KeyHash {
  size_t operator()(const Key& k) const {
    return static_cast<size_t>(k.hi ^ (k.lo * 0x9e3779b97f4a7c15ull));
  }
};

// Everything that changes the binary.
struct KeyFields {
  std::string backend;  // "cpu" | "cuda"
  std::string
      target;  // CPU: ISA/flags, e.g. "x86_64 -march=native (skylake-avx512)"; CUDA: "sm_90"
  std::string compiler;  // identity and version, e.g. "g++ 12.2.0" or "nvrtc 13.0"
  std::string options;   // compile options
  std::string source;    // the full kernel source (embeds shapes, dtypes, tile config)
};

// Bump to invalidate every entry ever written (old entries become unreachable
// and age out through the LRU bound; `tilejit-cache clear` removes them now).
inline constexpr int kFormatVersion = 2;  // 2: entries carry a keyed MAC (cache/trust.h)

// The tilejit version baked into every key ("0.1.0").
std::string_view library_version();

// XXH3-128 over kFormatVersion, library_version() and every field, each
// length-prefixed so that no two field lists collide by concatenation.
Key make_key(const KeyFields& f);

// XXH3-64 over source and binary (length-prefixed); stored with each entry and
// checked on every read.
uint64_t payload_checksum(std::string_view source, std::string_view binary);

// ---- entries ----------------------------------------------------------------

struct Entry {
  Key key;
  std::string backend, target, compiler, options;
  std::string name;       // kernel/plan name, e.g. "tj_row_softmax_3f2a"
  std::string summary;    // one line: the fused ops, e.g. "max, sub, exp, sum, div"
  std::string signature;  // shapes and dtypes, e.g. "f32[1024, 4096] -> f32[1024, 4096]"
  std::string source;
  std::string binary;  // the compiled bytes (shared object or CUBIN)
  double compile_ms = 0;
  int64_t created = 0, last_used = 0, hits = 0;  // unix seconds; hits = times served from disk
  // Filled by list() and get(); ignored by put():
  int64_t source_bytes = 0, binary_bytes = 0;

  KeyFields key_fields() const { return {backend, target, compiler, options, source}; }
  int64_t bytes() const { return source_bytes + binary_bytes; }
};

// ---- options ----------------------------------------------------------------

enum class Mode { off, readonly, on };
std::string_view mode_name(Mode m);

struct StoreOptions {
  std::string dir;  // empty: default_dir() (and memory-only when there is no home directory)
  Mode mode = Mode::on;
  /// TILEJIT_CACHE_SHARED: a directory several users share (cache/trust.h).
  bool shared = false;
  /// The secret that signs entries; empty: default_key_file() (a shared
  /// cache uses <dir>/cache.key).
  std::string key_file;
  int64_t max_bytes = int64_t{1} << 30;  // payload bytes (source + binary) kept on disk
  bool create_dir = true;  // false: a missing dir is an empty, read-only cache (the CLI)
};

// $XDG_CACHE_HOME/tilejit, else $HOME/.cache/tilejit, else the password
// database's home + /.cache/tilejit; empty (no disk cache) when there is no
// home at all: never a guessable directory under /tmp.
std::string default_dir();

// TILEJIT_CACHE=off|readonly|on, TILEJIT_CACHE_DIR, TILEJIT_CACHE_MAX_BYTES
// (a number of bytes with an optional K/M/G/T suffix: 500M, 2G),
// TILEJIT_CACHE_SHARED=1|0. An invalid value gets one warning naming the
// valid ones and the default is kept.
StoreOptions options_from_env();

// "500M" -> 524288000; K/M/G/T (also KB, KiB, ...) are powers of 1024. nullopt when invalid.
std::optional<int64_t> parse_size(std::string_view s);
// "30s", "10m", "2h", "7d", "1w" -> seconds; a bare number is seconds. nullopt when invalid.
std::optional<int64_t> parse_duration(std::string_view s);
// 1536 -> "1.5 KiB"
std::string format_size(int64_t bytes);

// ---- logging ----------------------------------------------------------------

// The store reports through this sink. The default prints
// "tilejit: warning: ..." to stderr (info/debug only with TILEJIT_LOG=info or
// debug; nothing with TILEJIT_LOG=error). The JIT may route it into its own
// logger; tests capture it.
enum class Severity { warn, info, debug };
using LogSink = std::function<void(Severity, std::string_view)>;
void set_log_sink(LogSink sink);  // an empty function restores the default

// ---- the store --------------------------------------------------------------

class Store {
 public:
  explicit Store(StoreOptions opts);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Created on first use from options_from_env(); lives until exit.
  static Store& global();

  const StoreOptions& options() const;
  // What the store really does: on (reads and writes disk), readonly (reads
  // disk; new kernels are kept in memory only), off (memory only or disabled).
  // Lower than options().mode when the directory is unusable or the disk is
  // full; the reason was warned once and is in status().
  Mode effective_mode() const;
  // One line for people: "on-disk at /x/kernels-v1.db" or "memory-only: <why>".
  std::string status() const;
  std::string db_path() const;

  // nullopt on a miss. A damaged entry (checksum mismatch, truncated, garbage,
  // fields that do not hash to the key) or one not signed with this user's
  // key (forged) is a miss: warned once, removed, never a crash, never run. A hit bumps
  // hits/last_used (best effort; never waits on a busy database).
  std::optional<Entry> get(const Key& k);
  // Same, and also checks that the stored fields equal `expected` (a key
  // collision or a stale entry from another compiler or target is a miss).
  std::optional<Entry> get(const Key& k, const KeyFields& expected);

  // True when the entry is on disk (or was already). False when not stored:
  // mode off/readonly, unusable directory, full disk, entry bigger than
  // max_bytes, or an error (each warned once). Evicts least-recently-used
  // entries past max_bytes in the same transaction. e.key must equal
  // make_key(e.key_fields()); created/last_used/hits are set by the store.
  bool put(const Entry& e);

  // For the CLI and tests. Most recently used first.
  std::vector<Entry> list(bool with_payload = false);
  // git-style short keys (lowercase hex). *error says "ambiguous" or "not found".
  std::optional<Entry> find_prefix(std::string_view hex_prefix, std::string* error);
  bool remove(const Key& k);

  struct VerifyResult {
    int64_t checked = 0, bad = 0, removed = 0;
    std::vector<std::string> problems;
  };
  VerifyResult verify(bool remove_bad);
  // Removes entries unused for older_than_seconds, then least recently used
  // ones until the payload is at most max_bytes. Returns entries removed.
  int64_t prune(std::optional<int64_t> max_bytes, std::optional<int64_t> older_than_seconds);
  int64_t clear();  // returns entries removed

  struct Totals {
    int64_t entries = 0, bytes = 0, hits = 0;
    double compile_ms_saved = 0;  // sum of hits * compile_ms
    int64_t file_bytes = 0;       // database + WAL on disk
  };
  Totals totals();

  // Counters of this Store object (this process), for TILEJIT_STATS and benchmarks.
  struct Counters {
    int64_t hits = 0, misses = 0, puts = 0, put_failures = 0, corrupt = 0, evicted = 0;
  };
  Counters counters() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tj::cache
