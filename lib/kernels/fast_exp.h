// Array forms of the fast exp kernels (fast_exp-inl.h), dispatched to the
// active target. Used by tests and benchmarks; kernels inline the per-target
// vector functions directly.
#ifndef LOWRANK_LIB_KERNELS_FAST_EXP_H_
#define LOWRANK_LIB_KERNELS_FAST_EXP_H_

#include <cstddef>

namespace lowrank {

// out[i] = e^in[i] for i < n; in and out may be the same array.
void FastExpArray(const float* in, float* out, size_t n);
// out[i] = 2^in[i] for i < n.
void FastExp2Array(const float* in, float* out, size_t n);
// out[i] = 2^max(in[i], -125): the clamped form the attention softmax uses
// for inputs <= 0 (never returns 0; see Exp2Clamped in fast_exp-inl.h).
void Exp2ClampedArray(const float* in, float* out, size_t n);
// Fused softmax pass over one row: out[i] = 2^(in[i] - max(in)), returns the
// sum of out and stores max(in) in *row_max if not null. n >= 1.
float SoftmaxExp2Row(const float* in, float* out, size_t n, float* row_max = nullptr);

}  // namespace lowrank

#endif  // LOWRANK_LIB_KERNELS_FAST_EXP_H_
