// Double-precision feature-map attention (see feature_map_reference.h).
#include "feature_map_reference.h"

#include <algorithm>
#include <cmath>

namespace lowrank_test {
namespace {

struct Features {
  std::vector<double> phi;  // rows x F, stabilized with the row's own c
  std::vector<double> u;    // rows x m
  std::vector<double> h, rmax;
  int64_t F = 0;
};

bool Exponential(lowrank_feature_map_t map) {
  return map == LOWRANK_FEATURE_MAP_FAVOR || map == LOWRANK_FEATURE_MAP_FAVOR_HYPERBOLIC;
}

int64_t FeatureCount(const FeatureOptions& o, int64_t d) {
  if (o.map == LOWRANK_FEATURE_MAP_FAVOR_HYPERBOLIC) return 2 * o.m;
  if (o.map == LOWRANK_FEATURE_MAP_ELU || o.m == 0) return d;
  return o.m;
}

// The features of one row x (d floats) with stabilizer c; out_scale
// included.
void MapRow(const FeatureOptions& o, const float* x, int64_t d, double sqrt_s, const double* u,
            double h, double c, double* phi) {
  const int64_t F = FeatureCount(o, d);
  switch (o.map) {
    case LOWRANK_FEATURE_MAP_FAVOR: {
      const double k = 1.0 / std::sqrt(static_cast<double>(F));
      for (int64_t f = 0; f < o.m; ++f) phi[f] = k * (std::exp(u[f] - h - c) + o.eps);
      break;
    }
    case LOWRANK_FEATURE_MAP_FAVOR_HYPERBOLIC: {
      const double k = 1.0 / std::sqrt(static_cast<double>(F));
      for (int64_t f = 0; f < o.m; ++f) {
        phi[f] = k * (std::exp(u[f] - h - c) + o.eps);
        phi[o.m + f] = k * (std::exp(-u[f] - h - c) + o.eps);
      }
      break;
    }
    case LOWRANK_FEATURE_MAP_RELU:
      for (int64_t f = 0; f < F; ++f) {
        phi[f] = std::max(o.m > 0 ? u[f] : sqrt_s * x[f], 0.0) + o.eps;
      }
      break;
    case LOWRANK_FEATURE_MAP_ELU:
      for (int64_t f = 0; f < d; ++f) {
        phi[f] = (x[f] >= 0 ? x[f] + 1.0 : std::exp(static_cast<double>(x[f]))) + o.eps;
      }
      break;
  }
}

// Projection, h and row max of `rows` rows of a view's (b, h) head.
void Project(const FeatureOptions& o, const lowrank_tensor_desc_t& t, const float* data,
             int64_t b, int64_t head, int64_t w_head, int64_t rows, double sqrt_s, Features* out,
             double* max_proj) {
  const int64_t d = t.dim;
  out->u.assign(static_cast<size_t>(rows * std::max<int64_t>(o.m, 1)), 0.0);
  out->h.assign(static_cast<size_t>(rows), 0.0);
  out->rmax.assign(static_cast<size_t>(rows), 0.0);
  const float* w = o.w ? o.w + w_head * o.m * d : nullptr;
  for (int64_t i = 0; i < rows; ++i) {
    double n2 = 0.0;
    for (int64_t c = 0; c < d; ++c) {
      const double x = sqrt_s * data[Offset(t, b, head, i, c)];
      n2 += x * x;
    }
    out->h[static_cast<size_t>(i)] = Exponential(o.map) ? 0.5 * n2 : 0.0;
    double mx = -INFINITY;
    for (int64_t f = 0; f < o.m && w; ++f) {
      double s = 0.0, mag = 0.0;
      for (int64_t c = 0; c < d; ++c) {
        const double term = w[f * d + c] * sqrt_s * data[Offset(t, b, head, i, c)];
        s += term;
        mag += std::fabs(term);
      }
      out->u[static_cast<size_t>(i * o.m + f)] = s;
      mx = std::max(mx, o.map == LOWRANK_FEATURE_MAP_FAVOR_HYPERBOLIC ? std::fabs(s) : s);
      if (max_proj) *max_proj = std::max(*max_proj, mag);
    }
    out->rmax[static_cast<size_t>(i)] = Exponential(o.map) ? mx : 0.0;
  }
}

double Guard(double r) { return std::fabs(r) <= 1e-6 ? r + 2e-6 : r; }

}  // namespace

std::vector<double> ReferenceFeatureMap(const AttentionProblem& p, const FeatureOptions& o,
                                        double* max_proj) {
  const int64_t B = p.q.batch, Hq = p.q.heads, Hkv = p.k.heads, Nq = p.q.seq, Nk = p.k.seq;
  const int64_t d = p.q.dim, Dv = p.v.dim, F = FeatureCount(o, d);
  const double sqrt_s = o.map == LOWRANK_FEATURE_MAP_ELU ? 1.0 : std::sqrt(p.scale);
  std::vector<double> out(static_cast<size_t>(B * Hq * Nq * Dv), 0.0);
  if (max_proj) *max_proj = 0.0;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t valid = p.key_lengths ? p.key_lengths[b] : Nk;
    for (int64_t h = 0; h < Hq; ++h) {
      const int64_t hk = h * Hkv / Hq, wh = o.w_heads == 1 ? 0 : hk;
      Features q, k;
      Project(o, p.q, p.q_data, b, h, wh, Nq, sqrt_s, &q, max_proj);
      Project(o, p.k, p.k_data, b, hk, wh, Nk, sqrt_s, &k, max_proj);
      // Prefix maxima of the keys (causal) and the global max (not).
      std::vector<double> pmax(static_cast<size_t>(Nk), 0.0);
      double run = -INFINITY;
      for (int64_t j = 0; j < valid; ++j) {
        run = std::max(run, k.rmax[static_cast<size_t>(j)]);
        pmax[static_cast<size_t>(j)] = Exponential(o.map) ? run : 0.0;
      }
      // Key features, each with the max when it was inserted (causal) or the
      // global one: mapped once per key, not once per (query, key) pair.
      std::vector<double> phk_all(static_cast<size_t>(std::max<int64_t>(valid, 0) * F));
      for (int64_t j = 0; j < valid; ++j) {
        const double cj = p.causal ? pmax[static_cast<size_t>(j)] : pmax[static_cast<size_t>(valid - 1)];
        MapRow(o, &p.k_data[Offset(p.k, b, hk, j, 0)], d, sqrt_s, &k.u[static_cast<size_t>(j * std::max<int64_t>(o.m, 1))],
               k.h[static_cast<size_t>(j)], cj, &phk_all[static_cast<size_t>(j * F)]);
      }
      std::vector<double> phq(static_cast<size_t>(F));
      for (int64_t i = 0; i < Nq; ++i) {
        MapRow(o, &p.q_data[Offset(p.q, b, h, i, 0)], d, sqrt_s, &q.u[static_cast<size_t>(i * std::max<int64_t>(o.m, 1))],
               q.h[static_cast<size_t>(i)], q.rmax[static_cast<size_t>(i)], phq.data());
        int64_t visible = valid;
        if (p.causal) visible = std::min(visible, std::max<int64_t>(0, i + 1 + Nk - Nq));
        const double ci = visible > 0 ? pmax[static_cast<size_t>((p.causal ? visible : valid) - 1)] : 0.0;
        double den = 0.0;
        std::vector<double> num(static_cast<size_t>(Dv), 0.0);
        // exp(cj - ci) changes only where the prefix max does (each call
        // is slow under qemu, the tests' arm64 runs).
        double c_last = ci, rescale = 1.0;
        for (int64_t j = 0; j < visible; ++j) {
          // Key j inserted with the max then (causal) or the global one.
          const double cj = p.causal ? pmax[static_cast<size_t>(j)] : ci;
          const double* phk = &phk_all[static_cast<size_t>(j * F)];
          if (Exponential(o.map) && cj != c_last) rescale = std::exp(cj - ci), c_last = cj;
          double wgt = 0.0;
          for (int64_t f = 0; f < F; ++f) wgt += phq[static_cast<size_t>(f)] * phk[f];
          wgt *= rescale;
          den += wgt;
          for (int64_t c = 0; c < Dv; ++c) num[static_cast<size_t>(c)] += wgt * p.v_data[Offset(p.v, b, hk, j, c)];
        }
        den = Guard(den);
        for (int64_t c = 0; c < Dv; ++c) {
          out[static_cast<size_t>(((b * Hq + h) * Nq + i) * Dv + c)] = num[static_cast<size_t>(c)] / den;
        }
      }
    }
  }
  return out;
}

std::vector<double> ReferenceFeatureMapRecurrence(const AttentionProblem& p,
                                                        const FeatureOptions& o) {
  const int64_t B = p.q.batch, Hq = p.q.heads, Hkv = p.k.heads, Nq = p.q.seq, Nk = p.k.seq;
  const int64_t d = p.q.dim, Dv = p.v.dim, F = FeatureCount(o, d);
  const double sqrt_s = o.map == LOWRANK_FEATURE_MAP_ELU ? 1.0 : std::sqrt(p.scale);
  std::vector<double> out(static_cast<size_t>(B * Hq * Nq * Dv), 0.0);
  for (int64_t b = 0; b < B; ++b) {
    const int64_t valid = p.key_lengths ? p.key_lengths[b] : Nk;
    for (int64_t h = 0; h < Hq; ++h) {
      const int64_t hk = h * Hkv / Hq, wh = o.w_heads == 1 ? 0 : hk;
      Features q, k;
      Project(o, p.q, p.q_data, b, h, wh, Nq, sqrt_s, &q, nullptr);
      Project(o, p.k, p.k_data, b, hk, wh, Nk, sqrt_s, &k, nullptr);
      std::vector<double> s(static_cast<size_t>(F * (Dv + 1)), 0.0), phq(static_cast<size_t>(F)),
          phk(static_cast<size_t>(F));
      double c = Exponential(o.map) ? -INFINITY : 0.0;
      if (!p.causal && Exponential(o.map)) {
        // Bidirectional: every key with the global max of the valid keys.
        for (int64_t j = 0; j < valid; ++j) c = std::max(c, k.rmax[static_cast<size_t>(j)]);
      }
      int64_t done = 0;
      for (int64_t i = 0; i < Nq; ++i) {
        const int64_t visible =
            p.causal ? std::min(valid, std::max<int64_t>(0, i + 1 + Nk - Nq)) : valid;
        for (; done < visible; ++done) {
          const double cn = Exponential(o.map) ? std::max(c, k.rmax[static_cast<size_t>(done)]) : 0.0;
          if (Exponential(o.map) && c != -INFINITY && cn > c) {
            for (double& x : s) x *= std::exp(c - cn);
          }
          c = cn;
          MapRow(o, &p.k_data[Offset(p.k, b, hk, done, 0)], d, sqrt_s, &k.u[static_cast<size_t>(done * std::max<int64_t>(o.m, 1))],
                 k.h[static_cast<size_t>(done)], c, phk.data());
          for (int64_t f = 0; f < F; ++f) {
            for (int64_t col = 0; col < Dv; ++col) {
              s[static_cast<size_t>(f * (Dv + 1) + col)] += phk[static_cast<size_t>(f)] * p.v_data[Offset(p.v, b, hk, done, col)];
            }
            s[static_cast<size_t>(f * (Dv + 1) + Dv)] += phk[static_cast<size_t>(f)];
          }
        }
        MapRow(o, &p.q_data[Offset(p.q, b, h, i, 0)], d, sqrt_s, &q.u[static_cast<size_t>(i * std::max<int64_t>(o.m, 1))],
               q.h[static_cast<size_t>(i)], q.rmax[static_cast<size_t>(i)], phq.data());
        std::vector<double> t(static_cast<size_t>(Dv + 1), 0.0);
        for (int64_t f = 0; f < F; ++f) {
          for (int64_t col = 0; col <= Dv; ++col) t[static_cast<size_t>(col)] += phq[static_cast<size_t>(f)] * s[static_cast<size_t>(f * (Dv + 1) + col)];
        }
        const double den = Guard(t[static_cast<size_t>(Dv)]);
        for (int64_t col = 0; col < Dv; ++col) {
          out[static_cast<size_t>(((b * Hq + h) * Nq + i) * Dv + col)] = t[static_cast<size_t>(col)] / den;
        }
      }
    }
  }
  return out;
}

double FeatureMapBound(const FeatureOptions& o, int64_t d, int64_t kv_len, double a) {
  const double u = std::ldexp(1.0, -24);
  const double F = static_cast<double>(o.map == LOWRANK_FEATURE_MAP_FAVOR_HYPERBOLIC ? 2 * o.m
                                       : (o.m == 0 || o.map == LOWRANK_FEATURE_MAP_ELU) ? d
                                                                                          : o.m);
  const double dd = static_cast<double>(d) + 2.0;
  double e_phi = 0.0;
  switch (o.map) {
    case LOWRANK_FEATURE_MAP_FAVOR:
    case LOWRANK_FEATURE_MAP_FAVOR_HYPERBOLIC:
      e_phi = 3.0 * dd * u * (a + 1.0) + 4e-7 + 8e-7;
      break;
    case LOWRANK_FEATURE_MAP_RELU:
      e_phi = dd * u * (a + 1.0) / o.eps + u;
      break;
    case LOWRANK_FEATURE_MAP_ELU:
      e_phi = 4e-7 + 2 * u;
      break;
  }
  const double e_w = 2.0 * e_phi + (F + 2.0) * u;
  return 2.0 * e_w + 2.0 * (static_cast<double>(kv_len) + 8.0) * u;
}

Bounded ReferenceFeatureMapBounded(const AttentionProblem& p, const FeatureOptions& o) {
  double a = 0.0;
  Bounded r;
  r.want = ReferenceFeatureMap(p, o, &a);
  r.tol.assign(r.want.size(), FeatureMapBound(o, p.q.dim, p.k.seq, a));
  return r;
}

}  // namespace lowrank_test
