// Small per-target vector helpers on float rows (re-included per target):
// Dot, Axpy, AddPartials, AddColumnSums, Scale, PrefetchRow. Any alignment;
// scalar tails.
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

// y[c] += x_1[c] + x_2[c] + ... + x_{count}[c], c < n, added one x at a time
// in that order, with x_i = first + (i - 1) stride: the sequence segments'
// partial results (SeqSplit) added into segment 0's, always in the same
// order, so the sum does not depend on which thread computed which segment.
template <class D>
HWY_INLINE void AddPartials(D d, const float* first, size_t stride, size_t count,
                            float* HWY_RESTRICT y, size_t n) {
  for (size_t i = 0; i < count; ++i) Axpy(d, 1.0f, first + i * stride, y, n);
}

// y[c] += sum over i < rows of x[i ldx + c], c < n: the column sums of a
// block of rows (a feature map's z = phi(K)^T 1, the factors' W^T 1, sums of
// value rows). Four vectors of columns at a time stay in registers across
// all the rows, even and odd rows in separate accumulators (8 chains for the
// add latency), so each element costs one load and y is loaded and stored
// once per column group. Row by row with Axpy, y was loaded and stored for
// every row: one store per vector capped it near a vector a cycle. The
// order of the additions is fixed (not thread-dependent).
template <class D>
HWY_INLINE void AddColumnSums(D d, const float* HWY_RESTRICT x, int64_t ldx, size_t rows,
                              size_t n, float* HWY_RESTRICT y) {
  const size_t N = hn::Lanes(d);
  size_t c = 0;
  for (; c + 4 * N <= n; c += 4 * N) {
    auto e0 = hn::Zero(d), e1 = hn::Zero(d), e2 = hn::Zero(d), e3 = hn::Zero(d);
    auto o0 = hn::Zero(d), o1 = hn::Zero(d), o2 = hn::Zero(d), o3 = hn::Zero(d);
    size_t i = 0;
    for (; i + 2 <= rows; i += 2) {
      const float* HWY_RESTRICT r0 = x + static_cast<int64_t>(i) * ldx + c;
      const float* HWY_RESTRICT r1 = r0 + ldx;
      e0 = hn::Add(e0, hn::LoadU(d, r0));
      e1 = hn::Add(e1, hn::LoadU(d, r0 + N));
      e2 = hn::Add(e2, hn::LoadU(d, r0 + 2 * N));
      e3 = hn::Add(e3, hn::LoadU(d, r0 + 3 * N));
      o0 = hn::Add(o0, hn::LoadU(d, r1));
      o1 = hn::Add(o1, hn::LoadU(d, r1 + N));
      o2 = hn::Add(o2, hn::LoadU(d, r1 + 2 * N));
      o3 = hn::Add(o3, hn::LoadU(d, r1 + 3 * N));
    }
    if (i < rows) {
      const float* HWY_RESTRICT r0 = x + static_cast<int64_t>(i) * ldx + c;
      e0 = hn::Add(e0, hn::LoadU(d, r0));
      e1 = hn::Add(e1, hn::LoadU(d, r0 + N));
      e2 = hn::Add(e2, hn::LoadU(d, r0 + 2 * N));
      e3 = hn::Add(e3, hn::LoadU(d, r0 + 3 * N));
    }
    hn::StoreU(hn::Add(hn::LoadU(d, y + c), hn::Add(e0, o0)), d, y + c);
    hn::StoreU(hn::Add(hn::LoadU(d, y + c + N), hn::Add(e1, o1)), d, y + c + N);
    hn::StoreU(hn::Add(hn::LoadU(d, y + c + 2 * N), hn::Add(e2, o2)), d, y + c + 2 * N);
    hn::StoreU(hn::Add(hn::LoadU(d, y + c + 3 * N), hn::Add(e3, o3)), d, y + c + 3 * N);
  }
  for (; c + N <= n; c += N) {
    auto e0 = hn::Zero(d), o0 = hn::Zero(d);
    size_t i = 0;
    for (; i + 2 <= rows; i += 2) {
      const float* HWY_RESTRICT r0 = x + static_cast<int64_t>(i) * ldx + c;
      e0 = hn::Add(e0, hn::LoadU(d, r0));
      o0 = hn::Add(o0, hn::LoadU(d, r0 + ldx));
    }
    if (i < rows) e0 = hn::Add(e0, hn::LoadU(d, x + static_cast<int64_t>(i) * ldx + c));
    hn::StoreU(hn::Add(hn::LoadU(d, y + c), hn::Add(e0, o0)), d, y + c);
  }
  for (; c < n; ++c) {
    float sum = 0.0f;
    for (size_t i = 0; i < rows; ++i) sum += x[static_cast<int64_t>(i) * ldx + c];
    y[c] += sum;
  }
}

// y[c] *= alpha for c < n.
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
