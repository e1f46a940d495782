// tilejit — errors reported to the user.
#pragma once

#include <stdexcept>
#include <string>

namespace tj {

/// Thrown for every user error: bad shapes, bad dtypes, invalid axes, reading
/// an undefined tensor, mixing devices. The message names the operation, the
/// shapes and dtypes involved and what would be valid. The library stays
/// usable after it is thrown.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace tj
