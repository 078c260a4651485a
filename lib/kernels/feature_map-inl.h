// Per-target feature-map attention (re-included per target). See
// feature_map.h for the maps and their stabilizers.
//
// Bidirectional, per (batch, kv head, sequence segment of SeqSplit): key
// blocks of kFeatureRows rows are projected (U = K W'^T, one GEMM), mapped
// without eps into G, and reduced into S = G^T V (one GemmAtB per block, V
// read in place) and z = G^T 1 (row sums, a vector add per key: the
// reduction phi(K)^T [V, 1] without padding d_v + 1 columns to a panel);
// the running key max rescales the accumulated exp part when it grows.
// Then per (batch, kv head) the segments' partials are rescaled to the
// global key max and summed in order, and eps is added from sum v and the
// key count (so the result is the map with the global key max). Then per
// (batch, query head, block of rows): phi(Q) S written straight into the
// output rows, divided by phi(q) . z with the guard.
// Causal, per (batch, kv head), chunks of kFeatureBlock query rows: keys
// every row of the chunk sees are folded into the running state; the few
// keys between the chunk's first and last limits go through a small
// quadratic step (P = phi(Q) G^T, masked and rescaled, times [V, 1]); then
// they are folded too. The state only accumulates (and is rescaled by
// factors <= 1 when the key max grows): no subtraction of prefix sums.
#if defined(LOWRANK_LIB_KERNELS_FEATURE_MAP_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LOWRANK_LIB_KERNELS_FEATURE_MAP_INL_H_
#undef LOWRANK_LIB_KERNELS_FEATURE_MAP_INL_H_
#else
#define LOWRANK_LIB_KERNELS_FEATURE_MAP_INL_H_
#endif

#include <stddef.h>
#include <stdint.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "hwy/contrib/math/math-inl.h"  // hn::Exp, for the benchmark hook only
#include "hwy/highway.h"
#include "kernels/fast_exp-inl.h"
#include "kernels/feature_map.h"
#include "kernels/lowrank_gemm-inl.h"
#include "kernels/vector_ops-inl.h"
#include "runtime/thread_pool.h"

HWY_BEFORE_NAMESPACE();
namespace lowrank {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

constexpr float kLog2e = 1.4426950408889634f;

// Per-thread scratch of the feature-map kernels, in floats from an aligned
// base: U (block x m), G (block x F), the partial keys' features G^T and
// values packed for the quadratic step, P, an edge tile, per-row h, row max, prefix max and
// denominators, and the GEMM workspace.
struct FeatureScratch {
  size_t u, g, gt, vp, p, ct, h, rmax, pmax, den, wtp, gemm, total;
};
inline FeatureScratch MakeFeatureScratch(const FeatureMapSpec& map, size_t dv) {
  const size_t B = kFeatureBlock, R = kFeatureRows, F = map.features,
               m = std::max<size_t>(map.m, 1);
  FeatureScratch s;
  size_t at = 0;
  auto take = [&](size_t floats) {
    const size_t o = at;
    at += GemmAlignFloats(std::max<size_t>(floats, 1));
    return o;
  };
  s.u = take(R * m);
  s.g = take(R * F);
  // Partial keys: fewer than 2 blocks. G^T and V packed into panels of up
  // to 256 columns (PackedBFloats: any target), P with rows rounded up to
  // a 6-row strip and its row stride to a panel, one edge tile.
  s.gt = take(PackedBFloats(F, 2 * B));
  s.vp = take(PackedBFloats(2 * B, dv));
  s.p = take(GemmRoundUp(B, kGemmTileRows) * GemmRoundUp(2 * B, 256));
  s.ct = take(kGemmTileRows * 256);
  s.h = take(R);
  s.rmax = take(R);
  s.pmax = take(R);
  s.den = take(R);
  s.wtp = take(map.m > 0 ? PackedBFloats(map.d, map.m) : 0);
  s.gemm = take(std::max({GemmABWorkspaceFloats(map.d, m), GemmABWorkspaceFloats(F, dv),
                          GemmAtBWorkspaceFloats(F, dv)}));
  s.total = at;
  return s;
}

// max over c < n of x[c] (or |x[c]| with abs).
template <class D>
HWY_INLINE float RowMax(D d, const float* HWY_RESTRICT x, size_t n, bool abs) {
  const size_t N = hn::Lanes(d);
  auto vm = hn::Set(d, -HUGE_VALF);
  size_t c = 0;
  for (; c + N <= n; c += N) {
    auto v = hn::LoadU(d, x + c);
    if (abs) v = hn::Abs(v);
    vm = hn::Max(vm, v);
  }
  float mx = hn::GetLane(hn::MaxOfLanes(d, vm));
  for (; c < n; ++c) mx = std::max(mx, abs ? std::fabs(x[c]) : x[c]);
  return mx;
}

// g[f] = out_scale (exp(sign u[f] - hc) + eps), f < n: the fused exp
// feature (projection result, norm term plus stabilizer hc = h + c, exp,
// eps) in one pass, 15 vector operations with the load and store. The
// exponent is <= 0 by construction (clamped against rounding); Exp2Clamped
// is exact to 4e-7 relative there and returns 2^-125 (not 0) below -125:
// 1e-32 of the smallest eps anyone uses, and still far below any float
// feature that matters when eps = 0.
template <class D>
HWY_INLINE void ExpFeatures(D d, const float* HWY_RESTRICT u, size_t n, float sign, float hc,
                            float eps, float out_scale, float* HWY_RESTRICT g) {
  const size_t N = hn::Lanes(d);
  const auto vs = hn::Set(d, sign * kLog2e), vhc = hn::Set(d, hc * kLog2e);
  const auto vo = hn::Set(d, out_scale), voe = hn::Set(d, out_scale * eps), zero = hn::Zero(d);
  size_t f = 0;
  for (; f + N <= n; f += N) {
    const auto t = hn::Min(hn::MulSub(vs, hn::LoadU(d, u + f), vhc), zero);
    hn::StoreU(hn::MulAdd(Exp2Clamped(d, t), vo, voe), d, g + f);
  }
  for (; f < n; ++f) {
    g[f] = out_scale * (std::exp2(std::min(sign * kLog2e * u[f] - hc * kLog2e, 0.0f)) + eps);
  }
}

// relu(scale x) + eps and elu(x) + 1 + eps (x >= 0 ? x + 1 : exp(x), which
// never rounds to 0), f < n.
template <class D>
HWY_INLINE void ReluFeatures(D d, const float* HWY_RESTRICT x, size_t n, float scale, float eps,
                             float* HWY_RESTRICT g) {
  const size_t N = hn::Lanes(d);
  const auto vs = hn::Set(d, scale), ve = hn::Set(d, eps), zero = hn::Zero(d);
  size_t f = 0;
  for (; f + N <= n; f += N) {
    hn::StoreU(hn::Add(hn::Max(hn::Mul(vs, hn::LoadU(d, x + f)), zero), ve), d, g + f);
  }
  for (; f < n; ++f) g[f] = std::max(scale * x[f], 0.0f) + eps;
}
template <class D>
HWY_INLINE void EluFeatures(D d, const float* HWY_RESTRICT x, size_t n, float eps,
                            float* HWY_RESTRICT g) {
  const size_t N = hn::Lanes(d);
  const auto one = hn::Set(d, 1.0f), ve = hn::Set(d, eps), zero = hn::Zero(d),
             l2e = hn::Set(d, kLog2e);
  size_t f = 0;
  for (; f + N <= n; f += N) {
    const auto v = hn::LoadU(d, x + f);
    const auto neg = Exp2NonPositive(d, hn::Mul(hn::Min(v, zero), l2e));
    hn::StoreU(hn::Add(hn::IfThenElse(hn::Ge(v, zero), hn::Add(v, one), neg), ve), d, g + f);
  }
  for (; f < n; ++f) g[f] = (x[f] >= 0.0f ? x[f] + 1.0f : std::exp(x[f])) + eps;
}

// Projection of `rows` input rows (x, row stride `stride`, dim stride 1):
// u = x W'^T (rows x m; W' carries the input scale), h_i = |x'_i|^2 / 2, and
// the stabilizer candidate rmax_i (row max of u, or |u|; 0 for non-exp
// maps).
// packed_wt: W'^T of head hk packed by PackProjection (null: pack per call
// or let the GEMM selection decide).
template <class D>
HWY_INLINE void ProjectRows(D d, const FeatureMapSpec& map, size_t hk, const float* x,
                            int64_t stride, size_t rows, float* ws, const FeatureScratch& sc,
                            const float* packed_wt = nullptr) {
  float* u = ws + sc.u;
  float* h = ws + sc.h;
  float* rmax = ws + sc.rmax;
  if (map.m > 0) {
    GemmArgs g{rows, map.d, map.m, x, static_cast<size_t>(stride), map.WtOf(hk), map.m, u, map.m,
               false, ws + sc.gemm};
    g.packed_b = packed_wt;
    GemmABSelectedImpl(g);
  }
  const float s2 = 0.5f * map.input_scale * map.input_scale;
  for (size_t i = 0; i < rows; ++i) {
    const float* xi = x + static_cast<int64_t>(i) * stride;
    h[i] = map.Exponential() ? s2 * Dot(d, xi, xi, map.d) : 0.0f;
    rmax[i] = map.Exponential()
                  ? RowMax(d, u + i * map.m, map.m, map.kind == FeatureMapKind::kHyperbolic)
                  : 0.0f;
  }
}

// Packs W'^T of head hk once into ws + sc.wtp for the many projection GEMMs
// of a causal head (saving a pack of d x m floats per chunk, about 5% of
// the causal time at m = 256), unless the GEMM rule sends these shapes to
// oneDNN. Returns the packed pointer or null.
template <class D>
HWY_INLINE const float* PackProjection(D /*d*/, const FeatureMapSpec& map, size_t hk, float* ws,
                                       const FeatureScratch& sc) {
  if (map.m == 0 || PreferOnednn(GemmOp::kAB, kFeatureBlock, map.d, map.m)) {
    return nullptr;
  }
  PackGemmB(map.WtOf(hk), map.m, map.d, map.m, ws + sc.wtp);
  return ws + sc.wtp;
}

// Features of row i into g (F floats) with stabilizer c (exp maps), eps and
// out_scale given (the bidirectional key pass adds eps later).
template <class D>
HWY_INLINE void MapRow(D d, const FeatureMapSpec& map, const float* x_row, const float* u_row,
                       float h, float c, float eps, float out_scale, float* g) {
  switch (map.kind) {
    case FeatureMapKind::kFavor:
      ExpFeatures(d, u_row, map.m, 1.0f, h + c, eps, out_scale, g);
      break;
    case FeatureMapKind::kHyperbolic:
      ExpFeatures(d, u_row, map.m, 1.0f, h + c, eps, out_scale, g);
      ExpFeatures(d, u_row, map.m, -1.0f, h + c, eps, out_scale, g + map.m);
      break;
    case FeatureMapKind::kRelu:
      if (map.m > 0) {
        ReluFeatures(d, u_row, map.m, 1.0f, eps, g);
      } else {
        ReluFeatures(d, x_row, map.d, map.input_scale, eps, g);
      }
      break;
    case FeatureMapKind::kElu:
      EluFeatures(d, x_row, map.d, eps, g);
      break;
  }
}

// Query features for `rows` rows into ws + sc.g (ld F): each row with its
// own stabilizer, eps and out_scale included.
template <class D>
HWY_INLINE void QueryFeatures(D d, const FeatureMapSpec& map, size_t hk, const float* q,
                              int64_t stride, size_t rows, float* ws, const FeatureScratch& sc,
                              const float* packed_wt = nullptr) {
  ProjectRows(d, map, hk, q, stride, rows, ws, sc, packed_wt);
  const size_t F = map.features;
  for (size_t i = 0; i < rows; ++i) {
    MapRow(d, map, q + static_cast<int64_t>(i) * stride, ws + sc.u + i * map.m, ws[sc.h + i],
           ws[sc.rmax + i], map.eps, map.out_scale, ws + sc.g + i * F);
  }
}

// Output rows: out_i = num_i / guard(den_i), num already in out.
template <class D>
HWY_INLINE void DivideRows(D d, const float* den, size_t rows, size_t dv, float* out,
                           int64_t out_stride) {
  for (size_t i = 0; i < rows; ++i) {
    Scale(d, GuardedInverse(den[i]), out + static_cast<int64_t>(i) * out_stride, dv);
  }
}

// State of one (batch, kv head), F x d_v + F (+ d_v + 1 for the
// bidirectional pass): S (ld d_v), then z, then sum v and the key max.
inline size_t FeatureStateFloats(size_t F, size_t dv) {
  return GemmAlignFloats(F * dv + F + dv + 1);
}

// Bidirectional partial state of one (batch, kv head) over its valid keys
// [j_begin, j_end) (a segment of SeqSplit): S = phi(K)^T V and z = phi(K)^T 1
// without eps and out_scale, sum v, and the segment's key max c in the last
// float. The exp parts accumulate with a running max (rescaled when it
// grows, factors <= 1).
template <class D>
HWY_INLINE void BidirectionalPartial(D d, const FeatureMapArgs& a, size_t b, size_t hk,
                                     size_t j_begin, size_t j_end, float* s, float* ws,
                                     const FeatureScratch& sc) {
  const FeatureMapSpec& map = a.map;
  const size_t F = map.features, dv = a.d_v;
  const AttentionIo::Head hd = a.At(b, 0, hk);
  float* z = s + F * dv;
  float* vsum = z + F;
  std::fill(s, s + F * dv + F + dv, 0.0f);
  float c = -HUGE_VALF;  // running key max
  float* g = ws + sc.g;
  for (size_t j0 = j_begin; j0 < j_end; j0 += kFeatureRows) {
    const size_t rows = std::min(kFeatureRows, j_end - j0);
    const float* k = hd.k + static_cast<int64_t>(j0) * a.k_strides.seq;
    const float* v = hd.v + static_cast<int64_t>(j0) * a.v_strides.seq;
    ProjectRows(d, map, hk, k, a.k_strides.seq, rows, ws, sc);
    if (map.Exponential()) {
      const float cb = std::max(c, *std::max_element(ws + sc.rmax, ws + sc.rmax + rows));
      if (cb > c && c != -HUGE_VALF) Scale(d, std::exp(c - cb), s, F * dv + F);
      c = cb;
    }
    for (size_t i = 0; i < rows; ++i) {
      MapRow(d, map, k + static_cast<int64_t>(i) * a.k_strides.seq, ws + sc.u + i * map.m,
             ws[sc.h + i], c, 0.0f, 1.0f, g + i * F);
    }
    AddColumnSums(d, v, a.v_strides.seq, rows, dv, vsum);
    GemmArgs r{rows, F, dv, g, F, v, static_cast<size_t>(a.v_strides.seq), s, dv, true,
               ws + sc.gemm};
    GemmAtBSelectedImpl(r);
    AddColumnSums(d, g, static_cast<int64_t>(F), rows, F, z);
  }
  vsum[dv] = c;
}

// The bidirectional state of one (batch, kv head) from its `used` partials
// (state floats apart, the first one receiving the result): the exp parts
// rescaled to the global key max and summed in segment order, then eps added
// through sum v and the key count n, so the result is the map with the
// global max: S = out_scale (S_exp + eps 1 sum v^T), z = out_scale (z_exp +
// eps n).
template <class D>
HWY_INLINE void MergeBidirectional(D d, const FeatureMapSpec& map, size_t dv, size_t n,
                                   float* s, size_t used, size_t state) {
  const size_t F = map.features;
  float* z = s + F * dv;
  float* vsum = z + F;
  if (used > 1) {
    float c = vsum[dv];
    for (size_t seg = 1; seg < used; ++seg) c = std::max(c, s[seg * state + F * dv + F + dv]);
    // Non-exp maps keep c = -inf: nothing to rescale.
    const bool rescale = map.Exponential();
    if (rescale && vsum[dv] < c) Scale(d, std::exp(vsum[dv] - c), s, F * dv + F);
    for (size_t seg = 1; seg < used; ++seg) {
      const float* p = s + seg * state;
      const float cp = p[F * dv + F + dv];
      const float f = rescale && cp < c ? std::exp(cp - c) : 1.0f;
      Axpy(d, f, p, s, F * dv + F);
      Axpy(d, 1.0f, p + F * dv + F, vsum, dv);
    }
    vsum[dv] = c;
  }
  for (size_t f = 0; f < F; ++f) {
    float* row = s + f * dv;
    for (size_t col = 0; col < dv; ++col) {
      row[col] = map.out_scale * (row[col] + map.eps * vsum[col]);
    }
    z[f] = map.out_scale * (z[f] + map.eps * static_cast<float>(n));
  }
}

// Output rows [i0, i0 + rows) of query head h from the state s: phi(Q) S
// straight into the output rows, each divided by guard(phi(q) . z) in the
// GEMM's row-normalization epilogue (row_dot = z, per 6-row strip).
template <class D>
HWY_INLINE void BidirectionalOutput(D d, const FeatureMapArgs& a, size_t b, size_t h, size_t i0,
                                    const float* s, float* ws, const FeatureScratch& sc) {
  const size_t rows = std::min(kFeatureRows, a.q_len - i0), dv = a.d_v, F = a.map.features;
  const size_t hk = a.KvHead(h);
  const AttentionIo::Head hd = a.At(b, h, hk);
  QueryFeatures(d, a.map, hk, hd.q + static_cast<int64_t>(i0) * a.q_strides.seq,
                a.q_strides.seq, rows, ws, sc);
  float* out = hd.out + static_cast<int64_t>(i0) * a.out_strides.seq;
  const float* phi = ws + sc.g;
  GemmArgs g{rows, F, dv, phi, F, s, dv, out, static_cast<size_t>(a.out_strides.seq), false,
             ws + sc.gemm};
  g.row_dot = s + F * dv;  // z
  GemmABSelectedImpl(g);
}

// Key features of rows [j0, j0 + rows) of kv head hk (batch b) for the causal
// state: g rows (ld F) with prefix maxima pmax_j = max(c_in, rmax of keys
// j0..j); each g_j is the inserted feature out_scale (exp(u_j - h_j -
// pmax_j) + eps).
template <class D>
HWY_INLINE void CausalKeyFeatures(D d, const FeatureMapArgs& a, size_t b, size_t hk, size_t j0,
                                  size_t rows, float c_in, float* ws, const FeatureScratch& sc,
                                  const float* packed_wt) {
  const FeatureMapSpec& map = a.map;
  const AttentionIo::Head hd = a.At(b, 0, hk);
  const float* k = hd.k + static_cast<int64_t>(j0) * a.k_strides.seq;
  ProjectRows(d, map, hk, k, a.k_strides.seq, rows, ws, sc, packed_wt);
  float c = c_in;
  for (size_t i = 0; i < rows; ++i) {
    if (map.Exponential()) c = std::max(c, ws[sc.rmax + i]);
    ws[sc.pmax + i] = c;
    MapRow(d, map, k + static_cast<int64_t>(i) * a.k_strides.seq, ws + sc.u + i * map.m,
           ws[sc.h + i], c, map.eps, map.out_scale, ws + sc.g + i * map.features);
  }
}

// Folds the features in ws + sc.g (rows keys from j0, prefix maxima in
// ws + sc.pmax) into the state s (S, z), whose keys were scaled to *c.
template <class D>
HWY_INLINE void FoldIntoState(D d, const FeatureMapArgs& a, size_t b, size_t hk, size_t j0,
                              size_t rows, float* s, float* c, float* ws,
                              const FeatureScratch& sc) {
  const size_t F = a.map.features, dv = a.d_v;
  float* g = ws + sc.g;
  if (a.map.Exponential()) {
    const float c_new = ws[sc.pmax + rows - 1];
    if (c_new > *c && *c != -HUGE_VALF) Scale(d, std::exp(*c - c_new), s, F * dv + F);
    for (size_t i = 0; i < rows; ++i) {
      const float pm = ws[sc.pmax + i];
      if (pm != c_new) Scale(d, std::exp(pm - c_new), g + i * F, F);
    }
    *c = c_new;
  }
  const AttentionIo::Head hd = a.At(b, 0, hk);
  GemmArgs r{rows, F, dv, g, F, hd.v + static_cast<int64_t>(j0) * a.v_strides.seq,
             static_cast<size_t>(a.v_strides.seq), s, dv, true, ws + sc.gemm};
  GemmAtBSelectedImpl(r);
  AddColumnSums(d, g, static_cast<int64_t>(F), rows, F, s + F * dv);
}

// The quadratic step of a causal chunk: rows query rows (features phi, ld
// F) against the cp partial keys whose features (G^T) and values are packed
// in ws + sc.gt and ws + sc.vp, prefix maxima in ws + sc.pmax; row r sees
// the first seen(r) of them (nondecreasing in r). For each strip of 6 rows
// P = phi G^T is computed only over the panels of keys its last row sees
// and P V only over those keys (the strip's causal triangle; skipping the
// rest saves about 40% of the step at 36-row chunks); masked entries are
// zeroed and each row rescaled to its own stabilizer c_i (out and den by
// exp(c - c_i), key j by exp(pmax_j - c_i), factors <= 1), then out += P V
// and den += sum P.
template <class D, class Seen>
HWY_INLINE void CausalPartialKeys(D d, const FeatureMapSpec& map, size_t rows, size_t cp,
                                  size_t F, size_t dv, const Seen& seen, float c,
                                  const float* phi, float* ws, const FeatureScratch& sc,
                                  float* out, size_t so, float* den) {
  const size_t nr = TileCols(d), ldp = GemmRoundUp(cp, nr);
  const float* gt = ws + sc.gt;
  const float* vp = ws + sc.vp;
  float* ct = ws + sc.ct;
  for (size_t s0 = 0; s0 < rows; s0 += kTileRows) {
    const size_t srows = std::min(kTileRows, rows - s0);
    const size_t need = seen(s0 + srows - 1);  // keys the strip's last row sees
    if (need == 0) continue;                    // nor the rows above it
    // P strip (6 rows; rows past `rows` read stale features and are never
    // used): the panels of the first `need` keys.
    float* ps = ws + sc.p + s0 * ldp;
    // Panel q is packed w = PanelWidthAt(cp) wide; only the vectors that
    // cover the strip's `need` keys are computed (on AVX-512 a 64-key panel
    // would otherwise cost the whole panel for a 36-key chunk).
    for (size_t q = 0; q < need; q += nr) {
      const size_t w = PanelWidthAt(d, cp, nr, q);
      const size_t vecs = PanelWidthAt(d, need, nr, q) / hn::Lanes(d);
      TileKernelVecs<false, ARead::kRows>(d, vecs, phi + s0 * F, F, gt + q * F, w, F, ps + q,
                                          ldp);
    }
    for (size_t r = 0; r < srows; ++r) {
      const size_t sr = seen(s0 + r);
      const float ci = sr > 0 ? ws[sc.pmax + sr - 1] : c;
      float* pr = ps + r * ldp;
      float* orow = out + (s0 + r) * so;
      if (map.Exponential() && ci != c) {
        const float f = std::exp(c - ci);
        Scale(d, f, orow, dv);
        den[s0 + r] *= f;
      }
      float add = 0.0f;
      for (size_t j = 0; j < need; ++j) {
        if (j >= sr) {
          pr[j] = 0.0f;
        } else if (map.Exponential() && ws[sc.pmax + j] != ci) {
          pr[j] *= std::exp(ws[sc.pmax + j] - ci);
        }
        add += pr[j];
      }
      den[s0 + r] += add;
    }
    // out rows += P strip (6 x need) V[0, need): panel q of the packed
    // values (nr_v = PanelCols columns, the last one w = PanelWidthAt)
    // starts at vp + q * cp; its first `need` rows are those keys.
    const size_t nr_v = PanelCols(d, dv);
    for (size_t q = 0; q < dv; q += nr_v) {
      float* o = out + s0 * so + q;
      const size_t w = PanelWidthAt(d, dv, nr_v, q), vecs = w / hn::Lanes(d);
      const size_t cols = std::min(nr_v, dv - q);
      if (srows == kTileRows && cols == w) {
        TileKernelVecs<true, ARead::kRows>(d, vecs, ps, ldp, vp + q * cp, w, need, o, so);
        continue;
      }
      // Edge tile through ct: only existing output entries are touched.
      std::fill(ct, ct + kTileRows * w, 0.0f);
      for (size_t r = 0; r < srows; ++r) std::copy(o + r * so, o + r * so + cols, ct + r * w);
      TileKernelVecs<true, ARead::kRows>(d, vecs, ps, ldp, vp + q * cp, w, need, ct, w);
      for (size_t r = 0; r < srows; ++r) std::copy(ct + r * w, ct + r * w + cols, o + r * so);
    }
  }
}

// Causal attention of every query head of kv head hk (batch b). ws holds
// two scratches: the key side (partial keys' features) and the query side.
template <class D>
HWY_INLINE void CausalHead(D d, const FeatureMapArgs& a, size_t b, size_t hk, float* s, float* ws,
                           const FeatureScratch& sc) {
  const FeatureMapSpec& map = a.map;
  const size_t F = map.features, dv = a.d_v;
  std::fill(s, s + F * dv + F, 0.0f);
  const float* z = s + F * dv;
  float c = map.Exponential() ? -HUGE_VALF : 0.0f;
  size_t done = 0;  // keys folded into s
  const size_t group = a.q_heads / a.kv_heads;
  float* qs = ws + sc.total;  // the query side's scratch
  auto limit = [&](size_t i) { return a.VisibleKeys(b, i, /*causal=*/true); };
  const AttentionIo::Head kvh = a.At(b, 0, hk);
  const float* wtp = PackProjection(d, map, hk, ws, sc);
  // Chunk rows C: the quadratic step costs about 2 C (F + d_v) flops per row
  // beside the 2 d m + 4 F d_v of projection, output and fold; keep it
  // near 40% of those, in multiples of the 6-row GEMM tile from 12 to 60
  // (60 at m = 256, d = 64; 36 at m = 64). Measured at n = 16384, AVX2,
  // with the triangle-only quadratic step: C = 24, 36, 48 at m = 64 within
  // 1% (8.0 ms), 60 6% slower; m = 256 flat from 24 to 60 (fixed costs per
  // chunk grow as C shrinks; the quadratic step grows with C).
  const double budget = 0.4 * (2.0 * static_cast<double>(map.d * map.m) +
                               4.0 * static_cast<double>(F * dv)) /
                        (2.0 * static_cast<double>(F + dv));
  size_t chunk = kFeatureBlock / 6 * 6;
  while (chunk > 12 && static_cast<double>(chunk) > budget) chunk -= 6;
  for (size_t i0 = 0; i0 < a.q_len; i0 += chunk) {
    const size_t rows = std::min(chunk, a.q_len - i0);
    const size_t js = limit(i0), je = limit(i0 + rows - 1);
    // Keys every row of the chunk sees, in whole blocks while more than a
    // block of them is left.
    while (js - done > chunk) {
      CausalKeyFeatures(d, a, b, hk, done, chunk, c, ws, sc, wtp);
      FoldIntoState(d, a, b, hk, done, chunk, s, &c, ws, sc);
      done += chunk;
    }
    // Keys [done, je) go through the quadratic step: [done, js) are seen by
    // every row, [js, je) by the later rows only (limits grow by at most
    // one per row), fewer than 2 chunks in all. Taking the few
    // common keys here too saves a projection GEMM of a row or two per
    // chunk (in self-attention each chunk has exactly one such key).
    const size_t cp = je - done;
    const size_t first = done;
    if (cp > 0) {
      CausalKeyFeatures(d, a, b, hk, first, cp, c, ws, sc, wtp);
      // G^T and the partial keys' values packed once per chunk for every
      // query head of the group.
      PackTransposedPanels(d, ws + sc.g, static_cast<int64_t>(F), 1, cp, F, ws + sc.gt);
      PackPanels(d, kvh.v + static_cast<int64_t>(first) * a.v_strides.seq, a.v_strides.seq, 1,
                 cp, dv, ws + sc.vp, PanelCols(d, dv));
    }
    for (size_t h = hk * group; h < (hk + 1) * group; ++h) {
      const AttentionIo::Head hd = a.At(b, h, hk);
      QueryFeatures(d, map, hk, hd.q + static_cast<int64_t>(i0) * a.q_strides.seq,
                    a.q_strides.seq, rows, qs, sc, wtp);
      const float* phi = qs + sc.g;
      float* out = hd.out + static_cast<int64_t>(i0) * a.out_strides.seq;
      const size_t so = static_cast<size_t>(a.out_strides.seq);
      float* den = qs + sc.den;
      GemmArgs g{rows, F, dv, phi, F, s, dv, out, so, false, qs + sc.gemm};
      GemmABSelectedImpl(g);
      for (size_t r = 0; r < rows; ++r) den[r] = Dot(d, phi + r * F, z, F);
      if (cp > 0) {
        const auto seen = [&](size_t r) { return limit(i0 + r) - first; };
        CausalPartialKeys(d, map, rows, cp, F, dv, seen, c, phi, ws, sc, out, so, den);
      }
      DivideRows(d, den, rows, dv, out, a.out_strides.seq);
    }
    if (cp > 0) {
      FoldIntoState(d, a, b, hk, first, cp, s, &c, ws, sc);
      done = je;
    }
  }
}

HWY_NOINLINE void FeatureMapImpl(const FeatureMapArgs& a) {
  const hn::ScalableTag<float> d;
  const FeatureScratch sc = MakeFeatureScratch(a.map, a.d_v);
  const size_t state = FeatureStateFloats(a.map.features, a.d_v);
  const size_t kv = a.batch * a.kv_heads;
  float* states = a.workspace;
  float* threads = states + kv * FeatureStateCount(a.kv_len, a.causal) * state;
  // Per thread: the scratch twice (the causal step keeps key features while
  // it computes query features).
  const size_t per_thread = 2 * sc.total;
  if (a.causal) {
    ParallelFor(kv, a.num_threads, [&](size_t chunk, size_t slot) {
      CausalHead(d, a, chunk / a.kv_heads, chunk % a.kv_heads, states + chunk * state,
                 threads + slot * per_thread, sc);
    });
    return;
  }
  // Bidirectional: partial states per (batch, kv head, segment), merged per
  // (batch, kv head) into the first, then the output rows.
  const SeqSplit split(a.kv_len);
  ParallelFor(kv * split.segments, a.num_threads, [&](size_t chunk, size_t slot) {
    const size_t bh = chunk / split.segments, seg = chunk % split.segments;
    const size_t b = bh / a.kv_heads;
    const size_t n = a.ValidKeys(b);
    if (seg >= split.Used(n)) return;
    const size_t j_begin = seg * split.rows;
    BidirectionalPartial(d, a, b, bh % a.kv_heads, j_begin, std::min(n, j_begin + split.rows),
                         states + chunk * state, threads + slot * per_thread, sc);
  });
  ParallelFor(kv, a.num_threads, [&](size_t bh, size_t /*slot*/) {
    const size_t n = a.ValidKeys(bh / a.kv_heads);
    MergeBidirectional(d, a.map, a.d_v, n, states + bh * split.segments * state, split.Used(n),
                       state);
  });
  const size_t row_blocks = (a.q_len + kFeatureRows - 1) / kFeatureRows;
  ParallelFor(a.batch * a.q_heads * row_blocks, a.num_threads, [&](size_t chunk, size_t slot) {
    const size_t bh = chunk / row_blocks, b = bh / a.q_heads, h = bh % a.q_heads;
    BidirectionalOutput(d, a, b, h, (chunk % row_blocks) * kFeatureRows,
                        states + (b * a.kv_heads + a.KvHead(h)) * split.segments * state,
                        threads + slot * per_thread, sc);
  });
}

// Decoding (see feature_map.h). Row-at-a-time: one token's projection is a
// d x m vector-matrix product done as d row updates (no packing, which would
// cost more than the product at this size).
template <class D>
HWY_INLINE void ProjectOne(D d, const FeatureMapSpec& map, size_t hk, const float* x, float* u) {
  std::fill(u, u + map.m, 0.0f);
  const float* wt = map.WtOf(hk);
  for (size_t c = 0; c < map.d; ++c) Axpy(d, x[c], wt + c * map.m, u, map.m);
}

HWY_NOINLINE void DecodeAppendImpl(const FeatureMapSpec& map, size_t hk, size_t dv,
                                   const float* k, int64_t k_stride, const float* v,
                                   int64_t v_stride, size_t count, float* s, float* c,
                                   float* scratch) {
  const hn::ScalableTag<float> d;
  const size_t F = map.features;
  float* z = s + F * dv;
  float* u = scratch;
  float* g = scratch + GemmAlignFloats(std::max<size_t>(map.m, 1));
  for (size_t t = 0; t < count; ++t) {
    const float* x = k + static_cast<int64_t>(t) * k_stride;
    const float* vr = v + static_cast<int64_t>(t) * v_stride;
    float h = 0.0f, cn = 0.0f;
    if (map.m > 0) ProjectOne(d, map, hk, x, u);
    if (map.Exponential()) {
      h = 0.5f * map.input_scale * map.input_scale * Dot(d, x, x, map.d);
      cn = std::max(*c, RowMax(d, u, map.m, map.kind == FeatureMapKind::kHyperbolic));
      if (cn > *c && *c != -HUGE_VALF) Scale(d, std::exp(*c - cn), s, F * dv + F);
      *c = cn;
    }
    MapRow(d, map, x, u, h, cn, map.eps, map.out_scale, g);
    for (size_t f = 0; f < F; ++f) Axpy(d, g[f], vr, s + f * dv, dv);
    Axpy(d, 1.0f, g, z, F);
  }
}

HWY_NOINLINE void DecodeQueryImpl(const FeatureMapSpec& map, size_t hk, size_t dv, const float* q,
                                  int64_t q_stride, size_t count, const float* s, float* out,
                                  int64_t out_stride, float* scratch) {
  const hn::ScalableTag<float> d;
  const size_t F = map.features;
  float* u = scratch;
  float* g = scratch + GemmAlignFloats(std::max<size_t>(map.m, 1));
  for (size_t r = 0; r < count; ++r) {
    const float* x = q + static_cast<int64_t>(r) * q_stride;
    float* o = out + static_cast<int64_t>(r) * out_stride;
    float h = 0.0f, c = 0.0f;
    if (map.m > 0) ProjectOne(d, map, hk, x, u);
    if (map.Exponential()) {
      h = 0.5f * map.input_scale * map.input_scale * Dot(d, x, x, map.d);
      c = RowMax(d, u, map.m, map.kind == FeatureMapKind::kHyperbolic);
    }
    MapRow(d, map, x, u, h, c, map.eps, map.out_scale, g);
    std::fill(o, o + dv, 0.0f);
    for (size_t f = 0; f < F; ++f) Axpy(d, g[f], s + f * dv, o, dv);
    const float den = Dot(d, g, s + F * dv, F);
    DivideRows(d, &den, 1, dv, o, out_stride);
  }
}

// Benchmark hooks (feature_map.h): the fused exp feature map over `rows`
// rows of m projections, and the same values through hn::Exp.
HWY_NOINLINE void ExpFeatureRowsImpl(const float* u, size_t rows, size_t m, const float* hc,
                                     float eps, float out_scale, float* g) {
  const hn::ScalableTag<float> d;
  for (size_t i = 0; i < rows; ++i) {
    ExpFeatures(d, u + i * m, m, 1.0f, hc[i], eps, out_scale, g + i * m);
  }
}

HWY_NOINLINE void HwyExpRowsImpl(const float* u, size_t rows, size_t m, const float* hc,
                                 float eps, float out_scale, float* g) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  const auto vo = hn::Set(d, out_scale), voe = hn::Set(d, out_scale * eps);
  for (size_t i = 0; i < rows; ++i) {
    const auto vhc = hn::Set(d, hc[i]);
    size_t f = 0;
    for (; f + N <= m; f += N) {
      const auto e = hn::Exp(d, hn::Sub(hn::LoadU(d, u + i * m + f), vhc));
      hn::StoreU(hn::MulAdd(e, vo, voe), d, g + i * m + f);
    }
    for (; f < m; ++f) g[i * m + f] = out_scale * (std::exp(u[i * m + f] - hc[i]) + eps);
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace lowrank
HWY_AFTER_NAMESPACE();

#endif  // include guard toggle
