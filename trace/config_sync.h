// How the tracer hands tj::config() to the layers below it, which never
// read the public configuration: the JIT's options (jit/options.h) and the
// log level (ir/log.h).
#pragma once

#include <optional>

#include "jit/options.h"
#include "tilejit/config.h"

namespace tj::trace {

/// The configuration the TILEJIT_* variables describe now (invalid values
/// warned about and left at their defaults); config() is this, read once.
Config config_from_environment();

/// The JIT's share of a configuration.
jit::Options jit_options_of(const Config& c);

/// Installs the calling thread's configuration (tj::config(), ConfigGuards
/// included) as the JIT's options and log level for the scope's lifetime.
/// Every call from trace/ into jit/ that can compile, launch or observe
/// runs inside one.
class JitScope {
 public:
  JitScope();
  ~JitScope();
  JitScope(const JitScope&) = delete;
  JitScope& operator=(const JitScope&) = delete;

 private:
  jit::OptionsScope scope_;
  std::optional<LogLevel> outer_level_;
};

}  // namespace tj::trace
