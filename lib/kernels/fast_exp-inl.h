// Per-target fast exp and exp2 for float vectors (re-included per target).
//
// Method: e^x = 2^n * e^r with n = round(x * log2(e)) and
// r = x - n * ln2 in [-ln2/2, ln2/2] (Cody-Waite split of ln2 so n * ln2_hi
// is exact for |n| < 2^8). e^r comes from a degree-5 polynomial whose
// coefficients are a near-minimax fit (Lawson's iteratively reweighted least
// squares on 2000 Chebyshev nodes) of the relative error of 2^f on
// [-1/2, 1/2]: 9.1e-8 in exact arithmetic; float evaluation adds a few ulp,
// so the total stays below 4e-7 (tests/fast_exp_test.cc measures it). The
// degree-4 fit was 2.8e-6 before rounding: too close to the 4e-6 budget.
//
// 2^n is built by writing n + 126 into the exponent field and the
// polynomial carries an extra factor 2 (coefficients doubled), so the
// exponent field stays in [1, 254] for every n in [-125, 128]: no special
// case for n = 128. Outside that range results are flushed: 0 below
// 2^-125 (about 2.4e-38; denormals are never produced) and +inf at or above
// 2^128. NaN propagates.
//
// Cost per vector (AVX2): 1 mul + 2 FMA (reduction) + 5 FMA (polynomial) +
// round, convert, add, shift, mul + 2 compares and blends, against about 14
// cycles per 8 floats for hwy::Exp, whose generality (two-step scaling, a
// degree-7 polynomial) the softmax does not need.
#if defined(LOWRANK_LIB_KERNELS_FAST_EXP_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LOWRANK_LIB_KERNELS_FAST_EXP_INL_H_
#undef LOWRANK_LIB_KERNELS_FAST_EXP_INL_H_
#else
#define LOWRANK_LIB_KERNELS_FAST_EXP_INL_H_
#endif

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace lowrank {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// 2 * 2^f for f in [-1/2, 1/2] (see file comment), Horner form.
template <class D, class V = hn::Vec<D>>
HWY_INLINE V TwoPow2Poly(D d, V f) {
  V p = hn::Set(d, 0.0026529447858588792f);
  p = hn::MulAdd(p, f, hn::Set(d, 0.019343025739546528f));
  p = hn::MulAdd(p, f, hn::Set(d, 0.11101467508267317f));
  p = hn::MulAdd(p, f, hn::Set(d, 0.48044484160717366f));
  p = hn::MulAdd(p, f, hn::Set(d, 1.386293955183132f));
  return hn::MulAdd(p, f, hn::Set(d, 2.0f));
}

// 2 * e^r for r in [-ln2/2, ln2/2]: the same polynomial in r = f * ln2.
template <class D, class V = hn::Vec<D>>
HWY_INLINE V TwoExpPoly(D d, V r) {
  V p = hn::Set(d, 0.01658062534599028f);
  p = hn::MulAdd(p, r, hn::Set(d, 0.08379586058739885f));
  p = hn::MulAdd(p, r, hn::Set(d, 0.33335272454954346f));
  p = hn::MulAdd(p, r, hn::Set(d, 0.9999829904053238f));
  p = hn::MulAdd(p, r, hn::Set(d, 1.9999994143570514f));
  return hn::MulAdd(p, r, hn::Set(d, 2.0f));
}

// 2^(n - 1) for integer-valued float vector rn in [-125, 128].
template <class D, class V = hn::Vec<D>>
HWY_INLINE V HalfPow2(D d, V rn) {
  const hn::RebindToSigned<D> di;
  const auto n = hn::ConvertTo(di, rn);
  return hn::BitCast(d, hn::ShiftLeft<23>(hn::Add(n, hn::Set(di, 126))));
}

// 2^t for t <= 0 (also -inf and NaN): the softmax form, where t = s - max.
// Results below 2^-125 are 0; -inf gives exactly 0.
template <class D, class V = hn::Vec<D>>
HWY_INLINE V Exp2NonPositive(D d, V t) {
  // Clamping only the exponent source keeps NaN: f = t - rn stays NaN.
  const V rn = hn::Round(hn::Max(t, hn::Set(d, -126.0f)));
  const V r = hn::Mul(TwoPow2Poly(d, hn::Sub(t, rn)), HalfPow2(d, rn));
  return hn::IfThenZeroElse(hn::Lt(t, hn::Set(d, -125.0f)), r);
}

// 2^t for t <= 0 in the softmax hot loop, 11 vector operations: t is
// clamped to [-125, 0] first, so the result is never below 2^-125 (about
// 2.4e-38) and never exactly 0: callers zero hidden entries themselves.
// Rounding uses the 1.5 * 2^23 trick: adding M = 1.5 * 2^23 + 126 rounds t
// to an integer n (ties to even) and leaves n + 126 in the low mantissa
// bits, so shifting the bits of t + M left by 23 (the high bits of M shift
// out) gives the exponent field of 2^(n - 1) directly, without a float to
// int conversion. NaN propagates on x86 (Max returns its second operand).
template <class D, class V = hn::Vec<D>>
HWY_INLINE V Exp2Clamped(D d, V t) {
  const hn::RebindToSigned<D> di;
  t = hn::Max(hn::Set(d, -125.0f), t);
  const V magic = hn::Set(d, 12582912.0f + 126.0f);
  const V kk = hn::Add(t, magic);
  const V f = hn::Sub(t, hn::Sub(kk, magic));
  const V scale = hn::BitCast(d, hn::ShiftLeft<23>(hn::BitCast(di, kk)));
  return hn::Mul(TwoPow2Poly(d, f), scale);
}

// 2^t for any t. 0 below 2^-125, +inf from 2^128, NaN for NaN.
template <class D, class V = hn::Vec<D>>
HWY_INLINE V FastExp2(D d, V t) {
  const V lo = hn::Set(d, -125.0f);
  const V hi = hn::Set(d, 128.0f);
  // In range: the exponent comes from t. Out of range or NaN: from 0, so the
  // integer conversion never overflows; the blends below fix the value.
  const auto in_range = hn::And(hn::Ge(t, lo), hn::Lt(t, hi));
  const V rn = hn::Round(hn::IfThenElseZero(in_range, t));
  V r = hn::Mul(TwoPow2Poly(d, hn::Sub(t, rn)), HalfPow2(d, rn));
  r = hn::IfThenZeroElse(hn::Lt(t, lo), r);
  return hn::IfThenElse(hn::Ge(t, hi), hn::Inf(d), r);
}

// e^x for any x. 0 below e^-86.64 (2^-125), +inf above about 88.72, NaN for
// NaN. Max relative error 4e-7 in between (tests measure it per target).
template <class D, class V = hn::Vec<D>>
HWY_INLINE V FastExp(D d, V x) {
  const V t = hn::Mul(x, hn::Set(d, 1.4426950408889634f));  // log2(e)
  const V lo = hn::Set(d, -125.0f);
  const V hi = hn::Set(d, 128.0f);
  const auto in_range = hn::And(hn::Ge(t, lo), hn::Lt(t, hi));
  const V rn = hn::Round(hn::IfThenElseZero(in_range, t));
  // ln2_hi has 16 significant bits, so rn * ln2_hi is exact for |rn| < 2^8
  // even where MulAdd is emulated with two roundings (SSE4, SSSE3, scalar).
  V r = hn::NegMulAdd(rn, hn::Set(d, 0.693145751953125f), x);
  r = hn::NegMulAdd(rn, hn::Set(d, 1.428606765330187e-06f), r);
  V e = hn::Mul(TwoExpPoly(d, r), HalfPow2(d, rn));
  e = hn::IfThenZeroElse(hn::Lt(t, lo), e);
  return hn::IfThenElse(hn::Ge(t, hi), hn::Inf(d), e);
}

}  // namespace HWY_NAMESPACE
}  // namespace lowrank
HWY_AFTER_NAMESPACE();

#endif  // include guard toggle
