// Generic low-rank attention from caller-given factors: O = U (W^T V), and
// optionally O = U (W^T V) / (U (W^T 1)), computed right to left: W^T V and
// W^T 1 once per (batch, key/value head), then U times them per query head.
// Causal: running prefix states per (batch, query head), see factors-inl.h.
// Never forms U W^T. Extra memory: the r x d_v products of every (batch, kv
// head, one per sequence segment (SeqSplit: at most 16) until they are
// summed, plus one GEMM workspace per thread: O(heads r d + threads r d).
// The caller (lib/api) validated everything, including unit dim strides.
#ifndef LOWRANK_LIB_KERNELS_FACTORS_H_
#define LOWRANK_LIB_KERNELS_FACTORS_H_

#include <cstddef>
#include <cstdint>

#include "kernels/attention_io.h"

namespace lowrank {

// q and k carry U and W (d_qk is the rank r); dim strides are 1.
struct FactorsArgs : AttentionIo {
  bool normalize;
  bool causal;  // query i sees keys j <= i + kv_len - q_len (prefix sums)
  float* workspace;  // FactorsWorkspaceFloats, kGemmWorkspaceAlign-aligned
};

// Query rows per work chunk of the U (W^T V) phase.
constexpr size_t kFactorsRowBlock = 256;

// Non-causal: (S, z) per (batch, kv head, segment of SeqSplit(kv_len)), a
// packed S per (batch, kv head), and a GEMM workspace per thread. Causal: one
// running state and a GEMM workspace per thread.
size_t FactorsWorkspaceFloats(size_t batch, size_t kv_heads, size_t kv_len, size_t rank,
                              size_t d_v, size_t num_threads, bool causal);
size_t CausalFactorsWorkspacePerThread(size_t rank, size_t d_v);
// Non-causal: one packed S (PackGemmB) per (batch, kv head).
size_t FactorsPackedFloats(size_t rank, size_t d_v);

void Factors(const FactorsArgs& args);

}  // namespace lowrank

#endif  // LOWRANK_LIB_KERNELS_FACTORS_H_
