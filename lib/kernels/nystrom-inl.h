// Per-target Nystrom attention (re-included per target). See nystrom.h for
// the computation and the workspace layout. Parallel phases: per (batch,
// query head, group of landmarks) segment means; per (batch, query head)
// the other landmark modes and A, then the pseudoinverse Z; per (batch, query
// head, key segment) B V over the segment's keys; per (batch, query head)
// the segments merged and W = Z (B V); then O = F W per block of query rows.
#if defined(LOWRANK_LIB_KERNELS_NYSTROM_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LOWRANK_LIB_KERNELS_NYSTROM_INL_H_
#undef LOWRANK_LIB_KERNELS_NYSTROM_INL_H_
#else
#define LOWRANK_LIB_KERNELS_NYSTROM_INL_H_
#endif

#include <stddef.h>
#include <stdint.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "hwy/highway.h"
#include "kernels/exact_attention.h"
#include "kernels/fast_exp-inl.h"
#include "kernels/lowrank_gemm-inl.h"
#include "kernels/nystrom.h"
#include "kernels/vector_ops-inl.h"
#include "runtime/random.h"
#include "runtime/thread_pool.h"

HWY_BEFORE_NAMESPACE();
namespace lowrank {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// The landmark softmax, one row at a time while it sits in L1:
// x[c] <- 2^(s log2(e) x[c] - max) / sum over the row, fused (scale, max,
// exp, sum, normalize; three sweeps of one row, one call). The exponent
// argument is <= 0 by construction (clamped against rounding), the form
// Exp2NonPositive is exact to 4e-7 for. A negative scale flips which
// extreme of x gives the max.
template <class D>
HWY_INLINE void SoftmaxRows(D d, float* HWY_RESTRICT x, size_t rows, size_t cols, size_t ld,
                            float scale) {
  const size_t N = hn::Lanes(d);
  const float k2 = scale * 1.4426950408889634f;  // s log2(e)
  for (size_t i = 0; i < rows; ++i) {
    float* HWY_RESTRICT row = x + i * ld;
    auto vhi = hn::Set(d, -HUGE_VALF), vlo = hn::Set(d, HUGE_VALF);
    size_t c = 0;
    for (; c + N <= cols; c += N) {
      const auto v = hn::LoadU(d, row + c);
      vhi = hn::Max(vhi, v);
      vlo = hn::Min(vlo, v);
    }
    float hi = hn::GetLane(hn::MaxOfLanes(d, vhi)), lo = hn::GetLane(hn::MinOfLanes(d, vlo));
    for (; c < cols; ++c) {
      hi = std::max(hi, row[c]);
      lo = std::min(lo, row[c]);
    }
    const float mx = k2 >= 0.0f ? k2 * hi : k2 * lo;
    const auto vk = hn::Set(d, k2), vm = hn::Set(d, mx), zero = hn::Zero(d);
    auto vsum = hn::Zero(d);
    for (c = 0; c + N <= cols; c += N) {
      const auto t = hn::Min(hn::MulSub(vk, hn::LoadU(d, row + c), vm), zero);
      const auto e = Exp2NonPositive(d, t);
      vsum = hn::Add(vsum, e);
      hn::StoreU(e, d, row + c);
    }
    float sum = hn::GetLane(hn::SumOfLanes(d, vsum));
    for (; c < cols; ++c) {
      row[c] = std::exp2(std::min(k2 * row[c] - mx, 0.0f));
      sum += row[c];
    }
    // sum >= 1: the max entry contributes 2^0.
    Scale(d, 1.0f / sum, row, cols);
  }
}

// Masked segment means: out row j (of m, stride ld_out) is the mean of
// segment j of the first n rows of src (row stride `stride`, dim floats
// each), for j in [j_begin, j_end). n = m l + rest: the first m - rest
// segments hold l rows, the others l + 1 (the shorter segments first; no
// padding). An empty segment (n < m) gives a zero row. If src2 is not null,
// the same segments of src2 (row stride stride2) go to out2 in the same
// pass: reading both streams at once keeps more misses in flight when they
// come from DRAM (Nystrom at n = 65536, AVX2: 2% of the whole call).
template <class D>
HWY_INLINE void SegmentMeans(D d, const float* src, int64_t stride, size_t n, size_t m,
                             size_t j_begin, size_t j_end, size_t dim, float* HWY_RESTRICT out,
                             size_t ld_out, const float* src2 = nullptr, int64_t stride2 = 0,
                             float* HWY_RESTRICT out2 = nullptr) {
  const size_t l = n / m, shorter = (l + 1) * m - n;
  size_t start = j_begin * l + (j_begin > shorter ? j_begin - shorter : 0);
  for (size_t j = j_begin; j < j_end; ++j) {
    const size_t len = j < shorter ? l : l + 1;
    float* HWY_RESTRICT o = out + j * ld_out;
    float* HWY_RESTRICT o2 = src2 != nullptr ? out2 + j * ld_out : nullptr;
    std::fill(o, o + dim, 0.0f);
    if (o2 != nullptr) std::fill(o2, o2 + dim, 0.0f);
    for (size_t t = 0; t < len; ++t) {
      Axpy(d, 1.0f, src + static_cast<int64_t>(start + t) * stride, o, dim);
      if (o2 != nullptr) Axpy(d, 1.0f, src2 + static_cast<int64_t>(start + t) * stride2, o2, dim);
    }
    if (len > 1) {
      Scale(d, 1.0f / static_cast<float>(len), o, dim);
      if (o2 != nullptr) Scale(d, 1.0f / static_cast<float>(len), o2, dim);
    }
    start += len;
  }
}

// Landmarks [j_begin, j_end) of (b, h) by segment means (the segment-means
// and k-means modes; phase 0, a work chunk per group of landmarks: each
// landmark is computed the same way whichever chunk holds it).
template <class D>
HWY_INLINE void PoolLandmarks(D d, const NystromArgs& a, const NystromLayout& lay, size_t b,
                              size_t h, size_t j_begin, size_t j_end, float* hw) {
  if (NystromSkipsBatch(a, b)) return;
  const size_t n = a.ValidKeys(b), m = a.m, dq = a.d_qk;
  const AttentionIo::Head hd = a.At(b, h, a.KvHead(h));
  const int64_t sq = a.q_strides.seq, sk = a.k_strides.seq;
  // Queries share the keys' token sets in self-attention (one pass over
  // both); otherwise their segments cover all q_len rows.
  if (a.q_len == a.kv_len) {
    SegmentMeans(d, hd.k, sk, n, m, j_begin, j_end, dq, hw + lay.kl, dq, hd.q, sq, hw + lay.ql);
  } else {
    SegmentMeans(d, hd.k, sk, n, m, j_begin, j_end, dq, hw + lay.kl, dq);
    SegmentMeans(d, hd.q, sq, a.q_len, m, j_begin, j_end, dq, hw + lay.ql, dq);
  }
}

// A seed for stream `stream` of the plan's seed (Rng expands it further).
inline uint64_t StreamSeed(uint64_t seed, uint64_t stream) {
  return seed ^ ((stream + 1) * 0xD1B54A32D192ED03ull);
}

// m distinct positions in [0, n), increasing, uniformly (selection
// sampling, Knuth's algorithm S): position t is taken with probability
// (still needed) / (still left).
inline void DrawPositions(uint64_t seed, size_t n, size_t m, int64_t* out) {
  Rng rng(seed);
  size_t needed = m;
  for (size_t t = 0; t < n && needed > 0; ++t) {
    if (static_cast<double>(n - t) * rng.Uniform() < static_cast<double>(needed)) {
      out[m - needed] = static_cast<int64_t>(t);
      --needed;
    }
  }
}

// Row-major src (rows x cols, ld cols) to dst (cols x rows).
inline void Transpose(const float* src, size_t rows, size_t cols, float* dst) {
  for (size_t i = 0; i < rows; ++i) {
    for (size_t c = 0; c < cols; ++c) dst[c * rows + i] = src[i * cols + c];
  }
}

// k-means of the tokens [q_i, k_i], i < n, into m clusters; centroids in
// cq, ck (m x d_qk each, seeded with the segment means by the caller).
// Returns the number of non-empty final clusters, compacted to the front.
template <class D>
HWY_INLINE size_t Kmeans(D d, const NystromArgs& a, const NystromLayout& lay,
                         const AttentionIo::Head& hd, size_t n, uint64_t seed, float* cq,
                         float* ck, float* thr) {
  const size_t m = a.m, dq = a.d_qk;
  const int64_t sq = a.q_strides.seq, sk = a.k_strides.seq;
  float* sums = thr + lay.sums;  // m x 2 d_qk: [sum q | sum k]
  float* cqt = thr + lay.cqt;
  float* ckt = thr + lay.ckt;
  float* c2 = thr + lay.c2;
  float* counts = thr + lay.counts;
  uint32_t* assign = reinterpret_cast<uint32_t*>(thr + lay.assign);
  float* f = thr + lay.f;
  float* gemm_ws = thr + lay.gemm;
  Rng rng(seed);
  size_t kept = m;
  for (size_t it = 0; it < a.kmeans_iterations; ++it) {
    Transpose(cq, m, dq, cqt);
    Transpose(ck, m, dq, ckt);
    for (size_t j = 0; j < m; ++j) c2[j] = Dot(d, cq + j * dq, cq + j * dq, dq) + Dot(d, ck + j * dq, ck + j * dq, dq);
    // Assignment: argmin_j |c_j|^2 - 2 (q_i . cq_j + k_i . ck_j), the
    // scores from two GEMMs per block of tokens; ties go to the lower j.
    for (size_t i0 = 0; i0 < n; i0 += kNystromRowBlock) {
      const size_t rows = std::min(kNystromRowBlock, n - i0);
      GemmArgs gq{rows, dq, m, hd.q + static_cast<int64_t>(i0) * sq, static_cast<size_t>(sq), cqt, m,
                  f, m, false, gemm_ws};
      GemmABSelectedImpl(gq);
      GemmArgs gk{rows, dq, m, hd.k + static_cast<int64_t>(i0) * sk, static_cast<size_t>(sk), ckt, m,
                  f, m, true, gemm_ws};
      GemmABSelectedImpl(gk);
      for (size_t i = 0; i < rows; ++i) {
        const float* s = f + i * m;
        uint32_t best = 0;
        float best_cost = c2[0] - 2.0f * s[0];
        for (size_t j = 1; j < m; ++j) {
          const float cost = c2[j] - 2.0f * s[j];
          if (cost < best_cost) best_cost = cost, best = static_cast<uint32_t>(j);
        }
        assign[i0 + i] = best;
      }
    }
    // Update: centroids become the means of their tokens.
    std::fill(sums, sums + m * 2 * dq, 0.0f);
    std::fill(counts, counts + m, 0.0f);
    for (size_t i = 0; i < n; ++i) {
      float* sj = sums + assign[i] * 2 * dq;
      Axpy(d, 1.0f, hd.q + static_cast<int64_t>(i) * sq, sj, dq);
      Axpy(d, 1.0f, hd.k + static_cast<int64_t>(i) * sk, sj + dq, dq);
      counts[assign[i]] += 1.0f;
    }
    const bool last = it + 1 == a.kmeans_iterations;
    kept = 0;
    for (size_t j = 0; j < m; ++j) {
      float* sj = sums + j * 2 * dq;
      if (counts[j] > 0.0f) {
        const float inv = 1.0f / counts[j];
        for (size_t c = 0; c < dq; ++c) cq[kept * dq + c] = sj[c] * inv;
        for (size_t c = 0; c < dq; ++c) ck[kept * dq + c] = sj[dq + c] * inv;
        ++kept;
      } else if (!last) {
        // Re-seed an emptied cluster at a random token.
        const size_t t = static_cast<size_t>(rng.Next() % n);
        std::memcpy(cq + kept * dq, hd.q + static_cast<int64_t>(t) * sq, dq * sizeof(float));
        std::memcpy(ck + kept * dq, hd.k + static_cast<int64_t>(t) * sk, dq * sizeof(float));
        ++kept;
      }
      // else: the final cluster is empty; its landmark is dropped.
    }
  }
  return kept;
}

// Phase 1 for (b, h): landmarks, K~^T and A = softmax(s Q~ K~^T).
template <class D>
HWY_INLINE void LandmarksHead(D d, const NystromArgs& a, const NystromLayout& lay, size_t b,
                              size_t h, float* hw, float* thr) {
  float* meta = hw + lay.meta;
  meta[0] = 0.0f;
  meta[1] = 0.0f;
  if (NystromSkipsBatch(a, b)) return;
  const size_t n = a.ValidKeys(b), m = a.m, dq = a.d_qk;
  const AttentionIo::Head hd = a.At(b, h, a.KvHead(h));
  const int64_t sq = a.q_strides.seq, sk = a.k_strides.seq;
  float* ql = hw + lay.ql;
  float* kl = hw + lay.kl;
  size_t mm = m;
  switch (a.mode) {
    case LandmarkMode::kSegmentMeans:
    case LandmarkMode::kKmeans: {
      // The segment means are already in ql and kl (PoolLandmarks).
      if (a.mode == LandmarkMode::kKmeans) {
        mm = Kmeans(d, a, lay, hd, n, StreamSeed(a.seed, b * a.q_heads + h), ql, kl, thr);
      }
      break;
    }
    case LandmarkMode::kRandom:
    case LandmarkMode::kPositions: {
      int64_t* pos = reinterpret_cast<int64_t*>(thr + lay.pos);
      const int64_t* p = a.positions;
      if (a.mode == LandmarkMode::kRandom) {
        DrawPositions(StreamSeed(a.seed, b), n, m, pos);
        p = pos;
      }
      mm = 0;
      for (size_t j = 0; j < m; ++j) {
        if (p[j] >= static_cast<int64_t>(n)) continue;  // a padded position
        std::memcpy(ql + mm * dq, hd.q + p[j] * sq, dq * sizeof(float));
        std::memcpy(kl + mm * dq, hd.k + p[j] * sk, dq * sizeof(float));
        ++mm;
      }
      break;
    }
  }
  meta[1] = static_cast<float>(mm);
  if (mm == 0) return;
  float* klt = hw + lay.klt;
  float* am = hw + lay.z;
  Transpose(kl, mm, dq, klt);
  GemmArgs g{mm, dq, mm, ql, dq, klt, mm, am, mm, false, thr + lay.gemm};
  GemmABSelectedImpl(g);
  SoftmaxRows(d, am, mm, mm, mm, a.scale);
  float colmax = 0.0f;
  for (size_t j = 0; j < mm; ++j) {
    float s = 0.0f;
    for (size_t i = 0; i < mm; ++i) s += am[i * mm + j];
    colmax = std::max(colmax, s);
  }
  meta[0] = colmax;
}

// Phase 2 for (b, h): Z by Newton-Schulz, stored over A.
// Each iteration: AZ = A Z; Z <- Z (13 I - AZ (15 I - AZ (7 I - AZ))) / 4,
// four m' x m' GEMMs.
template <class D>
HWY_INLINE void PinvHead(D /*d*/, const NystromArgs& a, const NystromLayout& lay, float* hw,
                         float* thr, float global_colmax) {
  const size_t mm = static_cast<size_t>(hw[lay.meta + 1]);
  if (mm == 0) return;
  const size_t m2 = mm * mm;
  const float* am = hw + lay.z;
  float* zc = thr + lay.zc;
  float* az = thr + lay.az;
  float* t1 = thr + lay.t1;
  float* t2 = thr + lay.t2;
  float* gemm_ws = thr + lay.gemm;
  // Z0 = A^T / c.
  float c;
  if (a.pinv_original) {
    c = global_colmax;
  } else {
    float rowmax = 0.0f;
    for (size_t i = 0; i < mm; ++i) {
      float s = 0.0f;
      for (size_t j = 0; j < mm; ++j) s += std::fabs(am[i * mm + j]);
      rowmax = std::max(rowmax, s);
    }
    c = hw[lay.meta] * rowmax;  // ||A||_1 ||A||_inf (A >= 0)
  }
  const float inv_c = 1.0f / c;
  for (size_t i = 0; i < mm; ++i) {
    for (size_t j = 0; j < mm; ++j) zc[i * mm + j] = am[j * mm + i] * inv_c;
  }
  auto gemm = [&](const float* x, const float* y, float* out) {
    GemmArgs g{mm, mm, mm, x, mm, y, mm, out, mm, false, gemm_ws};
    GemmABSelectedImpl(g);
  };
  // t <- k I - t.
  auto shift = [&](float k, float* t) {
    for (size_t i = 0; i < m2; ++i) t[i] = -t[i];
    for (size_t i = 0; i < mm; ++i) t[i * mm + i] += k;
  };
  for (size_t it = 0; it < a.pinv_iterations; ++it) {
    gemm(am, zc, az);
    std::memcpy(t1, az, m2 * sizeof(float));
    shift(7.0f, t1);
    gemm(az, t1, t2);
    shift(15.0f, t2);
    gemm(az, t2, t1);
    shift(13.0f, t1);
    gemm(zc, t1, t2);
    for (size_t i = 0; i < m2; ++i) zc[i] = 0.25f * t2[i];
  }

  std::memcpy(hw + lay.z, zc, m2 * sizeof(float));  // Z replaces A
}

// Phase 3 for (b, h, key segment of SeqSplit): B V over the segment's valid
// keys, the m' landmark queries attending to them with the exact kernel,
// into the head's partial seg, with its softmax row maxima and sums.
template <class D>
HWY_INLINE void BvSegment(D /*d*/, const NystromArgs& a, const NystromLayout& lay, size_t b,
                          size_t h, size_t seg, float* hw, float* thr) {
  const size_t mm = static_cast<size_t>(hw[lay.meta + 1]);
  const SeqSplit split(a.kv_len);
  const size_t n = a.ValidKeys(b);
  if (mm == 0 || seg >= split.Used(n)) return;
  const size_t j_begin = seg * split.rows, j_end = std::min(n, j_begin + split.rows);
  const size_t dq = a.d_qk, dv = a.d_v;
  const AttentionIo::Head hd = a.At(b, h, a.KvHead(h));
  ExactAttentionArgs e;
  e.batch = 1, e.q_heads = 1, e.kv_heads = 1;
  e.q_len = mm, e.kv_len = j_end - j_begin, e.d_qk = dq, e.d_v = dv;
  e.q = hw + lay.ql;
  e.k = hd.k + static_cast<int64_t>(j_begin) * a.k_strides.seq;
  e.v = hd.v + static_cast<int64_t>(j_begin) * a.v_strides.seq;
  e.out = hw + lay.bv + seg * a.m * dv;
  e.row_max = hw + lay.stats + seg * 2 * a.m;
  e.row_sum = e.row_max + a.m;
  e.q_strides = Strides4{0, 0, static_cast<int64_t>(dq), 1};
  e.k_strides = Strides4{0, 0, a.k_strides.seq, a.k_strides.dim};
  e.v_strides = Strides4{0, 0, a.v_strides.seq, a.v_strides.dim};
  e.out_strides = Strides4{0, 0, static_cast<int64_t>(dv), 1};
  e.key_lengths = nullptr;
  e.num_threads = 1;
  e.scale = a.scale;
  e.causal = false;
  e.block_q = a.bv_block_q;
  e.block_k = a.block_k;
  e.workspace = thr + lay.exact;
  e.workspace_floats = ExactAttentionWorkspaceFloats(a.bv_block_q, a.block_k, dq, dv);
  ExactAttention(e);
}

// Phase 4 for (b, h): the segments' B V merged in segment order, each row
// weighted by its share of the softmax mass, 2^(M_s - max M) L_s (see
// ExactAttentionArgs::row_max), then W = Z (B V).
template <class D>
HWY_INLINE void MergeBvHead(D d, const NystromArgs& a, const NystromLayout& lay, size_t b,
                            float* hw, float* thr) {
  const size_t mm = static_cast<size_t>(hw[lay.meta + 1]);
  if (mm == 0) return;
  const size_t dv = a.d_v;
  const size_t used = SeqSplit(a.kv_len).Used(a.ValidKeys(b));
  float* bv = hw + lay.bv;
  const float* stats = hw + lay.stats;  // per segment: m row maxima, then m sums
  for (size_t i = 0; used > 1 && i < mm; ++i) {
    float top = -HUGE_VALF;
    for (size_t seg = 0; seg < used; ++seg) top = std::max(top, stats[seg * 2 * a.m + i]);
    // Every segment holds keys (non-causal, no mask inside the valid ones),
    // so top is finite and each weight well defined.
    auto weight = [&](size_t seg) {
      const float* st = stats + seg * 2 * a.m;
      return std::exp2(st[i] - top) * st[a.m + i];
    };
    float* row = bv + i * dv;
    float total = weight(0);
    Scale(d, total, row, dv);
    for (size_t seg = 1; seg < used; ++seg) {
      const float w = weight(seg);
      Axpy(d, w, bv + seg * a.m * dv + i * dv, row, dv);
      total += w;
    }
    Scale(d, 1.0f / total, row, dv);
  }
  GemmArgs g{mm, mm, dv, hw + lay.z, mm, bv, dv, hw + lay.w, dv, false, thr + lay.gemm};
  GemmABSelectedImpl(g);
}

// The convolution residual on rows [i0, i0 + rows) of one output head.
template <class D>
HWY_INLINE void ConvResidual(D d, const NystromArgs& a, size_t b, size_t h, size_t i0,
                             size_t rows) {
  const AttentionIo::Head hd = a.At(b, h, a.KvHead(h));
  const float* w = a.conv_weights + h * a.conv_kernel;
  const int64_t half = static_cast<int64_t>(a.conv_kernel / 2);
  const int64_t n = static_cast<int64_t>(a.ValidKeys(b));
  for (size_t i = i0; i < i0 + rows; ++i) {
    float* orow = hd.out + static_cast<int64_t>(i) * a.out_strides.seq;
    for (size_t t = 0; t < a.conv_kernel; ++t) {
      const int64_t j = static_cast<int64_t>(i) + static_cast<int64_t>(t) - half;
      if (j < 0 || j >= n) continue;
      Axpy(d, w[t], hd.v + j * a.v_strides.seq, orow, a.d_v);
    }
  }
}

// Phase 3 for (b, h, block of rows): O = softmax(s Q K~^T) W, then the
// convolution residual.
template <class D>
HWY_INLINE void OutputBlock(D d, const NystromArgs& a, const NystromLayout& lay, size_t b,
                            size_t h, size_t i0, const float* hw, float* thr) {
  const size_t rows = std::min(kNystromRowBlock, a.q_len - i0);
  if (!NystromSkipsBatch(a, b)) {
    const size_t mm = static_cast<size_t>(hw[lay.meta + 1]);
    const AttentionIo::Head hd = a.At(b, h, a.KvHead(h));
    float* out = hd.out + static_cast<int64_t>(i0) * a.out_strides.seq;
    const size_t so = static_cast<size_t>(a.out_strides.seq);
    if (mm == 0) {
      for (size_t i = 0; i < rows; ++i) std::fill(out + i * so, out + i * so + a.d_v, 0.0f);
    } else {
      float* f = thr + lay.f;
      GemmArgs gf{rows, a.d_qk, mm, hd.q + static_cast<int64_t>(i0) * a.q_strides.seq,
                  static_cast<size_t>(a.q_strides.seq), hw + lay.klt, mm, f, mm, false,
                  thr + lay.gemm};
      GemmABSelectedImpl(gf);
      SoftmaxRows(d, f, rows, mm, mm, a.scale);
      GemmArgs go{rows, mm, a.d_v, f, mm, hw + lay.w, a.d_v, out, so, false, thr + lay.gemm};
      GemmABSelectedImpl(go);
    }
  }
  if (a.conv_weights != nullptr) ConvResidual(d, a, b, h, i0, rows);
}

HWY_NOINLINE void NystromImpl(const NystromArgs& a) {
  const hn::ScalableTag<float> d;
  const NystromLayout lay = MakeNystromLayout(a);
  const size_t heads = a.batch * a.q_heads;
  float* thread_base = a.workspace + heads * lay.head;
  auto head_ws = [&](size_t chunk) { return a.workspace + chunk * lay.head; };
  auto thread_ws = [&](size_t slot) { return thread_base + slot * lay.thread; };
  if (a.mode == LandmarkMode::kSegmentMeans || a.mode == LandmarkMode::kKmeans) {
    // Groups of landmarks of about one SeqSplit segment's rows each.
    const size_t groups = std::min(a.m, SeqSplit(a.kv_len).segments);
    ParallelFor(heads * groups, a.num_threads, [&](size_t chunk, size_t /*slot*/) {
      const size_t bh = chunk / groups, g = chunk % groups;
      PoolLandmarks(d, a, lay, bh / a.q_heads, bh % a.q_heads, g * a.m / groups,
                    (g + 1) * a.m / groups, head_ws(bh));
    });
  }
  ParallelFor(heads, a.num_threads, [&](size_t chunk, size_t slot) {
    LandmarksHead(d, a, lay, chunk / a.q_heads, chunk % a.q_heads, head_ws(chunk),
                  thread_ws(slot));
  });
  float global_colmax = 0.0f;
  for (size_t chunk = 0; chunk < heads; ++chunk) {
    global_colmax = std::max(global_colmax, head_ws(chunk)[lay.meta]);
  }
  ParallelFor(heads, a.num_threads, [&](size_t chunk, size_t slot) {
    PinvHead(d, a, lay, head_ws(chunk), thread_ws(slot), global_colmax);
  });
  const size_t segments = SeqSplit(a.kv_len).segments;
  ParallelFor(heads * segments, a.num_threads, [&](size_t chunk, size_t slot) {
    const size_t bh = chunk / segments;
    BvSegment(d, a, lay, bh / a.q_heads, bh % a.q_heads, chunk % segments, head_ws(bh),
              thread_ws(slot));
  });
  ParallelFor(heads, a.num_threads, [&](size_t chunk, size_t slot) {
    MergeBvHead(d, a, lay, chunk / a.q_heads, head_ws(chunk), thread_ws(slot));
  });
  const size_t row_blocks = (a.q_len + kNystromRowBlock - 1) / kNystromRowBlock;
  ParallelFor(heads * row_blocks, a.num_threads, [&](size_t chunk, size_t slot) {
    const size_t bh = chunk / row_blocks;
    OutputBlock(d, a, lay, bh / a.q_heads, bh % a.q_heads, (chunk % row_blocks) * kNystromRowBlock,
                head_ws(bh), thread_ws(slot));
  });
}

}  // namespace HWY_NAMESPACE
}  // namespace lowrank
HWY_AFTER_NAMESPACE();

#endif  // include guard toggle
