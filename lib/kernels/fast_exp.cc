// Dispatching array wrappers around fast_exp-inl.h.
#include "kernels/fast_exp.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/fast_exp.cc"
#include "hwy/foreach_target.h"  // must come before highway.h
#include "hwy/highway.h"
#include "kernels/fast_exp-inl.h"

HWY_BEFORE_NAMESPACE();
namespace lowrank {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Applies op to whole vectors, then to the tail through a stack buffer:
// Highway 1.0.3's MaskedLoad reads a full vector on SSE4/SSSE3/SCALAR and
// NEON, past the end of the array (found by ASan).
template <class Op>
HWY_INLINE void MapArray(const float* in, float* out, size_t n,
                         const Op& op) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  size_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(op(d, hn::LoadU(d, in + i)), d, out + i);
  if (i < n) {
    HWY_ALIGN float buf[HWY_MAX_BYTES / sizeof(float)] = {};
    hn::SafeCopyN(n - i, d, in + i, buf);
    hn::Store(op(d, hn::Load(d, buf)), d, buf);
    hn::SafeCopyN(n - i, d, buf, out + i);
  }
}

void FastExpArrayImpl(const float* in, float* out, size_t n) {
  MapArray(in, out, n, [](auto d, auto v) { return FastExp(d, v); });
}
void FastExp2ArrayImpl(const float* in, float* out, size_t n) {
  MapArray(in, out, n, [](auto d, auto v) { return FastExp2(d, v); });
}
void Exp2ClampedArrayImpl(const float* in, float* out, size_t n) {
  MapArray(in, out, n, [](auto d, auto v) { return Exp2Clamped(d, v); });
}

float SoftmaxExp2RowImpl(const float* in, float* out, size_t n, float* row_max) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  auto vmax = hn::Set(d, -hwy::HighestValue<float>());
  size_t i = 0;
  for (; i + N <= n; i += N) vmax = hn::Max(vmax, hn::LoadU(d, in + i));
  float m = hn::GetLane(hn::MaxOfLanes(d, vmax));
  for (; i < n; ++i) m = in[i] > m ? in[i] : m;
  if (row_max != nullptr) *row_max = m;
  const auto vm = hn::Set(d, m);
  auto vsum = hn::Zero(d);
  i = 0;
  for (; i + N <= n; i += N) {
    const auto e = Exp2NonPositive(d, hn::Sub(hn::LoadU(d, in + i), vm));
    vsum = hn::Add(vsum, e);
    hn::StoreU(e, d, out + i);
  }
  float sum = hn::GetLane(hn::SumOfLanes(d, vsum));
  if (i < n) {
    HWY_ALIGN float buf[HWY_MAX_BYTES / sizeof(float)];
    for (size_t j = 0; j < N; ++j) buf[j] = m;  // pad: 2^0 = 1, not summed
    hn::SafeCopyN(n - i, d, in + i, buf);
    hn::Store(Exp2NonPositive(d, hn::Sub(hn::Load(d, buf), vm)), d, buf);
    for (size_t j = 0; j < n - i; ++j) sum += buf[j];
    hn::SafeCopyN(n - i, d, buf, out + i);
  }
  return sum;
}

}  // namespace HWY_NAMESPACE
}  // namespace lowrank
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace lowrank {
HWY_EXPORT(FastExpArrayImpl);
HWY_EXPORT(FastExp2ArrayImpl);
HWY_EXPORT(Exp2ClampedArrayImpl);
HWY_EXPORT(SoftmaxExp2RowImpl);

void FastExpArray(const float* in, float* out, size_t n) {
  HWY_DYNAMIC_DISPATCH(FastExpArrayImpl)(in, out, n);
}
void FastExp2Array(const float* in, float* out, size_t n) {
  HWY_DYNAMIC_DISPATCH(FastExp2ArrayImpl)(in, out, n);
}
void Exp2ClampedArray(const float* in, float* out, size_t n) {
  HWY_DYNAMIC_DISPATCH(Exp2ClampedArrayImpl)(in, out, n);
}
float SoftmaxExp2Row(const float* in, float* out, size_t n, float* row_max) {
  return HWY_DYNAMIC_DISPATCH(SoftmaxExp2RowImpl)(in, out, n, row_max);
}
}  // namespace lowrank
#endif  // HWY_ONCE
