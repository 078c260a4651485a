// Per-target Linformer projections (re-included per target): K' = E_K K is
// the reduction over the sequence (E_K^T)^T K, one GemmAtB with the
// transposed projection (rows = positions) as A, so only the first `valid`
// rows take part: masked keys never enter. Work chunks: (batch, kv head,
// K or V, sequence segment of SeqSplit), the segments' partials summed in
// order afterwards.
#if defined(LOWRANK_LIB_KERNELS_LINFORMER_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LOWRANK_LIB_KERNELS_LINFORMER_INL_H_
#undef LOWRANK_LIB_KERNELS_LINFORMER_INL_H_
#else
#define LOWRANK_LIB_KERNELS_LINFORMER_INL_H_
#endif

#include <stddef.h>

#include <algorithm>

#include "hwy/highway.h"
#include "kernels/linformer.h"
#include "kernels/lowrank_gemm-inl.h"
#include "kernels/vector_ops-inl.h"
#include "runtime/thread_pool.h"

HWY_BEFORE_NAMESPACE();
namespace lowrank {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

HWY_NOINLINE void LinformerProjectImpl(const LinformerProjectArgs& a) {
  const SeqSplit split(a.kv_len);
  const size_t e_stride = a.proj_max_len * a.proj_dim;
  const size_t part = LinformerPartialFloats(a.proj_dim, a.d_qk, a.d_v);
  // Segment 0 of projection `which` (0: K, 1: V) of (batch, kv head) bh goes
  // straight to its output; segment s > 0 to partial s - 1 of that pair.
  auto output = [&](size_t bh, size_t which) {
    return which == 0 ? a.k_proj + bh * a.proj_dim * a.d_qk : a.v_proj + bh * a.proj_dim * a.d_v;
  };
  auto partial = [&](size_t bh, size_t which, size_t seg) {
    return a.partials + ((bh * 2 + which) * (split.segments - 1) + seg - 1) * part;
  };
  ParallelFor(a.batch * a.kv_heads * 2 * split.segments, a.num_threads,
              [&](size_t chunk, size_t slot) {
    const size_t seg = chunk % split.segments, which = chunk / split.segments % 2;
    const size_t bh = chunk / split.segments / 2;
    const size_t b = bh / a.kv_heads, h = bh % a.kv_heads;
    const size_t valid = a.ValidKeys(b);
    if (seg >= split.Used(valid)) return;
    const size_t j_begin = seg * split.rows, j_end = std::min(valid, j_begin + split.rows);
    const size_t ph = a.proj_heads == 1 ? 0 : h;
    const AttentionIo::Head head = a.At(b, 0, h);  // key/value head h
    const float* e = (which == 0 ? a.ekt : a.evt) + ph * e_stride + j_begin * a.proj_dim;
    const float* x = which == 0 ? head.k + static_cast<int64_t>(j_begin) * a.k_strides.seq
                                : head.v + static_cast<int64_t>(j_begin) * a.v_strides.seq;
    const size_t ldx = static_cast<size_t>(which == 0 ? a.k_strides.seq : a.v_strides.seq);
    const size_t dim = which == 0 ? a.d_qk : a.d_v;
    GemmArgs g{j_end - j_begin, a.proj_dim, dim, e, a.proj_dim, x, ldx,
               seg == 0 ? output(bh, which) : partial(bh, which, seg), dim, false,
               a.workspace + slot * a.workspace_floats};
    GemmAtBSelectedImpl(g);
  });
  // The partials of each projection summed in segment order.
  if (split.segments == 1) return;
  const hn::ScalableTag<float> d;
  ParallelFor(a.batch * a.kv_heads * 2, a.num_threads, [&](size_t chunk, size_t /*slot*/) {
    const size_t bh = chunk / 2, which = chunk % 2;
    const size_t used = split.Used(a.ValidKeys(bh / a.kv_heads));
    const size_t count = a.proj_dim * (which == 0 ? a.d_qk : a.d_v);
    AddPartials(d, partial(bh, which, 1), part, used - 1, output(bh, which), count);
  });
}

}  // namespace HWY_NAMESPACE
}  // namespace lowrank
HWY_AFTER_NAMESPACE();

#endif  // include guard toggle
