// The state file: trace/state_file.h; its format: include/tilejit/nn.h.
#include "trace/state_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "ir/check.h"
#include "ir/shape.h"
#include "tilejit/ops.h"

namespace tj::trace {

namespace {

constexpr char kMagic[8] = {'T', 'J', 'S', 'T', 'A', 'T', 'E', '1'};
constexpr uint32_t kVersion = 1;

uint64_t fnv1a(const std::string& bytes) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : bytes) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

template <class T>
void put(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.append(b, sizeof(T));
}

/// Reads the file's fields in order; every read past the end is an error.
struct Reader {
  const std::string& bytes;
  const std::string& path;
  std::string_view op;
  size_t at = 0;
  template <class T>
  T get() {
    need(sizeof(T));
    T v;
    std::memcpy(&v, bytes.data() + at, sizeof(T));
    at += sizeof(T);
    return v;
  }
  std::string take(size_t n) {
    need(n);
    std::string s = bytes.substr(at, n);
    at += n;
    return s;
  }
  void need(size_t n) const {
    if (n > bytes.size() - at)
      fail("{}: {} ends early (truncated or damaged): it is not a whole tilejit state file", op,
           path);
  }
};

template <class T>
std::string raw_of(const Tensor& t) {
  std::vector<T> v = t.to_vector<T>();
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

std::string bytes_of(const Tensor& t) {
  switch (t.dtype()) {
    case DType::f32:
      return raw_of<float>(t);
    case DType::f16:
      return raw_of<half>(t);
    case DType::bf16:
      return raw_of<bfloat16>(t);
    case DType::f64:
      return raw_of<double>(t);
    case DType::i32:
      return raw_of<int32_t>(t);
    case DType::i64:
      return raw_of<int64_t>(t);
    case DType::bool_: {
      std::string s;
      for (bool b : t.to_vector<bool>()) s.push_back(b ? 1 : 0);
      return s;
    }
  }
  return {};
}

template <class T>
Tensor from_raw(const std::string& b, const Shape& s, Device d) {
  std::vector<T> v(b.size() / sizeof(T));
  std::memcpy(v.data(), b.data(), v.size() * sizeof(T));
  return from_vector(v, s, d);
}

Tensor tensor_of(const std::string& b, DType t, const Shape& s, Device d) {
  switch (t) {
    case DType::f32:
      return from_raw<float>(b, s, d);
    case DType::f16:
      return from_raw<half>(b, s, d);
    case DType::bf16:
      return from_raw<bfloat16>(b, s, d);
    case DType::f64:
      return from_raw<double>(b, s, d);
    case DType::i32:
      return from_raw<int32_t>(b, s, d);
    case DType::i64:
      return from_raw<int64_t>(b, s, d);
    case DType::bool_: {
      std::vector<bool> v;
      for (char c : b) v.push_back(c != 0);
      return from_vector(v, s, d);
    }
  }
  return {};
}

/// Writes all of `data` to `fd`.
bool write_all(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

void write_state_file(const std::string& path, const NamedTensors& entries, std::string_view op) {
  std::string out(kMagic, sizeof kMagic);
  put<uint32_t>(out, kVersion);
  put<uint32_t>(out, static_cast<uint32_t>(entries.size()));
  for (const auto& [name, p] : entries) {
    put<uint32_t>(out, static_cast<uint32_t>(name.size()));
    out += name;
    put<uint8_t>(out, static_cast<uint8_t>(p.dtype()));
    put<uint32_t>(out, static_cast<uint32_t>(p.dim()));
    for (int64_t s : p.shape()) put<int64_t>(out, s);
    const std::string b = bytes_of(p);
    put<uint64_t>(out, b.size());
    out += b;
  }
  put<uint64_t>(out, fnv1a(out));

  // A new file of our own beside the target (mkstemp: O_EXCL, mode 0600),
  // renamed over it once complete.
  const std::filesystem::path target(path);
  const std::filesystem::path dir =
      target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
  std::string tmp = (dir / ("." + target.filename().string() + ".tmp.XXXXXX")).string();
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0)
    fail("{}: cannot create a file in {} to write {}: {}", op, dir.string(), path,
         std::strerror(errno));
  const bool ok = ::fchmod(fd, 0644) == 0 && write_all(fd, out) && ::fsync(fd) == 0;
  const int err = errno;
  if (::close(fd) != 0 || !ok) {
    ::unlink(tmp.c_str());
    fail("{}: writing {} failed (disk full?): {}; the file was left as it was", op, path,
         std::strerror(ok ? errno : err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    fail("{}: cannot replace {}: {}", op, path, std::strerror(e));
  }
}

NamedTensors read_state_file(const std::string& path, Device device, std::string_view op) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail("{}: cannot open {}: {}", op, path, std::strerror(errno));
  const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  Reader r{bytes, path, op};
  if (r.take(sizeof kMagic) != std::string(kMagic, sizeof kMagic))
    fail("{}: {} is not a tilejit state file (it does not start with TJSTATE1)", op, path);
  const uint32_t version = r.get<uint32_t>();
  if (version != kVersion)
    fail("{}: {} has format version {}; this tilejit reads version {}", op, path, version,
         kVersion);
  if (bytes.size() < sizeof kMagic + 16) r.need(bytes.size());
  const size_t body = bytes.size() - sizeof(uint64_t);
  uint64_t stored;
  std::memcpy(&stored, bytes.data() + body, sizeof stored);
  if (stored != fnv1a(bytes.substr(0, body)))
    fail("{}: {} is damaged (its checksum does not match); nothing was loaded", op, path);
  const uint32_t count = r.get<uint32_t>();
  NamedTensors out;
  for (uint32_t i = 0; i < count; ++i) {
    std::string name = r.take(r.get<uint32_t>());
    const uint8_t code = r.get<uint8_t>();
    if (code >= kNumDTypes)
      fail("{}: {}: tensor \"{}\" has an unknown dtype code {}: damaged", op, path, name, code);
    const DType t = static_cast<DType>(code);
    const uint32_t rank = r.get<uint32_t>();
    if (rank > 64) fail("{}: {}: tensor \"{}\" has rank {}: damaged", op, path, name, rank);
    Shape s(rank);
    for (int64_t& d : s) {
      d = r.get<int64_t>();
      if (d < 0 || d > (int64_t{1} << 48))
        fail("{}: {}: tensor \"{}\" has a size {}: damaged", op, path, name, d);
    }
    const uint64_t nbytes = r.get<uint64_t>();
    const uint64_t want_bytes =
        static_cast<uint64_t>(shape_numel(s)) * static_cast<uint64_t>(dtype_size(t));
    if (nbytes != want_bytes)
      fail("{}: {}: \"{}\" holds {} bytes, {} expected: damaged", op, path, name, nbytes,
           want_bytes);
    Tensor v = tensor_of(r.take(nbytes), t, s, device);
    out.emplace_back(std::move(name), std::move(v));
  }
  return out;
}

}  // namespace tj::trace
