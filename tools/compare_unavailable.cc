// `lowrank compare` in a build without LAPACKE (see tools/CMakeLists.txt).
#include <cstdio>

#include "cli_common.h"
#include "commands.h"

namespace lowrank_cli {

int CmdCompare(int, char**) {
  std::fprintf(stderr,
               "lowrank compare: not built: it needs LAPACKE for the SVD "
               "(install liblapacke-dev and rebuild)\n");
  return kRuntimeError;
}

}  // namespace lowrank_cli
