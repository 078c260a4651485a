// Small per-target vector helpers on float rows (re-included per target):
// Dot, Axpy, AddPartials, Scale, PrefetchRow. Any alignment; scalar tails.
#if defined(LOWRANK_LIB_KERNELS_VECTOR_OPS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LOWRANK_LIB_KERNELS_VECTOR_OPS_INL_H_
#undef LOWRANK_LIB_KERNELS_VECTOR_OPS_INL_H_
#else
#define LOWRANK_LIB_KERNELS_VECTOR_OPS_INL_H_
#endif

#include <stddef.h>

#include "hwy/cache_control.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace lowrank {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// sum_k x[k] y[k] over n floats.
template <class D>
HWY_INLINE float Dot(D d, const float* HWY_RESTRICT x, const float* HWY_RESTRICT y, size_t n) {
  const size_t N = hn::Lanes(d);
  auto acc = hn::Zero(d);
  size_t k = 0;
  for (; k + N <= n; k += N) acc = hn::MulAdd(hn::LoadU(d, x + k), hn::LoadU(d, y + k), acc);
  float s = hn::GetLane(hn::SumOfLanes(d, acc));
  for (; k < n; ++k) s += x[k] * y[k];
  return s;
}

// y[c] += alpha x[c] for c < n.
template <class D>
HWY_INLINE void Axpy(D d, float alpha, const float* HWY_RESTRICT x, float* HWY_RESTRICT y,
                     size_t n) {
  const size_t N = hn::Lanes(d);
  const auto va = hn::Set(d, alpha);
  size_t c = 0;
  for (; c + N <= n; c += N) hn::StoreU(hn::MulAdd(va, hn::LoadU(d, x + c), hn::LoadU(d, y + c)), d, y + c);
  for (; c < n; ++c) y[c] += alpha * x[c];
}

// y[c] *= alpha for c < n.
// y[c] += x_1[c] + x_2[c] + ... + x_{count}[c], c < n, added one x at a time
// in that order, with x_i = first + (i - 1) stride: the sequence segments'
// partial results (SeqSplit) added into segment 0's, always in the same
// order, so the sum does not depend on which thread computed which segment.
template <class D>
HWY_INLINE void AddPartials(D d, const float* first, size_t stride, size_t count,
                            float* HWY_RESTRICT y, size_t n) {
  for (size_t i = 0; i < count; ++i) Axpy(d, 1.0f, first + i * stride, y, n);
}

template <class D>
HWY_INLINE void Scale(D d, float alpha, float* HWY_RESTRICT y, size_t n) {
  const size_t N = hn::Lanes(d);
  const auto va = hn::Set(d, alpha);
  size_t c = 0;
  for (; c + N <= n; c += N) hn::StoreU(hn::Mul(va, hn::LoadU(d, y + c)), d, y + c);
  for (; c < n; ++c) y[c] *= alpha;
}

// Prefetches the 64-byte lines holding row[0, n) (16 floats a line) into
// L1: the kernels' software prefetches of rows the hardware prefetchers
// reach late (column-wise or short strided reads from DRAM).
HWY_INLINE void PrefetchRow(const float* row, size_t n) {
  for (size_t c = 0; c < n; c += 16) hwy::Prefetch(row + c);
}

}  // namespace HWY_NAMESPACE
}  // namespace lowrank
HWY_AFTER_NAMESPACE();

#endif  // include guard toggle
