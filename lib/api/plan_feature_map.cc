// Feature-map plans: option checks, the projection (given or drawn),
// workspace sizing and execution.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>
#include <vector>

#include "api/error.h"
#include "api/plan.h"
#include "api/validate.h"
#include "kernels/exact_attention.h"
#include "kernels/feature_map.h"
#include "runtime/random.h"

namespace lowrank {
namespace {

constexpr int64_t kMaxFeatures = 16384;

}  // namespace

void DrawRandomFeatures(float* out, size_t heads, size_t m, size_t d, int kind, int norms,
                        uint64_t seed) {
  Rng rng(seed);
  std::vector<double> block(d * d);
  for (size_t h = 0; h < heads; ++h) {
    float* w = out + h * m * d;
    if (kind == LOWRANK_RANDOM_FEATURES_IID) {
      for (size_t i = 0; i < m * d; ++i) w[i] = static_cast<float>(rng.Normal());
      continue;
    }
    // Orthogonal: blocks of d Gaussian rows made orthonormal by modified
    // Gram-Schmidt (twice, for orthogonality to working precision): the
    // rows of Q^T for the QR of a Gaussian matrix, Haar distributed.
    // Gram-Schmidt in row order makes row i depend on rows 0..i only, so a
    // last block that needs rows < d orthonormalizes just those: O(rows d^2)
    // instead of O(d^3). The unused rows are still drawn, so the stream (and
    // every later head's projection) is the same as for a whole block.
    for (size_t r0 = 0; r0 < m; r0 += d) {
      const size_t rows = std::min(d, m - r0);
      for (size_t i = 0; i < d; ++i) {
        double* bi = &block[i * d];
        if (i >= rows) {  // unused: consume the draws, skip the projections
          for (size_t c = 0; c < d; ++c) rng.Normal();
          continue;
        }
        for (;;) {
          for (size_t c = 0; c < d; ++c) bi[c] = rng.Normal();
          for (int pass = 0; pass < 2; ++pass) {
            for (size_t j = 0; j < i; ++j) {
              const double* bj = &block[j * d];
              double dot = 0.0;
              for (size_t c = 0; c < d; ++c) dot += bi[c] * bj[c];
              for (size_t c = 0; c < d; ++c) bi[c] -= dot * bj[c];
            }
          }
          double nrm = 0.0;
          for (size_t c = 0; c < d; ++c) nrm += bi[c] * bi[c];
          nrm = std::sqrt(nrm);
          if (nrm > 1e-8) {  // a dependent draw has probability 0; redraw
            for (size_t c = 0; c < d; ++c) bi[c] /= nrm;
            break;
          }
        }
      }
      for (size_t i = 0; i < rows; ++i) {
        double scale = std::sqrt(static_cast<double>(d));
        if (norms == LOWRANK_FEATURE_NORMS_CHI) {
          double s2 = 0.0;
          for (size_t c = 0; c < d; ++c) {
            const double g = rng.Normal();
            s2 += g * g;
          }
          scale = std::sqrt(s2);
        }
        for (size_t c = 0; c < d; ++c) {
          w[(r0 + i) * d + c] = static_cast<float>(scale * block[i * d + c]);
        }
      }
    }
  }
}

namespace {

// W (heads x m x d) to the kernel's W'^T = sqrt(s) W^T (heads x d x m).
void StoreTransposed(lowrank_plan& p, const float* w) {
  const size_t m = p.feature_rows, d = static_cast<size_t>(p.q.dim);
  for (size_t h = 0; h < p.feature_heads; ++h) {
    for (size_t i = 0; i < m; ++i) {
      for (size_t c = 0; c < d; ++c) {
        p.feature_wt[h * d * m + c * m + i] = p.feature_input_scale * w[h * m * d + i * d + c];
      }
    }
  }
}

FeatureMapSpec SpecOf(const lowrank_plan& p) {
  FeatureMapSpec s;
  s.kind = static_cast<FeatureMapKind>(p.feature_map);
  s.d = static_cast<size_t>(p.q.dim);
  s.m = p.feature_rows;
  s.features = p.features;
  s.input_scale = p.feature_input_scale;
  s.eps = p.feature_eps;
  s.out_scale = p.feature_out_scale;
  s.wt = p.feature_wt.empty() ? nullptr : p.feature_wt.data();
  s.proj_heads = p.feature_heads;
  return s;
}

}  // namespace

FeatureMapSpec FeatureSpecOf(const lowrank_plan& p) { return SpecOf(p); }

lowrank_status_t RedrawFeatures(lowrank_plan& p, uint64_t seed) {
  if (p.method != LOWRANK_METHOD_FEATURE_MAP || !p.feature_drawn) {
    return Fail(LOWRANK_INVALID_ARGUMENT,
                "plan: only a feature-map plan with a drawn projection can be redrawn");
  }
  try {
    std::vector<float> w(p.feature_heads * p.feature_rows * static_cast<size_t>(p.q.dim));
    DrawRandomFeatures(w.data(), p.feature_heads, p.feature_rows, static_cast<size_t>(p.q.dim),
                       p.random_features, p.feature_norms, seed);
    StoreTransposed(p, w.data());
  } catch (const std::bad_alloc&) {
    return Fail(LOWRANK_OUT_OF_MEMORY, "plan: cannot allocate the projection");
  }
  return LOWRANK_OK;
}

lowrank_status_t PrepareFeatureMap(const lowrank_options_t& o, lowrank_plan& p,
                                   size_t requested) {
  int32_t map = 0, kind = 0, norms = 0;
  static_assert(sizeof(map) == sizeof(o.feature_map), "enum is int-sized");
  std::memcpy(&map, &o.feature_map, sizeof(map));
  std::memcpy(&kind, &o.random_features, sizeof(kind));
  std::memcpy(&norms, &o.feature_norms, sizeof(norms));
  if (map < LOWRANK_FEATURE_MAP_FAVOR || map > LOWRANK_FEATURE_MAP_ELU) {
    return Fail(LOWRANK_INVALID_ARGUMENT, "options: unknown feature_map %d", static_cast<int>(map));
  }
  if (kind < LOWRANK_RANDOM_FEATURES_ORTHOGONAL || kind > LOWRANK_RANDOM_FEATURES_NONE) {
    return Fail(LOWRANK_INVALID_ARGUMENT, "options: unknown random_features %d",
                static_cast<int>(kind));
  }
  if (norms != LOWRANK_FEATURE_NORMS_CHI && norms != LOWRANK_FEATURE_NORMS_SQRT_D) {
    return Fail(LOWRANK_INVALID_ARGUMENT, "options: unknown feature_norms %d",
                static_cast<int>(norms));
  }
  if (!std::isfinite(o.feature_eps)) {
    return Fail(LOWRANK_INVALID_ARGUMENT, "options: feature_eps must be finite");
  }
  const bool elu = map == LOWRANK_FEATURE_MAP_ELU;
  const bool projected = !elu && kind != LOWRANK_RANDOM_FEATURES_NONE;
  if (kind == LOWRANK_RANDOM_FEATURES_NONE && map != LOWRANK_FEATURE_MAP_RELU && !elu) {
    return Fail(LOWRANK_INVALID_ARGUMENT,
                "options: random_features NONE (no projection) applies to the relu map only");
  }
  if (elu && o.scale != 0.0f) {
    return Fail(LOWRANK_INVALID_ARGUMENT,
                "options: the elu map works on the raw q and k: scale must be 0");
  }
  if (!projected && o.feature_projection != nullptr) {
    return Fail(LOWRANK_INVALID_ARGUMENT, "options: this feature map takes no projection");
  }
  if (projected && (o.features < 1 || o.features > kMaxFeatures)) {
    return Fail(LOWRANK_INVALID_ARGUMENT, "options: features = %lld is out of range [1, %lld]",
                static_cast<long long>(o.features), static_cast<long long>(kMaxFeatures));
  }
  if (o.feature_projection != nullptr && o.feature_projection_heads != 1 &&
      o.feature_projection_heads != p.k.heads) {
    return Fail(LOWRANK_INVALID_ARGUMENT,
                "options: feature_projection_heads = %lld must be 1 or the k/v head count %lld",
                static_cast<long long>(o.feature_projection_heads),
                static_cast<long long>(p.k.heads));
  }
  static const char* const kNames[4] = {"q", "k", "v", "out"};
  if (const lowrank_status_t st = RequireUnitDimStride(p, "feature-map", kNames); st != LOWRANK_OK) {
    return st;
  }
  const size_t d = static_cast<size_t>(p.q.dim), dv = static_cast<size_t>(p.v.dim);
  p.feature_map = map;
  p.random_features = kind;
  p.feature_norms = norms;
  p.feature_rows = projected ? static_cast<size_t>(o.features) : 0;
  p.features = map == LOWRANK_FEATURE_MAP_FAVOR_HYPERBOLIC ? 2 * p.feature_rows
                                                            : (projected ? p.feature_rows : d);
  p.feature_input_scale = elu ? 1.0f : std::sqrt(p.scale);
  if (!(p.scale > 0.0f) && !elu) {
    return Fail(LOWRANK_INVALID_ARGUMENT,
                "options: feature maps need a positive scale (x' = sqrt(scale) x)");
  }
  const float default_eps =
      map == LOWRANK_FEATURE_MAP_RELU ? 1e-3f : (elu ? 0.0f : 1e-6f);
  p.feature_eps = o.feature_eps < 0.0f ? default_eps : o.feature_eps;
  p.feature_out_scale =
      (map == LOWRANK_FEATURE_MAP_FAVOR || map == LOWRANK_FEATURE_MAP_FAVOR_HYPERBOLIC)
          ? static_cast<float>(1.0 / std::sqrt(static_cast<double>(p.features)))
          : 1.0f;
  if (projected) {
    p.feature_heads = o.feature_projection != nullptr
                          ? static_cast<size_t>(o.feature_projection_heads)
                          : 1;
    p.feature_drawn = o.feature_projection == nullptr;
    try {
      p.feature_wt.resize(p.feature_heads * d * p.feature_rows);
      if (p.feature_drawn) {
        if (lowrank_status_t st = RedrawFeatures(p, o.seed); st != LOWRANK_OK) return st;
      } else {
        for (size_t i = 0; i < p.feature_heads * p.feature_rows * d; ++i) {
          if (!std::isfinite(o.feature_projection[i])) {
            return Fail(LOWRANK_INVALID_ARGUMENT,
                        "options: feature_projection[%zu] is not finite", i);
          }
        }
        StoreTransposed(p, o.feature_projection);
      }
    } catch (const std::bad_alloc&) {
      return Fail(LOWRANK_OUT_OF_MEMORY, "plan: cannot allocate the projection");
    }
  }

  const size_t kv = static_cast<size_t>(p.k.batch * p.k.heads);
  const size_t row_blocks =
      (static_cast<size_t>(p.q.seq) + kFeatureRows - 1) / kFeatureRows;
  const size_t kv_len = static_cast<size_t>(p.k.seq);
  const size_t chunks =
      p.causal ? kv
               : std::max(kv * FeatureStateCount(kv_len, false),
                          static_cast<size_t>(p.q.batch * p.q.heads) * row_blocks);
  p.num_threads = std::max<size_t>(1, std::min(requested, chunks));
  FeatureMapArgs shape{};
  shape.batch = static_cast<size_t>(p.q.batch);
  shape.kv_heads = static_cast<size_t>(p.k.heads);
  shape.kv_len = kv_len;
  shape.causal = p.causal;
  shape.d_v = dv;
  shape.num_threads = p.num_threads;
  shape.map = SpecOf(p);
  const size_t floats = FeatureMapWorkspaceFloats(shape);
  size_t bytes = 0;
  if (MulOverflows(floats, sizeof(float), &bytes) ||
      bytes > static_cast<size_t>(PTRDIFF_MAX) - kWorkspaceAlign) {
    return Fail(LOWRANK_INVALID_ARGUMENT, "workspace size overflows");
  }
  p.workspace_bytes = bytes + kWorkspaceAlign;
  // Nominal flops: the projections of every query and key row (2 d m), and
  // the reduction and output products (2 F (d_v + 1) per key and per query).
  const double nq = static_cast<double>(p.q.seq) * static_cast<double>(p.q.batch * p.q.heads);
  const double nk = static_cast<double>(p.k.seq) * static_cast<double>(kv);
  const double per_row = 2.0 * static_cast<double>(d * p.feature_rows) +
                         2.0 * static_cast<double>(p.features * (dv + 1));
  p.flops = (nq + nk) * per_row;
  return LOWRANK_OK;
}

void ExecuteFeatureMap(const lowrank_plan& p, const AttentionIo& io, float* workspace) {
  FeatureMapArgs a;
  static_cast<AttentionIo&>(a) = io;
  a.map = SpecOf(p);
  a.causal = p.causal;
  a.workspace = workspace;
  FeatureMapAttention(a);
}

}  // namespace lowrank
