// Per-target exact attention: blocked online softmax (re-included per
// target). See exact_attention.h for the contract.
//
// Work is split into chunks of (batch, query head, block of block_q query
// rows). A chunk packs its query block once, transposed and scaled by
// scale * log2(e) (the softmax then works in base 2: 2^x is cheaper than e^x
// and the max shift stays exact), then loops over blocks of block_k keys:
//   1. S^T = K Q^T on the register-blocked tile kernel, reading K in place
//      (its rows are the broadcast operand) and folding each tile's
//      per-query max into a block max while the scores are in registers;
//   2. one pass over S^T, vectorized across queries: P^T = 2^(S^T - m_new)
//      and the per-query sums, with m_new = max(m_old, block max); the
//      running output is rescaled by 2^(m_old - m_new) where the max grew;
//   3. O_acc += P V on the same tile kernel, reading P^T column-wise and V
//      in place.
// Storing S transposed is what makes this cheap: K and V are never
// repacked per query block (the packing of K^T per block cost 8% of the
// time in the first version), the softmax needs no horizontal reductions,
// and the maximum comes free from the GEMM epilogue.
// Finally O = O_acc / sum (0 for a row that saw no key).
//
// Blocking (chosen by lib/api/plan.cc; measured on AVX2 at n = 4096, d = 64):
// block_k = 192 keys is 32 whole 6-key strips (no tail strip) and keeps the
// P V inner working set, 192 lines of P^T plus a 192-row V panel (24 KiB on
// AVX2), inside a 32 KiB L1; 256 keys (32 KiB) measured 4% slower.
// block_q = 384 rows reuses each packed V block for 384 queries (packing V
// per block was 3.3% of the time at 192 rows, 1.8% at 384). L2 holds S^T
// (192 x 400 floats, 300 KiB), the query panels and O_acc (96 KiB each at
// d = 64) and the V block (48 KiB): about 540 KiB. Where that overflows
// the core's L2 (512 KiB on Zen 3), the plan halves block_k instead
// (ChooseExactBlockK in lib/api/plan.cc).
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
#include "kernels/vector_ops-inl.h"
#include "runtime/thread_pool.h"

HWY_BEFORE_NAMESPACE();
namespace lowrank {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Softmax step over one block: st holds S^T (kb rows of `width` floats) for
// query columns [0, qcols); bm the block max per query (hidden entries
// excluded). Overwrites st with P^T, updates m and l, writes alpha. If
// kMasked, query column c sees key row j only if c >= first_visible(j) =
// j + shift (clamped to [0, qcols]), and hidden entries become 0.
template <bool kMasked, class D>
HWY_INLINE void SoftmaxBlock(D d, float* HWY_RESTRICT st, size_t width, size_t kb,
                             size_t qcols, int64_t shift, const float* HWY_RESTRICT bm,
                             float* HWY_RESTRICT m, float* HWY_RESTRICT l,
                             float* HWY_RESTRICT alpha) {
  const size_t N = hn::Lanes(d);
  const auto neg_inf = hn::Set(d, -std::numeric_limits<float>::infinity());
  // Per-query max and rescale factor.
  for (size_t c = 0; c < qcols; c += N) {
    const auto m_old = hn::Load(d, m + c);
    const auto m_new = hn::Max(m_old, hn::Load(d, bm + c));
    // A query with no visible key yet keeps m = -inf and alpha = 1.
    const auto none = hn::Eq(m_new, neg_inf);
    const auto a = Exp2Clamped(d, hn::IfThenZeroElse(none, hn::Sub(m_old, m_new)));
    hn::Store(m_new, d, m + c);
    hn::Store(hn::IfThenElse(none, hn::Set(d, 1.0f), a), d, alpha + c);
  }
  // P^T = 2^(S^T - m) and the column sums, two vectors of queries at a time
  // walking down the key rows: two independent exp chains per row, sums and
  // maxima in registers, and each 64-byte line of a row read once.
  for (size_t c = 0; c < qcols; c += 2 * N) {  // qcols is a multiple of 2N
    const auto m0 = hn::Load(d, m + c);
    const auto m1 = hn::Load(d, m + c + N);
    auto sum0 = hn::Zero(d);
    auto sum1 = hn::Zero(d);
    float* HWY_RESTRICT col = st + c;
    for (size_t j = 0; j < kb; ++j) {
      float* HWY_RESTRICT row = col + j * width;
      auto p0 = Exp2Clamped(d, hn::Sub(hn::Load(d, row), m0));
      auto p1 = Exp2Clamped(d, hn::Sub(hn::Load(d, row + N), m1));
      if (kMasked) {
        // Columns below first_visible(j) = j + shift are hidden.
        const int64_t first = static_cast<int64_t>(j) + shift - static_cast<int64_t>(c);
        const size_t h0 = first <= 0 ? 0 : std::min<size_t>(N, static_cast<size_t>(first));
        const int64_t first1 = first - static_cast<int64_t>(N);
        const size_t h1 = first1 <= 0 ? 0 : std::min<size_t>(N, static_cast<size_t>(first1));
        p0 = hn::IfThenZeroElse(hn::FirstN(d, h0), p0);
        p1 = hn::IfThenZeroElse(hn::FirstN(d, h1), p1);
      }
      hn::Store(p0, d, row);
      hn::Store(p1, d, row + N);
      sum0 = hn::Add(sum0, p0);
      sum1 = hn::Add(sum1, p1);
    }
    hn::Store(hn::MulAdd(hn::Load(d, l + c), hn::Load(d, alpha + c), sum0), d, l + c);
    hn::Store(hn::MulAdd(hn::Load(d, l + c + N), hn::Load(d, alpha + c + N), sum1), d,
              l + c + N);
  }
}

// Block max of S^T over visible entries only (masked blocks; unmasked
// blocks get theirs from the GEMM epilogue).
template <class D>
HWY_INLINE void MaskedBlockMax(D d, const float* HWY_RESTRICT st, size_t width, size_t kb,
                               size_t qcols, int64_t shift, float* HWY_RESTRICT bm) {
  const size_t N = hn::Lanes(d);
  const auto neg_inf = hn::Set(d, -std::numeric_limits<float>::infinity());
  for (size_t c = 0; c < qcols; c += N) hn::Store(neg_inf, d, bm + c);
  for (size_t j = 0; j < kb; ++j) {
    const int64_t first_row = static_cast<int64_t>(j) + shift;
    if (first_row >= static_cast<int64_t>(qcols)) break;  // later rows: even more hidden
    const size_t c_begin = first_row <= 0 ? 0 : static_cast<size_t>(first_row) / N * N;
    for (size_t c = c_begin; c < qcols; c += N) {
      const int64_t first = first_row - static_cast<int64_t>(c);
      const size_t hidden = first <= 0 ? 0 : std::min<size_t>(N, static_cast<size_t>(first));
      const auto s = hn::IfThenElse(hn::FirstN(d, hidden), neg_inf,
                                    hn::Load(d, st + j * width + c));
      hn::Store(hn::Max(hn::Load(d, bm + c), s), d, bm + c);
    }
  }
}

// Where ExactAttentionArgs::row_max / row_sum keep query row i of (b, h).
inline size_t StatIndex(const ExactAttentionArgs& a, size_t b, size_t h, size_t i) {
  return (b * a.q_heads + h) * a.q_len + i;
}

// Few query rows (decoding: usually one): the tile path would fill whole
// 6-row strips and nr-query panels (16 on AVX2, 64 on AVX-512) with padding,
// so each row is computed on its own: scores as dot products over d (four
// keys at a time, one horizontal sum each), the online softmax over blocks of
// block_k keys, and O += sum_j p_j v_j accumulated in a vector row. Decoding
// reads every key and value once, so it is memory-bound either way.
// Chunks of up to kExactRowPathMaxRows rows (exact_attention.h) take it.

template <class D>
HWY_INLINE void RowChunk(D d, const ExactAttentionArgs& a, const ExactLayout& lay,
                         float* HWY_RESTRICT ws, const float* q, const float* k,
                         const float* v, float* out, size_t b, size_t h, size_t i0,
                         size_t rows) {
  const size_t N = hn::Lanes(d);
  const size_t dqk = a.d_qk;
  const size_t dqk_vec = dqk / N * N;
  float* HWY_RESTRICT qs = ws + lay.qt;      // one scaled query row
  float* HWY_RESTRICT sc = ws + lay.st;      // block_k scores (+ N slack)
  float* HWY_RESTRICT orow = ws + lay.o;     // dv_pad running output
  const float qscale = a.scale * 1.4426950408889634f;  // log2(e)
  const bool k_unit = a.k_strides.dim == 1;
  const bool v_unit = a.v_strides.dim == 1;
  for (size_t r = 0; r < rows; ++r) {
    const size_t i = i0 + r;
    const size_t visible = a.VisibleKeys(b, i, a.causal);
    const float* qrow = q + static_cast<int64_t>(i) * a.q_strides.seq;
    for (size_t c = 0; c < dqk; ++c) qs[c] = qrow[static_cast<int64_t>(c) * a.q_strides.dim] * qscale;
    std::fill(orow, orow + lay.dv_pad, 0.0f);
    float m = -std::numeric_limits<float>::infinity();
    float l = 0.0f;
    for (size_t j0 = 0; j0 < visible; j0 += a.block_k) {
      const size_t kb = std::min(a.block_k, visible - j0);
      // Scores: dot products, four keys at a time.
      auto dot = [&](size_t j) {
        const float* kr = k + static_cast<int64_t>(j0 + j) * a.k_strides.seq;
        if (k_unit) return Dot(d, qs, kr, dqk);
        float s = 0.0f;
        for (size_t c = 0; c < dqk; ++c) s += qs[c] * kr[static_cast<int64_t>(c) * a.k_strides.dim];
        return s;
      };
      size_t j = 0;
      if (k_unit) {
        for (; j + 4 <= kb; j += 4) {
          const float* k0 = k + static_cast<int64_t>(j0 + j) * a.k_strides.seq;
          const float* k1 = k0 + a.k_strides.seq;
          const float* k2 = k1 + a.k_strides.seq;
          const float* k3 = k2 + a.k_strides.seq;
          auto a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);
          for (size_t c = 0; c < dqk_vec; c += N) {
            const auto qv = hn::LoadU(d, qs + c);
            a0 = hn::MulAdd(qv, hn::LoadU(d, k0 + c), a0);
            a1 = hn::MulAdd(qv, hn::LoadU(d, k1 + c), a1);
            a2 = hn::MulAdd(qv, hn::LoadU(d, k2 + c), a2);
            a3 = hn::MulAdd(qv, hn::LoadU(d, k3 + c), a3);
          }
          float s0 = hn::GetLane(hn::SumOfLanes(d, a0));
          float s1 = hn::GetLane(hn::SumOfLanes(d, a1));
          float s2 = hn::GetLane(hn::SumOfLanes(d, a2));
          float s3 = hn::GetLane(hn::SumOfLanes(d, a3));
          for (size_t c = dqk_vec; c < dqk; ++c) {
            s0 += qs[c] * k0[c], s1 += qs[c] * k1[c], s2 += qs[c] * k2[c], s3 += qs[c] * k3[c];
          }
          sc[j] = s0, sc[j + 1] = s1, sc[j + 2] = s2, sc[j + 3] = s3;
        }
      }
      for (; j < kb; ++j) sc[j] = dot(j);
      // Online softmax step; the tail is padded with -inf and not summed.
      float bmax = -std::numeric_limits<float>::infinity();
      for (size_t t = 0; t < kb; ++t) bmax = std::max(bmax, sc[t]);
      const float m_new = std::max(m, bmax);
      if (m_new == -std::numeric_limits<float>::infinity()) continue;
      const auto vm = hn::Set(d, m_new);
      auto vsum = hn::Zero(d);
      size_t t = 0;
      for (; t + N <= kb; t += N) {
        const auto p = Exp2Clamped(d, hn::Sub(hn::LoadU(d, sc + t), vm));
        hn::StoreU(p, d, sc + t);
        vsum = hn::Add(vsum, p);
      }
      float sum = hn::GetLane(hn::SumOfLanes(d, vsum));
      for (; t < kb; ++t) {
        HWY_ALIGN float one[HWY_MAX_BYTES / sizeof(float)] = {};
        one[0] = sc[t] - m_new;
        sc[t] = hn::GetLane(Exp2Clamped(d, hn::Load(d, one)));
        sum += sc[t];
      }
      const float alpha =
          m == m_new ? 1.0f : hn::GetLane(Exp2Clamped(d, hn::Set(d, m - m_new)));
      l = l * alpha + sum;
      m = m_new;
      if (alpha != 1.0f) Scale(d, alpha, orow, a.d_v);
      // O += sum_j p_j v_j.
      for (size_t jj = 0; jj < kb; ++jj) {
        const float* vr = v + static_cast<int64_t>(j0 + jj) * a.v_strides.seq;
        if (v_unit) {
          Axpy(d, sc[jj], vr, orow, a.d_v);
        } else {
          for (size_t c = 0; c < a.d_v; ++c) orow[c] += sc[jj] * vr[static_cast<int64_t>(c) * a.v_strides.dim];
        }
      }
    }
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    if (a.row_max != nullptr) {
      a.row_max[StatIndex(a, b, h, i)] = m, a.row_sum[StatIndex(a, b, h, i)] = l;
    }
    float* dst = out + static_cast<int64_t>(i) * a.out_strides.seq;
    for (size_t c = 0; c < a.d_v; ++c) dst[static_cast<int64_t>(c) * a.out_strides.dim] = orow[c] * inv;
  }
}

// Computes one chunk: batch b, query head h, query rows [i0, i0 + rows).
template <class D>
HWY_INLINE void ExactChunk(D d, const ExactAttentionArgs& a, const ExactLayout& lay,
                           float* HWY_RESTRICT ws, size_t b, size_t h, size_t i0,
                           size_t rows) {
  const size_t N = hn::Lanes(d);
  const size_t nr = TileCols(d);
  const AttentionIo::Head head = a.At(b, h, a.KvHead(h));
  const float* q = head.q;
  const float* k = head.k;
  const float* v = head.v;
  float* out = head.out;

  if (rows <= kExactRowPathMaxRows) {
    RowChunk(d, a, lay, ws, q, k, v, out, b, h, i0, rows);
    return;
  }

  float* HWY_RESTRICT qt = ws + lay.qt;
  float* HWY_RESTRICT st = ws + lay.st;
  float* HWY_RESTRICT kbuf = ws + lay.k;
  float* HWY_RESTRICT vp = ws + lay.v;
  float* HWY_RESTRICT oacc = ws + lay.o;
  float* HWY_RESTRICT mrow = ws + lay.m;
  float* HWY_RESTRICT lrow = ws + lay.l;
  float* HWY_RESTRICT bm = ws + lay.bm;
  float* HWY_RESTRICT alpha = ws + lay.alpha;
  const size_t dqk = a.d_qk;
  const size_t width = lay.width;
  const size_t rows6 = (rows + kTileRows - 1) / kTileRows * kTileRows;
  // Query columns computed by Q K^T and the softmax: whole panels.
  const size_t qcols = (rows + nr - 1) / nr * nr;
  // The P V step reads 6-row strips up to rows6, which can pass qcols (64
  // rows on AVX-512: qcols 64, rows6 66); those columns of P^T are never
  // written, so zero them once (they only feed padding rows of O_acc).
  if (rows6 > qcols) {
    for (size_t j = 0; j < lay.bk6; ++j) {
      std::fill(st + j * width + qcols, st + j * width + rows6, 0.0f);
    }
  }

  // Keys visible to this block: those its last row sees (padding, causal).
  const size_t kv_end = a.VisibleKeys(b, i0 + rows - 1, a.causal);
  // Causal: query i sees key j iff j <= i + offset, offset = kv_len - q_len.
  const int64_t offset = static_cast<int64_t>(a.kv_len) - static_cast<int64_t>(a.q_len);

  // Scaled query block, transposed into panels of nr queries; padding zero.
  const float qscale = a.scale * 1.4426950408889634f;  // log2(e)
  // Whole panels of unit-stride rows: gathered a vector of queries at a time
  // (N rows, one column). With few keys (Linformer's k = 64 projected keys)
  // a chunk is short and the scalar transpose below took 12% of it; the
  // gathers made Linformer 4% faster there.
  const int64_t qseq = a.q_strides.seq;
  const bool gather = a.q_strides.dim == 1 && qseq > 0 &&
                      static_cast<uint64_t>(qseq) * nr <= uint64_t{1} << 30;
  const hn::RebindToSigned<D> di;
  const auto row_index = hn::Mul(hn::Iota(di, 0), hn::Set(di, static_cast<int32_t>(gather ? qseq : 0)));
  const auto vscale = hn::Set(d, qscale);
  for (size_t p = 0; p < qcols; p += nr) {
    float* HWY_RESTRICT panel = qt + p * dqk;
    if (gather && p + nr <= rows) {
      for (size_t v = 0; v < nr; v += N) {
        const float* src = q + static_cast<int64_t>(i0 + p + v) * qseq;
        for (size_t c = 0; c < dqk; ++c) {
          hn::Store(hn::Mul(hn::GatherIndex(d, src + c, row_index), vscale), d,
                    panel + c * nr + v);
        }
      }
      continue;
    }
    for (size_t r = 0; r < nr; ++r) {
      if (p + r >= rows) {
        for (size_t c = 0; c < dqk; ++c) panel[c * nr + r] = 0.0f;
        continue;
      }
      const float* src = q + static_cast<int64_t>(i0 + p + r) * a.q_strides.seq;
      const int64_t cs = a.q_strides.dim;
      for (size_t c = 0; c < dqk; ++c) {
        panel[c * nr + r] = src[static_cast<int64_t>(c) * cs] * qscale;
      }
    }
  }
  std::fill(oacc, oacc + rows6 * lay.dv_pad, 0.0f);
  std::fill(mrow, mrow + qcols, -std::numeric_limits<float>::infinity());
  std::fill(lrow, lrow + qcols, 0.0f);

  const bool k_in_place = a.k_strides.dim == 1;
  // V is packed per block into contiguous, aligned panels. Read in place, a
  // panel narrower than a row makes the rows (a multiple of 4 lines apart for
  // d_v = 64) alias in L1 like S^T's (4% slower on AVX2), and even whole
  // rows (d_v = 64 on AVX-512) were 7% slower: callers' rows are rarely
  // 64-byte aligned, so every 64-byte load splits across two lines.
  const bool v_in_place = false;
  const auto neg_inf = hn::Set(d, -std::numeric_limits<float>::infinity());

  for (size_t j0 = 0; j0 < kv_end; j0 += a.block_k) {
    const size_t kb = std::min(a.block_k, kv_end - j0);
    const float* kblock = k + static_cast<int64_t>(j0) * a.k_strides.seq;
    // Key row j of this block is visible to query column c iff
    // c >= j + shift, shift = j0 - i0 - offset.
    const int64_t shift = static_cast<int64_t>(j0) - static_cast<int64_t>(i0) - offset;
    const bool masked = a.causal && static_cast<int64_t>(kb) - 1 + shift > 0;

    // 1. S^T = K Q^T, 6 keys x nr queries per tile, block max folded in.
    for (size_t c = 0; c < qcols; c += N) hn::Store(neg_inf, d, bm + c);
    size_t full_strips = kb / kTileRows;
    const float* a_base = kblock;
    size_t lda = static_cast<size_t>(a.k_strides.seq);
    if (!k_in_place) {
      // Contiguous copy of the block; the tail strip repeats the last key.
      for (size_t j = 0; j < (kb + kTileRows - 1) / kTileRows * kTileRows; ++j) {
        const float* src = kblock + static_cast<int64_t>(std::min(j, kb - 1)) * a.k_strides.seq;
        for (size_t c = 0; c < dqk; ++c) kbuf[j * dqk + c] = src[static_cast<int64_t>(c) * a.k_strides.dim];
      }
      a_base = kbuf;
      lda = dqk;
      full_strips = (kb + kTileRows - 1) / kTileRows;
    }
    // The next block's keys and values are prefetched, a few rows per
    // strip. With few queries (Nystrom's m landmarks over all n keys) a
    // block is short, and V, first touched when packed, stalled the packing
    // from DRAM (17% of that phase at n = 65536, m = 32; Nystrom 5-9% faster
    // there with the prefetches, exact attention unchanged).
    const size_t next_j0 = j0 + kb;
    const size_t next_kb = next_j0 < kv_end ? std::min(a.block_k, kv_end - next_j0) : 0;
    const bool rows_contiguous = k_in_place && a.v_strides.dim == 1;
    const size_t kv_per_strip =
        rows_contiguous && full_strips > 0 ? (next_kb + full_strips - 1) / full_strips : 0;
    size_t pf_key = 0;
    // This block's V is packed a few rows per strip, between the Q K^T
    // tiles, so that the packing's loads and stores can overlap the tiles'
    // FMAs (its rows were prefetched during the previous block). Packed in
    // one go after the softmax, it took 1.8% of the time. Measured on AVX2:
    // exact attention at n = 4096 within noise, Linformer (k = 64 and 256
    // keys, one or two blocks a chunk) 3-6% faster at n = 16384.
    const float* vb = v + static_cast<int64_t>(j0) * a.v_strides.seq;
    const size_t nr_v = PanelCols(d, a.d_v);
    const size_t v_per_strip = full_strips > 0 ? (kb + full_strips - 1) / full_strips : 0;
    size_t v_packed = 0;
    for (size_t s = 0; s < full_strips; ++s) {
      const float* arows = a_base + s * kTileRows * lda;
      if (!v_in_place && v_packed < kb) {
        const size_t v_end = std::min(kb, v_packed + v_per_strip);
        PackPanelRows(d, vb, a.v_strides.seq, a.v_strides.dim, kb, v_packed, v_end, a.d_v, vp,
                      nr_v);
        v_packed = v_end;
      }
      for (size_t t = 0; t < kv_per_strip && pf_key < next_kb; ++t, ++pf_key) {
        const float* kr = k + static_cast<int64_t>(next_j0 + pf_key) * a.k_strides.seq;
        const float* vr = v + static_cast<int64_t>(next_j0 + pf_key) * a.v_strides.seq;
        PrefetchRow(kr, dqk);
        PrefetchRow(vr, a.d_v);
      }
      for (size_t p = 0; p < qcols; p += nr) {
        TileKernel<false, ARead::kRows>(d, arows, lda, qt + p * dqk, nr, dqk,
                                        st + s * kTileRows * width + p, width, bm + p);
      }
    }
    if (k_in_place && kb % kTileRows != 0) {
      // Tail strip: copy the last keys, repeating the last one (a duplicate
      // of a real key cannot raise the block max).
      const size_t j_first = full_strips * kTileRows;
      for (size_t r = 0; r < kTileRows; ++r) {
        const float* src = kblock + static_cast<int64_t>(std::min(j_first + r, kb - 1)) * a.k_strides.seq;
        std::copy(src, src + dqk, kbuf + r * dqk);
      }
      for (size_t p = 0; p < qcols; p += nr) {
        TileKernel<false, ARead::kRows>(d, kbuf, dqk, qt + p * dqk, nr, dqk,
                                        st + j_first * width + p, width, bm + p);
      }
    }

    if (!v_in_place && v_packed < kb) {
      PackPanelRows(d, vb, a.v_strides.seq, a.v_strides.dim, kb, v_packed, kb, a.d_v, vp, nr_v);
    }

    // 2. Softmax step.
    if (masked) {
      MaskedBlockMax(d, st, width, kb, qcols, shift, bm);
      SoftmaxBlock<true>(d, st, width, kb, qcols, shift, bm, mrow, lrow, alpha);
    } else {
      SoftmaxBlock<false>(d, st, width, kb, qcols, shift, bm, mrow, lrow, alpha);
    }
    for (size_t r = 0; r < rows; ++r) {
      if (alpha[r] != 1.0f) Scale(d, alpha[r], oacc + r * lay.dv_pad, lay.dv_pad);
    }

    // 3. O_acc += P V: A = P^T read column-wise, B = V rows.
    // V panels are nr_v columns (packed above): narrower than the query
    // panels for small d_v (d_v = 16 on AVX-512: one vector, not a 64-column
    // panel of which 48 columns are padding; 1.9x faster there), and the
    // last panel only as wide as its columns (PanelWidthAt: d_v = 80 on
    // AVX-512 is 64 + 16).
    size_t ldb = static_cast<size_t>(a.v_strides.seq);
    // In the last block, the query rows of the next chunk of this head are
    // prefetched, a few per strip of the first panel: with few keys (a
    // Linformer's k projected keys) a chunk is short, and its query block,
    // fetched from DRAM while being transposed, stalled the packing.
    const bool last = j0 + kb >= kv_end;
    const size_t next_first = i0 + rows;
    const size_t next_rows = last && next_first < a.q_len ? std::min(rows, a.q_len - next_first) : 0;
    const size_t pf_per_strip = (next_rows + rows6 / kTileRows - 1) / (rows6 / kTileRows);
    size_t pf_row = 0;
    for (size_t p = 0; p < a.d_v; p += nr_v) {
      const size_t w = PanelWidthAt(d, a.d_v, nr_v, p);
      const float* bpanel = v_in_place ? vb + p : vp + p * kb;
      if (!v_in_place) ldb = w;
      for (size_t r = 0; r < rows6; r += kTileRows) {
        if (pf_row < next_rows) {
          for (size_t t = 0; t < pf_per_strip && pf_row < next_rows; ++t, ++pf_row) {
            const float* qr = q + static_cast<int64_t>(next_first + pf_row) * a.q_strides.seq;
            PrefetchRow(qr, dqk);
          }
        }
        TileKernelVecs<true, ARead::kColumns>(d, w / N, st + r, width, bpanel, ldb, kb,
                                              oacc + r * lay.dv_pad + p, lay.dv_pad);
      }
    }
  }

  // Normalize and write.
  for (size_t r = 0; r < rows; ++r) {
    const float inv = lrow[r] > 0.0f ? 1.0f / lrow[r] : 0.0f;
    if (a.row_max != nullptr) {
      a.row_max[StatIndex(a, b, h, i0 + r)] = mrow[r];
      a.row_sum[StatIndex(a, b, h, i0 + r)] = lrow[r];
    }
    const float* orow = oacc + r * lay.dv_pad;
    float* dst = out + static_cast<int64_t>(i0 + r) * a.out_strides.seq;
    const int64_t cs = a.out_strides.dim;
    if (cs == 1) {
      size_t c = 0;
      const auto vinv = hn::Set(d, inv);
      for (; c + N <= a.d_v; c += N) hn::StoreU(hn::Mul(hn::Load(d, orow + c), vinv), d, dst + c);
      for (; c < a.d_v; ++c) dst[c] = orow[c] * inv;
    } else {
      for (size_t c = 0; c < a.d_v; ++c) dst[static_cast<int64_t>(c) * cs] = orow[c] * inv;
    }
  }
}

size_t PanelWidthImpl() { return TileCols(hn::ScalableTag<float>()); }

size_t ChunkFloatsImpl(size_t block_q, size_t block_k, size_t d_qk, size_t d_v) {
  const hn::ScalableTag<float> d;
  return MakeExactLayout(TileCols(d), PanelCols(d, d_v), block_q, block_k, d_qk, d_v).total;
}

HWY_NOINLINE void ExactAttentionImpl(const ExactAttentionArgs& a) {
  const hn::ScalableTag<float> d;
  const ExactLayout lay = MakeExactLayout(TileCols(d), PanelCols(d, a.d_v),
                                          a.block_q, a.block_k, a.d_qk, a.d_v);
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
