// Per-target exact attention: blocked online softmax (re-included per
// target). See exact_attention.h for the contract.
//
// Work is split into chunks of (batch, query head, block of block_q query
// rows); each chunk loops over key blocks of block_k keys:
//   1. pack the query block once, scaled by scale * log2(e), so the softmax
//      works in base 2 (2^x is cheaper than e^x and the max shift is exact);
//   2. per key block: pack K transposed and V into panels (gemm_tile-inl.h),
//      S = Qs K^T on the register-blocked tile kernel, then one fused pass
//      per row (mask, row max, 2^(s - max), row sum, rescale of the running
//      output when the max grew), then O_acc += P V on the same tile kernel;
//   3. write O = O_acc / row sum (0 for a row that saw no key).
// Block sizes: block_k = 256 keys and block_q = 192 rows keep S (192 KiB),
// the packed K and V blocks (64 KiB each at d = 64) and O_acc in a 1-2 MiB
// L2, while each packed K/V element is reused by all block_q rows.
#if defined(LOWRANK_LIB_KERNELS_EXACT_ATTENTION_INL_H_) == \
    defined(HWY_TARGET_TOGGLE)
#ifdef LOWRANK_LIB_KERNELS_EXACT_ATTENTION_INL_H_
#undef LOWRANK_LIB_KERNELS_EXACT_ATTENTION_INL_H_
#else
#define LOWRANK_LIB_KERNELS_EXACT_ATTENTION_INL_H_
#endif

#include <stddef.h>
#include <stdint.h>

#include <algorithm>
#include <limits>

#include "hwy/highway.h"
#include "kernels/exact_attention.h"
#include "kernels/fast_exp-inl.h"
#include "kernels/gemm_tile-inl.h"
#include "runtime/thread_pool.h"

HWY_BEFORE_NAMESPACE();
namespace lowrank {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// One fused softmax step for a row of scores s[0, kb) (base-2 logits) of
// which the first `visible` keys count. Updates the running max *m and sum
// *l, overwrites s with the probabilities (0 for hidden keys) and returns the
// factor by which the row's running output must be rescaled.
template <class D>
HWY_INLINE float OnlineSoftmaxRow(D d, float* HWY_RESTRICT s, size_t kb,
                                  size_t visible, float* HWY_RESTRICT m,
                                  float* HWY_RESTRICT l) {
  const size_t N = hn::Lanes(d);
  if (visible == 0) {
    std::fill(s, s + kb, 0.0f);
    return 1.0f;
  }
  // Row max over the visible keys.
  size_t i = 0;
  auto vmax = hn::Set(d, -std::numeric_limits<float>::infinity());
  for (; i + N <= visible; i += N) vmax = hn::Max(vmax, hn::LoadU(d, s + i));
  float row_max = hn::GetLane(hn::MaxOfLanes(d, vmax));
  for (; i < visible; ++i) row_max = std::max(row_max, s[i]);
  const float m_old = *m;
  const float m_new = std::max(m_old, row_max);
  if (m_new == -std::numeric_limits<float>::infinity()) {
    // Only -inf scores so far (possible with -inf inputs): nothing counts.
    std::fill(s, s + kb, 0.0f);
    return 1.0f;
  }
  const auto vm = hn::Set(d, m_new);
  auto vsum = hn::Zero(d);
  i = 0;
  for (; i + N <= visible; i += N) {
    const auto p = Exp2NonPositive(d, hn::Sub(hn::LoadU(d, s + i), vm));
    vsum = hn::Add(vsum, p);
    hn::StoreU(p, d, s + i);
  }
  float sum = hn::GetLane(hn::SumOfLanes(d, vsum));
  if (i < visible) {
    // Tail through a buffer padded with -inf (2^-inf = 0): no partial loads.
    HWY_ALIGN float buf[HWY_MAX_BYTES / sizeof(float)];
    for (size_t j = 0; j < N; ++j) {
      buf[j] = i + j < visible ? s[i + j] : -std::numeric_limits<float>::infinity();
    }
    const auto p = Exp2NonPositive(d, hn::Sub(hn::Load(d, buf), vm));
    sum += hn::GetLane(hn::SumOfLanes(d, p));
    hn::Store(p, d, buf);
    for (size_t j = 0; i + j < visible; ++j) s[i + j] = buf[j];
  }
  std::fill(s + visible, s + kb, 0.0f);
  // m_old = -inf on the first visible block: alpha = 2^-inf = 0, and the
  // running output and sum are still 0.
  const float alpha =
      m_old == m_new ? 1.0f
                     : hn::GetLane(Exp2NonPositive(d, hn::Set(d, m_old - m_new)));
  *l = *l * alpha + sum;
  *m = m_new;
  return alpha;
}

// Computes one chunk: batch b, query head h, query rows [i0, i0 + rows).
template <class D>
HWY_INLINE void ExactChunk(D d, const ExactAttentionArgs& a,
                           const ExactLayout& lay, float* HWY_RESTRICT ws,
                           size_t b, size_t h, size_t i0, size_t rows) {
  const size_t nr = TileCols(d);
  const size_t hk = h * a.kv_heads / a.q_heads;
  const float* q = a.q + static_cast<int64_t>(b) * a.q_strides.batch +
                   static_cast<int64_t>(h) * a.q_strides.head;
  const float* k = a.k + static_cast<int64_t>(b) * a.k_strides.batch +
                   static_cast<int64_t>(hk) * a.k_strides.head;
  const float* v = a.v + static_cast<int64_t>(b) * a.v_strides.batch +
                   static_cast<int64_t>(hk) * a.v_strides.head;
  float* out = a.out + static_cast<int64_t>(b) * a.out_strides.batch +
               static_cast<int64_t>(h) * a.out_strides.head;

  float* HWY_RESTRICT qs = ws + lay.q;
  float* HWY_RESTRICT kp = ws + lay.k;
  float* HWY_RESTRICT vp = ws + lay.v;
  float* HWY_RESTRICT s = ws + lay.s;
  float* HWY_RESTRICT oacc = ws + lay.o;
  float* HWY_RESTRICT mrow = ws + lay.m;
  float* HWY_RESTRICT lrow = ws + lay.l;
  const size_t dqk = a.d_qk;
  const size_t rows_pad = (rows + kTileRows - 1) / kTileRows * kTileRows;

  // Keys visible to this block: padding and the causal limit of its last row.
  const size_t kv_valid =
      a.key_lengths ? static_cast<size_t>(a.key_lengths[b]) : a.kv_len;
  // Causal: query i sees key j iff j <= i + kv_len - q_len, i.e.
  // j < i + 1 + offset with offset = kv_len - q_len (may be negative).
  const int64_t offset = static_cast<int64_t>(a.kv_len) - static_cast<int64_t>(a.q_len);
  size_t kv_end = kv_valid;
  if (a.causal) {
    const int64_t last = static_cast<int64_t>(i0 + rows) + offset;  // exclusive
    kv_end = last <= 0 ? 0 : std::min(kv_valid, static_cast<size_t>(last));
  }

  // 1. Scaled query block; padding rows are zero.
  const float qscale = a.scale * 1.4426950408889634f;  // log2(e)
  for (size_t r = 0; r < rows_pad; ++r) {
    float* HWY_RESTRICT dst = qs + r * dqk;
    if (r >= rows) {
      std::fill(dst, dst + dqk, 0.0f);
      continue;
    }
    const float* src = q + static_cast<int64_t>(i0 + r) * a.q_strides.seq;
    const int64_t cs = a.q_strides.dim;
    for (size_t c = 0; c < dqk; ++c) dst[c] = src[static_cast<int64_t>(c) * cs] * qscale;
  }
  std::fill(oacc, oacc + rows_pad * lay.dv_pad, 0.0f);
  std::fill(mrow, mrow + rows_pad, -std::numeric_limits<float>::infinity());
  std::fill(lrow, lrow + rows_pad, 0.0f);

  // 2. Key blocks.
  for (size_t j0 = 0; j0 < kv_end; j0 += a.block_k) {
    const size_t kb = std::min(a.block_k, kv_end - j0);
    const size_t kb_pad = (kb + nr - 1) / nr * nr;
    PackTransposedPanels(d, k + static_cast<int64_t>(j0) * a.k_strides.seq,
                         a.k_strides.seq, a.k_strides.dim, kb, dqk, kp);
    PackPanels(d, v + static_cast<int64_t>(j0) * a.v_strides.seq,
               a.v_strides.seq, a.v_strides.dim, kb, a.d_v, vp);
    // S = Qs K^T, ldc = bk_pad.
    for (size_t p = 0; p < kb_pad; p += nr) {
      const float* panel = kp + p * dqk;
      for (size_t r = 0; r < rows_pad; r += kTileRows) {
        TileKernel<false>(d, qs + r * dqk, dqk, panel, dqk, s + r * lay.bk_pad + p,
                          lay.bk_pad);
      }
    }
    // Softmax step per row.
    const bool block_needs_mask =
        a.causal && static_cast<int64_t>(j0 + kb) > static_cast<int64_t>(i0) + 1 + offset;
    for (size_t r = 0; r < rows_pad; ++r) {
      float* srow = s + r * lay.bk_pad;
      if (r >= rows) {
        std::fill(srow, srow + kb, 0.0f);
        continue;
      }
      size_t visible = kb;
      if (block_needs_mask) {
        const int64_t lim = static_cast<int64_t>(i0 + r) + 1 + offset -
                            static_cast<int64_t>(j0);
        visible = lim <= 0 ? 0 : std::min(kb, static_cast<size_t>(lim));
      }
      const float alpha = OnlineSoftmaxRow(d, srow, kb, visible, mrow + r, lrow + r);
      if (alpha != 1.0f) {
        float* orow = oacc + r * lay.dv_pad;
        const auto va = hn::Set(d, alpha);
        for (size_t c = 0; c < lay.dv_pad; c += hn::Lanes(d)) {
          hn::Store(hn::Mul(hn::Load(d, orow + c), va), d, orow + c);
        }
      }
    }
    // O_acc += P V, one panel of nr output columns at a time.
    for (size_t p = 0; p < lay.dv_pad; p += nr) {
      const float* panel = vp + p * kb;
      for (size_t r = 0; r < rows_pad; r += kTileRows) {
        TileKernel<true>(d, s + r * lay.bk_pad, lay.bk_pad, panel, kb,
                         oacc + r * lay.dv_pad + p, lay.dv_pad);
      }
    }
  }

  // 3. Normalize and write.
  for (size_t r = 0; r < rows; ++r) {
    const float inv = lrow[r] > 0.0f ? 1.0f / lrow[r] : 0.0f;
    const float* orow = oacc + r * lay.dv_pad;
    float* dst = out + static_cast<int64_t>(i0 + r) * a.out_strides.seq;
    const int64_t cs = a.out_strides.dim;
    if (cs == 1) {
      const size_t N = hn::Lanes(d);
      size_t c = 0;
      const auto vinv = hn::Set(d, inv);
      for (; c + N <= a.d_v; c += N) {
        hn::StoreU(hn::Mul(hn::Load(d, orow + c), vinv), d, dst + c);
      }
      for (; c < a.d_v; ++c) dst[c] = orow[c] * inv;
    } else {
      for (size_t c = 0; c < a.d_v; ++c) dst[static_cast<int64_t>(c) * cs] = orow[c] * inv;
    }
  }
}

HWY_NOINLINE void ExactAttentionImpl(const ExactAttentionArgs& a) {
  const hn::ScalableTag<float> d;
  const ExactLayout lay =
      MakeExactLayout(TileCols(d), a.block_q, a.block_k, a.d_qk, a.d_v);
  const size_t q_blocks = (a.q_len + a.block_q - 1) / a.block_q;
  const size_t chunks = a.batch * a.q_heads * q_blocks;
  ParallelFor(chunks, a.num_threads, [&](size_t chunk, size_t slot) {
    const size_t qb = chunk % q_blocks;
    const size_t bh = chunk / q_blocks;
    const size_t h = bh % a.q_heads;
    const size_t b = bh / a.q_heads;
    const size_t i0 = qb * a.block_q;
    const size_t rows = std::min(a.block_q, a.q_len - i0);
    ExactChunk(d, a, lay, a.workspace + slot * a.workspace_floats, b, h, i0, rows);
  });
}

}  // namespace HWY_NAMESPACE
}  // namespace lowrank
HWY_AFTER_NAMESPACE();

#endif  // include guard toggle
