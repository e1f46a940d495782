// Error helpers: user errors (tj::Error) and internal invariants (TJ_CHECK).
#pragma once

#include <fmt/format.h>

#include <string>

#include "tilejit/error.h"

namespace tj {

/// Throws tj::Error with a formatted message. Messages start with the op
/// name ("add: ..."), name the shapes and dtypes involved, and say what
/// would be valid.
template <class... Args>
[[noreturn]] void fail(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(fmt::format(f, std::forward<Args>(args)...));
}

[[noreturn]] void internal_error(const char* file, int line, const char* cond,
                                 const std::string& msg);

}  // namespace tj

/// An internal invariant. Failing it is a bug in tilejit, and the message
/// says so (it is still thrown as tj::Error so the process keeps working).
#define TJ_CHECK(cond, ...)                                                                    \
  do {                                                                                         \
    if (!(cond)) ::tj::internal_error(__FILE__, __LINE__, #cond, fmt::format("" __VA_ARGS__)); \
  } while (0)
