// The database side of the kernel store (see store_impl.h): one SQLite
// database in WAL mode per cache directory, one connection per Store, a
// memory overlay for when the disk cannot be written. See cache/README.md for
// why SQLite.
#include "cache/store_impl.h"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "cache/cache_log.h"

namespace tj::cache {

using detail::Bump;
using detail::Db;
using detail::kMetaCols;
using detail::log;
using detail::MemEntry;
using detail::now_ns;
using detail::read_meta;
using detail::SqliteError;
using detail::StmtUse;
using detail::to_seconds;
using detail::Txn;

namespace detail {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Entry read_meta(Stmt& s) {
  Entry e;
  e.key = Key::from_hex(s.text(0)).value_or(Key{});
  e.backend = s.text(1);
  e.target = s.text(2);
  e.compiler = s.text(3);
  e.options = s.text(4);
  e.name = s.text(5);
  e.summary = s.text(6);
  e.signature = s.text(7);
  e.source_bytes = s.i64(8);
  e.binary_bytes = s.i64(9);
  e.compile_ms = s.f64(10);
  e.created = s.i64(11);
  e.last_used = to_seconds(s.i64(12));
  e.hits = s.i64(13);
  return e;
}

}  // namespace detail

namespace {

constexpr int kSchemaVersion = 2;
constexpr int kBusyTimeoutMs = 10000;

// mkdir -p; false with *err set when it cannot.
bool is_corruption(const SqliteError& e) {
  return e.primary() == SQLITE_CORRUPT || e.primary() == SQLITE_NOTADB ||
         e.code == SQLITE_IOERR_SHORT_READ;
}

bool is_busy(const SqliteError& e) {
  return e.primary() == SQLITE_BUSY || e.primary() == SQLITE_LOCKED;
}

bool is_unwritable(const SqliteError& e) {
  return e.primary() == SQLITE_READONLY || e.primary() == SQLITE_PERM ||
         e.primary() == SQLITE_AUTH || e.primary() == SQLITE_CANTOPEN;
}

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS entries(
  key TEXT PRIMARY KEY NOT NULL,
  backend TEXT NOT NULL, target TEXT NOT NULL, compiler TEXT NOT NULL, options TEXT NOT NULL,
  name TEXT NOT NULL, summary TEXT NOT NULL, signature TEXT NOT NULL,
  lib_version TEXT NOT NULL,
  source_bytes INTEGER NOT NULL, binary_bytes INTEGER NOT NULL, size INTEGER NOT NULL,
  compile_ms REAL NOT NULL, created INTEGER NOT NULL, last_used_ns INTEGER NOT NULL,
  hits INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS entries_lru ON entries(last_used_ns);
CREATE TABLE IF NOT EXISTS payloads(
  key TEXT PRIMARY KEY NOT NULL, checksum INTEGER NOT NULL, mac BLOB NOT NULL,
  source BLOB NOT NULL, binary BLOB NOT NULL);
)sql";
}  // namespace

// ---- warnings and degradation ----

void Store::Impl::warn_once(const std::string& tag, const std::string& msg) {
  if (!warned.insert(tag).second) return;
  log(Severity::warn, "{}", msg);
}

void Store::Impl::degrade(Mode to, const std::string& reason, const std::string& advice) {
  if (to >= effective) return;
  effective = to;
  why = reason;
  if (to == Mode::off) db.reset();
  std::string what = to == Mode::readonly
                         ? "reading existing kernels but keeping new ones in memory only"
                         : "using a memory-only kernel cache";
  warn_once("degrade:" + std::string(mode_name(to)),
            fmt::format("kernel cache: {}; {} for this process. {}", reason, what,
                        advice.empty() ? "Fix it, set TILEJIT_CACHE_DIR to a writable directory, "
                                         "or set TILEJIT_CACHE=off to silence this."
                                       : advice));
}

// ---- opening ----

void Store::Impl::remember_id() {
  struct stat st {};
  have_id = ::stat(path.c_str(), &st) == 0;
  dev = st.st_dev;
  ino = st.st_ino;
  pid = getpid();
}

void Store::Impl::configure_rw() {
  db->busy_timeout(kBusyTimeoutMs);
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && st.st_size == 0) {
    // A new file: these take effect only before the first table is written.
    db->exec("PRAGMA auto_vacuum=INCREMENTAL");
  }
  {
    StmtUse s(*db, "PRAGMA journal_mode=WAL");
    if (s->step() && s->text(0) != "wal")
      log(Severity::info, "kernel cache: {} does not support WAL (journal mode {})", path,
          s->text(0));
  }
  db->exec("PRAGMA synchronous=NORMAL; PRAGMA journal_size_limit=67108864");
  int version = 0;
  {
    StmtUse s(*db, "PRAGMA user_version");
    if (s->step()) version = static_cast<int>(s->i64(0));
  }
  if (version != kSchemaVersion) {
    Txn t(*db);
    db->exec(kSchema);
    db->exec(fmt::format("PRAGMA user_version={}", kSchemaVersion).c_str());
    t.commit();
  }
}

void Store::Impl::open_readonly() {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    db.reset();  // nothing written yet: an empty cache; reopened when the file appears
    return;
  }
  for (bool immutable : {false, true}) {
    try {
      std::string uri = "file:" + path + (immutable ? "?immutable=1" : "");
      db = std::make_unique<Db>(uri, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI);
      db->busy_timeout(kBusyTimeoutMs);
      StmtUse s(*db, "SELECT COUNT(*) FROM entries");
      s->step();
      remember_id();
      return;
    } catch (const SqliteError& e) {
      db.reset();
      if (immutable) {
        degrade(Mode::off, fmt::format("cannot read {} ({})", path, e.what()));
        return;
      }
    }
  }
}

void Store::Impl::open() {
  db.reset();
  have_id = false;
  if (opts.mode == Mode::off) {
    effective = Mode::off;
    why = "disabled (TILEJIT_CACHE=off)";
    return;
  }
  dir = opts.dir.empty() ? default_dir() : opts.dir;
  if (dir.empty()) {
    degrade(Mode::off, "there is no home directory for the kernel cache",
            "Set TILEJIT_CACHE_DIR to a directory of your own to keep kernels across runs.");
    return;
  }
  path = fmt::format("{}/kernels-v{}.db", dir, kFormatVersion);
  if (!std::filesystem::exists(dir) && !opts.create_dir) {
    effective = Mode::readonly;
    why = fmt::format("{} does not exist yet", dir);
    return;
  }
  if (effective == Mode::on) {
    std::string err;
    if (!make_private_dirs(dir, &err)) {
      degrade(Mode::off, fmt::format("cannot create the cache directory {} ({})", dir, err));
      return;
    }
  }
  // A cached kernel is code this process runs: only from a directory no
  // one else can write (cache/trust.h), signed with this user's key.
  if (std::optional<std::string> bad = untrusted_dir(dir, opts.shared)) {
    degrade(Mode::off, fmt::format("refusing the cache directory: {}", *bad),
            opts.shared ? "See cache/README.md, \"Who the cache trusts\"."
                        : "Use a directory only you can write, or TILEJIT_CACHE_SHARED=1 for a "
                          "cache your group shares (see cache/README.md, \"Who the cache "
                          "trusts\").");
    return;
  }
  {
    const std::string key_path = opts.shared             ? dir + "/cache.key"
                                 : opts.key_file.empty() ? default_key_file()
                                                         : opts.key_file;
    std::string err;
    std::optional<MacKey> k =
        load_key(key_path, opts.create_dir && effective == Mode::on, opts.shared, &err);
    if (!k) {
      degrade(Mode::off, fmt::format("no key to sign cached kernels with: {}", err),
              "Fix the key file, or set TILEJIT_CACHE=off to silence this.");
      return;
    }
    key = std::move(*k);
  }
  if (effective == Mode::on) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      try {
        db = std::make_unique<Db>(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
        configure_rw();
        remember_id();
        return;
      } catch (const SqliteError& e) {
        db.reset();
        if (is_corruption(e) && attempt == 0) {
          move_aside(e.what());
          continue;
        }
        if (e.primary() == SQLITE_FULL) {
          degrade(Mode::readonly, fmt::format("the disk holding {} is full", dir));
        } else if (is_unwritable(e) || e.primary() == SQLITE_IOERR) {
          degrade(Mode::readonly, fmt::format("cannot write to {} ({})", dir, e.what()));
        } else if (is_busy(e)) {
          degrade(Mode::readonly, fmt::format("{} stayed locked by another process for {} s", path,
                                              kBusyTimeoutMs / 1000));
        } else {
          degrade(Mode::readonly, fmt::format("cannot open {} ({})", path, e.what()));
        }
        break;
      }
    }
  }
  if (effective == Mode::readonly) open_readonly();
}

void Store::Impl::move_aside(const std::string& err) {
  std::string bad = path + ".corrupt";
  warn_once("corrupt-db:" + path,
            fmt::format("kernel cache: the database {} is damaged ({}); moved it to {} and "
                        "started an empty one. Kernels will be compiled again once; nothing "
                        "else to do (delete {} when you like).",
                        path, err, bad, bad));
  ::rename(path.c_str(), bad.c_str());
  ::unlink((path + "-wal").c_str());
  ::unlink((path + "-shm").c_str());
}

// The database was removed, replaced or truncated away under us, or we are
// a forked child: open the file that is at the path now.
void Store::Impl::ensure_current() {
  if (effective == Mode::off) return;
  if (db && pid != getpid()) {
    db->abandon();  // the parent's connection: never close it here
    db.reset();
    open();
    return;
  }
  struct stat st {};
  bool exists = ::stat(path.c_str(), &st) == 0;
  if (db && exists && have_id && st.st_dev == dev && st.st_ino == ino) return;
  if (!db && !exists) return;
  if (db) log(Severity::info, "kernel cache: {} was removed or replaced; reopening it", path);
  pending.clear();
  open();
}

// Maps an error at the API boundary to a warning and, where needed, a new
// database or a lower mode. Never throws.
void Store::Impl::handle(const SqliteError& e, const std::string& doing) {
  if (is_corruption(e)) {
    counters.corrupt++;
    if (effective == Mode::on) {
      db.reset();
      move_aside(e.what());
      open();
    } else {
      degrade(Mode::off, fmt::format("the database {} is damaged ({}) and cannot be "
                                     "repaired from this process",
                                     path, e.what()));
    }
    return;
  }
  if (e.primary() == SQLITE_FULL) {
    degrade(Mode::readonly, fmt::format("the disk holding {} is full", dir));
    return;
  }
  if (is_unwritable(e)) {
    degrade(Mode::readonly, fmt::format("cannot write to {} ({})", path, e.what()));
    return;
  }
  if (is_busy(e)) {
    warn_once("busy", fmt::format("kernel cache: {} stayed locked by another process for {} s "
                                  "while {}; going on without it",
                                  path, kBusyTimeoutMs / 1000, doing));
    return;
  }
  warn_once("error:" + doing.substr(0, doing.find(' ')),
            fmt::format("kernel cache: error while {}: {}; going on without the cache for this",
                        doing, e.what()));
}

// ---- memory overlay (used when the disk cannot take new entries) ----

void Store::Impl::mem_put(const Entry& e) {
  if (mem.count(e.key)) return;
  int64_t size = static_cast<int64_t>(e.source.size() + e.binary.size());
  if (size > opts.max_bytes) return;
  mem_lru.push_front(e.key);
  MemEntry& m = mem[e.key];
  m.entry = e;
  m.entry.source_bytes = static_cast<int64_t>(e.source.size());
  m.entry.binary_bytes = static_cast<int64_t>(e.binary.size());
  m.entry.created = m.entry.last_used = to_seconds(now_ns());
  m.entry.hits = 0;
  m.lru = mem_lru.begin();
  mem_bytes += size;
  while (mem_bytes > opts.max_bytes && !mem_lru.empty()) {
    auto it = mem.find(mem_lru.back());
    mem_bytes -= it->second.entry.bytes();
    mem.erase(it);
    mem_lru.pop_back();
  }
}

std::optional<Entry> Store::Impl::mem_get(const Key& k) {
  auto it = mem.find(k);
  if (it == mem.end()) return std::nullopt;
  mem_lru.splice(mem_lru.begin(), mem_lru, it->second.lru);
  it->second.entry.hits++;
  it->second.entry.last_used = to_seconds(now_ns());
  return it->second.entry;
}

// ---- disk helpers (callers hold mu and catch SqliteError) ----

// Reads one entry; nullopt when absent. *problem is set when it is damaged.
std::optional<Entry> Store::Impl::read(const Key& k, bool payload, std::string* problem) {
  std::string sql = fmt::format(
      "SELECT {}, p.checksum, {} FROM entries e LEFT JOIN payloads p ON p.key = e.key "
      "WHERE e.key = ?1",
      kMetaCols, payload ? "p.source, p.binary, p.key IS NOT NULL, p.mac" : "NULL, NULL, 1, NULL");
  StmtUse s(*db, sql.c_str());
  s->bind_text(1, k.hex());
  if (!s->step()) return std::nullopt;
  Entry e = read_meta(*s);
  if (!payload) return e;
  if (s->i64(17) == 0) {
    *problem = "its payload is missing";
    return e;
  }
  auto checksum = static_cast<uint64_t>(s->i64(14));
  e.source = s->blob(15);
  e.binary = s->blob(16);
  *problem = check(e, checksum, s->blob(18), k);
  return e;
}

std::string Store::Impl::entry_mac(const Entry& e) const {
  return mac(key, {"tilejit kernel cache entry", e.key.hex(), e.backend, e.target, e.compiler,
                   e.options, e.source, e.binary});
}

std::string Store::Impl::check(const Entry& e, uint64_t checksum, const std::string& stored_mac,
                               const Key& k) const {
  if (static_cast<int64_t>(e.source.size()) != e.source_bytes ||
      static_cast<int64_t>(e.binary.size()) != e.binary_bytes)
    return fmt::format("truncated: expected {} + {} bytes, found {} + {}", e.source_bytes,
                       e.binary_bytes, e.source.size(), e.binary.size());
  if (payload_checksum(e.source, e.binary) != checksum) return "checksum mismatch";
  if (!(make_key(e.key_fields()) == k))
    return "its fields do not hash to its key (written by another tilejit version?)";
  if (!same_mac(stored_mac, entry_mac(e)))
    return "not signed with your key: someone else wrote it (a forged entry), or it was damaged; "
           "it was not run";
  return {};
}

// True when an entry row was deleted.
bool Store::Impl::erase(const Key& k) {
  std::string hex = k.hex();
  StmtUse a(*db, "DELETE FROM entries WHERE key = ?1");
  a->bind_text(1, hex);
  a->run();
  bool any = db->changes() > 0;
  StmtUse b(*db, "DELETE FROM payloads WHERE key = ?1");
  b->bind_text(1, hex);
  b->run();
  return any;
}

void Store::Impl::flush_pending() {
  for (auto& [k, b] : pending) {
    StmtUse s(*db,
              "UPDATE entries SET hits = hits + ?2, last_used_ns = max(last_used_ns, ?3) "
              "WHERE key = ?1");
    s->bind_text(1, k.hex()).bind(2, b.hits).bind(3, b.used_ns);
    s->run();
  }
  pending.clear();
}

// Best effort outside a transaction: never waits for a busy database.
void Store::Impl::flush_pending_now() {
  if (!writable() || pending.empty()) return;
  try {
    db->busy_timeout(0);
    Txn t(*db);
    flush_pending();
    t.commit();
  } catch (const SqliteError& e) {
    if (!is_busy(e)) handle(e, "recording cache hits");
  }
  if (db) db->busy_timeout(kBusyTimeoutMs);
}

void Store::Impl::bump(const Key& k) {
  Bump& b = pending[k];
  b.hits++;
  b.used_ns = now_ns();
  flush_pending_now();
}

int64_t Store::Impl::total_bytes() {
  StmtUse s(*db, "SELECT COALESCE(SUM(size), 0) FROM entries");
  s->step();
  return s->i64(0);
}

// Removes least-recently-used entries (never `keep`) until the payload fits.
int64_t Store::Impl::evict(int64_t limit, const std::string& keep) {
  int64_t total = total_bytes();
  int64_t removed = 0;
  while (total > limit) {
    std::vector<std::pair<std::string, int64_t>> victims;
    {
      StmtUse s(*db,
                "SELECT key, size FROM entries WHERE key != ?1 "
                "ORDER BY last_used_ns ASC, created ASC LIMIT 32");
      s->bind_text(1, keep);
      while (s->step()) victims.emplace_back(s->text(0), s->i64(1));
    }
    if (victims.empty()) break;
    for (auto& [hex, size] : victims) {
      if (total <= limit) break;
      if (auto k = Key::from_hex(hex)) {
        erase(*k);
      } else {
        StmtUse a(*db, "DELETE FROM entries WHERE key = ?1");
        a->bind_text(1, hex);
        a->run();
      }
      total -= size;
      removed++;
    }
  }
  counters.evicted += removed;
  if (removed)
    log(Severity::info, "kernel cache: evicted {} least recently used kernel(s) to stay under {}",
        removed, format_size(limit));
  return removed;
}

// Gives freed pages back to the file system (best effort).
void Store::Impl::shrink() {
  if (!writable()) return;
  try {
    db->exec("PRAGMA incremental_vacuum");
    db->busy_timeout(0);
    db->exec("PRAGMA wal_checkpoint(TRUNCATE)");
  } catch (const SqliteError&) {
  }
  if (db) db->busy_timeout(kBusyTimeoutMs);
}

}  // namespace tj::cache
