// Dispatch for low-rank factors attention (factors-inl.h).
#include "kernels/factors.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/factors.cc"
#include "hwy/foreach_target.h"  // must come before highway.h
#include "hwy/highway.h"
#include "kernels/factors-inl.h"

#if HWY_ONCE
#include <algorithm>

#include "kernels/lowrank_gemm.h"
#include "runtime/sizes.h"

namespace lowrank {
HWY_EXPORT(FactorsImpl);

size_t CausalFactorsWorkspacePerThread(size_t rank, size_t d_v) {
  const size_t gemm = std::max(GemmAtBWorkspaceFloats(rank, d_v), GemmABWorkspaceFloats(rank, d_v));
  // Running S (r x dv), z (r), chunk denominators (16), then the GEMM space.
  return GemmAlignFloats(rank * d_v) + GemmAlignFloats(rank) + GemmAlignFloats(16) + gemm;
}

size_t FactorsPackedFloats(size_t rank, size_t d_v) {
  return GemmAlignFloats(PackedBFloats(rank, d_v));
}

size_t FactorsWorkspaceFloats(size_t batch, size_t kv_heads, size_t kv_len, size_t rank,
                              size_t d_v, size_t num_threads, bool causal) {
  if (causal) return SatMul(num_threads, CausalFactorsWorkspacePerThread(rank, d_v));
  const size_t per_head =
      SatAdd(SatMul(SeqSplit(kv_len).segments, GemmAlignFloats(rank * d_v) + GemmAlignFloats(rank)),
             FactorsPackedFloats(rank, d_v));
  const size_t gemm = std::max(GemmAtBWorkspaceFloats(rank, d_v), GemmABWorkspaceFloats(rank, d_v));
  return SatAdd(SatMul(SatMul(batch, kv_heads), per_head), SatMul(num_threads, gemm));
}

void Factors(const FactorsArgs& args) { HWY_DYNAMIC_DISPATCH(FactorsImpl)(args); }
}  // namespace lowrank
#endif  // HWY_ONCE
