// Dispatch and workspace sizes for feature-map attention (feature_map-inl.h).
#include "kernels/feature_map.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/feature_map.cc"
#include "hwy/foreach_target.h"  // must come before highway.h
#include "hwy/highway.h"
#include "kernels/feature_map-inl.h"

#if HWY_ONCE
#include "runtime/sizes.h"

namespace lowrank {
HWY_EXPORT(FeatureMapImpl);
HWY_EXPORT(DecodeAppendImpl);
HWY_EXPORT(DecodeQueryImpl);
HWY_EXPORT(ExpFeatureRowsImpl);
HWY_EXPORT(HwyExpRowsImpl);

void ExpFeatureRows(const float* u, size_t rows, size_t m, const float* hc, float eps,
                    float out_scale, float* g) {
  HWY_DYNAMIC_DISPATCH(ExpFeatureRowsImpl)(u, rows, m, hc, eps, out_scale, g);
}
void HwyExpRows(const float* u, size_t rows, size_t m, const float* hc, float eps,
                float out_scale, float* g) {
  HWY_DYNAMIC_DISPATCH(HwyExpRowsImpl)(u, rows, m, hc, eps, out_scale, g);
}

// The scratch layout does not depend on the target (the GEMM workspace
// sizes are already bounds over every target).
size_t FeatureMapThreadFloats(const FeatureMapSpec& map, size_t d_v) {
  return 2 * HWY_STATIC_DISPATCH(MakeFeatureScratch)(map, d_v).total;
}

size_t FeatureMapWorkspaceFloats(const FeatureMapArgs& a) {
  const size_t state = HWY_STATIC_DISPATCH(FeatureStateFloats)(a.map.features, a.d_v);
  return SatAdd(SatMul(SatMul(a.batch, a.kv_heads), FeatureStateCount(a.kv_len, a.causal) * state),
                SatMul(a.num_threads, FeatureMapThreadFloats(a.map, a.d_v)));
}

void FeatureMapAttention(const FeatureMapArgs& args) {
  HWY_DYNAMIC_DISPATCH(FeatureMapImpl)(args);
}

void FeatureMapDecodeAppend(const FeatureMapSpec& map, size_t kv_head, size_t d_v,
                            const float* k, int64_t k_stride, const float* v, int64_t v_stride,
                            size_t count, float* s, float* c, float* scratch) {
  HWY_DYNAMIC_DISPATCH(DecodeAppendImpl)(map, kv_head, d_v, k, k_stride, v, v_stride, count, s, c,
                                         scratch);
}

void FeatureMapDecodeQuery(const FeatureMapSpec& map, size_t kv_head, size_t d_v, const float* q,
                           int64_t q_stride, size_t count, const float* s, float* out,
                           int64_t out_stride, float* scratch) {
  HWY_DYNAMIC_DISPATCH(DecodeQueryImpl)(map, kv_head, d_v, q, q_stride, count, s, out, out_stride,
                                        scratch);
}

}  // namespace lowrank
#endif  // HWY_ONCE
