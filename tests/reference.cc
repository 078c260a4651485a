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
  // One head's K and V and one query row, converted to double once (the
  // tests run this under qemu too, where every conversion is a call).
  std::vector<double> kh(static_cast<size_t>(Nk * D)), vh(static_cast<size_t>(Nk * Dv)),
      qi(static_cast<size_t>(D));
  double worst_dot = 0.0;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t valid = p.key_lengths ? p.key_lengths[b] : Nk;
    for (int64_t h = 0; h < Hq; ++h) {
      const int64_t hk = h * Hkv / Hq;
      for (int64_t j = 0; j < Nk; ++j) {
        for (int64_t c = 0; c < D; ++c) kh[static_cast<size_t>(j * D + c)] = p.k_data[Offset(p.k, b, hk, j, c)];
        for (int64_t c = 0; c < Dv; ++c) vh[static_cast<size_t>(j * Dv + c)] = p.v_data[Offset(p.v, b, hk, j, c)];
      }
      for (int64_t i = 0; i < Nq; ++i) {
        int64_t visible = valid;
        if (p.causal) visible = std::min(visible, std::max<int64_t>(0, i + 1 + Nk - Nq));
        double* o = &out[static_cast<size_t>(((b * Hq + h) * Nq + i) * Dv)];
        if (visible <= 0) continue;
        for (int64_t c = 0; c < D; ++c) qi[static_cast<size_t>(c)] = p.q_data[Offset(p.q, b, h, i, c)];
        double mx = -INFINITY;
        for (int64_t j = 0; j < visible; ++j) {
          const double* kj = &kh[static_cast<size_t>(j * D)];
          double dot = 0.0, abs_dot = 0.0;
          for (int64_t c = 0; c < D; ++c) {
            const double xy = qi[static_cast<size_t>(c)] * kj[c];
            dot += xy;
            abs_dot += std::fabs(xy);
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
          const double* vj = &vh[static_cast<size_t>(j * Dv)];
          for (int64_t c = 0; c < Dv; ++c) o[c] += w * vj[c];
        }
      }
    }
  }
  if (max_abs_dot) *max_abs_dot = worst_dot;
  return out;
}

double WorstRatio(const Bounded& r, const lowrank_tensor_desc_t& out, const float* got) {
  double worst = 0.0;
  size_t at = 0;
  for (int64_t b = 0; b < out.batch; ++b)
    for (int64_t h = 0; h < out.heads; ++h)
      for (int64_t i = 0; i < out.seq; ++i)
        for (int64_t c = 0; c < out.dim; ++c, ++at) {
          const double g = got[Offset(out, b, h, i, c)];
          const double err = std::fabs(g - r.want[at]);
          if (!std::isfinite(g) || (err > 0.0 && r.tol[at] <= 0.0)) return INFINITY;
          if (err > 0.0) worst = std::max(worst, err / r.tol[at]);
        }
  return worst;
}

Bounded ReferenceFactors(const AttentionProblem& p, bool normalize) {
  const int64_t B = p.q.batch, Hq = p.q.heads, Hkv = p.k.heads;
  const int64_t Nq = p.q.seq, Nk = p.k.seq, R = p.q.dim, Dv = p.v.dim;
  const double unit = std::ldexp(1.0, -24);
  Bounded r;
  r.want.assign(static_cast<size_t>(B * Hq * Nq * Dv), 0.0);
  r.tol = r.want;
  std::vector<double> num(static_cast<size_t>(Dv)), mag(num);
  // Prefix states over the keys seen so far (limits only grow with i), so
  // the reference is O(n r d_v): S = W^T V and z = W^T 1 with their
  // absolute-value twins sum_j |w_jk v_jc| and sum_j |w_jk|.
  const size_t rk = static_cast<size_t>(R), dv = static_cast<size_t>(Dv);
  std::vector<double> S(rk * dv), Sabs(rk * dv), z(rk), zabs(rk);
  for (int64_t b = 0; b < B; ++b) {
    const int64_t valid = p.key_lengths ? p.key_lengths[b] : Nk;
    for (int64_t h = 0; h < Hq; ++h) {
      const int64_t hk = h * Hkv / Hq;
      std::fill(S.begin(), S.end(), 0.0), std::fill(Sabs.begin(), Sabs.end(), 0.0);
      std::fill(z.begin(), z.end(), 0.0), std::fill(zabs.begin(), zabs.end(), 0.0);
      int64_t added = 0;
      for (int64_t i = 0; i < Nq; ++i) {
        int64_t lim = valid;
        if (p.causal) lim = std::min(lim, std::max<int64_t>(0, i + 1 + Nk - Nq));
        for (; added < lim; ++added) {
          for (size_t k = 0; k < rk; ++k) {
            const double w = p.k_data[Offset(p.k, b, hk, added, static_cast<int64_t>(k))];
            z[k] += w, zabs[k] += std::fabs(w);
            for (size_t c = 0; c < dv; ++c) {
              const double vj = p.v_data[Offset(p.v, b, hk, added, static_cast<int64_t>(c))];
              S[k * dv + c] += w * vj, Sabs[k * dv + c] += std::fabs(w * vj);
            }
          }
        }
        std::fill(num.begin(), num.end(), 0.0);
        std::fill(mag.begin(), mag.end(), 0.0);
        double den = 0.0, den_abs = 0.0;
        for (size_t k = 0; k < rk; ++k) {
          const double x = p.q_data[Offset(p.q, b, h, i, static_cast<int64_t>(k))];
          den += x * z[k], den_abs += std::fabs(x) * zabs[k];
          for (size_t c = 0; c < dv; ++c) {
            num[c] += x * S[k * dv + c], mag[c] += std::fabs(x) * Sabs[k * dv + c];
          }
        }
        const double steps = static_cast<double>(lim + R + (p.causal ? 36 : 4)) * unit;
        const size_t at = static_cast<size_t>(((b * Hq + h) * Nq + i) * Dv);
        for (int64_t c = 0; c < Dv; ++c) {
          double want = num[static_cast<size_t>(c)], tol = steps * mag[static_cast<size_t>(c)];
          if (normalize) {
            // One side of the guard: the value and its bound for denominator e.
            auto side = [&](double e, double* w, double* t) {
              *w = want / e;
              *t = tol / std::fabs(e) + std::fabs(*w) * steps * den_abs / std::fabs(e);
            };
            const double guarded = den + 2e-6, e_den = steps * den_abs;
            double w1, t1;
            side(std::fabs(den) <= 1e-6 ? guarded : den, &w1, &t1);
            if (std::fabs(std::fabs(den) - 1e-6) <= e_den) {
              // The float denominator may fall on the other side.
              double w2, t2;
              side(std::fabs(den) <= 1e-6 ? den : guarded, &w2, &t2);
              t1 = std::max(t1, std::fabs(w2 - w1) + t2);
            }
            want = w1, tol = t1;
          }
          r.want[at + static_cast<size_t>(c)] = want;
          r.tol[at + static_cast<size_t>(c)] = tol;
        }
      }
    }
  }
  return r;
}

Bounded ReferenceLinformer(const AttentionProblem& p, const float* e_k, const float* e_v,
                           int64_t proj_heads, int64_t proj_dim, int64_t proj_max_len) {
  const int64_t B = p.q.batch, Hq = p.q.heads, Hkv = p.k.heads;
  const int64_t Nq = p.q.seq, Nk = p.k.seq, D = p.q.dim, Dv = p.v.dim, P = proj_dim;
  const double u = std::ldexp(1.0, -24);
  Bounded r;
  r.want.assign(static_cast<size_t>(B * Hq * Nq * Dv), 0.0);
  r.tol = r.want;
  std::vector<double> s(static_cast<size_t>(P));
  for (int64_t b = 0; b < B; ++b) {
    const int64_t valid = p.key_lengths ? p.key_lengths[b] : Nk;
    for (int64_t hk = 0; hk < Hkv; ++hk) {
      const int64_t eoff = (proj_heads == 1 ? 0 : hk) * P * proj_max_len;
      std::vector<double> kp(static_cast<size_t>(P * D), 0.0), kabs(kp);
      std::vector<double> vp(static_cast<size_t>(P * Dv), 0.0), vabs(vp);
      for (int64_t kk = 0; kk < P; ++kk) {
        for (int64_t j = 0; j < valid; ++j) {
          const double ekj = e_k[eoff + kk * proj_max_len + j];
          const double evj = e_v[eoff + kk * proj_max_len + j];
          for (int64_t c = 0; c < D; ++c) {
            const double x = p.k_data[Offset(p.k, b, hk, j, c)];
            kp[static_cast<size_t>(kk * D + c)] += ekj * x;
            kabs[static_cast<size_t>(kk * D + c)] += std::fabs(ekj * x);
          }
          for (int64_t c = 0; c < Dv; ++c) {
            const double x = p.v_data[Offset(p.v, b, hk, j, c)];
            vp[static_cast<size_t>(kk * Dv + c)] += evj * x;
            vabs[static_cast<size_t>(kk * Dv + c)] += std::fabs(evj * x);
          }
        }
      }
      double vmax = 0.0, dv_err = 0.0;
      for (size_t i = 0; i < vp.size(); ++i) {
        vmax = std::max(vmax, std::fabs(vp[i]));
        dv_err = std::max(dv_err, static_cast<double>(valid + 2) * u * vabs[i]);
      }
      for (int64_t h = hk * Hq / Hkv; h < (hk + 1) * Hq / Hkv; ++h) {
        for (int64_t i = 0; i < Nq; ++i) {
          double mx = -INFINITY, logit_err = 0.0;
          for (int64_t kk = 0; kk < P; ++kk) {
            double dot = 0.0, e1 = 0.0, e2 = 0.0;
            for (int64_t c = 0; c < D; ++c) {
              const double x = p.q_data[Offset(p.q, b, h, i, c)];
              const size_t at = static_cast<size_t>(kk * D + c);
              dot += x * kp[at];
              e1 += std::fabs(x) * static_cast<double>(valid + 2) * u * kabs[at];
              e2 += std::fabs(x * kp[at]);
            }
            s[static_cast<size_t>(kk)] = p.scale * dot;
            mx = std::max(mx, s[static_cast<size_t>(kk)]);
            logit_err = std::max(logit_err, std::fabs(p.scale) * (e1 + static_cast<double>(D + 2) * u * e2));
          }
          double sum = 0.0;
          for (double& x : s) sum += (x = std::exp(x - mx));
          const double tol = std::expm1(2.0 * logit_err) * vmax + dv_err +
                             2.0 * static_cast<double>(P + 1) * u * vmax + 4e-7 * vmax + 1e-12;
          const size_t at = static_cast<size_t>(((b * Hq + h) * Nq + i) * Dv);
          for (int64_t c = 0; c < Dv; ++c) {
            double want = 0.0;
            for (int64_t kk = 0; kk < P; ++kk) want += s[static_cast<size_t>(kk)] / sum * vp[static_cast<size_t>(kk * Dv + c)];
            r.want[at + static_cast<size_t>(c)] = want;
            r.tol[at + static_cast<size_t>(c)] = tol;
          }
        }
      }
    }
  }
  return r;
}

}  // namespace lowrank_test
