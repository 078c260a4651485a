// Argument checks shared by every method's plan creation and execution.
// Each returns LOWRANK_OK or records a message naming the argument.
#ifndef LOWRANK_LIB_API_VALIDATE_H_
#define LOWRANK_LIB_API_VALIDATE_H_

#include <cstddef>
#include <cstdint>

#include "lowrank/lowrank.h"

namespace lowrank {

// Largest extent of any axis: 2^31 - 1, so products of two extents and all
// index arithmetic fit comfortably in 64 bits.
constexpr int64_t kMaxExtent = INT32_MAX;

// Checks extents (1..kMaxExtent), strides (>= 0) and that the farthest
// element's byte offset fits in a pointer difference. On success *span is
// the number of floats from the first to one past the last element.
lowrank_status_t CheckDesc(const char* name, const lowrank_tensor_desc_t* t,
                           int64_t* span);

// Checks that no two distinct elements of an output view share memory.
lowrank_status_t CheckNoSelfOverlap(const char* name,
                                    const lowrank_tensor_desc_t& t);

// True if the byte ranges [a, a + a_floats) and [b, b + b_floats) overlap.
bool RangesOverlap(const float* a, int64_t a_floats, const float* b,
                   int64_t b_floats);

// Checked size arithmetic: false on overflow.
bool MulOverflows(size_t a, size_t b, size_t* out);

}  // namespace lowrank

#endif  // LOWRANK_LIB_API_VALIDATE_H_
