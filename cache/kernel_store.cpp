// The kernel store: one SQLite database in WAL mode per cache directory, one
// connection per Store guarded by a mutex, a memory overlay for when the disk
// cannot be written. See cache/README.md for why SQLite.
#include "cache/kernel_store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <list>
#include <mutex>
#include <set>
#include <unordered_map>

#include "cache/cache_log.h"
#include "cache/sqlite_db.h"

namespace tj::cache {

using detail::Db;
using detail::log;
using detail::SqliteError;
using detail::StmtUse;
using detail::Txn;

namespace {

constexpr int kSchemaVersion = 1;
constexpr int kBusyTimeoutMs = 10000;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t to_seconds(int64_t ns) { return ns / 1000000000; }

std::string short_key(const Key& k) { return k.hex().substr(0, 12); }

// mkdir -p; false with *err set when it cannot.
bool make_dirs(const std::string& dir, std::string* err) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    *err = ec.message();
    return false;
  }
  if (!std::filesystem::is_directory(dir, ec)) {
    *err = "not a directory";
    return false;
  }
  return true;
}

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
  key TEXT PRIMARY KEY NOT NULL, checksum INTEGER NOT NULL, source BLOB NOT NULL,
  binary BLOB NOT NULL);
)sql";

// Column list shared by every SELECT of metadata (indices used by read_meta).
constexpr const char* kMetaCols =
    "e.key, e.backend, e.target, e.compiler, e.options, e.name, e.summary, e.signature, "
    "e.source_bytes, e.binary_bytes, e.compile_ms, e.created, e.last_used_ns, e.hits";

Entry read_meta(detail::Stmt& s) {
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

struct Bump {
  int64_t hits = 0, used_ns = 0;
};

struct MemEntry {
  Entry entry;
  std::list<Key>::iterator lru;
};

}  // namespace

struct Store::Impl {
  StoreOptions opts;
  mutable std::mutex mu;
  std::unique_ptr<Db> db;
  Mode effective = Mode::off;
  std::string dir, path, why;  // why: reason for memory-only / read-only, for status()
  bool have_id = false;
  dev_t dev = 0;
  ino_t ino = 0;
  pid_t pid = 0;
  std::set<std::string> warned;
  std::unordered_map<Key, Bump, KeyHash> pending;
  std::unordered_map<Key, MemEntry, KeyHash> mem;
  std::list<Key> mem_lru;  // front = most recent
  int64_t mem_bytes = 0;
  Counters counters;

  // ---- warnings and degradation ----

  void warn_once(const std::string& tag, const std::string& msg) {
    if (!warned.insert(tag).second) return;
    log(Severity::warn, "{}", msg);
  }

  void degrade(Mode to, const std::string& reason) {
    if (to >= effective) return;
    effective = to;
    why = reason;
    if (to == Mode::off) db.reset();
    std::string what = to == Mode::readonly
                           ? "reading existing kernels but keeping new ones in memory only"
                           : "using a memory-only kernel cache";
    warn_once("degrade:" + std::string(mode_name(to)),
              fmt::format("kernel cache: {}; {} for this process. Fix it, set TILEJIT_CACHE_DIR "
                          "to a writable directory, or set TILEJIT_CACHE=off to silence this.",
                          reason, what));
  }

  // ---- opening ----

  void remember_id() {
    struct stat st {};
    have_id = ::stat(path.c_str(), &st) == 0;
    dev = st.st_dev;
    ino = st.st_ino;
    pid = getpid();
  }

  void configure_rw() {
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

  void open_readonly() {
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

  void open() {
    db.reset();
    have_id = false;
    if (opts.mode == Mode::off) {
      effective = Mode::off;
      why = "disabled (TILEJIT_CACHE=off)";
      return;
    }
    dir = opts.dir.empty() ? default_dir() : opts.dir;
    path = fmt::format("{}/kernels-v{}.db", dir, kFormatVersion);
    if (effective == Mode::on) {
      std::string err;
      if (!std::filesystem::exists(dir) && !opts.create_dir) {
        effective = Mode::readonly;
        why = fmt::format("{} does not exist yet", dir);
        return;
      }
      if (!make_dirs(dir, &err)) {
        degrade(Mode::off, fmt::format("cannot create the cache directory {} ({})", dir, err));
        return;
      }
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
            degrade(Mode::readonly, fmt::format("{} stayed locked by another process for {} s",
                                                path, kBusyTimeoutMs / 1000));
          } else {
            degrade(Mode::readonly, fmt::format("cannot open {} ({})", path, e.what()));
          }
          break;
        }
      }
    }
    if (effective == Mode::readonly) open_readonly();
  }

  void move_aside(const std::string& err) {
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
  void ensure_current() {
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
  void handle(const SqliteError& e, const std::string& doing) {
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

  void mem_put(const Entry& e) {
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

  std::optional<Entry> mem_get(const Key& k) {
    auto it = mem.find(k);
    if (it == mem.end()) return std::nullopt;
    mem_lru.splice(mem_lru.begin(), mem_lru, it->second.lru);
    it->second.entry.hits++;
    it->second.entry.last_used = to_seconds(now_ns());
    return it->second.entry;
  }

  // ---- disk helpers (callers hold mu and catch SqliteError) ----

  bool writable() const { return db && effective == Mode::on; }

  // Reads one entry; nullopt when absent. *problem is set when it is damaged.
  std::optional<Entry> read(const Key& k, bool payload, std::string* problem) {
    std::string sql = fmt::format(
        "SELECT {}, p.checksum, {} FROM entries e LEFT JOIN payloads p ON p.key = e.key "
        "WHERE e.key = ?1",
        kMetaCols, payload ? "p.source, p.binary, p.key IS NOT NULL" : "NULL, NULL, 1");
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
    *problem = check(e, checksum, k);
    return e;
  }

  static std::string check(const Entry& e, uint64_t checksum, const Key& k) {
    if (static_cast<int64_t>(e.source.size()) != e.source_bytes ||
        static_cast<int64_t>(e.binary.size()) != e.binary_bytes)
      return fmt::format("truncated: expected {} + {} bytes, found {} + {}", e.source_bytes,
                         e.binary_bytes, e.source.size(), e.binary.size());
    if (payload_checksum(e.source, e.binary) != checksum) return "checksum mismatch";
    if (!(make_key(e.key_fields()) == k))
      return "its fields do not hash to its key (written by another tilejit version?)";
    return {};
  }

  // True when an entry row was deleted.
  bool erase(const Key& k) {
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

  void flush_pending() {
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
  void flush_pending_now() {
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

  void bump(const Key& k) {
    Bump& b = pending[k];
    b.hits++;
    b.used_ns = now_ns();
    flush_pending_now();
  }

  int64_t total_bytes() {
    StmtUse s(*db, "SELECT COALESCE(SUM(size), 0) FROM entries");
    s->step();
    return s->i64(0);
  }

  // Removes least-recently-used entries (never `keep`) until the payload fits.
  int64_t evict(int64_t limit, const std::string& keep) {
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
  void shrink() {
    if (!writable()) return;
    try {
      db->exec("PRAGMA incremental_vacuum");
      db->busy_timeout(0);
      db->exec("PRAGMA wal_checkpoint(TRUNCATE)");
    } catch (const SqliteError&) {
    }
    if (db) db->busy_timeout(kBusyTimeoutMs);
  }
};

// ---- Store ------------------------------------------------------------------

Store::Store(StoreOptions opts) : impl_(std::make_unique<Impl>()) {
  impl_->opts = std::move(opts);
  if (impl_->opts.dir.empty()) impl_->opts.dir = default_dir();
  impl_->effective = impl_->opts.mode;
  std::lock_guard lock(impl_->mu);
  impl_->open();
}

Store::~Store() {
  std::lock_guard lock(impl_->mu);
  if (impl_->db && impl_->pid != getpid()) impl_->db->abandon();
  impl_->flush_pending_now();
}

Store& Store::global() {
  static Store store(options_from_env());
  return store;
}

const StoreOptions& Store::options() const { return impl_->opts; }

Mode Store::effective_mode() const {
  std::lock_guard lock(impl_->mu);
  return impl_->effective;
}

std::string Store::status() const {
  std::lock_guard lock(impl_->mu);
  const Impl& m = *impl_;
  if (m.effective == Mode::on) return fmt::format("on-disk at {}", m.path);
  if (m.effective == Mode::readonly)
    return fmt::format("read-only at {}: {}", m.path,
                       m.why.empty() ? "TILEJIT_CACHE=readonly" : m.why);
  return fmt::format("memory-only: {}", m.why);
}

std::string Store::db_path() const {
  std::lock_guard lock(impl_->mu);
  return impl_->path;
}

Store::Counters Store::counters() const {
  std::lock_guard lock(impl_->mu);
  return impl_->counters;
}

std::optional<Entry> Store::get(const Key& k) {
  std::lock_guard lock(impl_->mu);
  Impl& m = *impl_;
  if (m.opts.mode == Mode::off) return std::nullopt;
  if (auto e = m.mem_get(k)) {
    m.counters.hits++;
    return e;
  }
  m.ensure_current();
  if (!m.db) {
    m.counters.misses++;
    return std::nullopt;
  }
  try {
    std::string problem;
    auto e = m.read(k, true, &problem);
    if (!e) {
      m.counters.misses++;
      return std::nullopt;
    }
    if (!problem.empty()) {
      m.counters.misses++;
      m.counters.corrupt++;
      bool removed = false;
      if (m.writable()) {
        Txn t(*m.db);
        m.erase(k);
        t.commit();
        removed = true;
      }
      m.warn_once("bad:" + k.hex(),
                  fmt::format("kernel cache: entry {} ({}) is damaged ({}); {}. The kernel will "
                              "be compiled again; nothing else to do.",
                              short_key(k), e->name.empty() ? "unnamed" : e->name, problem,
                              removed ? "removed it" : "ignoring it (the cache is read-only)"));
      return std::nullopt;
    }
    m.counters.hits++;
    e->hits++;
    e->last_used = to_seconds(now_ns());
    if (m.writable()) m.bump(k);
    return e;
  } catch (const SqliteError& err) {
    m.counters.misses++;
    m.handle(err, fmt::format("reading kernel {}", short_key(k)));
    return std::nullopt;
  }
}

std::optional<Entry> Store::get(const Key& k, const KeyFields& expected) {
  auto e = get(k);
  if (!e) return e;
  if (e->backend != expected.backend || e->target != expected.target ||
      e->compiler != expected.compiler || e->options != expected.options ||
      e->source != expected.source) {
    detail::log(Severity::info, "kernel cache: entry {} was built for other settings; ignoring it",
                short_key(k));
    return std::nullopt;
  }
  return e;
}

bool Store::put(const Entry& e) {
  std::lock_guard lock(impl_->mu);
  Impl& m = *impl_;
  if (m.opts.mode == Mode::off) return false;
  if (!(make_key(e.key_fields()) == e.key)) {
    m.counters.put_failures++;
    m.warn_once("badkey", fmt::format("kernel cache: not storing {} ({}): its key is not "
                                      "make_key() of its fields (a bug in the caller)",
                                      short_key(e.key), e.name));
    return false;
  }
  int64_t size = static_cast<int64_t>(e.source.size() + e.binary.size());
  if (size > m.opts.max_bytes) {
    m.counters.put_failures++;
    m.warn_once(
        "toobig:" + e.key.hex(),
        fmt::format("kernel cache: kernel {} ({}) takes {}, more than the cache bound {} "
                    "(TILEJIT_CACHE_MAX_BYTES); it is not stored",
                    short_key(e.key), e.name, format_size(size), format_size(m.opts.max_bytes)));
    return false;
  }
  m.ensure_current();
  if (!m.writable()) {
    m.counters.put_failures++;
    m.mem_put(e);
    return false;
  }
  try {
    std::string hex = e.key.hex();
    Txn t(*m.db);
    m.flush_pending();
    {
      StmtUse s(*m.db, "SELECT 1 FROM entries WHERE key = ?1");
      s->bind_text(1, hex);
      if (s->step()) {
        s->reset();
        t.commit();
        m.counters.puts++;
        return true;
      }
    }
    int64_t now = now_ns();
    {
      StmtUse s(*m.db,
                "INSERT OR REPLACE INTO entries(key, backend, target, compiler, options, name, "
                "summary, signature, lib_version, source_bytes, binary_bytes, size, compile_ms, "
                "created, last_used_ns, hits) "
                "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, 0)");
      s->bind_text(1, hex).bind_text(2, e.backend).bind_text(3, e.target);
      s->bind_text(4, e.compiler).bind_text(5, e.options).bind_text(6, e.name);
      s->bind_text(7, e.summary).bind_text(8, e.signature).bind_text(9, library_version());
      s->bind(10, static_cast<int64_t>(e.source.size()));
      s->bind(11, static_cast<int64_t>(e.binary.size())).bind(12, size);
      s->bind(13, e.compile_ms).bind(14, to_seconds(now)).bind(15, now);
      s->run();
    }
    {
      StmtUse s(*m.db,
                "INSERT OR REPLACE INTO payloads(key, checksum, source, binary) "
                "VALUES(?1, ?2, ?3, ?4)");
      s->bind_text(1, hex).bind(2, static_cast<int64_t>(payload_checksum(e.source, e.binary)));
      s->bind_blob(3, e.source).bind_blob(4, e.binary);
      s->run();
    }
    m.evict(m.opts.max_bytes, hex);
    t.commit();
    m.counters.puts++;
    return true;
  } catch (const SqliteError& err) {
    m.counters.put_failures++;
    m.handle(err, fmt::format("storing kernel {}", short_key(e.key)));
    m.mem_put(e);
    return false;
  }
}

std::vector<Entry> Store::list(bool with_payload) {
  std::lock_guard lock(impl_->mu);
  Impl& m = *impl_;
  std::vector<Entry> out;
  m.ensure_current();
  if (m.db) {
    m.flush_pending_now();
    try {
      std::vector<Key> keys;
      {
        StmtUse s(*m.db,
                  fmt::format("SELECT {} FROM entries e ORDER BY e.last_used_ns DESC", kMetaCols)
                      .c_str());
        while (s->step()) out.push_back(read_meta(*s));
      }
      if (with_payload) {
        for (Entry& e : out) {
          std::string problem;
          if (auto full = m.read(e.key, true, &problem)) {
            e.source = std::move(full->source);
            e.binary = std::move(full->binary);
          }
        }
      }
    } catch (const SqliteError& err) {
      m.handle(err, "listing the cache");
    }
  }
  for (const Key& k : m.mem_lru) {
    Entry e = m.mem.at(k).entry;
    if (!with_payload) {
      e.source.clear();
      e.binary.clear();
    }
    out.push_back(std::move(e));
  }
  return out;
}

std::optional<Entry> Store::find_prefix(std::string_view hex_prefix, std::string* error) {
  std::string p(hex_prefix);
  for (char& c : p) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto set_error = [&](std::string msg) {
    if (error) *error = std::move(msg);
    return std::nullopt;
  };
  if (p.empty()) return set_error("empty key");
  if (p.size() > 32 || p.find_first_not_of("0123456789abcdef") != std::string::npos)
    return set_error(fmt::format("'{}' is not a key: keys are up to 32 hex digits", hex_prefix));
  std::lock_guard lock(impl_->mu);
  Impl& m = *impl_;
  std::vector<Key> found;
  for (auto& [k, me] : m.mem)
    if (k.hex().compare(0, p.size(), p) == 0) found.push_back(k);
  m.ensure_current();
  if (m.db) {
    try {
      StmtUse s(*m.db, "SELECT key FROM entries WHERE key >= ?1 AND key < ?2 LIMIT 3");
      s->bind_text(1, p).bind_text(2, p + "g");
      while (s->step())
        if (auto k = Key::from_hex(s->text(0))) found.push_back(*k);
    } catch (const SqliteError& err) {
      m.handle(err, "looking up a key");
    }
  }
  if (found.empty()) return set_error(fmt::format("no entry with key {}", p));
  if (found.size() > 1)
    return set_error(fmt::format("key prefix {} is ambiguous: it matches {} and {}{}", p,
                                 short_key(found[0]), short_key(found[1]),
                                 found.size() > 2 ? " and more" : ""));
  if (auto it = m.mem.find(found[0]); it != m.mem.end()) return it->second.entry;
  try {
    std::string problem;
    auto e = m.read(found[0], true, &problem);
    if (e && !problem.empty())
      return set_error(
          fmt::format("entry {} is damaged ({}); tilejit ignores it, "
                      "`tilejit-cache verify --remove` deletes it",
                      short_key(found[0]), problem));
    if (e) return e;
  } catch (const SqliteError& err) {
    m.handle(err, "reading an entry");
    return set_error(fmt::format("cannot read entry {}: {}", p, err.what()));
  }
  return set_error(fmt::format("no entry with key {}", p));
}

bool Store::remove(const Key& k) {
  std::lock_guard lock(impl_->mu);
  Impl& m = *impl_;
  bool removed = false;
  if (auto it = m.mem.find(k); it != m.mem.end()) {
    m.mem_bytes -= it->second.entry.bytes();
    m.mem_lru.erase(it->second.lru);
    m.mem.erase(it);
    removed = true;
  }
  m.ensure_current();
  if (!m.writable()) return removed;
  try {
    Txn t(*m.db);
    removed = m.erase(k) || removed;
    t.commit();
  } catch (const SqliteError& err) {
    m.handle(err, "removing an entry");
  }
  return removed;
}

Store::VerifyResult Store::verify(bool remove_bad) {
  std::lock_guard lock(impl_->mu);
  Impl& m = *impl_;
  VerifyResult r;
  m.ensure_current();
  if (!m.db) return r;
  m.flush_pending_now();
  try {
    StmtUse s(*m.db, "PRAGMA quick_check");
    std::vector<std::string> msgs;
    while (s->step()) msgs.push_back(s->text(0));
    if (!(msgs.size() == 1 && msgs[0] == "ok")) {
      r.bad++;
      r.problems.push_back(
          fmt::format("database {}: {}", m.path, msgs.empty() ? "unreadable" : msgs[0]));
    }
  } catch (const SqliteError& err) {
    r.bad++;
    r.problems.push_back(fmt::format("database {}: {}", m.path, err.what()));
    if (remove_bad && m.writable()) {
      m.db.reset();
      m.move_aside(err.what());
      m.open();
      r.removed++;
    }
    return r;
  }
  std::vector<std::string> keys;
  try {
    StmtUse s(*m.db, "SELECT key FROM entries UNION SELECT key FROM payloads");
    while (s->step()) keys.push_back(s->text(0));
  } catch (const SqliteError& err) {
    r.bad++;
    r.problems.push_back(fmt::format("cannot list entries: {}", err.what()));
    return r;
  }
  for (const std::string& hex : keys) {
    r.checked++;
    std::string problem, name;
    auto k = Key::from_hex(hex);
    try {
      if (!k) {
        problem = "malformed key";
      } else if (auto e = m.read(*k, true, &problem)) {
        name = e->name;
      } else {
        problem = "payload without an entry";
      }
    } catch (const SqliteError& err) {
      problem = err.what();
    }
    if (problem.empty()) continue;
    r.bad++;
    r.problems.push_back(
        fmt::format("{} {}: {}", hex.substr(0, 12), name.empty() ? "?" : name, problem));
    if (!remove_bad || !m.writable()) continue;
    try {
      Txn t(*m.db);
      StmtUse a(*m.db, "DELETE FROM entries WHERE key = ?1");
      a->bind_text(1, hex);
      a->run();
      StmtUse b(*m.db, "DELETE FROM payloads WHERE key = ?1");
      b->bind_text(1, hex);
      b->run();
      t.commit();
      r.removed++;
    } catch (const SqliteError& err) {
      r.problems.push_back(fmt::format("{}: cannot remove it: {}", hex.substr(0, 12), err.what()));
    }
  }
  return r;
}

int64_t Store::prune(std::optional<int64_t> max_bytes, std::optional<int64_t> older_than) {
  std::lock_guard lock(impl_->mu);
  Impl& m = *impl_;
  int64_t removed = 0;
  int64_t cutoff_s = older_than ? to_seconds(now_ns()) - *older_than : 0;
  if (older_than) {
    for (auto it = m.mem_lru.begin(); it != m.mem_lru.end();) {
      auto me = m.mem.find(*it);
      if (me->second.entry.last_used < cutoff_s) {
        m.mem_bytes -= me->second.entry.bytes();
        m.mem.erase(me);
        it = m.mem_lru.erase(it);
        removed++;
      } else {
        ++it;
      }
    }
  }
  m.ensure_current();
  if (!m.writable()) return removed;
  try {
    Txn t(*m.db);
    m.flush_pending();
    if (older_than) {
      StmtUse a(*m.db, "DELETE FROM entries WHERE last_used_ns < ?1");
      a->bind(1, cutoff_s * 1000000000);
      a->run();
      removed += m.db->changes();
      m.db->exec("DELETE FROM payloads WHERE key NOT IN (SELECT key FROM entries)");
    }
    if (max_bytes) removed += m.evict(*max_bytes, "");
    t.commit();
  } catch (const SqliteError& err) {
    m.handle(err, "pruning the cache");
  }
  m.shrink();
  return removed;
}

int64_t Store::clear() {
  std::lock_guard lock(impl_->mu);
  Impl& m = *impl_;
  int64_t removed = static_cast<int64_t>(m.mem.size());
  m.mem.clear();
  m.mem_lru.clear();
  m.mem_bytes = 0;
  m.pending.clear();
  m.ensure_current();
  if (!m.writable()) return removed;
  try {
    Txn t(*m.db);
    {
      StmtUse s(*m.db, "SELECT COUNT(*) FROM entries");
      s->step();
      removed += s->i64(0);
    }
    m.db->exec("DELETE FROM entries; DELETE FROM payloads");
    t.commit();
  } catch (const SqliteError& err) {
    m.handle(err, "clearing the cache");
  }
  m.shrink();
  // Files of other format versions and databases moved aside as damaged.
  std::error_code ec;
  std::string ours = std::filesystem::path(m.path).filename();
  for (const auto& de : std::filesystem::directory_iterator(m.dir, ec)) {
    std::string name = de.path().filename();
    bool other_version = name.rfind("kernels-v", 0) == 0 && name.rfind(ours, 0) != 0;
    bool damaged = name.size() > 8 && name.compare(name.size() - 8, 8, ".corrupt") == 0;
    if (other_version || damaged) std::filesystem::remove(de.path(), ec);
  }
  return removed;
}

Store::Totals Store::totals() {
  std::lock_guard lock(impl_->mu);
  Impl& m = *impl_;
  Totals t;
  m.ensure_current();
  if (m.db) {
    m.flush_pending_now();
    try {
      StmtUse s(*m.db,
                "SELECT COUNT(*), COALESCE(SUM(size), 0), COALESCE(SUM(hits), 0), "
                "COALESCE(SUM(hits * compile_ms), 0) FROM entries");
      if (s->step()) {
        t.entries = s->i64(0);
        t.bytes = s->i64(1);
        t.hits = s->i64(2);
        t.compile_ms_saved = s->f64(3);
      }
    } catch (const SqliteError& err) {
      m.handle(err, "summing the cache");
    }
    std::error_code ec;
    for (const char* suffix : {"", "-wal"}) {
      auto n = std::filesystem::file_size(m.path + suffix, ec);
      if (!ec) t.file_bytes += static_cast<int64_t>(n);
    }
  }
  for (auto& [k, me] : m.mem) {
    t.entries++;
    t.bytes += me.entry.bytes();
    t.hits += me.entry.hits;
    t.compile_ms_saved += static_cast<double>(me.entry.hits) * me.entry.compile_ms;
  }
  return t;
}

}  // namespace tj::cache
