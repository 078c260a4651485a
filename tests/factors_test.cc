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

  // Against the double reference and its derived bound (reference.h).
  AttentionProblem p{ud, wd, vd, od, u.data(), w.data(), v.data(),
                     c.padded ? lengths.data() : nullptr, 1.0, c.causal};
  const Bounded ref = ReferenceFactors(p, c.normalize);
  EXPECT_LE(WorstRatio(ref, od, o.data()), 1.0) << "worst error / bound";
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

// Sequences longer than one segment of the split reduction (SeqSplit in
// lib/kernels/lowrank_gemm.h: 2048-row segments below 32768 keys, 16
// segments above): partials summed in order, padding that leaves later
// segments empty (lengths 0, n / 2, n), several threads.
TEST_P(FactorsTest, SequenceSegments) {
  for (int64_t nk : {2048, 2049, 5000, 33000}) {
    for (bool normalize : {false, true}) {
      if (nk > 5000 && !normalize) continue;  // the 16-segment split once
      FactorsCase c;
      c.batch = 3, c.q_heads = 2, c.kv_heads = 1, c.q_len = 20, c.kv_len = nk;
      c.rank = 8, c.d_v = 16;
      c.normalize = normalize, c.padded = true, c.threads = 3;
      RunFactors(c);
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
