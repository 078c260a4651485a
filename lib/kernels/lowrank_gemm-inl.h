// Per-target tiled GEMMs for low-rank attention (re-included per target).
// See lowrank_gemm.h for the contract.
//
// GemmAtB reduces over n in blocks of kGemmKc rows: each block of B is packed
// once into panels (kc x nr, contiguous, aligned) and reused by every strip
// of 6 (or 4, see PlanStrips) columns of A, whose columns are read in place
// as the broadcast operand (ARead::kColumns); C accumulates in place (or in
// a small r x d buffer for ragged shapes). kc = 64: A is read one line per
// k, and rows r floats apart (256 bytes for r = 64) fall on a quarter of the
// L1 sets; 64 rows fit those sets, 256 did not (0.84x oneDNN at kc = 256,
// about 1.0x at kc = 64, n = 4096, r = d = 64, AVX2); 96 and 128 measured
// 2-5% slower than 64. Packing A instead cost more than it saved: with r
// and d of 64 each element of A feeds only 128 flops. The next A block is
// prefetched: from DRAM (n = 65536) the column-wise reads started late
// (0.79x -> 0.97x). Reading B in place instead of packing it measured 3-6%
// slower (a 64-byte panel row straddles two lines unless V is aligned).
// GemmAB packs B (r x d) once, unless it is small or A short (then B is read
// in place), and streams the rows of A in strips of 6 or 4 (ARead::kRows);
// a packed B over 32 KiB is taken in chunks of rows (kABChunkFloats).
// Edge strips and panels go through small buffers so the tile kernel always
// runs on full tiles and never reads or writes past an operand.
#if defined(LOWRANK_LIB_KERNELS_LOWRANK_GEMM_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LOWRANK_LIB_KERNELS_LOWRANK_GEMM_INL_H_
#undef LOWRANK_LIB_KERNELS_LOWRANK_GEMM_INL_H_
#else
#define LOWRANK_LIB_KERNELS_LOWRANK_GEMM_INL_H_
#endif

#include <stddef.h>

#include <algorithm>

#include "hwy/highway.h"
#include "kernels/gemm_select.h"
#include "kernels/gemm_tile-inl.h"
#include "kernels/lowrank_gemm.h"
#include "kernels/vector_ops-inl.h"

HWY_BEFORE_NAMESPACE();
namespace lowrank {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// How the tiles cover the rows of C (r of them in GemmAtB, n in GemmAB):
// 6-row strips for rows [0, rows6), then 4-row strips; only the last strip
// may be padded. Even counts >= 4 waste nothing (64 = 10 x 6 + 4, 128 =
// 20 x 6 + 2 x 4, 32 = 4 x 6 + 2 x 4), where 6-row strips alone computed 3%
// padding at 64 and 128 and 12.5% at 32.
struct StripPlan {
  size_t rows6;    // rows in 6-row strips
  size_t strips;   // strips in all
  size_t covered;  // rows computed, padding included (>= r)
};
inline StripPlan PlanStrips(size_t r) {
  size_t six = r / kTileRows;
  size_t rem = r % kTileRows;
  if (rem == 2 && six > 0) --six, rem += kTileRows;  // 8 = two 4-row strips
  // rem 5 pads one 6-row strip; rem 1..4 one 4-row strip; 8 two of them.
  if (rem == 5) ++six, rem = 0;
  const size_t fours = (rem + 3) / 4;
  return {six * kTileRows, six + fours, six * kTileRows + 4 * fours};
}

// One tile of kRows 6 or 4 and `vecs` vectors, accumulating or not
// (runtime choices).
template <ARead kARead, class D>
HWY_INLINE void TileAnyRows(D d, bool accumulate, size_t rows, size_t vecs,
                            const float* HWY_RESTRICT a, size_t lda, const float* HWY_RESTRICT b,
                            size_t ldb, size_t K, float* HWY_RESTRICT c, size_t ldc) {
  if (rows == kTileRows) {
    if (accumulate) {
      TileKernelVecs<true, kARead>(d, vecs, a, lda, b, ldb, K, c, ldc);
    } else {
      TileKernelVecs<false, kARead>(d, vecs, a, lda, b, ldb, K, c, ldc);
    }
  } else if (accumulate) {
    TileKernelVecs<true, kARead, 4>(d, vecs, a, lda, b, ldb, K, c, ldc);
  } else {
    TileKernelVecs<false, kARead, 4>(d, vecs, a, lda, b, ldb, K, c, ldc);
  }
}

// GemmAtB prefetches the next block of A and B only when the two operands
// (n x (r + d) floats) exceed 1 MiB. Up to that size they fit the L2 of
// every x86 core we target (1 MiB on Skylake-SP and Zen 4, more since),
// where a product's inputs usually sit (written just before, or read by the
// previous call), and the L2-to-L1 hardware prefetchers keep up: the
// software prefetches then only cost load slots and L1 space. Measured on
// AVX2 (2 MiB L2), 1 thread, without them: n = 1024, r = 64 and 128 (0.5
// and 0.75 MiB) 2-4% faster; with r = 256 (1.25 MiB) within noise; n = 4096
// and more (2 MiB and up, from L3 or DRAM) 0-8% slower, 11-40% at n = 65536.
// The normalized factors reduce in chunks of 2^18 / r rows: A alone is 1
// MiB there, so those chunks (read from DRAM at large n) keep prefetching.
constexpr size_t kAtBPrefetchBytes = size_t{1} << 20;

// inline: also included by factors-inl.h (one definition across TUs).
inline HWY_NOINLINE void GemmAtBImpl(const GemmArgs& g) {
  const hn::ScalableTag<float> d;
  const size_t nr = PanelCols(d, g.d);
  const AtBLayout lay = MakeAtBLayout(nr, g.r, g.d);
  float* HWY_RESTRICT bp = g.workspace + lay.bp;
  float* HWY_RESTRICT at = g.workspace + lay.at;
  const StripPlan plan = PlanStrips(g.r);
  if (g.n == 0) {  // empty reduction: C = 0 (or unchanged when accumulating)
    if (!g.accumulate) {
      for (size_t i = 0; i < g.r; ++i) std::fill(g.c + i * g.ldc, g.c + i * g.ldc + g.d, 0.0f);
    }
    return;
  }
  // The tiles accumulate in C itself where they cover it exactly (whole
  // panels, no padding rows), otherwise in a buffer copied out at the end
  // (at n = 1024 the buffer's fill and copy were 1-2% of the time). The
  // first block stores instead of adding unless C's old value is wanted.
  const bool direct = g.d % nr == 0 && plan.covered == g.r;
  float* HWY_RESTRICT cacc = direct ? g.c : g.workspace + lay.cbuf;
  const size_t ldacc = direct ? g.ldc : lay.dv_pad;
  const bool load_first = direct && g.accumulate;
  // Rows of A a multiple of 1 KiB apart (r = 256, 512, ...) share at most 4
  // of the 64 L1 sets (48 lines at 12 ways): use blocks of 32 rows there.
  // Other strides spread over 8 or more sets and keep 64-row blocks.
  const size_t kc = (g.lda * sizeof(float)) % 1024 == 0 ? kGemmKc / 2 : kGemmKc;
  const bool prefetch = g.n * (g.r + g.d) * sizeof(float) > kAtBPrefetchBytes;
  for (size_t n0 = 0; n0 < g.n; n0 += kc) {
    const size_t kb = std::min(kc, g.n - n0);
    const bool store = n0 == 0 && !load_first;
    // The next block of A is prefetched (its rows are read column-wise, a
    // pattern the hardware prefetchers pick up late when the data comes from
    // DRAM), a few rows per strip: issued all at once, the prefetches filled
    // the miss buffers and stalled the loop (7% of the time at n = 4096).
    // So is the next block of B: at n = 65536 (from DRAM) that took 1-8%
    // off r = 64..256. Not when the operands are small (kAtBPrefetchBytes).
    const size_t next = prefetch && n0 + kb < g.n ? std::min(kc, g.n - n0 - kb) : 0;
    const size_t rows_per_strip = (next + plan.strips - 1) / plan.strips;
    size_t next_row = 0;
    PackPanels(d, g.b + n0 * g.ldb, static_cast<int64_t>(g.ldb), 1, kb, g.d, bp, nr);
    for (size_t r0 = 0; r0 < g.r;) {
      for (size_t k = 0; k < rows_per_strip && next_row < next; ++k, ++next_row) {
        const float* row = g.a + (n0 + kb + next_row) * g.lda;
        PrefetchRow(row, g.r);
        const float* brow = g.b + (n0 + kb + next_row) * g.ldb;
        PrefetchRow(brow, g.d);
      }
      const size_t strip_rows = r0 < plan.rows6 ? kTileRows : 4;
      const float* a = g.a + n0 * g.lda + r0;
      size_t lda = g.lda;
      if (r0 + strip_rows > g.r) {
        // Tail strip: the last columns of A, zero-padded.
        const size_t cols = g.r - r0;
        for (size_t k = 0; k < kb; ++k) {
          for (size_t t = 0; t < strip_rows; ++t) {
            at[k * strip_rows + t] = t < cols ? a[k * g.lda + t] : 0.0f;
          }
        }
        a = at;
        lda = strip_rows;
      }
      float* c = cacc + r0 * ldacc;
      for (size_t p = 0; p < g.d; p += nr) {
        const size_t w = PanelWidthAt(d, g.d, nr, p);  // the last panel: maybe narrower
        TileAnyRows<ARead::kColumns>(d, !store, strip_rows, w / hn::Lanes(d), a, lda,
                                     bp + p * kb, w, kb, c + p, ldacc);
      }
      r0 += strip_rows;
    }
  }
  if (direct) return;
  for (size_t i = 0; i < g.r; ++i) {
    float* HWY_RESTRICT crow = g.c + i * g.ldc;
    const float* HWY_RESTRICT src = cacc + i * ldacc;
    if (g.accumulate) {
      for (size_t c = 0; c < g.d; ++c) crow[c] += src[c];
    } else {
      std::copy(src, src + g.d, crow);
    }
  }
}

// GemmAB's row epilogues (GemmArgs::row_scale, row_dot) on rows
// [i0, i0 + rows) of C.
template <class D>
HWY_INLINE void RowEpilogue(D d, const GemmArgs& g, size_t i0, size_t rows) {
  for (size_t i = i0; i < i0 + rows; ++i) {
    float* HWY_RESTRICT crow = g.c + i * g.ldc;
    if (g.row_scale != nullptr) Scale(d, g.row_scale[i], crow, g.d);
    if (g.row_dot != nullptr) {
      Scale(d, GuardedInverse(Dot(d, g.a + i * g.lda, g.row_dot, g.r)), crow, g.d);
    }
  }
}

// B is read in place instead of packed when it is small (r x d floats up to
// kInPlaceBFloats: it stays in L1 across the row strips, and packing was
// about 10% of each m x m product of Nystrom's pseudoinverse at m = 32) or
// A has too few rows (up to kInPlaceBMaxRows) to repay the packing pass
// (n = 1, r = 256: 3.2 us packed, against 0.6 us for oneDNN).
constexpr size_t kInPlaceBFloats = 4096;
constexpr size_t kInPlaceBMaxRows = 4 * kTileRows;

// A packed B larger than kABChunkFloats (32 KiB: r = 256, d = 64) does not
// stay in L1 while the strips stream past it: every 6-row strip then reads
// all of it from L2 (64 KiB per 197 kflop, about 11 bytes a cycle at the
// AVX2 FMA rate), and r = 256 ran below r = 64 and 128. So the reduction
// over r is split into chunks of kABChunkFloats / d_pad rows of B (128 at
// d = 64, 64 at d = 128); the strips go over one chunk after the other, the
// later chunks accumulating into C. Measured on AVX2, 1 thread, r = 256,
// d = 64: 1.5-4% faster at n = 1024 to 16384 (4 alternations), 5% at
// n = 65536; m x m products at m = 128 (two chunks) unchanged. Not for
// outputs wider than 128 columns (Nystrom's m x m products): a chunk of 32
// KiB would be shorter than kABMinChunk rows, and shorter tiles spend more
// on loading and storing C than they save. To keep C and A in L2
// between the chunks instead of going back to DRAM at large n, the rows are
// taken in blocks of kABRowBlock (a 384-row block at r = 256 is 384 KiB of A
// and 96 KiB of C), all chunks of one block before the next.
constexpr size_t kABChunkFloats = 8192;
constexpr size_t kABMinChunk = 64;
constexpr size_t kABRowBlock = 64 * kTileRows;

inline HWY_NOINLINE void GemmABImpl(const GemmArgs& g) {
  const hn::ScalableTag<float> d;
  const size_t nr = PanelCols(d, g.d);
  const ABLayout lay = MakeABLayout(nr, g.r, g.d);
  float* HWY_RESTRICT at = g.workspace + lay.at;
  float* HWY_RESTRICT ct = g.workspace + lay.ct;
  // Panel p of B: b_panel + p * panel_stride, rows ldb (in place) or the
  // panel's width (packed: PanelWidthAt) apart.
  const float* b_panel = g.workspace + lay.bp;
  size_t panel_stride = g.r;
  bool in_place = false;
  if (g.packed_b != nullptr) {
    b_panel = g.packed_b;
  } else if (g.d % nr == 0 && (g.r * g.d <= kInPlaceBFloats || g.n <= kInPlaceBMaxRows)) {
    b_panel = g.b, panel_stride = 1, in_place = true;
  } else {
    PackPanels(d, g.b, static_cast<int64_t>(g.ldb), 1, g.r, g.d, g.workspace + lay.bp, nr);
  }
  // Rows of B per chunk (see kABChunkFloats); all of them in one chunk when
  // B is read in place (small) or fits.
  size_t kr = g.r;
  if (!in_place && g.r * lay.dv_pad > kABChunkFloats &&
      kABChunkFloats / lay.dv_pad >= kABMinChunk) {
    kr = kABChunkFloats / lay.dv_pad;
  }
  const StripPlan plan = PlanStrips(g.n);
  for (size_t ib0 = 0; ib0 < g.n;) {
    // A block of whole 6-row strips, or the rest of the rows.
    const size_t ib1 = kr < g.r && ib0 + kABRowBlock <= plan.rows6 ? ib0 + kABRowBlock : g.n;
    for (size_t k0 = 0; k0 < g.r; k0 += kr) {
      const size_t kc = std::min(kr, g.r - k0);
      const bool first = k0 == 0, last = k0 + kc == g.r;
      const bool accumulate = g.accumulate || !first;
      for (size_t i0 = ib0; i0 < ib1;) {
        const size_t strip_rows = i0 < plan.rows6 ? kTileRows : 4;
        const size_t rows = std::min(strip_rows, g.n - i0);
        // Prefetch the strip that comes next (with large n its rows come
        // from DRAM, six streams the hardware prefetchers pick up late):
        // the next one of this block and chunk, else this block's first
        // strip in the next chunk, else the next block's first.
        size_t pf_row = i0 + strip_rows, pf_k0 = k0;
        if (pf_row >= ib1) {  // past this block's last strip
          if (last) {
            pf_k0 = 0;  // the next block (pf_row = ib1), first chunk
          } else {
            pf_row = ib0, pf_k0 = k0 + kc;  // this block, next chunk
          }
        }
        const size_t pf_cols = std::min(kr, g.r - pf_k0);
        for (size_t t = 0; t < kTileRows && pf_row + t < g.n; ++t) {
          PrefetchRow(g.a + (pf_row + t) * g.lda + pf_k0, pf_cols);
        }
        const float* a = g.a + i0 * g.lda + k0;
        size_t lda = g.lda;
        if (rows < strip_rows) {
          // Tail strip: the chunk's columns of the last rows of A, zero rows
          // below.
          for (size_t t = 0; t < strip_rows; ++t) {
            for (size_t k = 0; k < kc; ++k) at[t * kc + k] = t < rows ? a[t * g.lda + k] : 0.0f;
          }
          a = at;
          lda = kc;
        }
        for (size_t p = 0; p < g.d; p += nr) {
          const size_t w = PanelWidthAt(d, g.d, nr, p), vecs = w / hn::Lanes(d);
          const size_t ldb_panel = in_place ? g.ldb : w;
          const float* panel = b_panel + p * panel_stride + k0 * ldb_panel;
          float* c = g.c + i0 * g.ldc + p;
          const size_t cols = std::min(nr, g.d - p);
          if (rows == strip_rows && cols == w) {
            TileAnyRows<ARead::kRows>(d, accumulate, strip_rows, vecs, a, lda, panel, ldb_panel,
                                      kc, c, g.ldc);
            continue;
          }
          // Edge tile through the buffer: only existing C entries are touched.
          std::fill(ct, ct + kTileRows * w, 0.0f);
          if (accumulate) {
            for (size_t t = 0; t < rows; ++t) {
              std::copy(c + t * g.ldc, c + t * g.ldc + cols, ct + t * w);
            }
          }
          TileAnyRows<ARead::kRows>(d, true, strip_rows, vecs, a, lda, panel, ldb_panel, kc, ct,
                                    w);
          for (size_t t = 0; t < rows; ++t) std::copy(ct + t * w, ct + t * w + cols, c + t * g.ldc);
        }
        if (last && (g.row_scale != nullptr || g.row_dot != nullptr)) {
          RowEpilogue(d, g, i0, rows);
        }
        i0 += strip_rows;
      }
    }
    ib0 = ib1;
  }
}

// Packs B (r x d, row stride ldb) for GemmArgs::packed_b on this target.
inline void PackGemmB(const float* b, size_t ldb, size_t r, size_t dcols, float* out) {
  const hn::ScalableTag<float> d;
  PackPanels(d, b, static_cast<int64_t>(ldb), 1, r, dcols, out, PanelCols(d, dcols));
}

// What the methods call: oneDNN where gemm_select.cc's measured rule says it
// is faster for this shape, the Highway kernel otherwise.
inline void GemmAtBSelectedImpl(const GemmArgs& g) {
  if (PreferOnednn(GemmOp::kAtB, g.n, g.r, g.d) && OnednnGemm(GemmOp::kAtB, g)) return;
  GemmAtBImpl(g);
}
inline void GemmABSelectedImpl(const GemmArgs& g) {
  if (g.packed_b != nullptr) {  // packed for the Highway kernel
    GemmABImpl(g);
    return;
  }
  if (PreferOnednn(GemmOp::kAB, g.n, g.r, g.d) && OnednnGemm(GemmOp::kAB, g)) {
    RowEpilogue(hn::ScalableTag<float>(), g, 0, g.n);
    return;
  }
  GemmABImpl(g);
}

}  // namespace HWY_NAMESPACE
}  // namespace lowrank
HWY_AFTER_NAMESPACE();

#endif  // include guard toggle
