// Internal: a thin RAII layer over the SQLite C API. Errors throw SqliteError
// (the store catches them at its API boundary; nothing escapes to the JIT).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace tj::cache::detail {

struct SqliteError : std::runtime_error {
  SqliteError(int code, const std::string& msg) : std::runtime_error(msg), code(code) {}
  int code;  // extended result code
  int primary() const { return code & 0xff; }
};

class Stmt;

class Db {
 public:
  // flags: SQLITE_OPEN_*; path may be a file: URI when SQLITE_OPEN_URI is set.
  Db(const std::string& path, int flags);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  void exec(const char* sql);
  // A cached prepared statement, reset and unbound.
  Stmt& stmt(const char* sql);
  int64_t changes() const { return sqlite3_changes64(db_); }
  void busy_timeout(int ms) { sqlite3_busy_timeout(db_, ms); }
  // Leaks the handle on purpose (after fork(): the child must not close the parent's connection).
  void abandon() { db_ = nullptr; }
  sqlite3* raw() { return db_; }
  [[noreturn]] void fail(int rc, std::string_view what);

 private:
  sqlite3* db_ = nullptr;
  std::map<std::string, std::unique_ptr<Stmt>, std::less<>> stmts_;
};

class Stmt {
 public:
  Stmt(Db& db, const char* sql);
  ~Stmt();
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& bind(int i, int64_t v);
  Stmt& bind(int i, double v);
  Stmt& bind_text(int i, std::string_view v);
  Stmt& bind_blob(int i, std::string_view v);
  bool step();  // true: a row is ready
  void run();   // steps until done
  void reset();

  bool is_null(int col) { return sqlite3_column_type(s_, col) == SQLITE_NULL; }
  int64_t i64(int col) { return sqlite3_column_int64(s_, col); }
  double f64(int col) { return sqlite3_column_double(s_, col); }
  std::string text(int col);
  std::string blob(int col);

 private:
  Db& db_;
  sqlite3_stmt* s_ = nullptr;
};

// Resets a cached statement when the scope ends.
class StmtUse {
 public:
  StmtUse(Db& db, const char* sql) : s_(db.stmt(sql)) {}
  ~StmtUse() { s_.reset(); }
  Stmt* operator->() { return &s_; }
  Stmt& operator*() { return s_; }

 private:
  Stmt& s_;
};

// BEGIN IMMEDIATE ... COMMIT; rolls back when left without commit().
class Txn {
 public:
  explicit Txn(Db& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }
  ~Txn() {
    if (!done_ && db_.raw()) sqlite3_exec(db_.raw(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
  void commit() {
    db_.exec("COMMIT");
    done_ = true;
  }

 private:
  Db& db_;
  bool done_ = false;
};

}  // namespace tj::cache::detail
