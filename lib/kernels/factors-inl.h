// Per-target low-rank factors attention (re-included per target). See
// factors.h. Two parallel phases: (1) per (batch, kv head, sequence segment
// of SeqSplit): S = W^T V on the segment's valid keys (GemmAtB) and z = W^T 1,
// the segments' partials then summed in order; (2) per (batch, query head,
// block of rows): O = U S (GemmAB), then the optional row normalization by
// U z.
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
#include "kernels/vector_ops-inl.h"
#include "runtime/thread_pool.h"

HWY_BEFORE_NAMESPACE();
namespace lowrank {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Causal factors for one (batch, query head): O_i = U_i S_i / (U_i z_i) with
// S_i = sum_{j < lim_i} W_j^T V_j, z_i = sum_{j < lim_i} W_j, lim_i = min(valid,
// i + 1 + Nkv - Nq). Rows go in chunks of kCausalChunk: the keys every row of
// a chunk sees are added to the running (S, z) with GemmAtB (accumulate) and
// applied with GemmAB; the few keys between the chunk's first and last limit
// are added row by row. The state only ever accumulates: no subtraction of
// prefix sums, so long sequences stay accurate in float.
constexpr size_t kCausalChunk = 16;

template <class D>
HWY_INLINE void CausalFactorsHead(D d, const FactorsArgs& a, size_t b, size_t h, float* ws) {
  const size_t r = a.d_qk, dv = a.d_v;
  float* s = ws;                                  // r x dv running W^T V
  float* z = s + GemmAlignFloats(r * dv);         // r running W^T 1
  float* den = z + GemmAlignFloats(r);            // kCausalChunk row denominators
  float* gemm_ws = den + GemmAlignFloats(kCausalChunk);
  const AttentionIo::Head head = a.At(b, h, a.KvHead(h));
  const float* u = head.q;
  const float* w = head.k;
  const float* v = head.v;
  float* out = head.out;
  auto limit = [&](size_t i) { return a.VisibleKeys(b, i, /*causal=*/true); };
  std::fill(s, s + r * dv, 0.0f);
  std::fill(z, z + r, 0.0f);
  size_t done = 0;  // keys folded into (s, z)
  for (size_t i0 = 0; i0 < a.q_len; i0 += kCausalChunk) {
    const size_t rows = std::min(kCausalChunk, a.q_len - i0);
    const size_t js = limit(i0);  // keys every row of the chunk sees
    if (js > done) {
      GemmArgs g{js - done, r, dv, w + static_cast<int64_t>(done) * a.k_strides.seq,
                 static_cast<size_t>(a.k_strides.seq), v + static_cast<int64_t>(done) * a.v_strides.seq,
                 static_cast<size_t>(a.v_strides.seq), s, dv, true, gemm_ws};
      GemmAtBSelectedImpl(g);
      if (a.normalize) {
        AddColumnSums(d, w + static_cast<int64_t>(done) * a.k_strides.seq, a.k_strides.seq,
                      js - done, r, z);
      }
      done = js;
    }
    const float* uc = u + static_cast<int64_t>(i0) * a.q_strides.seq;
    float* oc = out + static_cast<int64_t>(i0) * a.out_strides.seq;
    GemmArgs g{rows, r, dv, uc, static_cast<size_t>(a.q_strides.seq), s, dv, oc,
               static_cast<size_t>(a.out_strides.seq), false, gemm_ws};
    GemmABSelectedImpl(g);
    for (size_t t = 0; t < rows; ++t) {
      const float* urow = uc + static_cast<int64_t>(t) * a.q_strides.seq;
      float* orow = oc + static_cast<int64_t>(t) * a.out_strides.seq;
      den[t] = a.normalize ? Dot(d, urow, z, r) : 0.0f;
      // Keys this row sees beyond the chunk's common prefix.
      for (size_t j = js; j < limit(i0 + t); ++j) {
        const float wu = Dot(d, urow, w + static_cast<int64_t>(j) * a.k_strides.seq, r);
        den[t] += wu;
        Axpy(d, wu, v + static_cast<int64_t>(j) * a.v_strides.seq, orow, dv);
      }
      if (a.normalize) {
        Scale(d, GuardedInverse(den[t]), orow, dv);
      }
    }
  }
}

HWY_NOINLINE void FactorsImpl(const FactorsArgs& a) {
  if (a.causal) {
    const hn::ScalableTag<float> d;
    const size_t per_thread = CausalFactorsWorkspacePerThread(a.d_qk, a.d_v);
    ParallelFor(a.batch * a.q_heads, a.num_threads, [&](size_t chunk, size_t slot) {
      CausalFactorsHead(d, a, chunk / a.q_heads, chunk % a.q_heads,
                        a.workspace + slot * per_thread);
    });
    return;
  }
  const size_t r = a.d_qk, dv = a.d_v;
  const size_t s_floats = GemmAlignFloats(r * dv);
  const size_t z_floats = GemmAlignFloats(r);
  const size_t part = s_floats + z_floats;  // one (S, z)
  const SeqSplit split(a.kv_len);
  // batch * kv_heads * segments partial (S, z); partial 0 of a head ends up
  // holding its sum.
  float* shared = a.workspace;
  // Then S of each (batch, kv head) packed once for the U S products
  // (PackGemmB), unless oneDNN takes them. Packed again by each 256-row
  // block, it cost 4-7% of the factors' time at r = 128, d = 64, n = 4096
  // and 16384 (AVX2; r = 256 showed no difference).
  const bool prepack = !PreferOnednn(GemmOp::kAB, kFactorsRowBlock, r, dv);
  const size_t packed_floats = FactorsPackedFloats(r, dv);
  float* packed = shared + a.batch * a.kv_heads * split.segments * part;
  float* per_thread = packed + a.batch * a.kv_heads * packed_floats;
  const size_t gemm_floats = std::max(GemmAtBWorkspaceFloats(r, dv), GemmABWorkspaceFloats(r, dv));
  const hn::ScalableTag<float> d;

  // Phase 1: per (batch, kv head, segment) S = W^T V and z = W^T 1 over the
  // segment's valid keys.
  ParallelFor(a.batch * a.kv_heads * split.segments, a.num_threads, [&](size_t chunk, size_t slot) {
    const size_t bh = chunk / split.segments, seg = chunk % split.segments;
    const size_t b = bh / a.kv_heads, h = bh % a.kv_heads;
    const size_t n = a.ValidKeys(b);
    if (seg >= split.Used(n)) return;
    const size_t j_begin = seg * split.rows, j_end = std::min(n, j_begin + split.rows);
    float* s = shared + chunk * part;
    float* z = s + s_floats;
    const AttentionIo::Head head = a.At(b, 0, h);  // key/value head h
    const float* w = head.k + static_cast<int64_t>(j_begin) * a.k_strides.seq;
    const float* v = head.v + static_cast<int64_t>(j_begin) * a.v_strides.seq;
    GemmArgs g{j_end - j_begin, r, dv, w, static_cast<size_t>(a.k_strides.seq), v,
               static_cast<size_t>(a.v_strides.seq), s, dv, false,
               per_thread + slot * gemm_floats};
    std::fill(z, z + r, 0.0f);
    if (!a.normalize || g.n == 0) {
      GemmAtBSelectedImpl(g);  // zero rows: S = 0
      return;
    }
    // Normalized: S and z in chunks of W's rows (about 1 MiB), z summed
    // right after the chunk's product, while those rows are still in L2. A
    // second pass over W read it from DRAM again at n = 65536 (W is 32 MB
    // at r = 128).
    const size_t chunk_rows = std::max<size_t>(kGemmKc, (size_t{1} << 18) / r);
    for (size_t j0 = 0; j0 < g.n; j0 += chunk_rows) {
      const size_t rows = std::min(chunk_rows, g.n - j0);
      GemmArgs gc = g;
      gc.n = rows;
      gc.a = w + static_cast<int64_t>(j0) * a.k_strides.seq;
      gc.b = v + static_cast<int64_t>(j0) * a.v_strides.seq;
      gc.accumulate = j0 > 0;
      GemmAtBSelectedImpl(gc);
      AddColumnSums(d, gc.a, a.k_strides.seq, rows, r, z);
    }
  });
  // The partials of each head summed in segment order; S packed.
  if (split.segments > 1 || prepack) {
    ParallelFor(a.batch * a.kv_heads, a.num_threads, [&](size_t bh, size_t /*slot*/) {
      float* s0 = shared + bh * split.segments * part;
      const size_t used = split.Used(a.ValidKeys(bh / a.kv_heads));
      AddPartials(d, s0 + part, part, used - 1, s0, r * dv);
      AddPartials(d, s0 + part + s_floats, part, used - 1, s0 + s_floats, r);
      if (prepack) PackGemmB(s0, dv, r, dv, packed + bh * packed_floats);
    });
  }

  // Phase 2: O = U S, normalized by U z.
  const size_t row_blocks = (a.q_len + kFactorsRowBlock - 1) / kFactorsRowBlock;
  ParallelFor(a.batch * a.q_heads * row_blocks, a.num_threads, [&](size_t chunk, size_t slot) {
    const size_t rb = chunk % row_blocks;
    const size_t bh = chunk / row_blocks;
    const size_t h = bh % a.q_heads, b = bh / a.q_heads;
    const size_t hk = a.KvHead(h);
    const float* s = shared + (b * a.kv_heads + hk) * split.segments * part;
    const float* z = s + s_floats;
    const size_t i0 = rb * kFactorsRowBlock;
    const size_t rows = std::min(kFactorsRowBlock, a.q_len - i0);
    const AttentionIo::Head head = a.At(b, h, hk);
    const float* u = head.q + static_cast<int64_t>(i0) * a.q_strides.seq;
    float* out = head.out + static_cast<int64_t>(i0) * a.out_strides.seq;
    GemmArgs g{rows, r, dv, u, static_cast<size_t>(a.q_strides.seq), s, dv, out,
               static_cast<size_t>(a.out_strides.seq), false, per_thread + slot * gemm_floats};
    if (a.normalize) g.row_dot = z;  // O_i = U_i S / guard(U_i z), per strip
    if (prepack) g.packed_b = packed + (b * a.kv_heads + hk) * packed_floats, g.b = nullptr;
    GemmABSelectedImpl(g);
  });
}

}  // namespace HWY_NAMESPACE
}  // namespace lowrank
HWY_AFTER_NAMESPACE();

#endif  // include guard toggle
