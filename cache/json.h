// JSON string literals for the cache CLI's --json output and the JIT's
// timeline file.
#pragma once

#include <string>
#include <string_view>

namespace tj::cache {

/// `s` as a quoted JSON string: quotes, backslashes and control characters escaped.
std::string json_str(std::string_view s);

}  // namespace tj::cache
