// Feature-map (kernelized) attention: O = phi(Q) (phi(K)^T [V, 1]), each row
// divided by its last column with the denominator guard, never forming the
// n x n matrix. Maps (lowrank_feature_map_t), with x' = sqrt(s) x (s the
// logit scale, 1/sqrt(d) by default, so x'.y' = s x.y), u = W x' (W: m x d
// projection rows) and h = |x'|^2 / 2:
//   kFavor:      m^-1/2 (exp(u - h - c) + eps)                (F = m)
//   kHyperbolic: (2m)^-1/2 (exp(+-u - h - c) + eps)           (F = 2m)
//   kRelu:       relu(u) + eps, or relu(x') + eps without W   (F = m or d)
//   kElu:        x >= 0 ? x + 1 : exp(x) on the raw x, + eps  (F = d)
// The stabilizer c (exp maps only) is, for queries, the row max of u (|u|
// for the hyperbolic map); for keys, bidirectional: the max over all valid
// keys; causal and decoding: the running max over the keys seen so far,
// and the state (S, z) is rescaled by exp(c_old - c_new) whenever it grows,
// so key j, inserted when the max was c_j, weighs (exp(u_j - h_j - c_j) +
// eps) exp(c_j - c_i) for a query that sees keys up to i. Every exponent is
// <= 0: nothing overflows, whatever the logits.
// Masked keys (key_lengths) contribute nothing (their feature rows are
// zero). Denominator guard: R + 2e-6 where |R| <= 1e-6.
#ifndef LOWRANK_LIB_KERNELS_FEATURE_MAP_H_
#define LOWRANK_LIB_KERNELS_FEATURE_MAP_H_

#include <cstddef>
#include <cstdint>

#include "kernels/attention_io.h"
#include "kernels/lowrank_gemm.h"

namespace lowrank {

enum class FeatureMapKind { kFavor = 0, kHyperbolic = 1, kRelu = 2, kElu = 3 };

// The map of one plan: what phi computes, independent of the data.
struct FeatureMapSpec {
  FeatureMapKind kind;
  size_t d;            // input dim (d_qk)
  size_t m;            // projection rows (0: no projection, relu and elu)
  size_t features;     // F: m, 2m, or d
  float input_scale;   // sqrt(s) for favor, hyperbolic, relu; 1 for elu
  float eps;           // added to every feature (after the stabilized exp)
  float out_scale;     // m^-1/2, (2m)^-1/2, or 1
  const float* wt;     // W^T, d x m per projection head (null if m = 0)
  size_t proj_heads;   // 1 (shared) or kv_heads
  // True for the maps whose features come from exp (a stabilizer applies).
  bool Exponential() const {
    return kind == FeatureMapKind::kFavor || kind == FeatureMapKind::kHyperbolic;
  }
  const float* WtOf(size_t kv_head) const {
    return wt == nullptr ? nullptr : wt + (proj_heads == 1 ? 0 : kv_head) * d * m;
  }
};

struct FeatureMapArgs : AttentionIo {
  FeatureMapSpec map;
  bool causal;
  float* workspace;  // FeatureMapWorkspaceFloats, kWorkspaceAlign-aligned
};

// Rows per step of the bidirectional reduction and output (each packs W
// once for its projection GEMM: 256 rows amortize that, and U and G, 256 x
// m floats each, stay in L2), and rows per causal chunk (its quadratic
// step costs chunk^2 per chunk).
constexpr size_t kFeatureRows = 256;
constexpr size_t kFeatureBlock = 64;

// States per (batch, kv head): the bidirectional pass keeps one per
// sequence segment (SeqSplit of lowrank_gemm.h) until they are merged; the
// causal pass one running state.
inline size_t FeatureStateCount(size_t kv_len, bool causal) {
  return causal ? 1 : SeqSplit(kv_len).segments;
}

// Floats of the per-thread scratch, and of the whole workspace: per (batch,
// kv head) states (S, z, and for the bidirectional pass sum v and the key
// max), FeatureStateCount of them, plus one scratch per thread. Uses batch,
// kv_heads, kv_len, d_v, causal, map and num_threads of the shape.
size_t FeatureMapThreadFloats(const FeatureMapSpec& map, size_t d_v);
size_t FeatureMapWorkspaceFloats(const FeatureMapArgs& shape);

void FeatureMapAttention(const FeatureMapArgs& args);

// Decoding: the running state of one (batch, kv head): s = S (F x d_v)
// followed by z (F), and the key stabilizer c (-inf before any key).
// Append folds `count` keys/values (rows at k, v with row strides) in, in
// order; Query writes, for `count` query rows, phi(q) s / phi(q) z into out.
// scratch: FeatureMapThreadFloats floats, aligned.
void FeatureMapDecodeAppend(const FeatureMapSpec& map, size_t kv_head, size_t d_v,
                            const float* k, int64_t k_stride, const float* v, int64_t v_stride,
                            size_t count, float* s, float* c, float* scratch);
void FeatureMapDecodeQuery(const FeatureMapSpec& map, size_t kv_head, size_t d_v,
                           const float* q, int64_t q_stride, size_t count, const float* s,
                           float* out, int64_t out_stride, float* scratch);

// Benchmark hooks on the active target: g = out_scale (exp(u - hc_i) + eps)
// over rows x m values, by the fused feature kernel and by a plain loop of
// Highway's hn::Exp (bench/feature_map_bench.cc compares them).
void ExpFeatureRows(const float* u, size_t rows, size_t m, const float* hc, float eps,
                    float out_scale, float* g);
void HwyExpRows(const float* u, size_t rows, size_t m, const float* hc, float eps,
                float out_scale, float* g);

}  // namespace lowrank

#endif  // LOWRANK_LIB_KERNELS_FEATURE_MAP_H_
