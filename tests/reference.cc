// Naive double-precision attention.
#include "reference.h"

#include <algorithm>
#include <cmath>

namespace lowrank_test {

std::vector<double> ReferenceAttention(const AttentionProblem& p,
                                       double* max_abs_dot) {
  const int64_t B = p.q.batch, Hq = p.q.heads, Hkv = p.k.heads;
  const int64_t Nq = p.q.seq, Nk = p.k.seq, D = p.q.dim, Dv = p.v.dim;
  std::vector<double> out(static_cast<size_t>(B * Hq * Nq * Dv), 0.0);
  std::vector<double> logits(static_cast<size_t>(Nk));
  double worst_dot = 0.0;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t valid = p.key_lengths ? p.key_lengths[b] : Nk;
    for (int64_t h = 0; h < Hq; ++h) {
      const int64_t hk = h * Hkv / Hq;
      for (int64_t i = 0; i < Nq; ++i) {
        int64_t visible = valid;
        if (p.causal) visible = std::min(visible, std::max<int64_t>(0, i + 1 + Nk - Nq));
        double* o = &out[static_cast<size_t>(((b * Hq + h) * Nq + i) * Dv)];
        if (visible <= 0) continue;
        double mx = -INFINITY;
        for (int64_t j = 0; j < visible; ++j) {
          double dot = 0.0, abs_dot = 0.0;
          for (int64_t c = 0; c < D; ++c) {
            const double x = p.q_data[Offset(p.q, b, h, i, c)];
            const double y = p.k_data[Offset(p.k, b, hk, j, c)];
            dot += x * y;
            abs_dot += std::fabs(x * y);
          }
          worst_dot = std::max(worst_dot, abs_dot);
          logits[static_cast<size_t>(j)] = p.scale * dot;
          mx = std::max(mx, logits[static_cast<size_t>(j)]);
        }
        double sum = 0.0;
        for (int64_t j = 0; j < visible; ++j) {
          logits[static_cast<size_t>(j)] = std::exp(logits[static_cast<size_t>(j)] - mx);
          sum += logits[static_cast<size_t>(j)];
        }
        for (int64_t j = 0; j < visible; ++j) {
          const double w = logits[static_cast<size_t>(j)] / sum;
          for (int64_t c = 0; c < Dv; ++c) o[c] += w * p.v_data[Offset(p.v, b, hk, j, c)];
        }
      }
    }
  }
  if (max_abs_dot) *max_abs_dot = worst_dot;
  return out;
}

}  // namespace lowrank_test
