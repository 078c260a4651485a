// Per-target tiled GEMMs for low-rank attention (re-included per target).
// See lowrank_gemm.h for the contract.
//
// GemmAtB reduces over n in blocks of kGemmKc rows: each block of B is packed
// once into panels (kc x nr, contiguous, aligned) and reused by every 6-column
// strip of A, whose columns are read in place as the broadcast operand
// (ARead::kColumns); C accumulates in a small r x d buffer. kc = 64: A is
// read one line per k, and rows r floats apart (256 bytes for r = 64) fall
// on a quarter of the L1 sets; 64 rows fit those sets, 256 did not (0.84x
// oneDNN at kc = 256, about 1.0x at kc = 64, n = 4096, r = d = 64, AVX2).
// Packing A instead cost more than it saved: with r and d of 64 each
// element of A feeds only 128 flops. The next A block is prefetched: from
// DRAM (n = 65536) the column-wise reads started late (0.79x -> 0.97x).
// GemmAB packs B (r x d) once and streams the rows of A in strips of 6
// (ARead::kRows). Edge strips and panels go through small buffers so the
// tile kernel always runs on full tiles and never reads or writes past an
// operand.
#if defined(LOWRANK_LIB_KERNELS_LOWRANK_GEMM_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LOWRANK_LIB_KERNELS_LOWRANK_GEMM_INL_H_
#undef LOWRANK_LIB_KERNELS_LOWRANK_GEMM_INL_H_
#else
#define LOWRANK_LIB_KERNELS_LOWRANK_GEMM_INL_H_
#endif

#include <stddef.h>

#include <algorithm>

#include "hwy/cache_control.h"
#include "hwy/highway.h"
#include "kernels/gemm_select.h"
#include "kernels/gemm_tile-inl.h"
#include "kernels/lowrank_gemm.h"
#include "kernels/vector_ops-inl.h"

HWY_BEFORE_NAMESPACE();
namespace lowrank {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// inline: also included by factors-inl.h (one definition across TUs).
inline HWY_NOINLINE void GemmAtBImpl(const GemmArgs& g) {
  const hn::ScalableTag<float> d;
  const size_t nr = TileCols(d);
  const AtBLayout lay = MakeAtBLayout(nr, g.r, g.d);
  float* HWY_RESTRICT bp = g.workspace + lay.bp;
  float* HWY_RESTRICT at = g.workspace + lay.at;
  float* HWY_RESTRICT cbuf = g.workspace + lay.cbuf;
  const size_t r6 = GemmRoundUp(g.r, kTileRows);
  std::fill(cbuf, cbuf + r6 * lay.dv_pad, 0.0f);
  // Rows of A a multiple of 1 KiB apart (r = 256, 512, ...) share at most 4
  // of the 64 L1 sets (48 lines at 12 ways): use blocks of 32 rows there.
  // Other strides spread over 8 or more sets and keep 64-row blocks.
  const size_t kc = (g.lda * sizeof(float)) % 1024 == 0 ? kGemmKc / 2 : kGemmKc;
  for (size_t n0 = 0; n0 < g.n; n0 += kc) {
    const size_t kb = std::min(kc, g.n - n0);
    // Prefetch the next block of A (its rows are read column-wise, a pattern
    // the hardware prefetchers pick up late when the data comes from DRAM).
    if (n0 + kb < g.n) {
      const size_t next = std::min(kc, g.n - n0 - kb);
      for (size_t k = 0; k < next; ++k) {
        const float* row = g.a + (n0 + kb + k) * g.lda;
        for (size_t c = 0; c < g.r; c += 16) hwy::Prefetch(row + c);
      }
    }
    PackPanels(d, g.b + n0 * g.ldb, static_cast<int64_t>(g.ldb), 1, kb, g.d, bp);
    for (size_t r0 = 0; r0 < g.r; r0 += kTileRows) {
      const float* a = g.a + n0 * g.lda + r0;
      size_t lda = g.lda;
      if (r0 + kTileRows > g.r) {
        // Tail strip: the last columns of A, zero-padded to 6.
        const size_t cols = g.r - r0;
        for (size_t k = 0; k < kb; ++k) {
          for (size_t t = 0; t < kTileRows; ++t) {
            at[k * kTileRows + t] = t < cols ? a[k * g.lda + t] : 0.0f;
          }
        }
        a = at;
        lda = kTileRows;
      }
      for (size_t p = 0; p < lay.dv_pad; p += nr) {
        TileKernel<true, ARead::kColumns>(d, a, lda, bp + p * kb, nr, kb,
                                          cbuf + r0 * lay.dv_pad + p, lay.dv_pad);
      }
    }
  }
  for (size_t i = 0; i < g.r; ++i) {
    float* HWY_RESTRICT crow = g.c + i * g.ldc;
    const float* HWY_RESTRICT src = cbuf + i * lay.dv_pad;
    if (g.accumulate) {
      for (size_t c = 0; c < g.d; ++c) crow[c] += src[c];
    } else {
      std::copy(src, src + g.d, crow);
    }
  }
}

// C_i *= scale[i] for rows i < rows of C (cols floats each, row stride ldc).
template <class D>
HWY_INLINE void ScaleRows(D d, const float* HWY_RESTRICT scale, size_t rows, size_t cols,
                          float* HWY_RESTRICT c, size_t ldc) {
  for (size_t t = 0; t < rows; ++t) Scale(d, scale[t], c + t * ldc, cols);
}

inline HWY_NOINLINE void GemmABImpl(const GemmArgs& g) {
  const hn::ScalableTag<float> d;
  const size_t nr = TileCols(d);
  const ABLayout lay = MakeABLayout(nr, g.r, g.d);
  float* HWY_RESTRICT bp = g.workspace + lay.bp;
  float* HWY_RESTRICT at = g.workspace + lay.at;
  float* HWY_RESTRICT ct = g.workspace + lay.ct;
  if (g.packed_b != nullptr) {
    bp = const_cast<float*>(g.packed_b);  // read only below
  } else {
    PackPanels(d, g.b, static_cast<int64_t>(g.ldb), 1, g.r, g.d, bp);
  }
  for (size_t i0 = 0; i0 < g.n; i0 += kTileRows) {
    const size_t rows = std::min(kTileRows, g.n - i0);
    const float* a = g.a + i0 * g.lda;
    // Prefetch the next strip of A: with large n it comes from DRAM, six
    // streams the hardware prefetchers pick up late.
    for (size_t t = 0; t < kTileRows && i0 + kTileRows + t < g.n; ++t) {
      const float* next = a + (kTileRows + t) * g.lda;
      for (size_t k = 0; k < g.r; k += 16) hwy::Prefetch(next + k);
    }
    size_t lda = g.lda;
    if (rows < kTileRows) {
      // Tail strip: the last rows of A, zero rows below.
      for (size_t t = 0; t < kTileRows; ++t) {
        for (size_t k = 0; k < g.r; ++k) at[t * g.r + k] = t < rows ? a[t * g.lda + k] : 0.0f;
      }
      a = at;
      lda = g.r;
    }
    for (size_t p = 0; p < lay.dv_pad; p += nr) {
      const float* panel = bp + p * g.r;
      float* c = g.c + i0 * g.ldc + p;
      const size_t cols = std::min(nr, g.d - p);
      if (rows == kTileRows && cols == nr) {
        if (g.accumulate) {
          TileKernel<true, ARead::kRows>(d, a, lda, panel, nr, g.r, c, g.ldc);
        } else {
          TileKernel<false, ARead::kRows>(d, a, lda, panel, nr, g.r, c, g.ldc);
        }
        continue;
      }
      // Edge tile through the buffer: only existing C entries are touched.
      std::fill(ct, ct + kTileRows * nr, 0.0f);
      if (g.accumulate) {
        for (size_t t = 0; t < rows; ++t) std::copy(c + t * g.ldc, c + t * g.ldc + cols, ct + t * nr);
      }
      TileKernel<true, ARead::kRows>(d, a, lda, panel, nr, g.r, ct, nr);
      for (size_t t = 0; t < rows; ++t) std::copy(ct + t * nr, ct + t * nr + cols, c + t * g.ldc);
    }
    if (g.row_scale != nullptr) ScaleRows(d, g.row_scale + i0, rows, g.d, g.c + i0 * g.ldc, g.ldc);
  }
}

// Packs B (r x d, row stride ldb) for GemmArgs::packed_b on this target.
inline void PackGemmB(const float* b, size_t ldb, size_t r, size_t dcols, float* out) {
  const hn::ScalableTag<float> d;
  PackPanels(d, b, static_cast<int64_t>(ldb), 1, r, dcols, out);
}

// What the methods call: oneDNN where gemm_select.cc's measured rule says it
// is faster for this shape, the Highway kernel otherwise.
inline void GemmAtBSelectedImpl(const GemmArgs& g) {
  const size_t nr = TileCols(hn::ScalableTag<float>());
  if (PreferOnednn(GemmOp::kAtB, g.n, g.r, g.d, nr) && OnednnGemm(GemmOp::kAtB, g)) return;
  GemmAtBImpl(g);
}
inline void GemmABSelectedImpl(const GemmArgs& g) {
  const size_t nr = TileCols(hn::ScalableTag<float>());
  if (g.packed_b != nullptr) {  // packed for the Highway kernel
    GemmABImpl(g);
    return;
  }
  if (PreferOnednn(GemmOp::kAB, g.n, g.r, g.d, nr) && OnednnGemm(GemmOp::kAB, g)) {
    if (g.row_scale != nullptr) {
      ScaleRows(hn::ScalableTag<float>(), g.row_scale, g.n, g.d, g.c, g.ldc);
    }
    return;
  }
  GemmABImpl(g);
}

}  // namespace HWY_NAMESPACE
}  // namespace lowrank
HWY_AFTER_NAMESPACE();

#endif  // include guard toggle
