// Dispatch for the exact attention kernel (exact_attention-inl.h).
#include "kernels/exact_attention.h"

#include "runtime/sizes.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/exact_attention.cc"
#include "hwy/foreach_target.h"  // must come before highway.h
#include "hwy/highway.h"
#include "kernels/exact_attention-inl.h"

#if HWY_ONCE
namespace lowrank {
HWY_EXPORT(ExactAttentionImpl);
HWY_EXPORT(PanelWidthImpl);
HWY_EXPORT(ChunkFloatsImpl);

size_t ExactAttentionPanelWidth() { return HWY_DYNAMIC_DISPATCH(PanelWidthImpl)(); }

size_t ExactAttentionChunkBytes(size_t block_q, size_t block_k, size_t d_qk, size_t d_v) {
  return SatMul(HWY_DYNAMIC_DISPATCH(ChunkFloatsImpl)(block_q, block_k, d_qk, d_v),
                sizeof(float));
}

size_t ExactAttentionWorkspaceFloats(size_t block_q, size_t block_k,
                                     size_t d_qk, size_t d_v) {
  // Widest panel of any target: 4 vectors of the architecture's widest
  // vector (HWY_MAX_BYTES here would be the last-compiled target's).
#if HWY_ARCH_X86
  constexpr size_t kMaxVectorBytes = 64;  // AVX-512
#else
  constexpr size_t kMaxVectorBytes = 256;  // SVE allows 2048-bit vectors
#endif
  constexpr size_t kMaxTileCols = 4 * kMaxVectorBytes / sizeof(float);
  return MakeExactLayout(kMaxTileCols, kMaxTileCols, block_q, block_k, d_qk, d_v).total;
}

void ExactAttention(const ExactAttentionArgs& args) {
  HWY_DYNAMIC_DISPATCH(ExactAttentionImpl)(args);
}
}  // namespace lowrank
#endif  // HWY_ONCE
