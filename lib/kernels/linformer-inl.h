// Per-target Linformer projections (re-included per target): K' = E_K K is
// the reduction over the sequence (E_K^T)^T K, one GemmAtB with the
// transposed projection (rows = positions) as A, so only the first `valid`
// rows take part: masked keys never enter.
#if defined(LOWRANK_LIB_KERNELS_LINFORMER_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LOWRANK_LIB_KERNELS_LINFORMER_INL_H_
#undef LOWRANK_LIB_KERNELS_LINFORMER_INL_H_
#else
#define LOWRANK_LIB_KERNELS_LINFORMER_INL_H_
#endif

#include <stddef.h>

#include "hwy/highway.h"
#include "kernels/linformer.h"
#include "kernels/lowrank_gemm-inl.h"
#include "runtime/thread_pool.h"

HWY_BEFORE_NAMESPACE();
namespace lowrank {
namespace HWY_NAMESPACE {

HWY_NOINLINE void LinformerProjectImpl(const LinformerProjectArgs& a) {
  ParallelFor(a.batch * a.kv_heads, a.num_threads, [&](size_t chunk, size_t slot) {
    const size_t b = chunk / a.kv_heads, h = chunk % a.kv_heads;
    const size_t valid = a.ValidKeys(b);
    const size_t ph = a.proj_heads == 1 ? 0 : h;
    const size_t e_stride = a.proj_max_len * a.proj_dim;
    float* ws = a.workspace + slot * a.workspace_floats;
    const AttentionIo::Head head = a.At(b, 0, h);  // key/value head h
    const float* k = head.k;
    const float* v = head.v;
    GemmArgs gk{valid, a.proj_dim, a.d_qk, a.ekt + ph * e_stride, a.proj_dim, k,
                static_cast<size_t>(a.k_strides.seq), a.k_proj + chunk * a.proj_dim * a.d_qk,
                a.d_qk, false, ws};
    GemmAtBSelectedImpl(gk);
    GemmArgs gv{valid, a.proj_dim, a.d_v, a.evt + ph * e_stride, a.proj_dim, v,
                static_cast<size_t>(a.v_strides.seq), a.v_proj + chunk * a.proj_dim * a.d_v,
                a.d_v, false, ws};
    GemmAtBSelectedImpl(gv);
  });
}

}  // namespace HWY_NAMESPACE
}  // namespace lowrank
HWY_AFTER_NAMESPACE();

#endif  // include guard toggle
