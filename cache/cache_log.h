// Internal: the store's logging (see set_log_sink in kernel_store.h).
#pragma once

#include <fmt/format.h>

#include <string_view>

#include "cache/kernel_store.h"

namespace tj::cache::detail {

void emit(Severity s, std::string_view msg);

template <class... Args>
void log(Severity s, fmt::format_string<Args...> f, Args&&... args) {
  emit(s, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace tj::cache::detail
