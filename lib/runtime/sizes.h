// Workspace sizes that saturate at SIZE_MAX instead of wrapping. Extents
// are validated one by one (each < 2^31), but products over batch x heads x
// per-head buffers can pass 2^64 for shapes whose outputs are tiny (q_len =
// d_v = 1) and whose inputs are broadcast (stride 0): a size function built
// from these returns SIZE_MAX there, and lib/api rejects the plan with
// "workspace size overflows" instead of sizing a wrapped workspace.
#ifndef LOWRANK_LIB_RUNTIME_SIZES_H_
#define LOWRANK_LIB_RUNTIME_SIZES_H_

#include <cstddef>
#include <cstdint>

namespace lowrank {

inline size_t SatMul(size_t a, size_t b) {
  size_t r;
  return __builtin_mul_overflow(a, b, &r) ? SIZE_MAX : r;
}
inline size_t SatAdd(size_t a, size_t b) {
  size_t r;
  return __builtin_add_overflow(a, b, &r) ? SIZE_MAX : r;
}

}  // namespace lowrank

#endif  // LOWRANK_LIB_RUNTIME_SIZES_H_
