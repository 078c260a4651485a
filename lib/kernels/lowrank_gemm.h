// Tiled GEMMs for the shapes low-rank attention is made of (issue 3's first
// piece; the methods that use them come next):
//   GemmAtB: C (r x d) (+)= A^T B with A (n x r) and B (n x d): reductions over
//            the sequence such as W^T V or phi(K)^T V;
//   GemmAB:  C (n x d) (+)= A B with A (n x r) and B (r x d): tall-skinny
//            products such as U (W^T V).
// Both run on the register-blocked tile kernel of gemm_tile-inl.h on the
// active target, single-threaded (callers parallelize over heads or row
// blocks). Row-major operands with element leading dimensions; the caller
// provides the workspace (sizes below) and guarantees valid arguments. C
// must not overlap A or B (GemmAtB accumulates partial sums in C).
#ifndef LOWRANK_LIB_KERNELS_LOWRANK_GEMM_H_
#define LOWRANK_LIB_KERNELS_LOWRANK_GEMM_H_

#include <cmath>
#include <cstddef>

namespace lowrank {

struct GemmArgs {
  size_t n, r, d;  // see above
  const float* a;
  size_t lda;
  const float* b;
  size_t ldb;
  float* c;
  size_t ldc;
  bool accumulate;  // C += ... instead of C = ...
  float* workspace; // GemmAtBWorkspaceFloats / GemmABWorkspaceFloats floats,
                    // aligned to kGemmWorkspaceAlign bytes
  // GemmAB only: B already packed by PackGemmB on the active target (b and
  // ldb are then unused), for a B reused across many calls (a projection).
  const float* packed_b = nullptr;
  // GemmAB only, with accumulate false: the row-scaling epilogue C_i *=
  // row_scale[i] (n floats), applied to each 6-row strip right after its
  // product while it is still in L1. (No method uses it at present: their
  // normalizations take row_dot.)
  const float* row_scale = nullptr;
  // GemmAB only, with accumulate false: the row-normalization epilogue
  // C_i *= GuardedInverse(A_i . row_dot) (row_dot: r floats), per 6-row
  // strip right after its product, while that strip of A is in cache: the
  // normalized factors' and feature maps' U S / (U z) with z = row_dot.
  // Computed first instead, the denominators read each U row once more: from
  // DRAM at large n (11% of the factors' time at n = 65536, r = 64, AVX2),
  // where the GEMM's prefetched reads hide that latency behind its FMAs.
  const float* row_dot = nullptr;
};

// The denominator guard of the feature-map literature (algorithms notes):
// R + 2 stab where |R| <= stab, stab = 1e-6 (rows with no mass stay finite).
constexpr float kDenominatorStab = 1e-6f;
inline float GuardedInverse(float den) {
  if (std::fabs(den) <= kDenominatorStab) den += 2.0f * kDenominatorStab;
  return 1.0f / den;
}

// Floats of a PackGemmB buffer for an r x d B on any target (panels of up
// to 256 columns on SVE).
inline size_t PackedBFloats(size_t r, size_t d) { return r * ((d + 255) / 256 * 256); }

constexpr size_t kGemmWorkspaceAlign = 256;
constexpr size_t kGemmKc = 64;       // rows of n per packed B block (AtB)
constexpr size_t kGemmTileRows = 6;   // kTileRows of gemm_tile-inl.h

inline size_t GemmRoundUp(size_t x, size_t m) { return (x + m - 1) / m * m; }
inline size_t GemmAlignFloats(size_t x) {
  return GemmRoundUp(x, kGemmWorkspaceAlign / sizeof(float));
}

// Workspace layout of GemmAtB for a target whose panels are nr wide: the
// packed B block, the A tail strip, the C accumulators.
struct AtBLayout {
  size_t dv_pad, bp, at, cbuf, total;
};
inline AtBLayout MakeAtBLayout(size_t nr, size_t r, size_t d) {
  AtBLayout l;
  l.dv_pad = GemmRoundUp(d, nr);
  l.bp = 0;
  l.at = l.bp + GemmAlignFloats(kGemmKc * l.dv_pad);
  l.cbuf = l.at + GemmAlignFloats(kGemmKc * kGemmTileRows);
  l.total = l.cbuf + GemmAlignFloats(GemmRoundUp(r, kGemmTileRows) * l.dv_pad);
  return l;
}

// Workspace layout of GemmAB: packed B, the A tail strip, one C tile.
struct ABLayout {
  size_t dv_pad, bp, at, ct, total;
};
inline ABLayout MakeABLayout(size_t nr, size_t r, size_t d) {
  ABLayout l;
  l.dv_pad = GemmRoundUp(d, nr);
  l.bp = 0;
  l.at = l.bp + GemmAlignFloats(r * l.dv_pad);
  l.ct = l.at + GemmAlignFloats(kGemmTileRows * r);
  l.total = l.ct + GemmAlignFloats(kGemmTileRows * nr);
  return l;
}

// Reductions over the sequence (W^T V, E K, phi(K)^T V) of one head split
// into segments, one work chunk each, whose partial results are summed in
// segment order afterwards: one head's reduction runs on several threads
// (one long sequence with few heads would otherwise leave all but one core
// idle in that phase), and because the segments depend on the plan's kv_len
// only, never on the thread count, outputs stay bitwise identical at any
// thread count. At least kMinSegmentRows rows a segment, so the extra work
// (one r x d add per segment, against 2 r d flops per row) is at most
// 1/4096 of the product; at most kMaxSegments segments, so the partials of
// a head take at most 16 r d floats (and never more than 16 r d / 2048 per
// key row, against the n (r + d) of the inputs).
struct SeqSplit {
  static constexpr size_t kMinSegmentRows = 2048;
  static constexpr size_t kMaxSegments = 16;
  size_t rows;      // per segment, a multiple of kGemmKc
  size_t segments;  // of a kv_len-row sequence, >= 1

  explicit SeqSplit(size_t kv_len) {
    const size_t even = (kv_len + kMaxSegments - 1) / kMaxSegments;
    rows = even < kMinSegmentRows ? kMinSegmentRows : (even + kGemmKc - 1) / kGemmKc * kGemmKc;
    segments = Used(kv_len);
  }
  // Segments that hold keys of a sequence of `valid` <= kv_len keys (1 when
  // there are none: segment 0 then holds the zero result).
  size_t Used(size_t valid) const { return valid == 0 ? 1 : (valid + rows - 1) / rows; }
};

// Upper bounds over every target of the architecture.
size_t GemmAtBWorkspaceFloats(size_t r, size_t d);
size_t GemmABWorkspaceFloats(size_t r, size_t d);

// The Highway kernels on the active target.
void GemmAtB(const GemmArgs& args);
void GemmAB(const GemmArgs& args);
// Packs B for GemmArgs::packed_b on the active target (PackedBFloats).
void PackGemmBForTarget(const float* b, size_t ldb, size_t r, size_t d, float* out);
// What the methods run: the Highway kernel or oneDNN, per gemm_select.h.
void GemmAtBSelected(const GemmArgs& args);
void GemmABSelected(const GemmArgs& args);

}  // namespace lowrank

#endif  // LOWRANK_LIB_KERNELS_LOWRANK_GEMM_H_
