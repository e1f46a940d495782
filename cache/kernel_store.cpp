// The kernel store's operations: get, put, listing, verification, pruning
// and clearing, each under the store's mutex. The database connection, its
// fallbacks and the memory overlay are in store_impl.cpp.
#include "cache/kernel_store.h"

#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "cache/cache_log.h"
#include "cache/sqlite_db.h"
#include "cache/store_impl.h"

namespace tj::cache {

using detail::now_ns;
using detail::SqliteError;
using detail::StmtUse;
using detail::to_seconds;
using detail::Txn;

namespace {

std::string short_key(const Key& k) { return k.hex().substr(0, 12); }

}  // namespace

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
                "INSERT OR REPLACE INTO payloads(key, checksum, mac, source, binary) "
                "VALUES(?1, ?2, ?3, ?4, ?5)");
      const std::string mac = m.entry_mac(e);  // bound without a copy: must outlive run()
      s->bind_text(1, hex).bind(2, static_cast<int64_t>(payload_checksum(e.source, e.binary)));
      s->bind_blob(3, mac).bind_blob(4, e.source).bind_blob(5, e.binary);
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
        StmtUse s(*m.db, fmt::format("SELECT {} FROM entries e ORDER BY e.last_used_ns DESC",
                                     detail::kMetaCols)
                             .c_str());
        while (s->step()) out.push_back(detail::read_meta(*s));
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
