// The tensors of one attention call as every method's kernel receives them:
// shapes, data pointers and element strides, already validated by lib/api.
// Method argument structs extend it with their own options.
#ifndef LOWRANK_LIB_KERNELS_ATTENTION_IO_H_
#define LOWRANK_LIB_KERNELS_ATTENTION_IO_H_

#include <cstddef>
#include <cstdint>

namespace lowrank {

// Element strides of a [batch, heads, seq, dim] view.
struct Strides4 {
  int64_t batch, head, seq, dim;
};

struct AttentionIo {
  size_t batch, q_heads, kv_heads;
  size_t q_len, kv_len, d_qk, d_v;
  const float* q;  // [B, Hq, Nq, Dqk] (U for the factors method)
  const float* k;  // [B, Hkv, Nkv, Dqk] (W for the factors method)
  const float* v;  // [B, Hkv, Nkv, Dv]
  float* out;      // [B, Hq, Nq, Dv]
  Strides4 q_strides, k_strides, v_strides, out_strides;
  const int32_t* key_lengths;  // null: all kv_len keys valid
  size_t num_threads;
};

}  // namespace lowrank

#endif  // LOWRANK_LIB_KERNELS_ATTENTION_IO_H_
