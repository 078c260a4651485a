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
  // product while it is still in L1 (feature maps' normalization).
  const float* row_scale = nullptr;
};

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
