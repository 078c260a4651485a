// Linformer's sequence projections: K' = E_K K and V' = E_V V per (batch,
// key/value head), over the valid keys only (masked keys are removed before
// projecting). The attention over the k projected keys then runs on the exact
// kernel (lib/api/plan.cc composes the two).
#ifndef LOWRANK_LIB_KERNELS_LINFORMER_H_
#define LOWRANK_LIB_KERNELS_LINFORMER_H_

#include <cstddef>
#include <cstdint>

#include "kernels/attention_io.h"

namespace lowrank {

// Uses batch, kv_heads, kv_len, d_qk, d_v, k, v, their strides (dim strides
// 1), key_lengths and num_threads of the call.
struct LinformerProjectArgs : AttentionIo {
  size_t proj_dim;       // k
  size_t proj_max_len;   // n_max >= kv_len
  size_t proj_heads;     // 1 (shared) or kv_heads
  // Transposed projections, [proj_heads, proj_max_len, proj_dim] dense.
  const float* ekt;
  const float* evt;
  float* k_proj;  // [B, Hkv, k, d_qk] dense
  float* v_proj;  // [B, Hkv, k, d_v] dense
  // batch * kv_heads * 2 * (SeqSplit(kv_len).segments - 1) partial
  // projections of LinformerPartialFloats each (none for one segment).
  float* partials;
  float* workspace;         // num_threads * workspace_floats, aligned
  size_t workspace_floats;  // per thread, LinformerWorkspaceFloats
};

size_t LinformerWorkspaceFloats(size_t proj_dim, size_t d_qk, size_t d_v);
// One partial projection (k x d_qk or k x d_v), aligned.
size_t LinformerPartialFloats(size_t proj_dim, size_t d_qk, size_t d_v);

// The projections' part of a call's workspace, in floats from its start:
// K' at 0, V' at v_proj, the partials (aligned) at `partials`, `total` in
// all. `kv` = batch * kv_heads. total saturates at SIZE_MAX (runtime/sizes.h)
// for sizes past 2^64; the offsets are only meaningful when it does not.
struct LinformerProjLayout {
  size_t v_proj, partials, total;
};
LinformerProjLayout MakeLinformerProjLayout(size_t kv, size_t proj_dim, size_t d_qk, size_t d_v,
                                            size_t kv_len);

void LinformerProject(const LinformerProjectArgs& args);

}  // namespace lowrank

#endif  // LOWRANK_LIB_KERNELS_LINFORMER_H_
