// Dispatch for the low-rank GEMMs (lowrank_gemm-inl.h).
#include "kernels/lowrank_gemm.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/lowrank_gemm.cc"
#include "hwy/foreach_target.h"  // must come before highway.h
#include "hwy/highway.h"
#include "kernels/lowrank_gemm-inl.h"

#if HWY_ONCE
namespace lowrank {
HWY_EXPORT(GemmAtBImpl);
HWY_EXPORT(GemmABImpl);
HWY_EXPORT(GemmAtBSelectedImpl);
HWY_EXPORT(GemmABSelectedImpl);
HWY_EXPORT(PackGemmB);

namespace {
// Widest panel of any target of the architecture (see exact_attention.cc).
#if HWY_ARCH_X86
constexpr size_t kMaxTileCols = 4 * 64 / sizeof(float);
#else
constexpr size_t kMaxTileCols = 4 * 256 / sizeof(float);
#endif
}  // namespace

// Layout sizes grow with the panel width, so the widest panel bounds them all.
size_t GemmAtBWorkspaceFloats(size_t r, size_t d) {
  return MakeAtBLayout(kMaxTileCols, r, d).total;
}
size_t GemmABWorkspaceFloats(size_t r, size_t d) {
  return MakeABLayout(kMaxTileCols, r, d).total;
}

void GemmAtB(const GemmArgs& args) { HWY_DYNAMIC_DISPATCH(GemmAtBImpl)(args); }
void GemmAB(const GemmArgs& args) { HWY_DYNAMIC_DISPATCH(GemmABImpl)(args); }
void GemmAtBSelected(const GemmArgs& args) { HWY_DYNAMIC_DISPATCH(GemmAtBSelectedImpl)(args); }
void GemmABSelected(const GemmArgs& args) { HWY_DYNAMIC_DISPATCH(GemmABSelectedImpl)(args); }
void PackGemmBForTarget(const float* b, size_t ldb, size_t r, size_t d, float* out) {
  HWY_DYNAMIC_DISPATCH(PackGemmB)(b, ldb, r, d, out);
}
}  // namespace lowrank
#endif  // HWY_ONCE
