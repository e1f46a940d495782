// tilejit-cache: look inside, verify and prune tilejit's on-disk kernel cache.
// Uses only cache/kernel_store.h. Run `tilejit-cache --help`.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cache/json.h"
#include "cache/kernel_store.h"

namespace tc = tj::cache;

namespace {

using tj::cache::json_str;

constexpr int kOk = 0, kNotFound = 1, kUsage = 2;

constexpr const char* kMainHelp = R"(usage: tilejit-cache [--dir DIR] COMMAND [OPTIONS]

Look inside tilejit's on-disk kernel cache.

commands:
  list                 table of cached kernels, most recently used first
  show KEY             every field of one entry
  source KEY           print the kernel source
  binary KEY -o FILE   write the compiled binary (shared object or CUBIN) to FILE
  stats                entries, bytes, hits, hit rate, compile time saved
  verify [--remove]    check every entry; report (and optionally remove) damaged ones
  prune --max-bytes N | --older-than D
                       drop least recently used / unused entries
  clear [--yes]        remove every entry

KEY is a full 32-digit key or any unique prefix of it (like git's short hashes).
list, show, stats and verify accept --json for machine-readable output.
Run `tilejit-cache COMMAND --help` for a command's options.

options:
  --dir DIR    the cache directory (default: $TILEJIT_CACHE_DIR, else
               $XDG_CACHE_HOME/tilejit, else ~/.cache/tilejit)
  -h, --help   show this text

exit status:
  0  success
  1  not found: no such key, an ambiguous prefix, verify found problems,
     or the cache could not be read
  2  usage error: unknown command or option, missing or bad argument
)";

const std::map<std::string, std::string> kHelp = {
    {"list",
     R"(usage: tilejit-cache list [--backend B] [--op TEXT] [--older-than D] [--newer-than D]
                          [--wide] [--json]

Lists cached kernels, most recently used first.

  --backend B       only kernels for backend B (cpu, cuda)
  --op TEXT         only kernels whose ops summary or name contains TEXT (e.g. --op exp)
  --older-than D    only kernels last used more than D ago (D: 30s, 10m, 2h, 7d, 1w)
  --newer-than D    only kernels last used less than D ago
  --wide            do not shorten long columns
  --json            a JSON array of entries (without source and binary)
)"},
    {"show", R"(usage: tilejit-cache show KEY [--json]

Prints every field of one entry (the source with `source KEY`).
KEY may be any unique prefix of the key shown by `list`.
)"},
    {"source", R"(usage: tilejit-cache source KEY

Prints the generated kernel source of one entry to stdout.
)"},
    {"binary", R"(usage: tilejit-cache binary KEY -o FILE

Writes the compiled bytes of one entry (a shared object for cpu, a CUBIN for
cuda) to FILE. `-o -` writes to stdout (refused when stdout is a terminal).
)"},
    {"stats", R"(usage: tilejit-cache stats [--json]

Prints the number of entries, their size, disk hits, the disk hit rate
(hits / (hits + entries): every entry was compiled once), and the compile
time the hits saved.
)"},
    {"verify", R"(usage: tilejit-cache verify [--remove] [--json]

Checks the database structure and every entry (sizes, checksum of source and
binary, fields against the key). Exit status 1 when any problem was found.

  --remove   remove the damaged entries (a damaged database is moved aside)
  --json     {"checked": N, "bad": N, "removed": N, "problems": [...]}
)"},
    {"prune", R"(usage: tilejit-cache prune [--max-bytes N] [--older-than D]

Removes entries unused for longer than D (30s, 10m, 2h, 7d, 1w), then the
least recently used ones until the cache holds at most N bytes (N: 500M, 2G,
a plain number of bytes). At least one option is required.
)"},
    {"clear", R"(usage: tilejit-cache clear [--yes]

Removes every entry (and files left by other cache format versions). Asks
for confirmation on a terminal; elsewhere --yes is required.
)"},
};

int usage_error(const std::string& msg, const std::string& command = "") {
  std::fprintf(stderr, "tilejit-cache: %s\n", msg.c_str());
  std::fprintf(stderr, "run `tilejit-cache %s--help` for usage\n",
               command.empty() ? "" : (command + " ").c_str());
  return kUsage;
}

int not_found(const std::string& msg) {
  std::fprintf(stderr, "tilejit-cache: %s\n", msg.c_str());
  return kNotFound;
}

// ---- output helpers ---------------------------------------------------------

int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string ago(int64_t t) {
  if (t <= 0) return "never";
  int64_t d = now_s() - t;
  if (d < 5) return "just now";
  if (d < 60) return fmt::format("{}s ago", d);
  if (d < 3600) return fmt::format("{}m ago", d / 60);
  if (d < 86400) return fmt::format("{}h ago", d / 3600);
  return fmt::format("{}d ago", d / 86400);
}

std::string date(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  localtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

// Display width in code points (UTF-8 continuation bytes do not count).
size_t width(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xc0) != 0x80;
  return n;
}

std::string shorten(const std::string& s, size_t max) {
  if (width(s) <= max) return s;
  std::string out;
  size_t n = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if ((c & 0xc0) != 0x80 && ++n > max - 1) break;
    out += s[i];
  }
  return out + "…";
}

void print_table(const std::vector<std::string>& head,
                 const std::vector<std::vector<std::string>>& rows,
                 const std::vector<bool>& right) {
  std::vector<size_t> w(head.size());
  for (size_t c = 0; c < head.size(); ++c) w[c] = width(head[c]);
  for (auto& r : rows)
    for (size_t c = 0; c < r.size(); ++c) w[c] = std::max(w[c], width(r[c]));
  auto line = [&](const std::vector<std::string>& r) {
    std::string out;
    for (size_t c = 0; c < r.size(); ++c) {
      std::string pad(w[c] - width(r[c]), ' ');
      bool last = c + 1 == r.size();
      out += right[c] ? pad + r[c] : (last ? r[c] : r[c] + pad);
      if (!last) out += "  ";
    }
    std::puts(out.c_str());
  };
  line(head);
  for (auto& r : rows) line(r);
}

std::string entry_json(const tc::Entry& e, bool with_source) {
  std::string s = fmt::format(
      "{{\"key\": {}, \"backend\": {}, \"target\": {}, \"compiler\": {}, \"options\": {}, "
      "\"name\": {}, \"summary\": {}, \"signature\": {}, \"source_bytes\": {}, "
      "\"binary_bytes\": {}, \"bytes\": {}, \"compile_ms\": {}, \"created\": {}, "
      "\"last_used\": {}, \"hits\": {}",
      json_str(e.key.hex()), json_str(e.backend), json_str(e.target), json_str(e.compiler),
      json_str(e.options), json_str(e.name), json_str(e.summary), json_str(e.signature),
      e.source_bytes, e.binary_bytes, e.bytes(), e.compile_ms, e.created, e.last_used, e.hits);
  if (with_source) s += ", \"source\": " + json_str(e.source);
  return s + "}";
}

// ---- arguments --------------------------------------------------------------

struct Args {
  std::string command;
  std::vector<std::string> positional;
  std::map<std::string, std::string> values;  // --opt VALUE
  std::map<std::string, bool> flags;          // --flag
};

// Options each command takes: name -> takes a value.
const std::map<std::string, std::map<std::string, bool>> kOptions = {
    {"list",
     {{"--backend", true},
      {"--op", true},
      {"--older-than", true},
      {"--newer-than", true},
      {"--wide", false},
      {"--json", false}}},
    {"show", {{"--json", false}}},
    {"source", {}},
    {"binary", {{"-o", true}, {"--output", true}}},
    {"stats", {{"--json", false}}},
    {"verify", {{"--remove", false}, {"--json", false}}},
    {"prune", {{"--max-bytes", true}, {"--older-than", true}}},
    {"clear", {{"--yes", false}, {"-y", false}}},
};

const std::map<std::string, int> kPositionals = {
    {"list", 0},  {"show", 1},   {"source", 1}, {"binary", 1},
    {"stats", 0}, {"verify", 0}, {"prune", 0},  {"clear", 0},
};

struct Context {
  Args args;
  std::string dir;
  bool json() const { return args.flags.count("--json") > 0; }
};

std::unique_ptr<tc::Store> open_store(const Context& cx, tc::Mode mode) {
  tc::StoreOptions o = tc::options_from_env();
  o.dir = cx.dir;
  o.mode = mode;
  o.create_dir = false;
  return std::make_unique<tc::Store>(o);
}

std::optional<tc::Entry> lookup(const Context& cx, int* rc) {
  auto store = open_store(cx, tc::Mode::readonly);
  std::string err;
  auto e = store->find_prefix(cx.args.positional[0], &err);
  if (!e) {
    *rc = not_found(
        fmt::format("{} in {}. Run `tilejit-cache list` to see the keys{}.", err, cx.dir,
                    err.find("ambiguous") != std::string::npos ? ", and give more digits" : ""));
  }
  return e;
}

// ---- commands ---------------------------------------------------------------

int cmd_list(const Context& cx) {
  const Args& a = cx.args;
  std::optional<int64_t> older, newer;
  for (auto [opt, out] : {std::pair{"--older-than", &older}, std::pair{"--newer-than", &newer}}) {
    if (auto it = a.values.find(opt); it != a.values.end()) {
      *out = tc::parse_duration(it->second);
      if (!*out)
        return usage_error(
            fmt::format("{} {}: not a duration; use e.g. 30s, 10m, 2h, 7d, 1w", opt, it->second),
            "list");
    }
  }
  std::string backend = a.values.count("--backend") ? a.values.at("--backend") : "";
  std::string op = a.values.count("--op") ? a.values.at("--op") : "";
  auto store = open_store(cx, tc::Mode::readonly);
  std::vector<tc::Entry> rows;
  int64_t now = now_s();
  for (tc::Entry& e : store->list()) {
    if (!backend.empty() && e.backend != backend) continue;
    if (!op.empty() && e.summary.find(op) == std::string::npos &&
        e.name.find(op) == std::string::npos)
      continue;
    if (older && !(e.last_used < now - *older)) continue;
    if (newer && !(e.last_used >= now - *newer)) continue;
    rows.push_back(std::move(e));
  }
  if (cx.json()) {
    std::string out = "[";
    for (size_t i = 0; i < rows.size(); ++i)
      out += (i ? ",\n " : "\n ") + entry_json(rows[i], false);
    out += rows.empty() ? "]" : "\n]";
    std::puts(out.c_str());
    return kOk;
  }
  if (rows.empty()) {
    bool filtered = !backend.empty() || !op.empty() || older || newer;
    std::printf("no cached kernels%s in %s\n", filtered ? " match" : "", cx.dir.c_str());
    return kOk;
  }
  bool wide = a.flags.count("--wide") > 0;
  auto cut = [&](const std::string& s, size_t n) { return wide ? s : shorten(s, n); };
  std::vector<std::vector<std::string>> table;
  int64_t bytes = 0;
  for (const tc::Entry& e : rows) {
    bytes += e.bytes();
    table.push_back({e.key.hex().substr(0, 12), cut(e.backend + "/" + e.target, 24),
                     cut(e.name, 28), cut(e.summary, 32), cut(e.signature, 40),
                     tc::format_size(e.bytes()), std::to_string(e.hits), ago(e.last_used)});
  }
  print_table({"KEY", "BACKEND/TARGET", "NAME", "OPS", "SHAPES", "SIZE", "HITS", "LAST USED"},
              table, {false, false, false, false, false, true, true, false});
  std::printf("%zu kernel%s, %s\n", rows.size(), rows.size() == 1 ? "" : "s",
              tc::format_size(bytes).c_str());
  return kOk;
}

int cmd_show(const Context& cx) {
  int rc = kOk;
  auto e = lookup(cx, &rc);
  if (!e) return rc;
  if (cx.json()) {
    std::puts(entry_json(*e, true).c_str());
    return kOk;
  }
  auto row = [](const char* k, const std::string& v) { std::printf("%-12s %s\n", k, v.c_str()); };
  row("key", e->key.hex());
  row("name", e->name);
  row("ops", e->summary);
  row("shapes", e->signature);
  row("backend", e->backend);
  row("target", e->target);
  row("compiler", e->compiler);
  row("options", e->options.empty() ? "(none)" : e->options);
  auto lines = std::count(e->source.begin(), e->source.end(), '\n') +
               (!e->source.empty() && e->source.back() != '\n');
  row("source", tc::format_size(e->source_bytes) + fmt::format(" ({} lines)", lines));
  row("binary", tc::format_size(e->binary_bytes));
  row("compile", fmt::format("{:.1f} ms", e->compile_ms));
  row("created", date(e->created) + " (" + ago(e->created) + ")");
  row("last used", date(e->last_used) + " (" + ago(e->last_used) + ")");
  row("hits", std::to_string(e->hits));
  row("integrity", "ok (checksum verified)");
  return kOk;
}

int cmd_source(const Context& cx) {
  int rc = kOk;
  auto e = lookup(cx, &rc);
  if (!e) return rc;
  std::fwrite(e->source.data(), 1, e->source.size(), stdout);
  if (!e->source.empty() && e->source.back() != '\n') std::putchar('\n');
  return kOk;
}

int cmd_binary(const Context& cx) {
  const Args& a = cx.args;
  std::string out = a.values.count("-o")         ? a.values.at("-o")
                    : a.values.count("--output") ? a.values.at("--output")
                                                 : "";
  if (out.empty()) return usage_error("binary needs -o FILE (or -o - for stdout)", "binary");
  if (out == "-" && isatty(STDOUT_FILENO))
    return usage_error("refusing to write binary bytes to a terminal; use -o FILE", "binary");
  int rc = kOk;
  auto e = lookup(cx, &rc);
  if (!e) return rc;
  if (out == "-") {
    std::fwrite(e->binary.data(), 1, e->binary.size(), stdout);
    return kOk;
  }
  std::ofstream f(out, std::ios::binary | std::ios::trunc);
  f.write(e->binary.data(), static_cast<std::streamsize>(e->binary.size()));
  f.close();
  if (!f) return not_found(fmt::format("cannot write {}; check the path and permissions", out));
  std::fprintf(stderr, "wrote %s (%s, %s binary of %s)\n", out.c_str(),
               tc::format_size(e->binary_bytes).c_str(), e->backend.c_str(), e->name.c_str());
  return kOk;
}

int cmd_stats(const Context& cx) {
  auto store = open_store(cx, tc::Mode::readonly);
  tc::Store::Totals t = store->totals();
  std::map<std::string, std::pair<int64_t, int64_t>> by_backend;  // entries, bytes
  for (const tc::Entry& e : store->list()) {
    auto& b = by_backend[e.backend];
    b.first++;
    b.second += e.bytes();
  }
  double rate = t.hits + t.entries > 0
                    ? static_cast<double>(t.hits) / static_cast<double>(t.hits + t.entries)
                    : 0;
  if (cx.json()) {
    std::string backends;
    for (auto& [name, b] : by_backend)
      backends += fmt::format("{}{}: {{\"entries\": {}, \"bytes\": {}}}",
                              backends.empty() ? "" : ", ", json_str(name), b.first, b.second);
    std::printf(
        "{\"dir\": %s, \"db\": %s, \"entries\": %lld, \"bytes\": %lld, \"file_bytes\": %lld, "
        "\"max_bytes\": %lld, \"hits\": %lld, \"hit_rate\": %.4f, \"compile_ms_saved\": %.3f, "
        "\"backends\": {%s}}\n",
        json_str(cx.dir).c_str(), json_str(store->db_path()).c_str(),
        static_cast<long long>(t.entries), static_cast<long long>(t.bytes),
        static_cast<long long>(t.file_bytes), static_cast<long long>(store->options().max_bytes),
        static_cast<long long>(t.hits), rate, t.compile_ms_saved, backends.c_str());
    return kOk;
  }
  std::printf("cache         %s\n", store->db_path().c_str());
  std::printf("entries       %lld\n", static_cast<long long>(t.entries));
  for (auto& [name, b] : by_backend)
    std::printf("  %-11s %lld (%s)\n", name.c_str(), static_cast<long long>(b.first),
                tc::format_size(b.second).c_str());
  std::printf("size          %s of %s allowed (%s on disk)\n", tc::format_size(t.bytes).c_str(),
              tc::format_size(store->options().max_bytes).c_str(),
              tc::format_size(t.file_bytes).c_str());
  std::printf("disk hits     %lld\n", static_cast<long long>(t.hits));
  std::printf("hit rate      %.1f%% (hits / (hits + compiles))\n", 100 * rate);
  std::string saved = t.compile_ms_saved < 10000
                          ? fmt::format("{:.1f} ms", t.compile_ms_saved)
                          : fmt::format("{:.1f} s", t.compile_ms_saved / 1000);
  std::printf("time saved    %s of compiling\n", saved.c_str());
  return kOk;
}

int cmd_verify(const Context& cx) {
  bool remove = cx.args.flags.count("--remove") > 0;
  auto store = open_store(cx, remove ? tc::Mode::on : tc::Mode::readonly);
  tc::Store::VerifyResult r = store->verify(remove);
  if (cx.json()) {
    std::string problems;
    for (auto& p : r.problems) problems += (problems.empty() ? "" : ", ") + json_str(p);
    std::printf("{\"checked\": %lld, \"bad\": %lld, \"removed\": %lld, \"problems\": [%s]}\n",
                static_cast<long long>(r.checked), static_cast<long long>(r.bad),
                static_cast<long long>(r.removed), problems.c_str());
    return r.bad ? kNotFound : kOk;
  }
  for (auto& p : r.problems) std::printf("damaged: %s\n", p.c_str());
  std::printf("checked %lld entr%s: %lld damaged", static_cast<long long>(r.checked),
              r.checked == 1 ? "y" : "ies", static_cast<long long>(r.bad));
  if (remove) std::printf(", %lld removed", static_cast<long long>(r.removed));
  std::printf("\n");
  if (r.bad && !remove)
    std::printf(
        "damaged entries are ignored (and recompiled) by tilejit; run "
        "`tilejit-cache verify --remove` to delete them now\n");
  return r.bad ? kNotFound : kOk;
}

int cmd_prune(const Context& cx) {
  const Args& a = cx.args;
  std::optional<int64_t> max_bytes, older;
  if (auto it = a.values.find("--max-bytes"); it != a.values.end()) {
    max_bytes = tc::parse_size(it->second);
    if (!max_bytes)
      return usage_error(
          fmt::format("--max-bytes {}: not a size; use e.g. 500M, 2G or a number of bytes",
                      it->second),
          "prune");
  }
  if (auto it = a.values.find("--older-than"); it != a.values.end()) {
    older = tc::parse_duration(it->second);
    if (!older)
      return usage_error(
          fmt::format("--older-than {}: not a duration; use e.g. 30s, 10m, 2h, 7d", it->second),
          "prune");
  }
  if (!max_bytes && !older)
    return usage_error("prune needs --max-bytes N or --older-than D", "prune");
  auto store = open_store(cx, tc::Mode::on);
  int64_t n = store->prune(max_bytes, older);
  tc::Store::Totals t = store->totals();
  std::printf("removed %lld entr%s; %lld left (%s)\n", static_cast<long long>(n),
              n == 1 ? "y" : "ies", static_cast<long long>(t.entries),
              tc::format_size(t.bytes).c_str());
  return kOk;
}

int cmd_clear(const Context& cx) {
  auto store = open_store(cx, tc::Mode::on);
  bool yes = cx.args.flags.count("--yes") || cx.args.flags.count("-y");
  if (!yes) {
    tc::Store::Totals t = store->totals();
    if (!isatty(STDIN_FILENO))
      return usage_error(fmt::format("clear would remove {} entries from {}; add --yes to confirm",
                                     t.entries, cx.dir),
                         "clear");
    std::printf("remove all %lld cached kernels (%s) from %s? [y/N] ",
                static_cast<long long>(t.entries), tc::format_size(t.bytes).c_str(),
                cx.dir.c_str());
    std::fflush(stdout);
    std::string answer;
    std::getline(std::cin, answer);
    if (answer != "y" && answer != "Y" && answer != "yes") {
      std::printf("nothing removed\n");
      return kOk;
    }
  }
  int64_t n = store->clear();
  std::printf("removed %lld entr%s from %s\n", static_cast<long long>(n), n == 1 ? "y" : "ies",
              cx.dir.c_str());
  return kOk;
}

const std::map<std::string, std::function<int(const Context&)>> kCommands = {
    {"list", cmd_list},   {"show", cmd_show},     {"source", cmd_source}, {"binary", cmd_binary},
    {"stats", cmd_stats}, {"verify", cmd_verify}, {"prune", cmd_prune},   {"clear", cmd_clear},
};

}  // namespace

int main(int argc, char** argv) {
  Context cx;
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string dir;
  bool help = false;
  Args& a = cx.args;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& s = args[i];
    if (s == "-h" || s == "--help") {
      help = true;
      continue;
    }
    std::string name = s, value;
    bool has_inline = false;
    if (s.rfind("--", 0) == 0 && s.find('=') != std::string::npos) {
      name = s.substr(0, s.find('='));
      value = s.substr(s.find('=') + 1);
      has_inline = true;
    }
    if (name == "--dir") {
      if (!has_inline) {
        if (i + 1 >= args.size()) return usage_error("--dir needs a directory");
        value = args[++i];
      }
      dir = value;
      continue;
    }
    if (s.size() > 1 && s[0] == '-') {
      if (a.command.empty()) return usage_error(fmt::format("unknown option {}", s));
      const auto& opts = kOptions.at(a.command);
      auto it = opts.find(name);
      if (it == opts.end())
        return usage_error(fmt::format("{} does not take {}", a.command, name), a.command);
      if (!it->second) {
        if (has_inline) return usage_error(fmt::format("{} takes no value", name), a.command);
        a.flags[name] = true;
        continue;
      }
      if (!has_inline) {
        if (i + 1 >= args.size())
          return usage_error(fmt::format("{} needs a value", name), a.command);
        value = args[++i];
      }
      a.values[name] = value;
      continue;
    }
    if (a.command.empty()) {
      if (!kCommands.count(s))
        return usage_error(
            fmt::format("unknown command '{}'; commands: list, show, source, "
                        "binary, stats, verify, prune, clear",
                        s));
      a.command = s;
      continue;
    }
    a.positional.push_back(s);
  }
  if (help) {
    std::fputs(a.command.empty() ? kMainHelp : kHelp.at(a.command).c_str(), stdout);
    return kOk;
  }
  if (a.command.empty()) {
    std::fputs(kMainHelp, stderr);
    return kUsage;
  }
  int want = kPositionals.at(a.command);
  if (static_cast<int>(a.positional.size()) != want) {
    if (want == 1 && a.positional.empty())
      return usage_error(
          fmt::format("{} needs a KEY (a key or prefix from `tilejit-cache list`)", a.command),
          a.command);
    return usage_error(fmt::format("{}: unexpected argument '{}'", a.command,
                                   a.positional.empty() ? "" : a.positional.back()),
                       a.command);
  }
  cx.dir = dir.empty() ? tc::options_from_env().dir : dir;
  return kCommands.at(a.command)(cx);
}
