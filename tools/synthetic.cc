// Synthetic attention inputs (see synthetic.h).
#include "synthetic.h"

#include <algorithm>
#include <cmath>

#include "runtime/random.h"

namespace lowrank_cli {
namespace {

// Rescales q and k of one head so that the logits q_i.k_j / sqrt(d) over
// 4096 sampled pairs have standard deviation `target`.
void ScaleLogits(float* q, float* k, int64_t n, int64_t d, double target, lowrank::Rng& rng) {
  double s2 = 0.0;
  const int samples = 4096;
  for (int t = 0; t < samples; ++t) {
    const int64_t i = static_cast<int64_t>(rng.Next() % static_cast<uint64_t>(n));
    const int64_t j = static_cast<int64_t>(rng.Next() % static_cast<uint64_t>(n));
    double dot = 0.0;
    for (int64_t c = 0; c < d; ++c) dot += static_cast<double>(q[i * d + c]) * k[j * d + c];
    dot /= std::sqrt(static_cast<double>(d));
    s2 += dot * dot;
  }
  const double std_now = std::sqrt(s2 / samples);
  if (std_now <= 0.0) return;
  const float f = static_cast<float>(std::sqrt(target / std_now));
  for (int64_t i = 0; i < n * d; ++i) q[i] *= f, k[i] *= f;
}

}  // namespace

bool MakeSynthetic(const std::string& regime, int64_t heads, int64_t n, int64_t d,
                   double logit_std, uint64_t seed, Tensors* out, std::string* error) {
  if (regime != "iid" && regime != "clustered" && regime != "smooth") {
    *error = "unknown regime '" + regime + "' (iid, clustered, smooth)";
    return false;
  }
  lowrank::Rng rng(seed);
  out->batch = 1, out->heads = heads, out->n = n, out->d = d, out->dv = d;
  const size_t count = static_cast<size_t>(heads * n * d);
  out->q.assign(count, 0.0f);
  out->k.assign(count, 0.0f);
  out->v.assign(count, 0.0f);
  for (float& x : out->v) x = static_cast<float>(rng.Normal());
  for (int64_t h = 0; h < heads; ++h) {
    float* q = out->q.data() + h * n * d;
    float* k = out->k.data() + h * n * d;
    if (regime == "iid") {
      for (int64_t i = 0; i < n * d; ++i) {
        q[i] = static_cast<float>(rng.Normal());
        k[i] = static_cast<float>(rng.Normal());
      }
    } else if (regime == "clustered") {
      constexpr int kClusters = 16;
      std::vector<double> cq(kClusters * d), ck(kClusters * d);
      for (double& x : cq) x = rng.Normal();
      for (double& x : ck) x = rng.Normal();
      for (int64_t i = 0; i < n; ++i) {
        const int64_t c = static_cast<int64_t>(rng.Next() % kClusters);  // shuffled
        for (int64_t t = 0; t < d; ++t) {
          q[i * d + t] = static_cast<float>(cq[c * d + t] + 0.2 * rng.Normal());
          k[i * d + t] = static_cast<float>(ck[c * d + t] + 0.2 * rng.Normal());
        }
      }
    } else {  // smooth
      constexpr int kWaves = 4;
      for (float* x : {q, k}) {
        for (int64_t t = 0; t < d; ++t) {
          double amp[kWaves], freq[kWaves], phase[kWaves];
          for (int w = 0; w < kWaves; ++w) {
            amp[w] = rng.Normal();
            freq[w] = 1.0 + 5.0 * rng.Uniform();  // periods from n/6 to n
            phase[w] = 6.283185307179586 * rng.Uniform();
          }
          for (int64_t i = 0; i < n; ++i) {
            double s = 0.0;
            for (int w = 0; w < kWaves; ++w) {
              s += amp[w] * std::sin(6.283185307179586 * freq[w] * static_cast<double>(i) /
                                         static_cast<double>(n) +
                                     phase[w]);
            }
            x[i * d + t] = static_cast<float>(s);
          }
        }
      }
    }
    ScaleLogits(q, k, n, d, logit_std, rng);
  }
  return true;
}

}  // namespace lowrank_cli
