// Seeded synthetic Q, K, V in the regimes of the accuracy probe
// (shared/notes/algorithms.md 6.2), for `lowrank compare --synthetic`:
//   iid:       q, k iid Gaussian, scaled so the logits q.k/sqrt(d) have the
//              requested standard deviation;
//   clustered: every token in one of 16 clusters (shuffled along the
//              sequence), q and k near their cluster's centres;
//   smooth:    q and k vary smoothly along the sequence (a few random
//              sinusoids per dimension).
// V is iid standard Gaussian. Same seed, same tensors on every platform
// (lowrank's own generator).
#ifndef LOWRANK_TOOLS_SYNTHETIC_H_
#define LOWRANK_TOOLS_SYNTHETIC_H_

#include <cstdint>
#include <string>
#include <vector>

namespace lowrank_cli {

struct Tensors {
  int64_t batch = 1, heads = 1, n = 0, d = 0, dv = 0;
  std::vector<float> q, k, v;  // dense [B, H, N, D]
};

// False (with *error set) for an unknown regime.
bool MakeSynthetic(const std::string& regime, int64_t heads, int64_t n, int64_t d,
                   double logit_std, uint64_t seed, Tensors* out, std::string* error);

}  // namespace lowrank_cli

#endif  // LOWRANK_TOOLS_SYNTHETIC_H_
