// Double-precision Nystrom reference (see nystrom_reference.h).
#include "nystrom_reference.h"

#include <algorithm>
#include <cmath>

#include "runtime/random.h"

namespace lowrank_test {
namespace {

using Mat = std::vector<double>;  // row-major

Mat MatMul(const Mat& a, const Mat& b, int64_t n, int64_t k, int64_t m) {
  Mat c(static_cast<size_t>(n * m), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t t = 0; t < k; ++t) {
      const double x = a[static_cast<size_t>(i * k + t)];
      for (int64_t j = 0; j < m; ++j) c[static_cast<size_t>(i * m + j)] += x * b[static_cast<size_t>(t * m + j)];
    }
  }
  return c;
}

void SoftmaxRowsInPlace(Mat& x, int64_t rows, int64_t cols) {
  for (int64_t i = 0; i < rows; ++i) {
    double* r = &x[static_cast<size_t>(i * cols)];
    const double mx = *std::max_element(r, r + cols);
    double s = 0.0;
    for (int64_t j = 0; j < cols; ++j) s += (r[j] = std::exp(r[j] - mx));
    for (int64_t j = 0; j < cols; ++j) r[j] /= s;
  }
}

double Frobenius(const Mat& x) {
  double s = 0.0;
  for (double v : x) s += v * v;
  return std::sqrt(s);
}

// The library's documented draws (nystrom-inl.h): stream seeds and
// selection sampling.
uint64_t StreamSeed(uint64_t seed, uint64_t stream) {
  return seed ^ ((stream + 1) * 0xD1B54A32D192ED03ull);
}

// Segment means of rows [0, n) of x (n x D), m segments, shorter first.
Mat SegmentMeans(const Mat& x, int64_t n, int64_t m, int64_t D) {
  Mat out(static_cast<size_t>(m * D), 0.0);
  const int64_t l = n / m, shorter = (l + 1) * m - n;
  int64_t start = 0;
  for (int64_t j = 0; j < m; ++j) {
    const int64_t len = j < shorter ? l : l + 1;
    for (int64_t t = 0; t < len; ++t) {
      for (int64_t c = 0; c < D; ++c) out[static_cast<size_t>(j * D + c)] += x[static_cast<size_t>((start + t) * D + c)];
    }
    for (int64_t c = 0; c < D && len > 0; ++c) out[static_cast<size_t>(j * D + c)] /= static_cast<double>(len);
    start += len;
  }
  return out;
}

struct Head {
  Mat q, k, v;  // rows of the head (all Nq / Nkv rows)
  Mat ql, kl;   // landmarks, mm rows
  int64_t mm = 0;
  Mat a;  // softmax(s ql kl^T)
  double colmax = 0.0;
  bool exact = false;
};

}  // namespace

std::vector<double> ReferenceNystrom(const AttentionProblem& p, const NystromOptions& o,
                                     std::vector<double>* norms, std::vector<double>* conds,
                                     double* kmeans_gap) {
  if (kmeans_gap) *kmeans_gap = INFINITY;
  const int64_t B = p.q.batch, Hq = p.q.heads, Hkv = p.k.heads;
  const int64_t Nq = p.q.seq, Nk = p.k.seq, D = p.q.dim, Dv = p.v.dim, m = o.m;
  const double s = p.scale;
  std::vector<Head> heads(static_cast<size_t>(B * Hq));
  std::vector<double> out(static_cast<size_t>(B * Hq * Nq * Dv), 0.0);
  if (norms) norms->assign(heads.size(), 0.0);
  if (conds) conds->assign(heads.size(), 0.0);
  double global_colmax = 0.0;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t n = p.key_lengths ? p.key_lengths[b] : Nk;
    for (int64_t h = 0; h < Hq; ++h) {
      Head& hd = heads[static_cast<size_t>(b * Hq + h)];
      const int64_t hk = h * Hkv / Hq;
      hd.q.resize(static_cast<size_t>(Nq * D));
      hd.k.resize(static_cast<size_t>(Nk * D));
      hd.v.resize(static_cast<size_t>(Nk * Dv));
      for (int64_t i = 0; i < Nq; ++i)
        for (int64_t c = 0; c < D; ++c) hd.q[static_cast<size_t>(i * D + c)] = p.q_data[Offset(p.q, b, h, i, c)];
      for (int64_t j = 0; j < Nk; ++j) {
        for (int64_t c = 0; c < D; ++c) hd.k[static_cast<size_t>(j * D + c)] = p.k_data[Offset(p.k, b, hk, j, c)];
        for (int64_t c = 0; c < Dv; ++c) hd.v[static_cast<size_t>(j * Dv + c)] = p.v_data[Offset(p.v, b, hk, j, c)];
      }
      if (o.exact_short_batches && m >= n) {
        hd.exact = true;
        continue;
      }
      switch (o.mode) {
        case LOWRANK_LANDMARKS_SEGMENT_MEANS:
        case LOWRANK_LANDMARKS_KMEANS: {
          hd.kl = SegmentMeans(hd.k, n, m, D);
          hd.ql = SegmentMeans(hd.q, Nq == Nk ? n : Nq, m, D);
          hd.mm = m;
          if (o.mode != LOWRANK_LANDMARKS_KMEANS) break;
          lowrank::Rng rng(StreamSeed(o.seed, static_cast<uint64_t>(b * Hq + h)));
          std::vector<int64_t> assign(static_cast<size_t>(n));
          for (int it = 0; it < o.kmeans_iterations; ++it) {
            const int64_t mc = hd.mm;
            for (int64_t i = 0; i < n; ++i) {
              int64_t best = 0;
              double best_cost = INFINITY, second = INFINITY;
              for (int64_t j = 0; j < mc; ++j) {
                double c2 = 0.0, dot = 0.0;
                for (int64_t c = 0; c < D; ++c) {
                  const double cq = hd.ql[static_cast<size_t>(j * D + c)], ck = hd.kl[static_cast<size_t>(j * D + c)];
                  c2 += cq * cq + ck * ck;
                  dot += hd.q[static_cast<size_t>(i * D + c)] * cq + hd.k[static_cast<size_t>(i * D + c)] * ck;
                }
                const double cost = c2 - 2.0 * dot;
                if (cost < best_cost) {
                  second = best_cost, best_cost = cost, best = j;
                } else {
                  second = std::min(second, cost);
                }
              }
              if (kmeans_gap) *kmeans_gap = std::min(*kmeans_gap, second - best_cost);
              assign[static_cast<size_t>(i)] = best;
            }
            Mat sq(static_cast<size_t>(mc * D), 0.0), sk(static_cast<size_t>(mc * D), 0.0);
            std::vector<int64_t> count(static_cast<size_t>(mc), 0);
            for (int64_t i = 0; i < n; ++i) {
              const int64_t j = assign[static_cast<size_t>(i)];
              ++count[static_cast<size_t>(j)];
              for (int64_t c = 0; c < D; ++c) {
                sq[static_cast<size_t>(j * D + c)] += hd.q[static_cast<size_t>(i * D + c)];
                sk[static_cast<size_t>(j * D + c)] += hd.k[static_cast<size_t>(i * D + c)];
              }
            }
            const bool last = it + 1 == o.kmeans_iterations;
            Mat nq, nk;
            for (int64_t j = 0; j < mc; ++j) {
              const int64_t cnt = count[static_cast<size_t>(j)];
              if (cnt > 0) {
                for (int64_t c = 0; c < D; ++c) nq.push_back(sq[static_cast<size_t>(j * D + c)] / static_cast<double>(cnt));
                for (int64_t c = 0; c < D; ++c) nk.push_back(sk[static_cast<size_t>(j * D + c)] / static_cast<double>(cnt));
              } else if (!last) {
                const int64_t t = static_cast<int64_t>(rng.Next() % static_cast<uint64_t>(n));
                for (int64_t c = 0; c < D; ++c) nq.push_back(hd.q[static_cast<size_t>(t * D + c)]);
                for (int64_t c = 0; c < D; ++c) nk.push_back(hd.k[static_cast<size_t>(t * D + c)]);
              }
            }
            hd.ql = nq, hd.kl = nk;
            hd.mm = static_cast<int64_t>(nq.size()) / D;
          }
          break;
        }
        case LOWRANK_LANDMARKS_RANDOM:
        case LOWRANK_LANDMARKS_POSITIONS: {
          std::vector<int64_t> pos(static_cast<size_t>(m));
          if (o.mode == LOWRANK_LANDMARKS_RANDOM) {
            lowrank::Rng rng(StreamSeed(o.seed, static_cast<uint64_t>(b)));
            int64_t needed = m, got = 0;
            for (int64_t t = 0; t < n && needed > 0; ++t) {
              if (static_cast<double>(n - t) * rng.Uniform() < static_cast<double>(needed)) {
                pos[static_cast<size_t>(got++)] = t;
                --needed;
              }
            }
          } else {
            pos.assign(o.positions, o.positions + m);
          }
          for (int64_t j = 0; j < m; ++j) {
            const int64_t t = pos[static_cast<size_t>(j)];
            if (t >= n) continue;
            for (int64_t c = 0; c < D; ++c) hd.ql.push_back(hd.q[static_cast<size_t>(t * D + c)]);
            for (int64_t c = 0; c < D; ++c) hd.kl.push_back(hd.k[static_cast<size_t>(t * D + c)]);
            ++hd.mm;
          }
          break;
        }
      }
      if (hd.mm == 0) continue;
      Mat klt(static_cast<size_t>(D * hd.mm));
      for (int64_t j = 0; j < hd.mm; ++j)
        for (int64_t c = 0; c < D; ++c) klt[static_cast<size_t>(c * hd.mm + j)] = hd.kl[static_cast<size_t>(j * D + c)];
      hd.a = MatMul(hd.ql, klt, hd.mm, D, hd.mm);
      for (double& x : hd.a) x *= s;
      SoftmaxRowsInPlace(hd.a, hd.mm, hd.mm);
      for (int64_t j = 0; j < hd.mm; ++j) {
        double cs = 0.0;
        for (int64_t i = 0; i < hd.mm; ++i) cs += hd.a[static_cast<size_t>(i * hd.mm + j)];
        hd.colmax = std::max(hd.colmax, cs);
      }
      global_colmax = std::max(global_colmax, hd.colmax);
    }
  }
  for (int64_t b = 0; b < B; ++b) {
    const int64_t n = p.key_lengths ? p.key_lengths[b] : Nk;
    for (int64_t h = 0; h < Hq; ++h) {
      Head& hd = heads[static_cast<size_t>(b * Hq + h)];
      double* o_bh = &out[static_cast<size_t>((b * Hq + h) * Nq * Dv)];
      if (hd.exact) {
        for (int64_t i = 0; i < Nq && n > 0; ++i) {
          Mat row(static_cast<size_t>(n));
          for (int64_t j = 0; j < n; ++j) {
            double dot = 0.0;
            for (int64_t c = 0; c < D; ++c) dot += hd.q[static_cast<size_t>(i * D + c)] * hd.k[static_cast<size_t>(j * D + c)];
            row[static_cast<size_t>(j)] = s * dot;
          }
          SoftmaxRowsInPlace(row, 1, n);
          for (int64_t j = 0; j < n; ++j)
            for (int64_t c = 0; c < Dv; ++c) o_bh[i * Dv + c] += row[static_cast<size_t>(j)] * hd.v[static_cast<size_t>(j * Dv + c)];
        }
      } else if (hd.mm > 0) {
        const int64_t mm = hd.mm;
        // Z by Newton-Schulz.
        double rowmax = 0.0;
        for (int64_t i = 0; i < mm; ++i) {
          double rs = 0.0;
          for (int64_t j = 0; j < mm; ++j) rs += std::fabs(hd.a[static_cast<size_t>(i * mm + j)]);
          rowmax = std::max(rowmax, rs);
        }
        const double c0 = o.original_init ? global_colmax : hd.colmax * rowmax;
        Mat z(static_cast<size_t>(mm * mm));
        for (int64_t i = 0; i < mm; ++i)
          for (int64_t j = 0; j < mm; ++j) z[static_cast<size_t>(i * mm + j)] = hd.a[static_cast<size_t>(j * mm + i)] / c0;
        auto shift = [&](double k, Mat x) {
          for (double& e : x) e = -e;
          for (int64_t i = 0; i < mm; ++i) x[static_cast<size_t>(i * mm + i)] += k;
          return x;
        };
        for (int it = 0; it < o.pinv_iterations; ++it) {
          const Mat az = MatMul(hd.a, z, mm, mm, mm);
          Mat t = MatMul(az, shift(7.0, az), mm, mm, mm);
          t = MatMul(az, shift(15.0, t), mm, mm, mm);
          t = MatMul(z, shift(13.0, t), mm, mm, mm);
          for (double& e : t) e *= 0.25;
          z = t;
        }
        // B V over the valid keys.
        Mat bv(static_cast<size_t>(mm * Dv), 0.0);
        for (int64_t i = 0; i < mm; ++i) {
          Mat row(static_cast<size_t>(n));
          for (int64_t j = 0; j < n; ++j) {
            double dot = 0.0;
            for (int64_t c = 0; c < D; ++c) dot += hd.ql[static_cast<size_t>(i * D + c)] * hd.k[static_cast<size_t>(j * D + c)];
            row[static_cast<size_t>(j)] = s * dot;
          }
          SoftmaxRowsInPlace(row, 1, n);
          for (int64_t j = 0; j < n; ++j)
            for (int64_t c = 0; c < Dv; ++c) bv[static_cast<size_t>(i * Dv + c)] += row[static_cast<size_t>(j)] * hd.v[static_cast<size_t>(j * Dv + c)];
        }
        const Mat w = MatMul(z, bv, mm, mm, Dv);
        // F = softmax(s Q K~^T).
        Mat klt(static_cast<size_t>(D * mm));
        for (int64_t j = 0; j < mm; ++j)
          for (int64_t c = 0; c < D; ++c) klt[static_cast<size_t>(c * mm + j)] = hd.kl[static_cast<size_t>(j * D + c)];
        Mat f = MatMul(hd.q, klt, Nq, D, mm);
        for (double& x : f) x *= s;
        SoftmaxRowsInPlace(f, Nq, mm);
        const Mat ob = MatMul(f, w, Nq, mm, Dv);
        std::copy(ob.begin(), ob.end(), o_bh);
        if (norms) (*norms)[static_cast<size_t>(b * Hq + h)] = Frobenius(f) * Frobenius(z) * Frobenius(bv);
        if (conds) (*conds)[static_cast<size_t>(b * Hq + h)] = Frobenius(hd.a) * Frobenius(z);
      }
      if (o.conv != nullptr) {
        const float* wts = o.conv + h * o.conv_kernel;
        for (int64_t i = 0; i < Nq; ++i) {
          for (int64_t t = 0; t < o.conv_kernel; ++t) {
            const int64_t j = i + t - o.conv_kernel / 2;
            if (j < 0 || j >= n) continue;
            for (int64_t c = 0; c < Dv; ++c) o_bh[i * Dv + c] += wts[t] * hd.v[static_cast<size_t>(j * Dv + c)];
          }
        }
      }
    }
  }
  return out;
}

double NystromBound(const NystromOptions& o, int64_t kv_len, int64_t d, double norm,
                    double kappa) {
  const double u = std::ldexp(1.0, -24);
  const double m = static_cast<double>(o.m), dd = static_cast<double>(d);
  const double e_f = (dd + 8) * u + 4e-7;
  const double e_bv = (static_cast<double>(kv_len) + dd + 8) * u + 4e-7;
  const double e_z = (4.0 * o.pinv_iterations * (m + 2) * kappa + dd + 8 + m + 2) * u;
  return (e_f + e_bv + e_z) * norm;
}

double NystromPlainBound(const NystromOptions& o, int64_t kv_len, int64_t q_len, int64_t d_v,
                         double v_max) {
  const double k = static_cast<double>(o.conv_kernel);
  return (static_cast<double>(kv_len) + k + 8.0) * (1.0 + k) * v_max * std::ldexp(1.0, -24) *
         std::sqrt(static_cast<double>(q_len * d_v));
}

Bounded ReferenceNystromBounded(const AttentionProblem& p, const NystromOptions& o, double v_max,
                                double* kmeans_gap) {
  std::vector<double> norms, conds;
  Bounded r;
  r.want = ReferenceNystrom(p, o, &norms, &conds, kmeans_gap);
  r.tol.resize(r.want.size());
  const size_t per_head = static_cast<size_t>(p.q.seq * p.v.dim);
  for (size_t bh = 0; bh < norms.size(); ++bh) {
    const double t = NystromBound(o, p.k.seq, p.q.dim, norms[bh], conds[bh]) +
                     NystromPlainBound(o, p.k.seq, p.q.seq, p.v.dim, v_max);
    std::fill(r.tol.begin() + static_cast<std::ptrdiff_t>(bh * per_head),
              r.tol.begin() + static_cast<std::ptrdiff_t>((bh + 1) * per_head), t);
  }
  return r;
}

}  // namespace lowrank_test
