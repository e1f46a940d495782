#include "cache/trust.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pwd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

namespace tj::cache {

namespace {

constexpr size_t kKeyBytes = 32;

std::string home_dir() {
  const char* h = std::getenv("HOME");
  if (h && h[0] == '/') return h;
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* out = nullptr;
  if (::getpwuid_r(::getuid(), &pw, buf.data(), buf.size(), &out) == 0 && out && out->pw_dir &&
      out->pw_dir[0] == '/')
    return out->pw_dir;
  return {};
}

std::string mode_str(mode_t m) { return fmt::format("{:04o}", static_cast<unsigned>(m & 07777)); }

std::string parent_of(const std::string& p) {
  const size_t slash = p.find_last_of('/');
  if (slash == std::string::npos || slash == 0) return "/";
  return p.substr(0, slash);
}

}  // namespace

std::optional<std::string> untrusted_dir(const std::string& dir, bool shared) {
  char real[PATH_MAX];
  if (!::realpath(dir.c_str(), real))
    return fmt::format("cannot resolve {} ({})", dir, std::strerror(errno));
  const uid_t me = ::getuid();
  struct stat st {};
  if (::stat(real, &st) != 0 || !S_ISDIR(st.st_mode))
    return fmt::format("{} is not a directory", dir);
  if (!shared) {
    if (st.st_uid != me)
      return fmt::format("{} belongs to uid {}, not to you (uid {})", dir, st.st_uid, me);
    if (st.st_mode & 022)
      return fmt::format("{} is writable by {} (mode {}); make it yours alone: chmod 700 {}", dir,
                         (st.st_mode & 002) ? "everyone" : "its group", mode_str(st.st_mode), dir);
  } else if (st.st_mode & 002) {
    return fmt::format(
        "{} is writable by everyone (mode {}); even a shared cache must be writable only by "
        "its owner and group",
        dir, mode_str(st.st_mode));
  }
  // Every directory above: whoever can rename entries there can swap ours.
  const uid_t owner = st.st_uid;
  for (std::string p = parent_of(real);; p = parent_of(p)) {
    struct stat ps {};
    if (::stat(p.c_str(), &ps) != 0)
      return fmt::format("cannot check {} ({})", p, std::strerror(errno));
    if (ps.st_uid != 0 && ps.st_uid != me && !(shared && ps.st_uid == owner))
      return fmt::format("{}, above the cache, belongs to uid {}, who could replace the cache", p,
                         ps.st_uid);
    const mode_t w = shared ? 002 : 022;
    if ((ps.st_mode & w) && !(ps.st_mode & S_ISVTX))
      return fmt::format("{}, above the cache, is writable by others (mode {}) and not sticky", p,
                         mode_str(ps.st_mode));
    if (p == "/") break;
  }
  return std::nullopt;
}

bool make_private_dirs(const std::string& dir, std::string* err) {
  if (dir.empty() || dir[0] != '/') {
    *err = "not an absolute path";
    return false;
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return true;
    *err = "not a directory";
    return false;
  }
  const std::string parent = parent_of(dir);
  if (parent != dir && !make_private_dirs(parent, err)) return false;
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    *err = std::strerror(errno);
    return false;
  }
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    *err = "not a directory";
    return false;
  }
  return true;
}

std::string default_key_file() {
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  if (xdg && xdg[0] == '/') return std::string(xdg) + "/tilejit/cache.key";
  const std::string home = home_dir();
  if (home.empty()) return {};
  return home + "/.config/tilejit/cache.key";
}

std::optional<MacKey> load_key(const std::string& path, bool create, bool shared,
                               std::string* err) {
  if (path.empty()) {
    *err = "there is no home directory to keep the cache's secret in (set HOME or XDG_CONFIG_HOME)";
    return std::nullopt;
  }
  for (int attempt = 0; attempt < 2; ++attempt) {
    int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
      struct stat st {};
      std::string bytes(kKeyBytes + 1, '\0');
      ssize_t n = -1;
      if (::fstat(fd, &st) == 0) n = ::read(fd, bytes.data(), bytes.size());
      ::close(fd);
      if (!S_ISREG(st.st_mode)) {
        *err = fmt::format("{} is not a regular file", path);
        return std::nullopt;
      }
      if (!shared && st.st_uid != ::getuid()) {
        *err = fmt::format("{} belongs to uid {}, not to you", path, st.st_uid);
        return std::nullopt;
      }
      if (st.st_mode & (shared ? 022 : 077)) {
        *err = fmt::format("{} has mode {}; it must be readable by you alone: chmod 600 {}", path,
                           mode_str(st.st_mode), path);
        return std::nullopt;
      }
      if (n != static_cast<ssize_t>(kKeyBytes)) {
        *err = fmt::format(
            "{} is not a tilejit key ({} bytes, want {}); delete it to make a new "
            "one (the cached kernels are then compiled again)",
            path, n, kKeyBytes);
        return std::nullopt;
      }
      bytes.resize(kKeyBytes);
      return MacKey{std::move(bytes)};
    }
    if (errno != ENOENT) {
      *err = fmt::format("cannot read {} ({})", path, std::strerror(errno));
      return std::nullopt;
    }
    if (!create) {
      *err = fmt::format("{} does not exist", path);
      return std::nullopt;
    }
    if (!make_private_dirs(parent_of(path), err)) {
      *err = fmt::format("cannot create {} ({})", parent_of(path), *err);
      return std::nullopt;
    }
    std::string bytes(kKeyBytes, '\0');
    if (::getrandom(bytes.data(), kKeyBytes, 0) != static_cast<ssize_t>(kKeyBytes)) {
      *err = fmt::format("no random bytes for a key ({})", std::strerror(errno));
      return std::nullopt;
    }
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                shared ? 0640 : 0600);
    if (fd < 0) {
      if (errno == EEXIST) continue;  // another process made it first: read theirs
      *err = fmt::format("cannot create {} ({})", path, std::strerror(errno));
      return std::nullopt;
    }
    const bool ok =
        ::write(fd, bytes.data(), kKeyBytes) == static_cast<ssize_t>(kKeyBytes) && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) {
      ::unlink(path.c_str());
      *err = fmt::format("cannot write {} (disk full?)", path);
      return std::nullopt;
    }
    return MacKey{std::move(bytes)};
  }
  *err = fmt::format("cannot read {}", path);
  return std::nullopt;
}

void init_crypto() {
  static const bool done = OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, nullptr) == 1;
  (void)done;
}

std::string mac(const MacKey& key, std::initializer_list<std::string_view> parts) {
  init_crypto();
  static EVP_MAC* hmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);  // never freed
  std::unique_ptr<EVP_MAC_CTX, decltype(&EVP_MAC_CTX_free)> ctx(
      hmac ? EVP_MAC_CTX_new(hmac) : nullptr, &EVP_MAC_CTX_free);
  if (!ctx) return {};
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  if (EVP_MAC_init(ctx.get(), reinterpret_cast<const unsigned char*>(key.bytes.data()),
                   key.bytes.size(), params) != 1)
    return {};
  for (std::string_view p : parts) {
    unsigned char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(uint64_t{p.size()} >> (8 * i));
    EVP_MAC_update(ctx.get(), len, sizeof len);
    EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(p.data()), p.size());
  }
  unsigned char out[EVP_MAX_MD_SIZE];
  size_t n = 0;
  if (EVP_MAC_final(ctx.get(), out, &n, sizeof out) != 1) return {};
  return std::string(reinterpret_cast<const char*>(out), n);
}

bool same_mac(std::string_view a, std::string_view b) {
  return !a.empty() && a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace tj::cache
