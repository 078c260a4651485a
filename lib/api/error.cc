// Thread-local error message storage.
#include "api/error.h"

#include <cstdarg>
#include <cstdio>

namespace lowrank {
namespace {
// 512 bytes holds the longest message the library composes (a tensor name,
// two shapes and a reason) with room to spare; longer text is truncated.
thread_local char g_message[512] = "";
}  // namespace

lowrank_status_t Fail(lowrank_status_t code, const char* format, ...) {
  va_list args;
  va_start(args, format);
  std::vsnprintf(g_message, sizeof(g_message), format, args);
  va_end(args);
  return code;
}

lowrank_status_t ClearError() {
  g_message[0] = '\0';
  return LOWRANK_OK;
}

const char* LastError() { return g_message; }

}  // namespace lowrank
