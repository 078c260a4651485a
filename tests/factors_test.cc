// Low-rank factors attention, O = U (W^T V) and its normalized form, on
// every target: against a double-precision reference, and the identity
// U = softmax(Q K^T / sqrt d), W = I giving exact attention.
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "lowrank/lowrank.hpp"
#include "per_isa.h"
#include "reference.h"

namespace lowrank_test {
namespace {

struct FactorsCase {
  int64_t batch = 1, q_heads = 1, kv_heads = 1, q_len = 1, kv_len = 1, rank = 1, d_v = 1;
  bool normalize = false, padded = false, bshd = false, causal = false;
  int threads = 1;
};

lowrank::TensorDesc Desc(bool bshd, int64_t b, int64_t h, int64_t s, int64_t d) {
  return bshd ? lowrank::TensorDesc::BSHD(b, s, h, d) : lowrank::TensorDesc::BHSD(b, h, s, d);
}

void RunFactors(const FactorsCase& c) {
  SCOPED_TRACE(::testing::Message() << "B" << c.batch << " Hq" << c.q_heads << " Hkv" << c.kv_heads
                                    << " Nq" << c.q_len << " Nkv" << c.kv_len << " r" << c.rank
                                    << " dv" << c.d_v << (c.normalize ? " norm" : "")
                                    << (c.padded ? " padded" : "") << (c.bshd ? " bshd" : "")
                                    << (c.causal ? " causal" : "")
                                    << " T" << c.threads);
  std::mt19937 rng(static_cast<unsigned>(c.q_len * 7 + c.kv_len * 13 + c.rank));
  // Normalized factors are nonnegative in practice (feature maps).
  std::uniform_real_distribution<float> feat(c.normalize ? 0.0f : -1.0f, 1.0f);
  std::uniform_real_distribution<float> val(-1.0f, 1.0f);
  const auto ud = Desc(c.bshd, c.batch, c.q_heads, c.q_len, c.rank);
  const auto wd = Desc(c.bshd, c.batch, c.kv_heads, c.kv_len, c.rank);
  const auto vd = Desc(c.bshd, c.batch, c.kv_heads, c.kv_len, c.d_v);
  const auto od = Desc(c.bshd, c.batch, c.q_heads, c.q_len, c.d_v);
  std::vector<float> u(static_cast<size_t>(c.batch * c.q_heads * c.q_len * c.rank));
  std::vector<float> w(static_cast<size_t>(c.batch * c.kv_heads * c.kv_len * c.rank));
  std::vector<float> v(static_cast<size_t>(c.batch * c.kv_heads * c.kv_len * c.d_v));
  std::vector<float> o(static_cast<size_t>(c.batch * c.q_heads * c.q_len * c.d_v), 777.0f);
  for (float& x : u) x = feat(rng);
  for (float& x : w) x = feat(rng);
  for (float& x : v) x = val(rng);
  std::vector<int32_t> lengths;
  for (int64_t b = 0; b < c.batch; ++b) {
    lengths.push_back(static_cast<int32_t>(b % 3 == 1 ? 0 : (b % 3 == 2 ? c.kv_len / 2 : c.kv_len)));
  }
  lowrank::Options opt;
  opt.method = LOWRANK_METHOD_FACTORS;
  opt.normalize = c.normalize ? 1 : 0;
  opt.causal = c.causal ? 1 : 0;
  opt.num_threads = c.threads;
  lowrank::Plan plan;
  lowrank::Status st = plan.Create(opt, ud, wd, vd, od);
  ASSERT_TRUE(st.ok()) << st.ToString();
  st = plan.Execute(u.data(), w.data(), v.data(), c.padded ? lengths.data() : nullptr, o.data());
  ASSERT_TRUE(st.ok()) << st.ToString();

  // Bound: S = W^T V is an n-term float sum, O = U S an r-term one, so
  // |dO| <= (n + r + 4) u sum_k |u_k| sum_j |w_jk v_jc| (u = 2^-24); the
  // normalized output adds the same relative error of the denominator.
  const double unit = std::ldexp(1.0, -24);
  double worst = 0.0;
  // One output against its double value and bound (see above).
  auto check = [&](double num, double mag, double den, double den_abs, double steps, float got) {
    double want = num, tol = steps * mag;
    if (c.normalize) {
      if (std::fabs(den) <= 1e-6) den += 2e-6;
      want /= den;
      tol = tol / std::fabs(den) + std::fabs(want) * steps * den_abs / std::fabs(den);
    }
    const double ratio = std::fabs(got - want) / (tol + 1e-30);
    worst = std::max(worst, std::isnan(got) ? INFINITY : ratio);
  };
  if (c.causal) {
    // Row i: keys j < min(valid, i + 1 + Nkv - Nq). The prefix state is
    // summed in pieces plus up to 16 row-by-row keys: the count of float
    // additions per output stays below n + r + 36.
    for (int64_t b = 0; b < c.batch; ++b) {
      const int64_t valid = c.padded ? lengths[static_cast<size_t>(b)] : c.kv_len;
      for (int64_t h = 0; h < c.q_heads; ++h) {
        const int64_t hk = h * c.kv_heads / c.q_heads;
        for (int64_t i = 0; i < c.q_len; ++i) {
          const int64_t lim = std::max<int64_t>(0, std::min(valid, i + 1 + c.kv_len - c.q_len));
          std::vector<double> num(static_cast<size_t>(c.d_v), 0.0), mag(num);
          double den = 0, den_abs = 0;
          for (int64_t j = 0; j < lim; ++j) {
            double uw = 0, uw_abs = 0;
            for (int64_t k = 0; k < c.rank; ++k) {
              const double x = u[static_cast<size_t>(Offset(ud, b, h, i, k))];
              const double y = w[static_cast<size_t>(Offset(wd, b, hk, j, k))];
              uw += x * y, uw_abs += std::fabs(x * y);
            }
            den += uw, den_abs += uw_abs;
            for (int64_t col = 0; col < c.d_v; ++col) {
              const double vj = v[static_cast<size_t>(Offset(vd, b, hk, j, col))];
              num[static_cast<size_t>(col)] += uw * vj;
              mag[static_cast<size_t>(col)] += uw_abs * std::fabs(vj);
            }
          }
          const double steps = static_cast<double>(lim + c.rank + 36) * unit;
          for (int64_t col = 0; col < c.d_v; ++col) {
            check(num[static_cast<size_t>(col)], mag[static_cast<size_t>(col)], den, den_abs, steps,
                  o[static_cast<size_t>(Offset(od, b, h, i, col))]);
          }
        }
      }
    }
    EXPECT_LE(worst, 1.0) << "worst error / bound";
    return;
  }
  for (int64_t b = 0; b < c.batch; ++b) {
    const int64_t n = c.padded ? lengths[static_cast<size_t>(b)] : c.kv_len;
    for (int64_t h = 0; h < c.q_heads; ++h) {
      const int64_t hk = h * c.kv_heads / c.q_heads;
      // S = W^T V, z = W^T 1 in double, with their absolute-value twins.
      const size_t rk = static_cast<size_t>(c.rank), dv = static_cast<size_t>(c.d_v);
      std::vector<double> S(rk * dv, 0.0), Sabs(rk * dv, 0.0), z(rk, 0.0), zabs(rk, 0.0);
      for (int64_t j = 0; j < n; ++j) {
        for (size_t k = 0; k < rk; ++k) {
          const double wj = w[static_cast<size_t>(Offset(wd, b, hk, j, static_cast<int64_t>(k)))];
          z[k] += wj, zabs[k] += std::fabs(wj);
          for (size_t col = 0; col < dv; ++col) {
            const double vj = v[static_cast<size_t>(Offset(vd, b, hk, j, static_cast<int64_t>(col)))];
            S[k * dv + col] += wj * vj;
            Sabs[k * dv + col] += std::fabs(wj * vj);
          }
        }
      }
      for (int64_t i = 0; i < c.q_len; ++i) {
        double den = 0, den_abs = 0;
        std::vector<double> num(dv, 0.0), mag(dv, 0.0);
        for (size_t k = 0; k < rk; ++k) {
          const double uk = u[static_cast<size_t>(Offset(ud, b, h, i, static_cast<int64_t>(k)))];
          den += uk * z[k], den_abs += std::fabs(uk) * zabs[k];
          for (size_t col = 0; col < dv; ++col) {
            num[col] += uk * S[k * dv + col];
            mag[col] += std::fabs(uk) * Sabs[k * dv + col];
          }
        }
        const double steps = static_cast<double>(n + c.rank + 4) * unit;
        for (size_t col = 0; col < dv; ++col) {
          check(num[col], mag[col], den, den_abs, steps,
                o[static_cast<size_t>(Offset(od, b, h, i, static_cast<int64_t>(col)))]);
        }
      }
    }
  }
  EXPECT_LE(worst, 1.0) << "worst error / bound";
}

class FactorsTest : public PerIsaTest {};

TEST_P(FactorsTest, AgainstReference) {
  for (int64_t rank : {1, 5, 6, 7, 64, 65}) {
    for (int64_t dv : {1, 16, 17, 64}) {
      FactorsCase c;
      c.q_len = 70, c.kv_len = 300, c.rank = rank, c.d_v = dv;
      RunFactors(c);
    }
  }
  for (int64_t n : {1, 63, 64, 65, 257, 1000}) {
    FactorsCase c;
    c.q_len = n, c.kv_len = n, c.rank = 32, c.d_v = 24;
    RunFactors(c);
  }
}

// Causal prefix sums: q_len <, = and > kv_len, chunk edges (16), padding,
// normalization, GQA, threads.
TEST_P(FactorsTest, Causal) {
  for (auto [nq, nk] : {std::pair<int64_t, int64_t>{1, 1}, {15, 15}, {16, 16}, {17, 40},
                        {100, 100}, {40, 17}, {300, 600}}) {
    for (bool normalize : {false, true}) {
      FactorsCase c;
      c.batch = 3, c.q_heads = 2, c.kv_heads = 1;
      c.q_len = nq, c.kv_len = nk, c.rank = 7, c.d_v = 17;
      c.causal = true, c.normalize = normalize, c.padded = normalize;
      c.threads = normalize ? 2 : 1;
      RunFactors(c);
    }
  }
}

TEST_P(FactorsTest, NormalizeMasksHeadsLayoutsThreads) {
  FactorsCase c;
  c.batch = 3, c.q_heads = 4, c.kv_heads = 2, c.q_len = 300, c.kv_len = 200;
  c.rank = 16, c.d_v = 32;
  for (bool normalize : {false, true}) {
    for (bool padded : {false, true}) {
      for (bool bshd : {false, true}) {
        c.normalize = normalize, c.padded = padded, c.bshd = bshd;
        c.threads = bshd ? 3 : 1;
        RunFactors(c);
      }
    }
  }
}

// U = the exact attention matrix of (Q, K), W = identity (r = Nkv): the
// factors method computes exact attention, normalized or not.
TEST_P(FactorsTest, IdentityFactorsGiveExactAttention) {
  const int64_t nq = 37, nk = 50, d = 8, dv = 12;
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> q(nq * d), k(nk * d), v(nk * dv);
  for (float& x : q) x = dist(rng);
  for (float& x : k) x = dist(rng);
  for (float& x : v) x = dist(rng);
  std::vector<float> u(nq * nk), w(nk * nk, 0.0f);
  for (int64_t i = 0; i < nq; ++i) {
    std::vector<double> s(nk);
    double mx = -INFINITY, sum = 0;
    for (int64_t j = 0; j < nk; ++j) {
      double dot = 0;
      for (int64_t c = 0; c < d; ++c) dot += static_cast<double>(q[i * d + c]) * k[j * d + c];
      s[j] = dot / std::sqrt(static_cast<double>(d));
      mx = std::max(mx, s[j]);
    }
    for (auto& x : s) sum += (x = std::exp(x - mx));
    for (int64_t j = 0; j < nk; ++j) u[i * nk + j] = static_cast<float>(s[j] / sum);
  }
  for (int64_t j = 0; j < nk; ++j) w[j * nk + j] = 1.0f;
  AttentionProblem p{lowrank::TensorDesc::BHSD(1, 1, nq, d), lowrank::TensorDesc::BHSD(1, 1, nk, d),
                     lowrank::TensorDesc::BHSD(1, 1, nk, dv), lowrank::TensorDesc::BHSD(1, 1, nq, dv),
                     q.data(), k.data(), v.data(), nullptr, 1.0 / std::sqrt(double(d)), false};
  const std::vector<double> ref = ReferenceAttention(p);
  for (int normalize : {0, 1}) {
    lowrank::Options opt;
    opt.method = LOWRANK_METHOD_FACTORS;
    opt.normalize = normalize;
    lowrank::Plan plan;
    std::vector<float> o(nq * dv);
    ASSERT_TRUE(plan.Create(opt, lowrank::TensorDesc::BHSD(1, 1, nq, nk),
                            lowrank::TensorDesc::BHSD(1, 1, nk, nk),
                            lowrank::TensorDesc::BHSD(1, 1, nk, dv),
                            lowrank::TensorDesc::BHSD(1, 1, nq, dv))
                    .ok());
    ASSERT_TRUE(plan.Execute(u.data(), w.data(), v.data(), nullptr, o.data()).ok());
    // U rounded to float (u/2 relative) plus two short float sums (n = 50):
    // 1e-5 covers (50 + 50 + 4) 2^-24 with room; a wrong factor order or
    // mask would be off by O(1).
    for (size_t i = 0; i < o.size(); ++i) EXPECT_NEAR(o[i], ref[i], 1e-5) << i << " norm " << normalize;
  }
}

LOWRANK_INSTANTIATE_PER_ISA(FactorsTest);

TEST(FactorsApi, RejectsWhatItDoesNotSupport) {
  const auto u = lowrank::TensorDesc::BHSD(1, 2, 10, 4), v = lowrank::TensorDesc::BHSD(1, 2, 10, 3);
  lowrank::Plan plan;
  lowrank::Options opt;
  opt.method = LOWRANK_METHOD_FACTORS;
  opt.scale = 0.5f;
  lowrank::Status st = plan.Create(opt, u, u, v, v);
  EXPECT_EQ(st.code(), LOWRANK_INVALID_ARGUMENT);
  EXPECT_NE(st.message().find("scale must be 0"), std::string::npos) << st.message();
  opt.scale = 0.0f;
  opt.normalize = 2;
  EXPECT_EQ(plan.Create(opt, u, u, v, v).code(), LOWRANK_INVALID_ARGUMENT);
  opt.normalize = 0;
  auto strided = u;
  strided.stride_dim = 2, strided.stride_seq = 8, strided.stride_head = 80, strided.stride_batch = 160;
  st = plan.Create(opt, strided, u, v, v);
  EXPECT_EQ(st.code(), LOWRANK_UNSUPPORTED);
  EXPECT_NE(st.message().find("dim stride"), std::string::npos) << st.message();
  lowrank::Options exact;
  exact.normalize = 1;
  st = plan.Create(exact, u, u, v, v);
  EXPECT_EQ(st.code(), LOWRANK_INVALID_ARGUMENT);
  EXPECT_NE(st.message().find("factors method only"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace lowrank_test
