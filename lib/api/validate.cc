// Argument checks shared by every method.
#include "api/validate.h"

#include <algorithm>
#include <cstdint>

#include "api/error.h"

namespace lowrank {

bool MulOverflows(size_t a, size_t b, size_t* out) {
  return __builtin_mul_overflow(a, b, out);
}

lowrank_status_t CheckDesc(const char* name, const lowrank_tensor_desc_t* t,
                           int64_t* span) {
  if (t == nullptr) {
    return Fail(LOWRANK_INVALID_ARGUMENT, "%s: descriptor is null", name);
  }
  const int64_t extents[4] = {t->batch, t->heads, t->seq, t->dim};
  const int64_t strides[4] = {t->stride_batch, t->stride_head, t->stride_seq,
                              t->stride_dim};
  static const char* const kAxis[4] = {"batch", "heads", "seq", "dim"};
  int64_t last = 0;  // offset of the farthest element
  for (int i = 0; i < 4; ++i) {
    if (extents[i] < 1 || extents[i] > kMaxExtent) {
      return Fail(LOWRANK_INVALID_ARGUMENT,
                  "%s: %s = %lld is out of range [1, %lld]", name, kAxis[i],
                  static_cast<long long>(extents[i]),
                  static_cast<long long>(kMaxExtent));
    }
    if (strides[i] < 0) {
      return Fail(LOWRANK_INVALID_ARGUMENT,
                  "%s: stride_%s = %lld is negative", name, kAxis[i],
                  static_cast<long long>(strides[i]));
    }
    int64_t reach = 0;
    if (__builtin_mul_overflow(extents[i] - 1, strides[i], &reach) ||
        __builtin_add_overflow(last, reach, &last)) {
      return Fail(LOWRANK_INVALID_ARGUMENT,
                  "%s: shape and strides address more memory than a 64-bit "
                  "offset can hold",
                  name);
    }
  }
  if (last >= static_cast<int64_t>(PTRDIFF_MAX / sizeof(float))) {
    return Fail(LOWRANK_INVALID_ARGUMENT,
                "%s: shape and strides span %lld floats, more than a pointer "
                "difference can hold",
                name, static_cast<long long>(last));
  }
  *span = last + 1;
  return LOWRANK_OK;
}

lowrank_status_t CheckNoSelfOverlap(const char* name,
                                    const lowrank_tensor_desc_t& t) {
  struct Axis {
    int64_t extent, stride;
  } axes[4] = {{t.batch, t.stride_batch},
               {t.heads, t.stride_head},
               {t.seq, t.stride_seq},
               {t.dim, t.stride_dim}};
  std::sort(axes, axes + 4, [](const Axis& a, const Axis& b) {
    return a.stride < b.stride;
  });
  // Sufficient condition: each axis of extent > 1 steps past the whole span
  // of the smaller-stride axes.
  int64_t span = 1;
  for (const Axis& a : axes) {
    if (a.extent == 1) continue;
    if (a.stride < span) {
      return Fail(LOWRANK_INVALID_ARGUMENT,
                  "%s: strides make distinct output elements overlap (an axis "
                  "of extent %lld has stride %lld < %lld)",
                  name, static_cast<long long>(a.extent),
                  static_cast<long long>(a.stride),
                  static_cast<long long>(span));
    }
    span = a.stride * (a.extent - 1) + span;  // bounded by CheckDesc
  }
  return LOWRANK_OK;
}

bool RangesOverlap(const float* a, int64_t a_floats, const float* b,
                   int64_t b_floats) {
  const uintptr_t a0 = reinterpret_cast<uintptr_t>(a);
  const uintptr_t b0 = reinterpret_cast<uintptr_t>(b);
  const uintptr_t a1 = a0 + static_cast<uintptr_t>(a_floats) * sizeof(float);
  const uintptr_t b1 = b0 + static_cast<uintptr_t>(b_floats) * sizeof(float);
  return a0 < b1 && b0 < a1;
}

}  // namespace lowrank
