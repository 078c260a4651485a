// Per-core cache sizes, as the C library reports them, for blocking choices
// made at plan time.
#ifndef LOWRANK_LIB_RUNTIME_CACHE_INFO_H_
#define LOWRANK_LIB_RUNTIME_CACHE_INFO_H_

#include <cstddef>

namespace lowrank {

// Bytes of the L2 cache of one core, or 0 where the C library does not say
// (glibc reads it from CPUID on x86; elsewhere it may report nothing). Read
// once per process. Callers treat 0 as "unknown" and keep their defaults.
size_t L2CacheBytes();

}  // namespace lowrank

#endif  // LOWRANK_LIB_RUNTIME_CACHE_INFO_H_
