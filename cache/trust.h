// Who the kernel cache trusts. A cached kernel is code this process will
// run, so the cache directory is treated as ssh treats ~/.ssh:
//
//  * By default the directory must be this user's own and writable by no
//    one else (not by its group, not by others), and every directory above
//    it must belong to this user or root and be writable by no one else
//    unless it is sticky (like /tmp). tilejit creates missing directories
//    with mode 0700. A directory that fails is refused with one warning and
//    the process keeps its kernels in memory.
//  * Every entry carries an HMAC-SHA256 (OpenSSL) of its key fields, source
//    and binary under a 32-byte secret of this user, kept outside the cache
//    in $XDG_CONFIG_HOME/tilejit/cache.key (else ~/.config/tilejit/cache.key)
//    with mode 0600. An entry whose MAC does not verify — forged, or written
//    by another user — is a miss: warned about, removed, compiled again; and
//    `tilejit-cache verify` reports it.
//  * TILEJIT_CACHE_SHARED=1 opts into a cache that several users share (a
//    group's directory): the directory may belong to another user and be
//    writable by its group, never by everyone; the secret is the shared
//    cache.key inside the directory (readable by the group). Trust model:
//    every user who can write that directory can put code in the cache that
//    your programs will run, exactly as if you had compiled it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tj::cache {

/// Why `dir` (which must exist) may not hold kernels this process runs;
/// nullopt when it may.
std::optional<std::string> untrusted_dir(const std::string& dir, bool shared);

/// Creates `dir` and its missing parents with mode 0700 (never following a
/// link at the last component); false with `*err` set when it cannot.
bool make_private_dirs(const std::string& dir, std::string* err);

/// The file holding this user's secret: $XDG_CONFIG_HOME/tilejit/cache.key,
/// else $HOME/.config/tilejit/cache.key, else the password database's home;
/// empty when there is no home directory at all.
std::string default_key_file();

/// A 32-byte MAC key.
struct MacKey {
  std::string bytes;
  bool empty() const { return bytes.empty(); }
};

/// Reads the secret at `path`, creating it (0600, random, in a 0700
/// directory) when `create` and it is missing. With `shared`, the file may
/// belong to another user and be group-readable (0640 when created). Errors
/// say why and what to do.
std::optional<MacKey> load_key(const std::string& path, bool create, bool shared, std::string* err);

/// Starts OpenSSL without its exit-time cleanup. An entry may be signed by a
/// background thread (the precompiled preamble) while the process exits, and
/// that cleanup would free what the thread is using. mac() calls it; a caller
/// that starts such a thread calls it first, on its own thread.
void init_crypto();

/// HMAC-SHA256 under `key` of length-prefixed `parts`.
std::string mac(const MacKey& key, std::initializer_list<std::string_view> parts);

/// Compares two MACs in constant time.
bool same_mac(std::string_view a, std::string_view b);

}  // namespace tj::cache
