// Sizes in messages: "512 B", "3.0 KiB", "1.5 GiB" (powers of 1024).
#pragma once

#include <cstdint>
#include <string>

namespace tj {

std::string format_bytes(uint64_t bytes);

}  // namespace tj
