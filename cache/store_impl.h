// Internal: the state behind Store (kernel_store.h) and what it does to the
// database and the memory overlay: opening the database (schema, WAL, the
// read-only and memory-only fallbacks), mapping SQLite errors to warnings and
// lower modes, and reading, deleting, counting hits on and evicting entries.
// Store's methods (kernel_store.cpp) hold `mu` and call these.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>

#include "cache/kernel_store.h"
#include "cache/sqlite_db.h"
#include "cache/trust.h"

namespace tj::cache {

namespace detail {

int64_t now_ns();  // wall clock, nanoseconds since the epoch
inline int64_t to_seconds(int64_t ns) { return ns / 1000000000; }

// Column list shared by every SELECT of metadata (indices used by read_meta).
inline constexpr const char* kMetaCols =
    "e.key, e.backend, e.target, e.compiler, e.options, e.name, e.summary, e.signature, "
    "e.source_bytes, e.binary_bytes, e.compile_ms, e.created, e.last_used_ns, e.hits";

Entry read_meta(Stmt& s);

struct Bump {
  int64_t hits = 0, used_ns = 0;
};

struct MemEntry {
  Entry entry;
  std::list<Key>::iterator lru;
};

}  // namespace detail

struct Store::Impl {
  StoreOptions opts;
  mutable std::mutex mu;
  std::unique_ptr<detail::Db> db;
  Mode effective = Mode::off;
  std::string dir, path, why;  // why: reason for memory-only / read-only, for status()
  MacKey key;                  // signs and checks every entry on disk
  bool have_id = false;
  dev_t dev = 0;
  ino_t ino = 0;
  pid_t pid = 0;
  std::set<std::string> warned;
  std::unordered_map<Key, detail::Bump, KeyHash> pending;
  std::unordered_map<Key, detail::MemEntry, KeyHash> mem;
  std::list<Key> mem_lru;  // front = most recent
  int64_t mem_bytes = 0;
  Counters counters;

  // ---- warnings and degradation ----
  void warn_once(const std::string& tag, const std::string& msg);
  void degrade(Mode to, const std::string& reason, const std::string& advice = {});

  // ---- opening ----
  void remember_id();
  void configure_rw();
  void open_readonly();
  void open();
  void move_aside(const std::string& err);

  // The database was removed, replaced or truncated away under us, or we are
  // a forked child: open the file that is at the path now.
  void ensure_current();

  // Maps an error at the API boundary to a warning and, where needed, a new
  // database or a lower mode. Never throws.
  void handle(const detail::SqliteError& e, const std::string& doing);

  // ---- memory overlay (used when the disk cannot take new entries) ----
  void mem_put(const Entry& e);
  std::optional<Entry> mem_get(const Key& k);

  // ---- disk helpers (callers hold mu and catch SqliteError) ----
  bool writable() const { return db && effective == Mode::on; }

  // Reads one entry; nullopt when absent. *problem is set when it is damaged.
  std::optional<Entry> read(const Key& k, bool payload, std::string* problem);
  std::string check(const Entry& e, uint64_t checksum, const std::string& stored_mac,
                    const Key& k) const;
  // The MAC an entry carries on disk.
  std::string entry_mac(const Entry& e) const;

  // True when an entry row was deleted.
  bool erase(const Key& k);
  void flush_pending();

  // Best effort outside a transaction: never waits for a busy database.
  void flush_pending_now();
  void bump(const Key& k);
  int64_t total_bytes();

  // Removes least-recently-used entries (never `keep`) until the payload fits.
  int64_t evict(int64_t limit, const std::string& keep);

  // Gives freed pages back to the file system (best effort).
  void shrink();
};

}  // namespace tj::cache
