// Double-precision reference of feature-map attention as lowrank.h
// specifies it (LOWRANK_METHOD_FEATURE_MAP): the features in double from the
// same projection W, then masked quadratic attention on them (causal: each
// key weighted with the running-max stabilizer of the row that sees it).
#ifndef LOWRANK_TESTS_FEATURE_MAP_REFERENCE_H_
#define LOWRANK_TESTS_FEATURE_MAP_REFERENCE_H_

#include <cstdint>
#include <vector>

#include "reference.h"

namespace lowrank_test {

struct FeatureOptions {
  lowrank_feature_map_t map = LOWRANK_FEATURE_MAP_FAVOR;
  int64_t m = 16;               // projection rows (0: no projection)
  const float* w = nullptr;     // [w_heads, m, d]
  int64_t w_heads = 1;
  double eps = 1e-6;
};

// Dense [B, Hq, Nq, Dv]. max_proj, if non-null, receives
// max over rows and f of sum_c |W'_fc x_c| (the projection's magnitude, for
// error bounds).
std::vector<double> ReferenceFeatureMap(const AttentionProblem& p, const FeatureOptions& o,
                                        double* max_proj = nullptr);

// The same result by the prefix-state recurrence (S, z and the running max
// in double; not causal: every valid key with their global max), O(n F d):
// for long sequences.
std::vector<double> ReferenceFeatureMapRecurrence(const AttentionProblem& p,
                                                  const FeatureOptions& o);

// Bound on |O - O_ref| per entry for a float evaluation, u = 2^-24, with a
// the max_proj of ReferenceFeatureMap. Every feature is positive, so O is a
// ratio of sums of positive weights times v (|v| <= 1):
//   |dO| <= (2 e_w + 2 (n + 8) u) max|v|, with e_w the relative error of
//   one weight phi(q).phi(k): 2 e_phi + (F + 2) u (F features).
// e_phi, the relative error of a feature: the projection u = W' x (d
// terms) is off by (d + 2) u a, which exp turns into that much relative
// error, plus the exp's 4e-7 and h's (d + 2) u h_max (h <= a + 1 here:
// bounded by the same term twice); the causal rescaling factors add
// 2 x 4e-7. For relu the same absolute error (d + 2) u (a + 1) over the
// smallest feature eps. For elu 4e-7 + 2u.
double FeatureMapBound(const FeatureOptions& o, int64_t d, int64_t kv_len, double a);

// ReferenceFeatureMap with FeatureMapBound on every entry.
Bounded ReferenceFeatureMapBounded(const AttentionProblem& p, const FeatureOptions& o);

}  // namespace lowrank_test

#endif  // LOWRANK_TESTS_FEATURE_MAP_REFERENCE_H_
