// Per-target feature-map attention (re-included per target). See
// feature_map.h for the maps and their stabilizers.
//
// Bidirectional, per (batch, kv head): key blocks of kFeatureBlock rows are
// projected (U = K W'^T, one GEMM), mapped without eps into G (with a last
// column of ones), and reduced into [S | z] = G^T [V, 1] (one GemmAtB per
// block: the reduction phi(K)^T [V, 1]); the running key max rescales the
// accumulated exp part when it grows, and eps is added at the end from the
// ones column (so the result is the map with the global key max exactly).
// Then per (batch, query head, block of rows): phi(Q) [S | z] (one GEMM) and
// the division by the last column with the guard, fused in one pass.
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
constexpr float kFeatureGuard = 1e-6f;  // the denominator guard's stab

// Per-thread scratch of the feature-map kernels, in floats from an aligned
// base: U (block x m), G (block x (F + 1)), the transposed partial features
// (F x block), P (block x block), [V, 1] (block x (d_v + 1)), T (block x
// (d_v + 1)), per-row h, row max, prefix max, and the GEMM workspace.
struct FeatureScratch {
  size_t u, g, gt, p, ve, t, h, rmax, pmax, gemm, total;
};
inline FeatureScratch MakeFeatureScratch(const FeatureMapSpec& map, size_t dv) {
  const size_t B = kFeatureBlock, F = map.features, m = std::max<size_t>(map.m, 1);
  FeatureScratch s;
  size_t at = 0;
  auto take = [&](size_t floats) {
    const size_t o = at;
    at += GemmAlignFloats(std::max<size_t>(floats, 1));
    return o;
  };
  s.u = take(B * m);
  s.g = take(B * (F + 1));
  s.gt = take(F * B);
  s.p = take(B * B);
  s.ve = take(B * (dv + 1));
  s.t = take(B * (dv + 1));
  s.h = take(B);
  s.rmax = take(B);
  s.pmax = take(B);
  s.gemm = take(std::max({GemmABWorkspaceFloats(map.d, m), GemmABWorkspaceFloats(F, dv + 1),
                          GemmABWorkspaceFloats(F, B), GemmABWorkspaceFloats(B, dv + 1),
                          GemmAtBWorkspaceFloats(F + 1, dv + 1)}));
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
// eps) in one pass. The exponent is <= 0 by construction (clamped against
// rounding): Exp2NonPositive is exact to 4e-7 relative there.
template <class D>
HWY_INLINE void ExpFeatures(D d, const float* HWY_RESTRICT u, size_t n, float sign, float hc,
                            float eps, float out_scale, float* HWY_RESTRICT g) {
  const size_t N = hn::Lanes(d);
  const auto vs = hn::Set(d, sign * kLog2e), vhc = hn::Set(d, hc * kLog2e);
  const auto vo = hn::Set(d, out_scale), voe = hn::Set(d, out_scale * eps), zero = hn::Zero(d);
  size_t f = 0;
  for (; f + N <= n; f += N) {
    const auto t = hn::Min(hn::MulSub(vs, hn::LoadU(d, u + f), vhc), zero);
    hn::StoreU(hn::MulAdd(Exp2NonPositive(d, t), vo, voe), d, g + f);
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
template <class D>
HWY_INLINE void ProjectRows(D d, const FeatureMapSpec& map, size_t hk, const float* x,
                            int64_t stride, size_t rows, float* ws, const FeatureScratch& sc) {
  float* u = ws + sc.u;
  float* h = ws + sc.h;
  float* rmax = ws + sc.rmax;
  if (map.m > 0) {
    GemmArgs g{rows, map.d, map.m, x, static_cast<size_t>(stride), map.WtOf(hk), map.m, u, map.m,
               false, ws + sc.gemm};
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
                              int64_t stride, size_t rows, float* ws, const FeatureScratch& sc) {
  ProjectRows(d, map, hk, q, stride, rows, ws, sc);
  const size_t F = map.features;
  for (size_t i = 0; i < rows; ++i) {
    MapRow(d, map, q + static_cast<int64_t>(i) * stride, ws + sc.u + i * map.m, ws[sc.h + i],
           ws[sc.rmax + i], map.eps, map.out_scale, ws + sc.g + i * F);
  }
}

// [V, 1] for `rows` value rows into ws + sc.ve (ld d_v + 1).
inline void PackValuesWithOnes(const float* v, int64_t stride, size_t rows, size_t dv, float* ve) {
  for (size_t i = 0; i < rows; ++i) {
    std::memcpy(ve + i * (dv + 1), v + static_cast<int64_t>(i) * stride, dv * sizeof(float));
    ve[i * (dv + 1) + dv] = 1.0f;
  }
}

// out row = t[0..dv) / guard(t[dv]) for `rows` rows of t (ld dv + 1).
template <class D>
HWY_INLINE void Normalize(D d, const float* t, size_t rows, size_t dv, float* out,
                          int64_t out_stride) {
  for (size_t i = 0; i < rows; ++i) {
    const float* ti = t + i * (dv + 1);
    float den = ti[dv];
    if (std::fabs(den) <= kFeatureGuard) den += 2.0f * kFeatureGuard;
    float* o = out + static_cast<int64_t>(i) * out_stride;
    std::memcpy(o, ti, dv * sizeof(float));
    Scale(d, 1.0f / den, o, dv);
  }
}

// Bidirectional state of one (batch, kv head): s = [S | z] (F x (d_v + 1))
// over the valid keys.
template <class D>
HWY_INLINE void BidirectionalState(D d, const FeatureMapArgs& a, size_t b, size_t hk, float* s,
                                   float* ws, const FeatureScratch& sc) {
  const FeatureMapSpec& map = a.map;
  const size_t F = map.features, dv = a.d_v, n = a.ValidKeys(b);
  const AttentionIo::Head hd = a.At(b, 0, hk);
  // acc: (F + 1) x (d_v + 1); row F (from G's ones column) is sum [v, 1].
  float* acc = s;
  std::fill(acc, acc + (F + 1) * (dv + 1), 0.0f);
  float c = -HUGE_VALF;  // running key max
  float* g = ws + sc.g;
  for (size_t j0 = 0; j0 < n; j0 += kFeatureBlock) {
    const size_t rows = std::min(kFeatureBlock, n - j0);
    const float* k = hd.k + static_cast<int64_t>(j0) * a.k_strides.seq;
    ProjectRows(d, map, hk, k, a.k_strides.seq, rows, ws, sc);
    if (map.Exponential()) {
      const float cb = std::max(c, *std::max_element(ws + sc.rmax, ws + sc.rmax + rows));
      if (cb > c && c != -HUGE_VALF) {
        const float f = std::exp(c - cb);
        for (size_t i = 0; i < F * (dv + 1); ++i) acc[i] *= f;
      }
      c = cb;
    }
    for (size_t i = 0; i < rows; ++i) {
      MapRow(d, map, k + static_cast<int64_t>(i) * a.k_strides.seq, ws + sc.u + i * map.m,
             ws[sc.h + i], c, 0.0f, 1.0f, g + i * (F + 1));
      g[i * (F + 1) + F] = 1.0f;
    }
    PackValuesWithOnes(hd.v + static_cast<int64_t>(j0) * a.v_strides.seq, a.v_strides.seq, rows,
                       dv, ws + sc.ve);
    GemmArgs r{rows, F + 1, dv + 1, g, F + 1, ws + sc.ve, dv + 1, acc, dv + 1, true, ws + sc.gemm};
    GemmAtBSelectedImpl(r);
  }
  // s = out_scale (acc[0..F) + eps sum [v, 1]), in place (rows 0..F of acc).
  const float* sum = acc + F * (dv + 1);
  for (size_t f = 0; f < F; ++f) {
    float* row = s + f * (dv + 1);
    for (size_t col = 0; col <= dv; ++col) {
      row[col] = map.out_scale * (row[col] + map.eps * sum[col]);
    }
  }
}

// Output rows [i0, i0 + rows) of query head h from the state s.
template <class D>
HWY_INLINE void BidirectionalOutput(D d, const FeatureMapArgs& a, size_t b, size_t h, size_t i0,
                                    const float* s, float* ws, const FeatureScratch& sc) {
  const size_t rows = std::min(kFeatureBlock, a.q_len - i0), dv = a.d_v, F = a.map.features;
  const size_t hk = a.KvHead(h);
  const AttentionIo::Head hd = a.At(b, h, hk);
  QueryFeatures(d, a.map, hk, hd.q + static_cast<int64_t>(i0) * a.q_strides.seq,
                a.q_strides.seq, rows, ws, sc);
  GemmArgs g{rows, F, dv + 1, ws + sc.g, F, s, dv + 1, ws + sc.t, dv + 1, false, ws + sc.gemm};
  GemmABSelectedImpl(g);
  Normalize(d, ws + sc.t, rows, dv, hd.out + static_cast<int64_t>(i0) * a.out_strides.seq,
            a.out_strides.seq);
}

// Key features of rows [j0, j0 + rows) of kv head hk (batch b) for the causal
// state: g rows (ld F + 1, the last column unused) with prefix maxima
// pmax_j = max(c_in, rmax of keys j0..j); each g_j is the inserted feature
// out_scale (exp(u_j - h_j - pmax_j) + eps). Returns the last prefix max.
template <class D>
HWY_INLINE float CausalKeyFeatures(D d, const FeatureMapArgs& a, size_t b, size_t hk, size_t j0,
                                   size_t rows, float c_in, float* ws, const FeatureScratch& sc) {
  const FeatureMapSpec& map = a.map;
  const AttentionIo::Head hd = a.At(b, 0, hk);
  const float* k = hd.k + static_cast<int64_t>(j0) * a.k_strides.seq;
  ProjectRows(d, map, hk, k, a.k_strides.seq, rows, ws, sc);
  float c = c_in;
  for (size_t i = 0; i < rows; ++i) {
    if (map.Exponential()) c = std::max(c, ws[sc.rmax + i]);
    ws[sc.pmax + i] = c;
    MapRow(d, map, k + static_cast<int64_t>(i) * a.k_strides.seq, ws + sc.u + i * map.m,
           ws[sc.h + i], c, map.eps, map.out_scale, ws + sc.g + i * (map.features + 1));
  }
  return c;
}

// Folds the features in ws + sc.g (rows keys from j0, prefix maxima in
// ws + sc.pmax) into the state s, whose keys so far were scaled to *c.
template <class D>
HWY_INLINE void FoldIntoState(D /*d*/, const FeatureMapArgs& a, size_t b, size_t hk, size_t j0,
                              size_t rows, float* s, float* c, float* ws,
                              const FeatureScratch& sc) {
  const size_t F = a.map.features, dv = a.d_v;
  float* g = ws + sc.g;
  const float c_new = ws[sc.pmax + rows - 1];
  if (a.map.Exponential()) {
    if (c_new > *c && *c != -HUGE_VALF) {
      const float f = std::exp(*c - c_new);
      for (size_t i = 0; i < F * (dv + 1); ++i) s[i] *= f;
    }
    for (size_t i = 0; i < rows; ++i) {
      const float pm = ws[sc.pmax + i];
      if (pm == c_new) continue;
      const float f = std::exp(pm - c_new);
      for (size_t col = 0; col < F; ++col) g[i * (F + 1) + col] *= f;
    }
    *c = c_new;
  }
  const AttentionIo::Head hd = a.At(b, 0, hk);
  PackValuesWithOnes(hd.v + static_cast<int64_t>(j0) * a.v_strides.seq, a.v_strides.seq, rows, dv,
                     ws + sc.ve);
  GemmArgs r{rows, F, dv + 1, g, F + 1, ws + sc.ve, dv + 1, s, dv + 1, true, ws + sc.gemm};
  GemmAtBSelectedImpl(r);
}

// Causal attention of every query head of kv head hk (batch b).
template <class D>
HWY_INLINE void CausalHead(D d, const FeatureMapArgs& a, size_t b, size_t hk, float* s, float* ws,
                           const FeatureScratch& sc) {
  const FeatureMapSpec& map = a.map;
  const size_t F = map.features, dv = a.d_v;
  std::fill(s, s + F * (dv + 1), 0.0f);
  float c = -HUGE_VALF;
  if (!map.Exponential()) c = 0.0f;
  size_t done = 0;  // keys folded into s
  const size_t group = a.q_heads / a.kv_heads;
  auto limit = [&](size_t i) { return a.VisibleKeys(b, i, /*causal=*/true); };
  for (size_t i0 = 0; i0 < a.q_len; i0 += kFeatureBlock) {
    const size_t rows = std::min(kFeatureBlock, a.q_len - i0);
    const size_t js = limit(i0), je = limit(i0 + rows - 1);
    // Keys every row of the chunk sees.
    while (done < js) {
      const size_t kb = std::min(kFeatureBlock, js - done);
      CausalKeyFeatures(d, a, b, hk, done, kb, c, ws, sc);
      FoldIntoState(d, a, b, hk, done, kb, s, &c, ws, sc);
      done += kb;
    }
    // Keys [js, je): seen by the later rows of the chunk only (fewer than
    // kFeatureBlock: limits grow by at most one per row).
    const size_t cp = je - js;
    if (cp > 0) {
      CausalKeyFeatures(d, a, b, hk, js, cp, c, ws, sc);
      float* gt = ws + sc.gt;  // F x cp
      for (size_t j = 0; j < cp; ++j) {
        for (size_t f = 0; f < F; ++f) gt[f * cp + j] = ws[sc.g + j * (F + 1) + f];
      }
      const AttentionIo::Head kvh = a.At(b, 0, hk);
      PackValuesWithOnes(kvh.v + static_cast<int64_t>(js) * a.v_strides.seq, a.v_strides.seq, cp,
                         dv, ws + sc.ve);
    }
    for (size_t h = hk * group; h < (hk + 1) * group; ++h) {
      const AttentionIo::Head hd = a.At(b, h, hk);
      // QueryFeatures writes ws + sc.g: keep the partial keys' features in
      // gt (already copied) and rebuild nothing from sc.g afterwards.
      QueryFeatures(d, map, hk, hd.q + static_cast<int64_t>(i0) * a.q_strides.seq,
                    a.q_strides.seq, rows, ws + sc.total, sc);
      const float* phi = ws + sc.total + sc.g;
      float* t = ws + sc.t;
      GemmArgs g{rows, F, dv + 1, phi, F, s, dv + 1, t, dv + 1, false, ws + sc.gemm};
      GemmABSelectedImpl(g);
      if (cp > 0) {
        float* p = ws + sc.p;  // rows x cp
        GemmArgs gp{rows, F, cp, phi, F, ws + sc.gt, cp, p, cp, false, ws + sc.gemm};
        GemmABSelectedImpl(gp);
        for (size_t r = 0; r < rows; ++r) {
          const size_t li = limit(i0 + r);  // keys [js, li) of the partial ones
          const size_t seen = li - js;
          const float ci = seen > 0 ? ws[sc.pmax + seen - 1] : c;
          float* pr = p + r * cp;
          if (map.Exponential() && ci != c) {
            const float f = std::exp(c - ci);
            for (size_t col = 0; col <= dv; ++col) t[r * (dv + 1) + col] *= f;
          }
          for (size_t j = 0; j < cp; ++j) {
            if (j >= seen) {
              pr[j] = 0.0f;
            } else if (map.Exponential() && ws[sc.pmax + j] != ci) {
              pr[j] *= std::exp(ws[sc.pmax + j] - ci);
            }
          }
        }
        GemmArgs gv{rows, cp, dv + 1, p, cp, ws + sc.ve, dv + 1, t, dv + 1, true, ws + sc.gemm};
        GemmABSelectedImpl(gv);
      }
      Normalize(d, t, rows, dv, hd.out + static_cast<int64_t>(i0) * a.out_strides.seq,
                a.out_strides.seq);
    }
    if (cp > 0) {
      FoldIntoState(d, a, b, hk, js, cp, s, &c, ws, sc);
      done = je;
    }
  }
}

HWY_NOINLINE void FeatureMapImpl(const FeatureMapArgs& a) {
  const hn::ScalableTag<float> d;
  const FeatureScratch sc = MakeFeatureScratch(a.map, a.d_v);
  const size_t state = GemmAlignFloats((a.map.features + 1) * (a.d_v + 1));
  const size_t kv = a.batch * a.kv_heads;
  float* states = a.workspace;
  float* threads = states + kv * state;
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
  ParallelFor(kv, a.num_threads, [&](size_t chunk, size_t slot) {
    BidirectionalState(d, a, chunk / a.kv_heads, chunk % a.kv_heads, states + chunk * state,
                       threads + slot * per_thread, sc);
  });
  const size_t row_blocks = (a.q_len + kFeatureBlock - 1) / kFeatureBlock;
  ParallelFor(a.batch * a.q_heads * row_blocks, a.num_threads, [&](size_t chunk, size_t slot) {
    const size_t bh = chunk / row_blocks, b = bh / a.q_heads, h = bh % a.q_heads;
    BidirectionalOutput(d, a, b, h, (chunk % row_blocks) * kFeatureBlock,
                        states + (b * a.kv_heads + a.KvHead(h)) * state,
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
      if (cn > *c && *c != -HUGE_VALF) {
        Scale(d, std::exp(*c - cn), s, F * (dv + 1));
      }
      *c = cn;
    }
    MapRow(d, map, x, u, h, cn, map.eps, map.out_scale, g);
    for (size_t f = 0; f < F; ++f) {
      float* row = s + f * (dv + 1);
      Axpy(d, g[f], vr, row, dv);
      row[dv] += g[f];
    }
  }
}

HWY_NOINLINE void DecodeQueryImpl(const FeatureMapSpec& map, size_t hk, size_t dv, const float* q,
                                  int64_t q_stride, size_t count, const float* s, float* out,
                                  int64_t out_stride, float* scratch) {
  const hn::ScalableTag<float> d;
  const size_t F = map.features;
  float* u = scratch;
  float* g = scratch + GemmAlignFloats(std::max<size_t>(map.m, 1));
  float* t = g + GemmAlignFloats(F);
  for (size_t r = 0; r < count; ++r) {
    const float* x = q + static_cast<int64_t>(r) * q_stride;
    float h = 0.0f, c = 0.0f;
    if (map.m > 0) ProjectOne(d, map, hk, x, u);
    if (map.Exponential()) {
      h = 0.5f * map.input_scale * map.input_scale * Dot(d, x, x, map.d);
      c = RowMax(d, u, map.m, map.kind == FeatureMapKind::kHyperbolic);
    }
    MapRow(d, map, x, u, h, c, map.eps, map.out_scale, g);
    std::fill(t, t + dv + 1, 0.0f);
    for (size_t f = 0; f < F; ++f) Axpy(d, g[f], s + f * (dv + 1), t, dv + 1);
    Normalize(d, t, 1, dv, out + static_cast<int64_t>(r) * out_stride, out_stride);
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace lowrank
HWY_AFTER_NAMESPACE();

#endif  // include guard toggle
