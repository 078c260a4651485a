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
// non-null, the condition estimate ||A||_F ||Z||_F.
std::vector<double> ReferenceNystrom(const AttentionProblem& p, const NystromOptions& o,
                                     std::vector<double>* norms = nullptr,
                                     std::vector<double>* conds = nullptr);

}  // namespace lowrank_test

#endif  // LOWRANK_TESTS_NYSTROM_REFERENCE_H_
