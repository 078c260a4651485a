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

// The same causal result by the prefix-state recurrence (S, z and the
// running max in double), O(n F d): for long sequences.
std::vector<double> ReferenceFeatureMapCausalRecurrence(const AttentionProblem& p,
                                                        const FeatureOptions& o);

}  // namespace lowrank_test

#endif  // LOWRANK_TESTS_FEATURE_MAP_REFERENCE_H_
