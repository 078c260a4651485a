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

// A double result with, per entry, a bound on how far a correct float
// evaluation may be from it (both dense [B, Hq, Nq, Dv]).
struct Bounded {
  std::vector<double> want, tol;
};

// max over entries of |got - want| / tol, with got read through the view
// `out`; infinite where got is not finite or exceeds a zero bound.
double WorstRatio(const Bounded& r, const lowrank_tensor_desc_t& out, const float* got);

// LOWRANK_METHOD_FACTORS: p.q holds U, p.k holds W (p.scale unused).
// O = U (W^T V) over the visible keys (key_lengths; causal as in
// ReferenceAttention), or with normalize O / (U (W^T 1)) with the library's
// denominator guard (R + 2e-6 where |R| <= 1e-6). Bound, u = 2^-24: S = W^T V
// is an n-term float sum and O = U S an r-term one, so
// |dO| <= (n + r + 4) u sum_k |u_k| sum_j |w_jk v_jc|; causal prefix states
// are summed in pieces plus up to 16 row-by-row keys (n + r + 36); the
// normalized form adds the denominator's relative error, and where the
// denominator lies within its error of the guard threshold the bound covers
// both sides. Prefix states make it O(n r d_v): usable for long sequences.
Bounded ReferenceFactors(const AttentionProblem& p, bool normalize);

// LOWRANK_METHOD_LINFORMER with E_K, E_V dense [proj_heads, proj_dim,
// proj_max_len] (e_v may equal e_k): K' = E_K[:, :valid] K[:valid], V'
// likewise, then softmax(scale Q K'^T) V' over the proj_dim rows. Bound:
// |dK'| <= (valid + 2) u sum_j |E K|, so a logit moves by at most
// scale (sum_c |q_c| |dK'_c| + (d + 2) u sum_c |q_c K'_c|); the output by
// (exp(2 max|dlogit|) - 1) max|V'| (the weights) + max|dV'| + 2 (k + 1) u max|V'|
// (the softmax sums) + 4e-7 max|V'| (the fast exp).
Bounded ReferenceLinformer(const AttentionProblem& p, const float* e_k, const float* e_v,
                           int64_t proj_heads, int64_t proj_dim, int64_t proj_max_len);

}  // namespace lowrank_test

#endif  // LOWRANK_TESTS_REFERENCE_H_
