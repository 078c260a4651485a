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
#include "runtime/sizes.h"

namespace lowrank {
HWY_EXPORT(LinformerProjectImpl);

size_t LinformerWorkspaceFloats(size_t proj_dim, size_t d_qk, size_t d_v) {
  return std::max(GemmAtBWorkspaceFloats(proj_dim, d_qk), GemmAtBWorkspaceFloats(proj_dim, d_v));
}

size_t LinformerPartialFloats(size_t proj_dim, size_t d_qk, size_t d_v) {
  return GemmAlignFloats(proj_dim * std::max(d_qk, d_v));
}

LinformerProjLayout MakeLinformerProjLayout(size_t kv, size_t proj_dim, size_t d_qk, size_t d_v,
                                            size_t kv_len) {
  LinformerProjLayout l;
  l.v_proj = SatMul(kv, proj_dim * d_qk);
  const size_t outputs = SatAdd(l.v_proj, SatMul(kv, proj_dim * d_v));
  l.partials = outputs == SIZE_MAX ? SIZE_MAX : GemmAlignFloats(outputs);
  l.total = SatAdd(l.partials, SatMul(kv, 2 * (SeqSplit(kv_len).segments - 1) *
                                               LinformerPartialFloats(proj_dim, d_qk, d_v)));
  return l;
}

void LinformerProject(const LinformerProjectArgs& args) {
  HWY_DYNAMIC_DISPATCH(LinformerProjectImpl)(args);
}
}  // namespace lowrank
#endif  // HWY_ONCE
