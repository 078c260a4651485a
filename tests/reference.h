// Naive double-precision references that the tests check the library
// against. Written for clarity, not speed; independent of lib/.
#ifndef LOWRANK_TESTS_REFERENCE_H_
#define LOWRANK_TESTS_REFERENCE_H_

#include <cstdint>
#include <vector>

#include "lowrank/lowrank.h"

namespace lowrank_test {

// Element (b, h, s, c) of a strided view.
inline int64_t Offset(const lowrank_tensor_desc_t& t, int64_t b, int64_t h,
                      int64_t s, int64_t c) {
  return b * t.stride_batch + h * t.stride_head + s * t.stride_seq +
         c * t.stride_dim;
}

struct AttentionProblem {
  lowrank_tensor_desc_t q, k, v, out;
  const float* q_data;
  const float* k_data;
  const float* v_data;
  const int32_t* key_lengths;  // may be null
  double scale;
  bool causal;
};

// O[b][h][i][c] in dense [B, Hq, Nq, Dv] order:
// softmax over visible keys j of scale * q_i . k_j, then sum_j p_j v_j;
// visible: j < key_lengths[b] and, if causal, j <= i + Nkv - Nq. Rows with
// no visible key are 0. Also returns, per row, sum_c |q_c k_c| maximized over
// j (for error bounds) in *max_abs_dot if non-null.
std::vector<double> ReferenceAttention(const AttentionProblem& p,
                                       double* max_abs_dot = nullptr);

}  // namespace lowrank_test

#endif  // LOWRANK_TESTS_REFERENCE_H_
