// The tensors of one attention call as every method's kernel receives them:
// shapes, data pointers and element strides, already validated by lib/api.
// Method argument structs extend it with their own options.
#ifndef LOWRANK_LIB_KERNELS_ATTENTION_IO_H_
#define LOWRANK_LIB_KERNELS_ATTENTION_IO_H_

#include <algorithm>
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

  // Keys of batch b that are not padding.
  size_t ValidKeys(size_t b) const {
    return key_lengths ? static_cast<size_t>(key_lengths[b]) : kv_len;
  }
  // Keys query row i of batch b sees: the valid ones, and if causal only
  // j <= i + kv_len - q_len. Nondecreasing in i.
  size_t VisibleKeys(size_t b, size_t i, bool causal) const {
    const size_t valid = ValidKeys(b);
    if (!causal) return valid;
    const int64_t lim = static_cast<int64_t>(i) + 1 + static_cast<int64_t>(kv_len) -
                        static_cast<int64_t>(q_len);
    return lim <= 0 ? 0 : std::min(valid, static_cast<size_t>(lim));
  }
  // Data of batch b: query head h (q, out) and key/value head hk (k, v).
  struct Head {
    const float* q;
    const float* k;
    const float* v;
    float* out;
  };
  Head At(size_t b, size_t h, size_t hk) const {
    const int64_t bb = static_cast<int64_t>(b), hq = static_cast<int64_t>(h),
                  hkv = static_cast<int64_t>(hk);
    return {q + bb * q_strides.batch + hq * q_strides.head,
            k + bb * k_strides.batch + hkv * k_strides.head,
            v + bb * v_strides.batch + hkv * v_strides.head,
            out + bb * out_strides.batch + hq * out_strides.head};
  }
  // The key/value head that query head h reads (grouped-query attention).
  size_t KvHead(size_t h) const { return h * kv_heads / q_heads; }
};

}  // namespace lowrank

#endif  // LOWRANK_LIB_KERNELS_ATTENTION_IO_H_
