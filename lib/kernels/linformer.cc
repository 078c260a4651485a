// Dispatch for the Linformer projections (linformer-inl.h).
#include "kernels/linformer.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/linformer.cc"
#include "hwy/foreach_target.h"  // must come before highway.h
#include "hwy/highway.h"
#include "kernels/linformer-inl.h"

#if HWY_ONCE
#include <algorithm>

#include "kernels/lowrank_gemm.h"

namespace lowrank {
HWY_EXPORT(LinformerProjectImpl);

size_t LinformerWorkspaceFloats(size_t proj_dim, size_t d_qk, size_t d_v) {
  return std::max(GemmAtBWorkspaceFloats(proj_dim, d_qk), GemmAtBWorkspaceFloats(proj_dim, d_v));
}

size_t LinformerPartialFloats(size_t proj_dim, size_t d_qk, size_t d_v) {
  return GemmAlignFloats(proj_dim * std::max(d_qk, d_v));
}

void LinformerProject(const LinformerProjectArgs& args) {
  HWY_DYNAMIC_DISPATCH(LinformerProjectImpl)(args);
}
}  // namespace lowrank
#endif  // HWY_ONCE
