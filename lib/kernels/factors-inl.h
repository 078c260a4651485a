// Per-target low-rank factors attention (re-included per target). See
// factors.h. Two parallel phases: (1) per (batch, kv head): S = W^T V on the
// valid keys (GemmAtB) and z = W^T 1; (2) per (batch, query head, block of
// rows): O = U S (GemmAB), then the optional row normalization by U z.
#if defined(LOWRANK_LIB_KERNELS_FACTORS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LOWRANK_LIB_KERNELS_FACTORS_INL_H_
#undef LOWRANK_LIB_KERNELS_FACTORS_INL_H_
#else
#define LOWRANK_LIB_KERNELS_FACTORS_INL_H_
#endif

#include <stddef.h>

#include <algorithm>
#include <cmath>

#include "hwy/highway.h"
#include "kernels/factors.h"
#include "kernels/lowrank_gemm-inl.h"
#include "runtime/thread_pool.h"

HWY_BEFORE_NAMESPACE();
namespace lowrank {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Denominator guard of the feature-map literature: R + 2 stab where
// |R| <= stab, stab = 1e-6 (keeps rows with no mass finite and 0).
constexpr float kDenominatorStab = 1e-6f;

HWY_NOINLINE void FactorsImpl(const FactorsArgs& a) {
  const size_t r = a.rank, dv = a.d_v;
  const size_t s_floats = GemmAlignFloats(r * dv);
  const size_t z_floats = GemmAlignFloats(r);
  float* shared = a.workspace;  // batch * kv_heads * (S, z)
  float* per_thread = shared + a.batch * a.kv_heads * (s_floats + z_floats);
  const size_t gemm_floats = std::max(GemmAtBWorkspaceFloats(r, dv), GemmABWorkspaceFloats(r, dv));

  // Phase 1: S = W^T V and z = W^T 1 over the valid keys.
  ParallelFor(a.batch * a.kv_heads, a.num_threads, [&](size_t chunk, size_t slot) {
    const size_t b = chunk / a.kv_heads, h = chunk % a.kv_heads;
    float* s = shared + chunk * (s_floats + z_floats);
    float* z = s + s_floats;
    const size_t n = a.key_lengths ? static_cast<size_t>(a.key_lengths[b]) : a.kv_len;
    const float* w = a.w + static_cast<int64_t>(b) * a.w_strides.batch +
                     static_cast<int64_t>(h) * a.w_strides.head;
    const float* v = a.v + static_cast<int64_t>(b) * a.v_strides.batch +
                     static_cast<int64_t>(h) * a.v_strides.head;
    GemmArgs g{n, r, dv, w, static_cast<size_t>(a.w_strides.seq), v,
               static_cast<size_t>(a.v_strides.seq), s, dv, false,
               per_thread + slot * gemm_floats};
    GemmAtBImpl(g);
    if (a.normalize) {
      std::fill(z, z + r, 0.0f);
      for (size_t j = 0; j < n; ++j) {
        const float* row = w + static_cast<int64_t>(j) * a.w_strides.seq;
        for (size_t k = 0; k < r; ++k) z[k] += row[k];
      }
    }
  });

  // Phase 2: O = U S, normalized by U z.
  const size_t row_blocks = (a.q_len + kFactorsRowBlock - 1) / kFactorsRowBlock;
  ParallelFor(a.batch * a.q_heads * row_blocks, a.num_threads, [&](size_t chunk, size_t slot) {
    const size_t rb = chunk % row_blocks;
    const size_t bh = chunk / row_blocks;
    const size_t h = bh % a.q_heads, b = bh / a.q_heads;
    const size_t hk = h * a.kv_heads / a.q_heads;
    const float* s = shared + (b * a.kv_heads + hk) * (s_floats + z_floats);
    const float* z = s + s_floats;
    const size_t i0 = rb * kFactorsRowBlock;
    const size_t rows = std::min(kFactorsRowBlock, a.q_len - i0);
    const float* u = a.u + static_cast<int64_t>(b) * a.u_strides.batch +
                     static_cast<int64_t>(h) * a.u_strides.head +
                     static_cast<int64_t>(i0) * a.u_strides.seq;
    float* out = a.out + static_cast<int64_t>(b) * a.out_strides.batch +
                 static_cast<int64_t>(h) * a.out_strides.head +
                 static_cast<int64_t>(i0) * a.out_strides.seq;
    GemmArgs g{rows, r, dv, u, static_cast<size_t>(a.u_strides.seq), s, dv, out,
               static_cast<size_t>(a.out_strides.seq), false, per_thread + slot * gemm_floats};
    GemmABImpl(g);
    if (a.normalize) {
      for (size_t i = 0; i < rows; ++i) {
        const float* urow = u + static_cast<int64_t>(i) * a.u_strides.seq;
        float den = 0.0f;
        for (size_t k = 0; k < r; ++k) den += urow[k] * z[k];
        if (std::fabs(den) <= kDenominatorStab) den += 2.0f * kDenominatorStab;
        const float inv = 1.0f / den;
        float* orow = out + static_cast<int64_t>(i) * a.out_strides.seq;
        for (size_t c = 0; c < dv; ++c) orow[c] *= inv;
      }
    }
  });
}

}  // namespace HWY_NAMESPACE
}  // namespace lowrank
HWY_AFTER_NAMESPACE();

#endif  // include guard toggle
