// Linformer on every target: identity projections give exact attention, and
// every option matches a double-precision reference of the same algorithm
// (masked keys removed before projecting). Also the projection initializers.
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

struct LinCase {
  int64_t batch = 1, q_heads = 1, kv_heads = 1, q_len = 10, kv_len = 10, d = 8, d_v = 8;
  int64_t proj_dim = 4, proj_max_len = 10, proj_heads = 1;
  bool separate_v = false, padded = false, bshd = false;
  int threads = 1;
};

lowrank::TensorDesc Desc(bool bshd, int64_t b, int64_t h, int64_t s, int64_t d) {
  return bshd ? lowrank::TensorDesc::BSHD(b, s, h, d) : lowrank::TensorDesc::BHSD(b, h, s, d);
}

void RunLinformer(const LinCase& c) {
  SCOPED_TRACE(::testing::Message() << "B" << c.batch << " Hq" << c.q_heads << " Hkv" << c.kv_heads
                                    << " Nq" << c.q_len << " Nkv" << c.kv_len << " d" << c.d
                                    << "/" << c.d_v << " k" << c.proj_dim << " nmax"
                                    << c.proj_max_len << " ph" << c.proj_heads
                                    << (c.separate_v ? " EV" : "") << (c.padded ? " padded" : "")
                                    << (c.bshd ? " bshd" : "") << " T" << c.threads);
  std::mt19937 rng(static_cast<unsigned>(c.kv_len * 3 + c.proj_dim));
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  const auto qd = Desc(c.bshd, c.batch, c.q_heads, c.q_len, c.d);
  const auto kd = Desc(c.bshd, c.batch, c.kv_heads, c.kv_len, c.d);
  const auto vd = Desc(c.bshd, c.batch, c.kv_heads, c.kv_len, c.d_v);
  const auto od = Desc(c.bshd, c.batch, c.q_heads, c.q_len, c.d_v);
  std::vector<float> q(static_cast<size_t>(c.batch * c.q_heads * c.q_len * c.d));
  std::vector<float> k(static_cast<size_t>(c.batch * c.kv_heads * c.kv_len * c.d));
  std::vector<float> v(static_cast<size_t>(c.batch * c.kv_heads * c.kv_len * c.d_v));
  std::vector<float> o(static_cast<size_t>(c.batch * c.q_heads * c.q_len * c.d_v));
  for (auto* x : {&q, &k, &v}) {
    for (float& f : *x) f = dist(rng);
  }
  const size_t e_count = static_cast<size_t>(c.proj_heads * c.proj_dim * c.proj_max_len);
  std::vector<float> ek(e_count), ev(e_count);
  ASSERT_EQ(lowrank_projection_init(ek.data(), c.proj_heads, c.proj_dim, c.proj_max_len,
                                    LOWRANK_PROJECTION_UNIFORM, 1),
            LOWRANK_OK);
  ASSERT_EQ(lowrank_projection_init(ev.data(), c.proj_heads, c.proj_dim, c.proj_max_len,
                                    LOWRANK_PROJECTION_XAVIER_UNIFORM, 2),
            LOWRANK_OK);
  std::vector<int32_t> lengths;
  for (int64_t b = 0; b < c.batch; ++b) {
    lengths.push_back(static_cast<int32_t>(b % 3 == 1 ? 0 : (b % 3 == 2 ? c.kv_len / 3 : c.kv_len)));
  }
  lowrank::Options opt;
  opt.method = LOWRANK_METHOD_LINFORMER;
  opt.proj_k = ek.data();
  opt.proj_v = c.separate_v ? ev.data() : nullptr;
  opt.proj_heads = c.proj_heads;
  opt.proj_dim = c.proj_dim;
  opt.proj_max_len = c.proj_max_len;
  opt.num_threads = c.threads;
  lowrank::Plan plan;
  lowrank::Status st = plan.Create(opt, qd, kd, vd, od);
  ASSERT_TRUE(st.ok()) << st.ToString();
  // The plan copied the projections: changing them now changes nothing.
  std::fill(ek.begin(), ek.end(), 0.0f);
  ASSERT_EQ(lowrank_projection_init(ek.data(), c.proj_heads, c.proj_dim, c.proj_max_len,
                                    LOWRANK_PROJECTION_UNIFORM, 1),
            LOWRANK_OK);
  std::vector<float> ek_copy = ek;
  std::fill(ek.begin(), ek.end(), 99.0f);
  st = plan.Execute(q.data(), k.data(), v.data(), c.padded ? lengths.data() : nullptr, o.data());
  ASSERT_TRUE(st.ok()) << st.ToString();

  AttentionProblem p{qd, kd, vd, od, q.data(), k.data(), v.data(),
                     c.padded ? lengths.data() : nullptr,
                     1.0 / std::sqrt(static_cast<double>(c.d)), false};
  const Bounded ref =
      ReferenceLinformer(p, ek_copy.data(), c.separate_v ? ev.data() : ek_copy.data(),
                         c.proj_heads, c.proj_dim, c.proj_max_len);
  EXPECT_LE(WorstRatio(ref, od, o.data()), 1.0) << "worst error / bound";
}

class LinformerTest : public PerIsaTest {};

TEST_P(LinformerTest, AgainstReference) {
  for (int64_t k : {1, 7, 64, 256}) {
    for (int64_t n : {1, 63, 64, 65, 300}) {
      LinCase c;
      c.q_len = 50, c.kv_len = n, c.proj_max_len = n + 5, c.proj_dim = k;
      c.d = 16, c.d_v = 24;
      RunLinformer(c);
    }
  }
}

TEST_P(LinformerTest, MasksHeadsSharingLayoutsThreads) {
  LinCase c;
  c.batch = 3, c.q_heads = 4, c.kv_heads = 2, c.q_len = 70, c.kv_len = 200;
  c.proj_max_len = 256, c.proj_dim = 32, c.d = 8, c.d_v = 20;
  for (int64_t ph : {1, 2}) {
    for (bool sep : {false, true}) {
      c.proj_heads = ph, c.separate_v = sep, c.padded = sep, c.bshd = ph == 2;
      c.threads = sep ? 3 : 1;
      RunLinformer(c);
    }
  }
}

// Sequences longer than one segment of the split projections (SeqSplit):
// partials summed in order, padded batches, separate E_V, several threads.
TEST_P(LinformerTest, SequenceSegments) {
  for (int64_t n : {2049, 5000}) {
    LinCase c;
    c.batch = 3, c.q_len = 20, c.kv_len = n, c.proj_max_len = n + 3, c.proj_dim = 16;
    c.d = 8, c.d_v = 12;
    c.separate_v = true, c.padded = true, c.threads = 3;
    RunLinformer(c);
  }
}

// E_K = E_V = identity (k = n): Linformer is exact attention. With
// n < n_max only the first n columns (an identity block) are used.
TEST_P(LinformerTest, IdentityProjectionsGiveExactAttention) {
  const int64_t nq = 30, n = 40, nmax = 48, d = 8;
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> q(nq * d), k(n * d), v(n * d), o(nq * d);
  for (auto* x : {&q, &k, &v}) {
    for (float& f : *x) f = dist(rng);
  }
  std::vector<float> e(static_cast<size_t>(n * nmax), 0.5f);  // columns >= n: never used
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) e[static_cast<size_t>(i * nmax + j)] = i == j ? 1.0f : 0.0f;
  }
  lowrank::Options opt;
  opt.method = LOWRANK_METHOD_LINFORMER;
  opt.proj_k = e.data();
  opt.proj_heads = 1, opt.proj_dim = n, opt.proj_max_len = nmax;
  const auto qd = lowrank::TensorDesc::BHSD(1, 1, nq, d), kd = lowrank::TensorDesc::BHSD(1, 1, n, d);
  lowrank::Plan plan;
  ASSERT_TRUE(plan.Create(opt, qd, kd, kd, qd).ok());
  ASSERT_TRUE(plan.Execute(q.data(), k.data(), v.data(), nullptr, o.data()).ok());
  AttentionProblem p{qd, kd, kd, qd, q.data(), k.data(), v.data(), nullptr,
                     1.0 / std::sqrt(double(d)), false};
  const std::vector<double> ref = ReferenceAttention(p);
  // Projection by 0/1 is exact; what remains is the exact kernel's error
  // (exact_attention_test.cc): far below 1e-5 at n = 40, d = 8.
  for (size_t i = 0; i < o.size(); ++i) EXPECT_NEAR(o[i], ref[i], 1e-5) << i;
}

LOWRANK_INSTANTIATE_PER_ISA(LinformerTest);

TEST(LinformerApi, BadInput) {
  const auto q = lowrank::TensorDesc::BHSD(1, 2, 10, 4);
  std::vector<float> e(3 * 12, 0.1f);
  lowrank::Options opt;
  opt.method = LOWRANK_METHOD_LINFORMER;
  opt.proj_k = e.data();
  opt.proj_heads = 1, opt.proj_dim = 3, opt.proj_max_len = 12;
  lowrank::Plan plan;
  EXPECT_TRUE(plan.Create(opt, q, q, q, q).ok());
  auto expect = [&](lowrank::Options o, lowrank_status_t code, const char* needle) {
    lowrank::Plan pl;
    const lowrank::Status st = pl.Create(o, q, q, q, q);
    EXPECT_EQ(st.code(), code) << st.ToString();
    EXPECT_NE(st.message().find(needle), std::string::npos) << st.message();
  };
  lowrank::Options o = opt;
  o.causal = 1;
  expect(o, LOWRANK_UNSUPPORTED, "cannot be causal");
  o = opt, o.proj_k = nullptr;
  expect(o, LOWRANK_INVALID_ARGUMENT, "needs proj_k");
  o = opt, o.proj_max_len = 9;
  expect(o, LOWRANK_INVALID_ARGUMENT, "exceed the projections' proj_max_len 9");
  o = opt, o.proj_heads = 3;
  expect(o, LOWRANK_INVALID_ARGUMENT, "proj_heads = 3");
  o = opt, o.proj_dim = 0;
  expect(o, LOWRANK_INVALID_ARGUMENT, "proj_dim = 0");
  lowrank::Options exact;
  exact.proj_k = e.data();
  expect(exact, LOWRANK_INVALID_ARGUMENT, "linformer method only");
}

TEST(LinformerApi, ProjectionInitIsSeededAndScaled) {
  const int64_t k = 64, n = 1000;
  std::vector<float> a(k * n), b(k * n), c(k * n);
  ASSERT_EQ(lowrank_projection_init(a.data(), 1, k, n, LOWRANK_PROJECTION_NORMAL, 42), LOWRANK_OK);
  ASSERT_EQ(lowrank_projection_init(b.data(), 1, k, n, LOWRANK_PROJECTION_NORMAL, 42), LOWRANK_OK);
  ASSERT_EQ(lowrank_projection_init(c.data(), 1, k, n, LOWRANK_PROJECTION_NORMAL, 43), LOWRANK_OK);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  double sum = 0, sq = 0;
  for (float x : a) sum += x, sq += static_cast<double>(x) * x;
  const double mean = sum / a.size(), sd = std::sqrt(sq / a.size() - mean * mean);
  // 64000 samples: the sample sd is within 1% of 0.02 with overwhelming
  // probability (its relative standard error is 1/sqrt(2 * 64000) = 0.3%).
  EXPECT_NEAR(sd, 0.02, 0.0002);
  EXPECT_NEAR(mean, 0.0, 0.0005);  // 6 standard errors (0.02 / 253)
  ASSERT_EQ(lowrank_projection_init(a.data(), 1, k, n, LOWRANK_PROJECTION_UNIFORM, 1), LOWRANK_OK);
  for (float x : a) ASSERT_LE(std::fabs(x), 1.0 / std::sqrt(64.0));
  ASSERT_EQ(lowrank_projection_init(a.data(), 1, k, n, LOWRANK_PROJECTION_XAVIER_UNIFORM, 1),
            LOWRANK_OK);
  const double bound = std::sqrt(6.0 / (k + n)) / std::sqrt(2.0);
  double maxabs = 0;
  for (float x : a) maxabs = std::max(maxabs, static_cast<double>(std::fabs(x)));
  EXPECT_LE(maxabs, bound * (1 + 1e-6));
  EXPECT_GE(maxabs, bound * 0.99);
  EXPECT_EQ(lowrank_projection_init(nullptr, 1, k, n, LOWRANK_PROJECTION_NORMAL, 1),
            LOWRANK_INVALID_ARGUMENT);
  EXPECT_EQ(lowrank_projection_init(a.data(), 0, k, n, LOWRANK_PROJECTION_NORMAL, 1),
            LOWRANK_INVALID_ARGUMENT);
  EXPECT_EQ(lowrank_projection_init(a.data(), 1, k, n, static_cast<lowrank_projection_init_t>(7), 1),
            LOWRANK_INVALID_ARGUMENT);
}

}  // namespace
}  // namespace lowrank_test
