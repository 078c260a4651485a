// Double-precision reference of the Nystrom algorithm as lowrank specifies
// it (lowrank.h, LOWRANK_METHOD_NYSTROM): the same landmarks, the same
// Newton-Schulz iteration, every product in double.
#ifndef LOWRANK_TESTS_NYSTROM_REFERENCE_H_
#define LOWRANK_TESTS_NYSTROM_REFERENCE_H_

#include <cstdint>
#include <vector>

#include "reference.h"

namespace lowrank_test {

struct NystromOptions {
  int64_t m = 8;
  lowrank_landmark_mode_t mode = LOWRANK_LANDMARKS_SEGMENT_MEANS;
  const int64_t* positions = nullptr;
  int kmeans_iterations = 5;
  int pinv_iterations = 6;
  bool original_init = false;
  uint64_t seed = 0;
  const float* conv = nullptr;  // [Hq, conv_kernel]
  int64_t conv_kernel = 0;
  bool exact_short_batches = true;  // m >= valid keys: exact attention
};

// Dense [B, Hq, Nq, Dv]. If norms is non-null it receives, per (b, h), the
// product ||F||_F ||Z||_F ||B V||_F (0 for exact heads), which bounds how
// much relative perturbations of the three factors move O; conds, if
// non-null, the condition estimate ||A||_F ||Z||_F. kmeans_gap, if non-null,
// receives the smallest margin of any k-means assignment (second-best cost
// minus best; infinity when no token had two candidates): where it is below
// the float cost's rounding, float k-means may cluster differently.
std::vector<double> ReferenceNystrom(const AttentionProblem& p, const NystromOptions& o,
                                     std::vector<double>* norms = nullptr,
                                     std::vector<double>* conds = nullptr,
                                     double* kmeans_gap = nullptr);

// Bound on the Frobenius norm of (float O - reference O) over one Nystrom
// head, u = 2^-24. O = F W with W = Z (B V); relative errors of the three
// factors move O by at most (e_F + e_Z + e_BV) ||F|| ||Z|| ||B V|| (norm,
// from ReferenceNystrom):
//   e_F  = (d + 8) u + 4e-7: the d-term logits, the fast exp (4e-7
//          relative, tests/fast_exp_test.cc), the row sum and division;
//   e_BV = (n + d + 8) u + 4e-7: the exact kernel over n keys;
//   e_Z  = (4 it (m + 2) kappa + d + 8) u: four m-term GEMMs per iteration,
//          each rounding amplified by at most kappa = ||A||_F ||Z||_F (the
//          reference's condition estimate) through the later iterations,
//          and A's own softmax;
// plus (m + 2) u for the final GEMM F W, and the landmark means (one
// rounding per summed row, inside (n + 8) u). Spectral norms are at most
// the Frobenius ones, so the bound is safe.
double NystromBound(const NystromOptions& o, int64_t kv_len, int64_t d, double norm,
                    double kappa);

// What the exact path (batches with m >= valid keys) and the convolution
// residual add over one head of Nq x Dv entries, in Frobenius norm: (n + k
// + 8) u of their magnitudes (softmax weights sum to 1; |v| <= v_max per
// entry, the residual at most k v_max per entry with |weights| <= 1).
double NystromPlainBound(const NystromOptions& o, int64_t kv_len, int64_t q_len, int64_t d_v,
                         double v_max);

// ReferenceNystrom with each entry bounded by its head's NystromBound +
// NystromPlainBound (|v| <= v_max): a head's Frobenius error bounds every
// entry of it. kmeans_gap as in ReferenceNystrom.
Bounded ReferenceNystromBounded(const AttentionProblem& p, const NystromOptions& o, double v_max,
                                double* kmeans_gap = nullptr);

}  // namespace lowrank_test

#endif  // LOWRANK_TESTS_NYSTROM_REFERENCE_H_
