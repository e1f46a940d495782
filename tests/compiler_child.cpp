// Child program for compiler_test: compiles and runs two different kernels
// under the environment the test sets (TILEJIT_CXX, TMPDIR, timeouts) and
// prints, for each, "ok <value>" or "error <message>", then "dir <compile dir>".
#include <sys/stat.h>

#include <cstdio>
#include <string>

#include "jit/cpu/compiler.h"
#include "tilejit/tilejit.h"

int main() {
  tj::Tensor x = tj::from_vector(std::vector<float>(16, 0.5f));
  const tj::Tensor ys[] = {tj::exp(x) * 3.0, tj::sin(x) + 2.0};
  for (const tj::Tensor& y : ys) {
    try {
      std::printf("ok %.4f\n", y.to_vector<float>()[0]);
    } catch (const tj::Error& e) {
      std::string m = e.what();
      for (char& c : m)
        if (c == '\n') c = ' ';
      std::printf("error %s\n", m.c_str());
    }
  }
  try {
    const std::string& dir = tj::jit::compile_dir();
    struct stat st {};
    ::lstat(dir.c_str(), &st);
    std::printf("dir %s mode %o\n", dir.c_str(), static_cast<unsigned>(st.st_mode & 07777));
  } catch (const tj::Error& e) {
    std::printf("dir none: %s\n", e.what());
  }
  return 0;
}
