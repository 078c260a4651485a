// Per-target register-blocked GEMM micro-kernel (re-included per target).
//
//   C[0..kTileRows) x [0..TileCols(d)) (+)= A[rows] x B_panel
//
// A is read one element at a time and broadcast (ARead below says how it is
// addressed), B row k is TileCols(d) consecutive floats at b + k * ldb (a
// packed panel, or a matrix read in place), C is row-major with ldc.
//
// Register blocking. An FMA has 4 cycles of latency and 2 issue ports on the
// cores we target (Zen 4, Sapphire Rapids, Neoverse), so at least 4 x 2 = 8
// independent accumulators are needed to keep both ports busy. The tile is
// kTileRows x kTileVecs vectors of accumulators, plus kTileVecs registers
// for the B row and 1 for the broadcast A element:
//   16 vector registers (SSE4, AVX2): 6 x 2 = 12 accumulators + 2 + 1 = 15;
//   32 vector registers (AVX-512, NEON, SVE): 6 x 4 = 24 + 4 + 1 = 29.
// Per k step that is kTileVecs loads and 6 broadcasts for 6 * kTileVecs
// FMAs, i.e. <= 1 load per FMA, within the 2-3 loads per cycle the cores
// sustain. Six rows also keep the six A row pointers plus the B pointer and
// loop counter within x86-64's 16 general registers.
// On AVX-512, 4 vectors are 64 columns: one panel covers head_dim 64.
#if defined(LOWRANK_LIB_KERNELS_GEMM_TILE_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LOWRANK_LIB_KERNELS_GEMM_TILE_INL_H_
#undef LOWRANK_LIB_KERNELS_GEMM_TILE_INL_H_
#else
#define LOWRANK_LIB_KERNELS_GEMM_TILE_INL_H_
#endif

#include <stddef.h>

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace lowrank {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

#undef LOWRANK_TILE_VECS
#if HWY_TARGET == HWY_SCALAR || HWY_TARGET == HWY_EMU128
#define LOWRANK_TILE_VECS 2
#elif HWY_ARCH_ARM_A64 || HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
#define LOWRANK_TILE_VECS 4
#else
#define LOWRANK_TILE_VECS 2
#endif

constexpr size_t kTileRows = 6;
constexpr size_t kTileVecs = LOWRANK_TILE_VECS;

// Columns of one packed B panel on this target.
template <class D>
HWY_INLINE size_t TileCols(D d) {
  return kTileVecs * hn::Lanes(d);
}

// Vectors per tile row for an output of `cols` columns: a whole panel
// (kTileVecs) unless fewer vectors cover the columns. Panels of
// PanelVecs * Lanes columns then pad at most Lanes - 1 of them.
template <class D>
HWY_INLINE size_t PanelVecs(D d, size_t cols) {
  const size_t vecs = (cols + hn::Lanes(d) - 1) / hn::Lanes(d);
  return vecs < kTileVecs ? (vecs == 0 ? 1 : vecs) : kTileVecs;
}

// Panel width in columns for an output of `cols` columns: PanelVecs
// vectors, so that d = 16 on AVX-512 computes one vector per row, not a
// 64-column panel (the low-rank GEMMs' B and C, exact attention's V and
// O_acc, the causal feature maps' values).
template <class D>
HWY_INLINE size_t PanelCols(D d, size_t cols) {
  return PanelVecs(d, cols) * hn::Lanes(d);
}

// Width of the panel that starts at column c0 < cols when `cols` columns are
// packed in panels of nr: nr, except the last panel, which is only as wide
// as its columns rounded up to whole vectors. d = 80 on AVX-512 is a
// 64-column panel and a 16-column one, not two of 64 (48 of them padding).
// Panel p * nr starts at p * nr * rows in every packed buffer either way.
template <class D>
HWY_INLINE size_t PanelWidthAt(D d, size_t cols, size_t nr, size_t c0) {
  const size_t N = hn::Lanes(d);
  const size_t rest = (cols - c0 + N - 1) / N * N;
  return rest < nr ? rest : nr;
}

// How the tile kernel reads its A operand (kTileRows rows x K).
enum class ARead {
  // Six row pointers a + r * lda, element k at a_r[k]: a row-major matrix
  // such as the key rows of K (broadcasts from six streams).
  kRows,
  // Element (r, k) at a[k * lda + r]: k-major with the six rows adjacent,
  // the layout of a transposed score tile (one stream, six broadcasts from
  // one cache line).
  kColumns,
};

// Full tile: C[0..kTileRows) x [0..TileCols(d)) (+)= A * B where B row k
// is b + k * ldb (TileCols(d) floats, any alignment). All kTileRows rows of
// A exist (callers clamp or pad). If row_max is not null, it also folds the
// column-wise max of the new C tile into row_max[0..TileCols) (used to get
// softmax maxima for free while the scores are still in registers).
// Named accumulators instead of arrays: SVE vectors are sizeless types and
// cannot be array elements.
//
// kRows (6 or 4) is the number of A rows and C rows: 4-row tiles finish
// row counts that are not a multiple of 6 (r = 64 = 10 x 6 + 4) without
// computing padding rows. 4 x kTileVecs accumulators are still 8 or more,
// enough to hide the FMA latency.
//
// kVecs (1 to kTileVecs) is the tile's width in vectors, for outputs
// narrower than a panel (PanelVecs): d_v = 16 on AVX-512 fills one of a
// panel's four vectors, and computing the other three (padding) made the
// AVX-512 target slower than AVX2 there. One vector gives 6 accumulators,
// 3/4 of the 8 the FMA latency needs; still 3x the padded panel's useful
// work per cycle.
template <bool kAccumulate, ARead kARead, size_t kRows = kTileRows, size_t kVecs = kTileVecs,
          class D>
HWY_INLINE void TileKernel(D d, const float* HWY_RESTRICT a, size_t lda,
                           const float* HWY_RESTRICT b, size_t ldb, size_t K,
                           float* HWY_RESTRICT c, size_t ldc,
                           float* HWY_RESTRICT row_max = nullptr) {
  const size_t N = hn::Lanes(d);
  const float* HWY_RESTRICT a0 = a;
  const float* HWY_RESTRICT a1 = a + lda;
  const float* HWY_RESTRICT a2 = a + 2 * lda;
  const float* HWY_RESTRICT a3 = a + 3 * lda;
  // Not dereferenced when kRows == 4 (the pointers may be past A's end).
  const float* HWY_RESTRICT a4 = a + (kRows > 4 ? 4 : 0) * lda;
  const float* HWY_RESTRICT a5 = a + (kRows > 4 ? 5 : 0) * lda;

  static_assert(kRows == 4 || kRows == 6, "tiles have 4 or 6 rows");
  static_assert(kVecs >= 1 && kVecs <= kTileVecs, "1 to kTileVecs vectors per row");
  // Rows r >= kRows and vectors v >= kVecs are compiled out: their
  // accumulators stay zero and dead, and nothing past the tile is read.
#define LOWRANK_INIT(r, v)                                                            \
  auto c##r##v = (kAccumulate && r < kRows && v < kVecs) ? hn::LoadU(d, c + r * ldc + v * N) \
                                                         : hn::Zero(d);
#define LOWRANK_FMA(r, v) \
  if (r < kRows && v < kVecs) c##r##v = hn::MulAdd(a##r##k, b##v, c##r##v);
#define LOWRANK_STORE(r, v) \
  if (r < kRows && v < kVecs) hn::StoreU(c##r##v, d, c + r * ldc + v * N);
#define LOWRANK_MAX(r, v) \
  if (r < kRows && v < kVecs) m##v = hn::Max(m##v, c##r##v);
#if LOWRANK_TILE_VECS == 4
#define LOWRANK_COLS(X, r) X(r, 0) X(r, 1) X(r, 2) X(r, 3)
#else
#define LOWRANK_COLS(X, r) X(r, 0) X(r, 1)
#endif
#define LOWRANK_ROWS(X) \
  LOWRANK_COLS(X, 0)    \
  LOWRANK_COLS(X, 1)    \
  LOWRANK_COLS(X, 2)    \
  LOWRANK_COLS(X, 3)    \
  LOWRANK_COLS(X, 4)    \
  LOWRANK_COLS(X, 5)
#define LOWRANK_BROADCASTS(k)                                       \
  const auto a0k = hn::Set(d, kARead == ARead::kRows ? a0[k] : ak[0]); \
  LOWRANK_COLS(LOWRANK_FMA, 0)                                      \
  const auto a1k = hn::Set(d, kARead == ARead::kRows ? a1[k] : ak[1]); \
  LOWRANK_COLS(LOWRANK_FMA, 1)                                      \
  const auto a2k = hn::Set(d, kARead == ARead::kRows ? a2[k] : ak[2]); \
  LOWRANK_COLS(LOWRANK_FMA, 2)                                      \
  const auto a3k = hn::Set(d, kARead == ARead::kRows ? a3[k] : ak[3]); \
  LOWRANK_COLS(LOWRANK_FMA, 3)                                      \
  if (kRows > 4) {                                                  \
    const auto a4k = hn::Set(d, kARead == ARead::kRows ? a4[k] : ak[4]); \
    LOWRANK_COLS(LOWRANK_FMA, 4)                                    \
    const auto a5k = hn::Set(d, kARead == ARead::kRows ? a5[k] : ak[5]); \
    LOWRANK_COLS(LOWRANK_FMA, 5)                                    \
  }

  LOWRANK_ROWS(LOWRANK_INIT)
  for (size_t k = 0; k < K; ++k) {
    const float* HWY_RESTRICT bk = b + k * ldb;
    const float* HWY_RESTRICT ak = a + k * lda;
    (void)ak;
    const auto b0 = hn::LoadU(d, bk);
    const auto b1 = kVecs > 1 ? hn::LoadU(d, bk + N) : hn::Zero(d);
#if LOWRANK_TILE_VECS == 4
    const auto b2 = kVecs > 2 ? hn::LoadU(d, bk + 2 * N) : hn::Zero(d);
    const auto b3 = kVecs > 3 ? hn::LoadU(d, bk + 3 * N) : hn::Zero(d);
#endif
    LOWRANK_BROADCASTS(k)
  }
  LOWRANK_ROWS(LOWRANK_STORE)
  if (row_max != nullptr) {
    auto m0 = hn::LoadU(d, row_max);
    auto m1 = kVecs > 1 ? hn::LoadU(d, row_max + N) : hn::Zero(d);
#if LOWRANK_TILE_VECS == 4
    auto m2 = kVecs > 2 ? hn::LoadU(d, row_max + 2 * N) : hn::Zero(d);
    auto m3 = kVecs > 3 ? hn::LoadU(d, row_max + 3 * N) : hn::Zero(d);
#endif
    LOWRANK_ROWS(LOWRANK_MAX)
    hn::StoreU(m0, d, row_max);
    if (kVecs > 1) hn::StoreU(m1, d, row_max + N);
#if LOWRANK_TILE_VECS == 4
    if (kVecs > 2) hn::StoreU(m2, d, row_max + 2 * N);
    if (kVecs > 3) hn::StoreU(m3, d, row_max + 3 * N);
#endif
  }

#undef LOWRANK_INIT
#undef LOWRANK_FMA
#undef LOWRANK_STORE
#undef LOWRANK_MAX
#undef LOWRANK_COLS
#undef LOWRANK_ROWS
#undef LOWRANK_BROADCASTS
}

// TileKernel with a run-time width of `vecs` (PanelVecs) vectors.
template <bool kAccumulate, ARead kARead, size_t kRows = kTileRows, class D>
HWY_INLINE void TileKernelVecs(D d, size_t vecs, const float* HWY_RESTRICT a, size_t lda,
                               const float* HWY_RESTRICT b, size_t ldb, size_t K,
                               float* HWY_RESTRICT c, size_t ldc) {
  switch (vecs) {
    case 1:
      TileKernel<kAccumulate, kARead, kRows, 1>(d, a, lda, b, ldb, K, c, ldc);
      return;
#if LOWRANK_TILE_VECS == 4
    case 2:
      TileKernel<kAccumulate, kARead, kRows, 2>(d, a, lda, b, ldb, K, c, ldc);
      return;
    case 3:
      TileKernel<kAccumulate, kARead, kRows, 3>(d, a, lda, b, ldb, K, c, ldc);
      return;
#endif
    default:
      TileKernel<kAccumulate, kARead, kRows>(d, a, lda, b, ldb, K, c, ldc);
  }
}

// Packs rows [0, n) of a row-major matrix X (n x k, row stride ldx, column
// stride cs) transposed into panels of nr = TileCols(d) columns, the last
// one w = PanelWidthAt(d, n, nr, p * nr) wide: panel p holds
// out[p * k * nr + kk * w + j] = X[p * nr + j][kk]; columns j >= n of the
// last panel are zero. This is the B operand of X^T products (Q K^T); a
// product may read fewer than w columns of a panel (a causal triangle).
// Written row by row of the panel (kk outer): consecutive stores, and the
// zero columns are one contiguous fill per row. Column by column, every
// store went to another cache line (nr floats apart): with a 36-key causal
// chunk on AVX-512 (nr = 64, 28 zero columns) the packing took 40% of the
// causal feature-map kernel.
template <class D>
HWY_INLINE void PackTransposedPanels(D d, const float* HWY_RESTRICT x,
                                     int64_t ldx, int64_t cs, size_t n,
                                     size_t k, float* HWY_RESTRICT out) {
  const size_t nr = TileCols(d);
  const size_t panels = (n + nr - 1) / nr;
  for (size_t p = 0; p < panels; ++p) {
    float* HWY_RESTRICT panel = out + p * k * nr;
    const size_t j_end = n - p * nr < nr ? n - p * nr : nr;
    const size_t w = PanelWidthAt(d, n, nr, p * nr);
    const float* HWY_RESTRICT x0 = x + static_cast<int64_t>(p * nr) * ldx;
    for (size_t kk = 0; kk < k; ++kk) {
      float* HWY_RESTRICT dst = panel + kk * w;
      const float* HWY_RESTRICT src = x0 + static_cast<int64_t>(kk) * cs;
      for (size_t j = 0; j < j_end; ++j) dst[j] = src[static_cast<int64_t>(j) * ldx];
      for (size_t j = j_end; j < w; ++j) dst[j] = 0.0f;
    }
  }
}

// Packs rows [k0, k1) of a row-major matrix X (k x n, row stride ldx,
// column stride cs) into panels of nr columns, the last one
// w = PanelWidthAt(d, n, nr, p * nr) wide: out[p * k * nr + kk * w + j] =
// X[kk][p * nr + j], zero beyond column n. This is the B operand of plain
// products (P V). nr is a multiple of the vector length, TileCols(d) unless
// narrower tiles are used (PanelCols). A range lets a caller spread the
// packing over other work (exact attention packs V between its Q K^T
// strips); PackPanels below packs all k rows.
template <class D>
HWY_INLINE void PackPanelRows(D d, const float* HWY_RESTRICT x, int64_t ldx, int64_t cs,
                              size_t k, size_t k0, size_t k1, size_t n,
                              float* HWY_RESTRICT out, size_t nr) {
  const size_t N = hn::Lanes(d);
  const size_t panels = (n + nr - 1) / nr;
  if (cs == 1 && n % nr == 0) {
    // Whole panels: read X row by row (one sequential stream; panel by
    // panel, the reads were 4 strided streams and the packing 1.5 times
    // slower from L2), writing each row's nr-column pieces to their panels.
    for (size_t kk = k0; kk < k1; ++kk) {
      const float* HWY_RESTRICT row = x + static_cast<int64_t>(kk) * ldx;
      float* HWY_RESTRICT dst = out + kk * nr;
      for (size_t p = 0; p < panels; ++p) {
        for (size_t j = 0; j < nr; j += N) {
          hn::Store(hn::LoadU(d, row + p * nr + j), d, dst + p * k * nr + j);
        }
      }
    }
    return;
  }
  for (size_t p = 0; p < panels; ++p) {
    float* HWY_RESTRICT panel = out + p * k * nr;
    const size_t c0 = p * nr;
    const size_t cols = n - c0 < nr ? n - c0 : nr;
    const size_t w = PanelWidthAt(d, n, nr, c0);
    for (size_t kk = k0; kk < k1; ++kk) {
      const float* HWY_RESTRICT row = x + static_cast<int64_t>(kk) * ldx;
      float* HWY_RESTRICT dst = panel + kk * w;
      size_t j = 0;
      if (cs == 1) {
        for (; j + N <= cols; j += N) {
          hn::Store(hn::LoadU(d, row + c0 + j), d, dst + j);
        }
        for (; j < cols; ++j) dst[j] = row[c0 + j];
      } else {
        for (; j < cols; ++j) dst[j] = row[static_cast<int64_t>(c0 + j) * cs];
      }
      for (; j < w; ++j) dst[j] = 0.0f;
    }
  }
}

// All k rows of X (see PackPanelRows); nr = 0 means TileCols(d).
template <class D>
HWY_INLINE void PackPanels(D d, const float* HWY_RESTRICT x, int64_t ldx,
                           int64_t cs, size_t k, size_t n,
                           float* HWY_RESTRICT out, size_t nr = 0) {
  PackPanelRows(d, x, ldx, cs, k, 0, k, n, out, nr == 0 ? TileCols(d) : nr);
}

}  // namespace HWY_NAMESPACE
}  // namespace lowrank
HWY_AFTER_NAMESPACE();

#endif  // include guard toggle
