// The layers point one way (DESIGN.md): vocabulary → ir → scheduler →
// jit/cache → trace → the public API. Every #include "..." of the library's
// folders is checked against what its folder may include, so a header that
// leans upward fails here instead of slowly growing a cycle.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

/// Headers every layer may use: errors, checks, logging, sizes, dtypes, devices.
const std::set<std::string> kVocabulary = {
    "tilejit/dtype.h", "tilejit/device.h", "tilejit/error.h", "tilejit/log.h",
    "ir/check.h",      "ir/log.h",         "ir/bytes.h",
};

struct Rule {
  std::string folder;                  // relative to the source root
  std::vector<std::string> may;        // folder prefixes it may include from
  std::vector<std::string> must_not;   // prefixes it must not include, even when `may` allows
  bool vocabulary = true;              // kVocabulary allowed
  std::vector<std::string> also = {};  // single headers allowed besides
};

const Rule kRules[] = {
    {"ir/", {"ir/"}, {}},
    {"scheduler/", {"ir/", "scheduler/"}, {}},
    {"cache/", {"cache/"}, {}, true, {"tilejit_build_config.h"}},
    {"jit/", {"ir/", "scheduler/", "jit/", "cache/"}, {}, true, {"tilejit_build_config.h"}},
    // Backends and the shared printer stay apart: only jit/'s top level
    // (the registry in jit/backend.cpp) sees every backend.
    {"jit/codegen/", {"ir/", "jit/codegen/"}, {}},
    {"jit/cpu/",
     {"ir/", "scheduler/", "cache/", "jit/"},
     {"jit/cuda/"},
     true,
     {"tilejit_build_config.h"}},
    {"jit/cuda/",
     {"ir/", "scheduler/", "cache/", "jit/"},
     {"jit/cpu/"},
     true,
     {"tilejit_build_config.h"}},
    {"jit/observe/", {"ir/", "scheduler/", "cache/", "jit/"}, {"jit/cpu/", "jit/cuda/"}},
    {"trace/",
     {"ir/", "scheduler/", "jit/", "cache/", "trace/", "tilejit/"},
     {},
     true,
     {"tilejit_build_config.h"}},
    {"include/tilejit/", {"tilejit/"}, {}},
    {"tools/", {"cache/", "tilejit/"}, {}, false},
    {"samples/", {"tilejit/"}, {}, false},
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool starts_with_any(const std::string& s, const std::vector<std::string>& prefixes) {
  for (const std::string& p : prefixes)
    if (s.rfind(p, 0) == 0) return true;
  return false;
}

/// The most specific rule for a file (jit/cuda/x.cpp: jit/cuda/, not jit/).
const Rule* rule_for(const std::string& rel) {
  const Rule* best = nullptr;
  for (const Rule& r : kRules)
    if (rel.rfind(r.folder, 0) == 0 && (!best || r.folder.size() > best->folder.size())) best = &r;
  return best;
}

struct Include {
  std::string file;  // relative to the root
  int line = 0;
  std::string header;
};

std::vector<Include> project_includes(const fs::path& root) {
  std::vector<Include> out;
  const std::regex inc_re("^\\s*#\\s*include\\s*\"([^\"]+)\"");
  for (const char* dir :
       {"ir", "scheduler", "cache", "jit", "trace", "include", "tools", "samples"}) {
    if (!fs::exists(root / dir)) continue;
    for (const auto& e : fs::recursive_directory_iterator(root / dir)) {
      const std::string ext = e.path().extension().string();
      if (ext != ".h" && ext != ".cpp" && ext != ".def" && ext != ".inc") continue;
      const std::string rel = fs::relative(e.path(), root).string();
      std::istringstream in(slurp(e.path()));
      int n = 0;
      for (std::string line; std::getline(in, line);) {
        ++n;
        std::smatch m;
        if (std::regex_search(line, m, inc_re)) out.push_back({rel, n, m[1]});
      }
    }
  }
  return out;
}

TEST(Layering, EveryIncludePointsDown) {
  const fs::path root = TJ_SOURCE_DIR;
  const std::vector<Include> incs = project_includes(root);
  ASSERT_GT(incs.size(), 100u) << "the include scan found almost nothing under " << root;
  int checked = 0;
  for (const Include& i : incs) {
    const Rule* r = rule_for(i.file);
    if (!r) continue;
    // Includes relative to the including file (embedded preambles, generated
    // units) stay inside its folder.
    const bool local = fs::exists(root / fs::path(i.file).parent_path() / i.header) &&
                       !fs::exists(root / i.header) && !fs::exists(root / "include" / i.header);
    if (local) continue;
    ++checked;
    const bool ok =
        !starts_with_any(i.header, r->must_not) &&
        (starts_with_any(i.header, r->may) || (r->vocabulary && kVocabulary.count(i.header)) ||
         std::find(r->also.begin(), r->also.end(), i.header) != r->also.end());
    EXPECT_TRUE(ok) << i.file << ":" << i.line << " includes \"" << i.header << "\", which "
                    << r->folder << " must not depend on (see tests/layering_test.cpp)";
  }
  EXPECT_GT(checked, 100);
}

// The public headers name no internal type: a user's program sees only tilejit/.
TEST(Layering, PublicHeadersAreSelfContained) {
  const fs::path root = TJ_SOURCE_DIR;
  for (const auto& e : fs::directory_iterator(root / "include" / "tilejit")) {
    const std::string text = slurp(e.path());
    for (const char* ns : {"ir::", "sched::", "jit::", "cache::", "trace::"}) {
      // `trace::TensorImpl` is forward-declared by tensor.h as an opaque pointer.
      size_t at = 0;
      while ((at = text.find(ns, at)) != std::string::npos) {
        const bool opaque = text.compare(at, 17, "trace::TensorImpl") == 0;
        EXPECT_TRUE(opaque) << e.path().filename() << " names " << ns << " at offset " << at;
        at += 1;
      }
    }
  }
}

}  // namespace
