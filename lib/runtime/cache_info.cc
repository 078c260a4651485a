#include "runtime/cache_info.h"

#include <unistd.h>

namespace lowrank {

size_t L2CacheBytes() {
  static const size_t bytes = [] {
#ifdef _SC_LEVEL2_CACHE_SIZE
    const long v = sysconf(_SC_LEVEL2_CACHE_SIZE);
    return v > 0 ? static_cast<size_t>(v) : size_t{0};
#else
    return size_t{0};
#endif
  }();
  return bytes;
}

}  // namespace lowrank
