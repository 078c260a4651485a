// Feature-map attention on every target: every map against the double
// reference of the same computation (feature_map_reference.h), bidirectional
// and causal; decoding equal to causal; masks; large logits; the error
// against exact softmax attention shrinking with m; a long causal sequence;
// drawn projections; bad input.
#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "feature_map_reference.h"
#include "lowrank/lowrank.hpp"
#include "method_data.h"
#include "per_isa.h"
#include "reference.h"

namespace lowrank_test {
namespace {

struct Case : MethodShape {
  lowrank_feature_map_t map = LOWRANK_FEATURE_MAP_FAVOR;
  int64_t m = 16;  // 0: relu without a projection
  int64_t w_heads = 1;
  bool causal = false, padded = false;
  int threads = 1;
  float data_scale = 1.0f;
};

struct Data : MethodTensors {
  std::vector<float> w;  // the projection
};

Data MakeData(const Case& c, unsigned seed) {
  Data x;
  AllocateMethodTensors(c, &x);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-c.data_scale, c.data_scale);
  for (auto* t : {&x.q, &x.k}) {
    for (float& f : *t) f = dist(rng);
  }
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  for (float& f : x.v) f = unit(rng);
  if (c.m > 0) {
    x.w.resize(static_cast<size_t>(c.w_heads * c.m * c.d));
    EXPECT_EQ(lowrank_random_features_init(x.w.data(), c.w_heads, c.m, c.d,
                                           LOWRANK_RANDOM_FEATURES_ORTHOGONAL,
                                           LOWRANK_FEATURE_NORMS_CHI, seed + 100),
              LOWRANK_OK);
  }
  for (int64_t b = 0; b < c.batch; ++b) {
    x.lengths.push_back(static_cast<int32_t>(b % 3 == 1 ? c.kv_len / 2 : (b % 3 == 2 ? 0 : c.kv_len)));
  }
  return x;
}

lowrank::Options ToOptions(const Case& c, const Data& x) {
  lowrank::Options opt;
  opt.method = LOWRANK_METHOD_FEATURE_MAP;
  opt.feature_map = c.map;
  opt.causal = c.causal ? 1 : 0;
  opt.num_threads = c.threads;
  if (c.map == LOWRANK_FEATURE_MAP_ELU) return opt;
  if (c.m == 0) {
    opt.random_features = LOWRANK_RANDOM_FEATURES_NONE;
    return opt;
  }
  opt.features = c.m;
  opt.feature_projection = x.w.data();
  opt.feature_projection_heads = c.w_heads;
  return opt;
}

FeatureOptions RefOptions(const Case& c, const Data& x) {
  FeatureOptions o;
  o.map = c.map;
  o.m = c.map == LOWRANK_FEATURE_MAP_ELU ? 0 : c.m;
  o.w = x.w.empty() ? nullptr : x.w.data();
  o.w_heads = c.w_heads;
  o.eps = c.map == LOWRANK_FEATURE_MAP_RELU ? 1e-3 : (c.map == LOWRANK_FEATURE_MAP_ELU ? 0.0 : 1e-6);
  return o;
}

std::string Describe(const Case& c) {
  std::ostringstream s;
  s << "map " << c.map << " B" << c.batch << " Hq" << c.q_heads << " Hkv" << c.kv_heads << " Nq"
    << c.q_len << " Nkv" << c.kv_len << " d" << c.d << "/" << c.d_v << " m" << c.m << " wh"
    << c.w_heads << (c.causal ? " causal" : "") << (c.padded ? " padded" : "")
    << (c.bshd ? " bshd" : "") << " T" << c.threads;
  return s.str();
}

// Runs the plan, compares with the reference; returns the output.
std::vector<float> RunAndCheck(const Case& c, unsigned seed = 1) {
  SCOPED_TRACE(Describe(c));
  Data x = MakeData(c, seed);
  lowrank::Plan plan;
  lowrank::Status st = plan.Create(ToOptions(c, x), x.qd, x.kd, x.vd, x.od);
  EXPECT_TRUE(st.ok()) << st.ToString();
  if (!st.ok()) return {};
  st = plan.Execute(x.q.data(), x.k.data(), x.v.data(), c.padded ? x.lengths.data() : nullptr,
                    x.o.data());
  EXPECT_TRUE(st.ok()) << st.ToString();
  AttentionProblem p{x.qd, x.kd, x.vd, x.od, x.q.data(), x.k.data(), x.v.data(),
                     c.padded ? x.lengths.data() : nullptr,
                     1.0 / std::sqrt(static_cast<double>(c.d)), c.causal};
  double a = 0.0;
  const std::vector<double> want = ReferenceFeatureMap(p, RefOptions(c, x), &a);
  const double bound = FeatureMapBound(RefOptions(c, x), c.d, c.kv_len, a);
  double worst = 0.0;
  for (int64_t b = 0; b < c.batch; ++b) {
    for (int64_t h = 0; h < c.q_heads; ++h) {
      for (int64_t i = 0; i < c.q_len; ++i) {
        for (int64_t col = 0; col < c.d_v; ++col) {
          const double got = x.o[static_cast<size_t>(Offset(x.od, b, h, i, col))];
          const double ref = want[static_cast<size_t>(((b * c.q_heads + h) * c.q_len + i) * c.d_v + col)];
          worst = std::max(worst, std::isfinite(got) ? std::fabs(got - ref) : INFINITY);
        }
      }
    }
  }
  EXPECT_LE(worst, bound) << "A = " << a;
  return x.o;
}

class FeatureMapTest : public PerIsaTest {};

constexpr lowrank_feature_map_t kMaps[] = {LOWRANK_FEATURE_MAP_FAVOR,
                                           LOWRANK_FEATURE_MAP_FAVOR_HYPERBOLIC,
                                           LOWRANK_FEATURE_MAP_RELU, LOWRANK_FEATURE_MAP_ELU};

TEST_P(FeatureMapTest, MapsMatchReference) {
  for (auto map : kMaps) {
    for (bool causal : {false, true}) {
      for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{64}, int64_t{65}, Emulated() ? int64_t{97} : int64_t{130}}) {
        Case c;
        c.map = map, c.causal = causal, c.q_len = c.kv_len = n;
        RunAndCheck(c);
      }
      Case c;
      c.map = map, c.causal = causal;
      for (int64_t m : {1, 5, 64}) {
        c.m = m;
        RunAndCheck(c);
      }
      c.m = 16;
      // d_v of 12, 20 and 33: P V tiles of 2 or 3 vectors on 4-, 8- and
      // 16-lane targets (PanelCols); 70: a last panel narrower than the
      // others (PanelWidthAt: 16 + 8 wide on AVX2, 64 + 16 on AVX-512).
      for (int64_t d : {1, 3, 64, 8}) {
        c.d = d, c.d_v = d == 64 ? 33 : (d == 3 ? 12 : (d == 8 ? 70 : 20));
        RunAndCheck(c);
      }
    }
  }
  // m = 256, d = 64: the causal kernel's largest chunks (64 rows).
  for (bool causal : {false, true}) {
    Case big;
    big.m = 256, big.d = 64, big.d_v = 64, big.causal = causal;
    big.q_len = big.kv_len = Emulated() ? 130 : 200;  // past two 64-row chunks either way
    RunAndCheck(big);
  }
  Case relu;
  relu.map = LOWRANK_FEATURE_MAP_RELU, relu.m = 0;  // relu(x') without a projection
  RunAndCheck(relu);
  relu.causal = true;
  RunAndCheck(relu);
}

TEST_P(FeatureMapTest, HeadsLayoutsMasksThreads) {
  for (auto map : kMaps) {
    for (bool causal : {false, true}) {
      Case c;
      c.map = map, c.causal = causal;
      c.batch = 3, c.q_heads = 4, c.kv_heads = 2, c.w_heads = 2, c.q_len = 70, c.kv_len = 90;
      c.padded = true, c.threads = 3, c.d_v = 5;
      RunAndCheck(c);
      c.bshd = true, c.q_len = c.kv_len = Emulated() ? 100 : 150;
      RunAndCheck(c);
      c.q_len = 20;  // fewer queries than keys: causal offset kv_len - q_len
      RunAndCheck(c);
    }
  }
}

// Bidirectional over more keys than one segment of the split reduction
// (SeqSplit: 2048-row segments here, 3 of them): each segment's partial
// state has its own key max, rescaled to the global one when merged;
// padding leaves segments unused (lengths n, n / 2, 0); several threads.
TEST_P(FeatureMapTest, SequenceSegments) {
  for (auto map : kMaps) {
    // Logit scale 3 spreads the segments' key maxima for FAVOR+.
    for (float scale : {1.0f, 3.0f}) {
      if (scale > 1.0f && map != LOWRANK_FEATURE_MAP_FAVOR) continue;
      Case c;
      c.map = map, c.batch = 3, c.q_len = 20, c.kv_len = 4200, c.data_scale = scale;
      c.padded = true, c.threads = 3;
      RunAndCheck(c);
    }
  }
}

TEST_P(FeatureMapTest, LargeLogitsStayFinite) {
  // |q.k| / sqrt(d) up to about 50: q and k entries of 5, d = 8.
  for (auto map : {LOWRANK_FEATURE_MAP_FAVOR, LOWRANK_FEATURE_MAP_FAVOR_HYPERBOLIC}) {
    for (bool causal : {false, true}) {
      Case c;
      c.map = map, c.causal = causal, c.data_scale = 5.0f, c.q_len = c.kv_len = 100;
      RunAndCheck(c);
    }
  }
}

TEST_P(FeatureMapTest, PaddedKeysChangeNothing) {
  Case a;
  a.q_len = a.kv_len = 50;
  Case b = a;
  b.kv_len = 64, b.padded = true;
  for (auto map : kMaps) {
    a.map = b.map = map;
    Data x = MakeData(a, 3), y = MakeData(b, 3);
    y.q = x.q;
    y.w = x.w;
    std::copy(x.k.begin(), x.k.end(), y.k.begin());
    std::copy(x.v.begin(), x.v.end(), y.v.begin());
    for (size_t i = x.k.size(); i < y.k.size(); ++i) y.k[i] = 30.0f;  // huge padded keys
    y.lengths = {50};
    lowrank::Plan pa, pb;
    ASSERT_TRUE(pa.Create(ToOptions(a, x), x.qd, x.kd, x.vd, x.od).ok());
    ASSERT_TRUE(pb.Create(ToOptions(b, y), y.qd, y.kd, y.vd, y.od).ok());
    ASSERT_TRUE(pa.Execute(x.q.data(), x.k.data(), x.v.data(), nullptr, x.o.data()).ok());
    ASSERT_TRUE(pb.Execute(y.q.data(), y.k.data(), y.v.data(), y.lengths.data(), y.o.data()).ok());
    for (size_t i = 0; i < x.o.size(); ++i) ASSERT_NEAR(x.o[i], y.o[i], 1e-6f) << map << " " << i;
  }
}

// Token by token, a decoding state gives the causal plan's rows.
TEST_P(FeatureMapTest, DecodingEqualsCausal) {
  for (auto map : kMaps) {
    Case c;
    c.map = map, c.causal = true, c.batch = 2, c.q_heads = 4, c.kv_heads = 2, c.w_heads = 2;
    c.q_len = c.kv_len = 70, c.d_v = 6, c.data_scale = 2.0f;
    SCOPED_TRACE(Describe(c));
    const std::vector<float> causal = RunAndCheck(c, 5);
    Data x = MakeData(c, 5);
    lowrank::Plan plan;
    ASSERT_TRUE(plan.Create(ToOptions(c, x), x.qd, x.kd, x.vd, x.od).ok());
    lowrank::DecodeState state;
    ASSERT_TRUE(state.Create(plan).ok());
    // Views of token i inside the full tensors: seq extent 1.
    auto one = [](lowrank::TensorDesc t) {
      t.seq = 1;
      return t;
    };
    std::vector<float> out(x.o.size(), -3.0f);
    for (int64_t i = 0; i < c.q_len; ++i) {
      const int64_t ko = i * x.kd.stride_seq, vo = i * x.vd.stride_seq;
      ASSERT_TRUE(state.Append(x.k.data() + ko, one(x.kd), x.v.data() + vo, one(x.vd)).ok());
      ASSERT_TRUE(state
                      .Query(x.q.data() + i * x.qd.stride_seq, one(x.qd),
                             out.data() + i * x.od.stride_seq, one(x.od))
                      .ok());
    }
    EXPECT_EQ(state.Length(), c.q_len);
    AttentionProblem p{x.qd, x.kd, x.vd, x.od, x.q.data(), x.k.data(), x.v.data(), nullptr,
                       1.0 / std::sqrt(static_cast<double>(c.d)), true};
    double a = 0.0;
    const std::vector<double> want = ReferenceFeatureMap(p, RefOptions(c, x), &a);
    // Both against the same reference (each within Bound), so against each
    // other within twice that.
    const double bound = FeatureMapBound(RefOptions(c, x), c.d, c.kv_len, a);
    for (size_t i = 0; i < out.size(); ++i) {
      ASSERT_NEAR(out[i], want[i], bound) << i;
      ASSERT_NEAR(out[i], causal[i], 2 * bound) << i;
    }
    // Reset forgets: an empty state outputs 0.
    ASSERT_TRUE(state.Reset().ok());
    EXPECT_EQ(state.Length(), 0);
    ASSERT_TRUE(state.Query(x.q.data(), one(x.qd), out.data(), one(x.od)).ok());
    EXPECT_EQ(out[0], 0.0f);
  }
}

// FAVOR+ estimates softmax attention with variance that falls as 1/m: on
// small-norm inputs (|q|, |k| <= 0.35 per entry, d = 16) the error against
// exact attention falls as m grows. Averaged over 4 seeds of W; the margin
// (m = 1024 at most half of m = 16's error, where 1/sqrt(m) predicts 1/8)
// holds for any reasonable seed.
TEST_P(FeatureMapTest, FavorConvergesToSoftmax) {
  Case c;
  c.d = 16, c.q_len = c.kv_len = 64, c.data_scale = 0.35f;
  auto error = [&](int64_t m) {
    double total = 0.0;
    for (unsigned seed = 0; seed < 4; ++seed) {
      c.m = m;
      Data x = MakeData(c, 7);
      x.w.resize(static_cast<size_t>(m * c.d));
      EXPECT_EQ(lowrank_random_features_init(x.w.data(), 1, m, c.d,
                                             LOWRANK_RANDOM_FEATURES_ORTHOGONAL,
                                             LOWRANK_FEATURE_NORMS_CHI, 1000 + seed),
                LOWRANK_OK);
      lowrank::Plan plan;
      EXPECT_TRUE(plan.Create(ToOptions(c, x), x.qd, x.kd, x.vd, x.od).ok());
      EXPECT_TRUE(plan.Execute(x.q.data(), x.k.data(), x.v.data(), nullptr, x.o.data()).ok());
      AttentionProblem p{x.qd, x.kd, x.vd, x.od, x.q.data(), x.k.data(), x.v.data(), nullptr,
                         0.25, false};
      const std::vector<double> exact = ReferenceAttention(p);
      double e2 = 0.0, n2 = 0.0;
      for (size_t i = 0; i < exact.size(); ++i) {
        e2 += (x.o[i] - exact[i]) * (x.o[i] - exact[i]);
        n2 += exact[i] * exact[i];
      }
      total += std::sqrt(e2 / n2);
    }
    return total / 4;
  };
  const double e16 = error(16), e1024 = error(1024);
  EXPECT_LT(e1024, 0.5 * e16) << "m = 16: " << e16 << ", m = 1024: " << e1024;
  EXPECT_LT(e1024, 0.05);
}

// A long causal sequence in fp32 against the double prefix-state
// recurrence: the running sums only accumulate. n = 65536 keys, each
// output a ratio of n-term positive sums: (n / block + block + 16) u of
// relative error from the blocked accumulation, plus the feature bound.
TEST_P(FeatureMapTest, LongCausalSequenceIsStable) {
  Case c;
  c.causal = true, c.q_len = c.kv_len = 65536, c.d = 4, c.d_v = 2, c.m = 8;
  Data x = MakeData(c, 9);
  lowrank::Plan plan;
  ASSERT_TRUE(plan.Create(ToOptions(c, x), x.qd, x.kd, x.vd, x.od).ok());
  ASSERT_TRUE(plan.Execute(x.q.data(), x.k.data(), x.v.data(), nullptr, x.o.data()).ok());
  AttentionProblem p{x.qd, x.kd, x.vd, x.od, x.q.data(), x.k.data(), x.v.data(), nullptr, 0.5, true};
  const std::vector<double> want = ReferenceFeatureMapRecurrence(p, RefOptions(c, x));
  // 65536 / 64 + 64 + 16: the accumulation's effective length.
  const double bound = FeatureMapBound(RefOptions(c, x), c.d, 65536 / 64 + 64 + 16, 4.0);
  double worst = 0.0;
  for (size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::fabs(x.o[i] - want[i]));
  EXPECT_LE(worst, bound);
}

LOWRANK_INSTANTIATE_PER_ISA(FeatureMapTest);

TEST(FeatureMapApiTest, DrawnProjectionsAndRedraw) {
  const auto d = lowrank::TensorDesc::BHSD(1, 2, 30, 8);
  std::vector<float> q(480), out1(480), out2(480), out3(480);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (float& f : q) f = dist(rng);
  lowrank::Options opt;
  opt.method = LOWRANK_METHOD_FEATURE_MAP;
  opt.features = 20;
  opt.seed = 11;
  lowrank::Plan drawn, given;
  ASSERT_TRUE(drawn.Create(opt, d, d, d, d).ok());
  // The same draw through the public initializer.
  std::vector<float> w(20 * 8);
  ASSERT_EQ(lowrank_random_features_init(w.data(), 1, 20, 8, LOWRANK_RANDOM_FEATURES_ORTHOGONAL,
                                         LOWRANK_FEATURE_NORMS_CHI, 11),
            LOWRANK_OK);
  lowrank::Options g = opt;
  g.feature_projection = w.data();
  ASSERT_TRUE(given.Create(g, d, d, d, d).ok());
  ASSERT_TRUE(drawn.Execute(q.data(), q.data(), q.data(), nullptr, out1.data()).ok());
  ASSERT_TRUE(given.Execute(q.data(), q.data(), q.data(), nullptr, out2.data()).ok());
  EXPECT_EQ(out1, out2);
  // Redraw with another seed changes the output; back to 11 restores it.
  ASSERT_TRUE(drawn.Redraw(12).ok());
  ASSERT_TRUE(drawn.Execute(q.data(), q.data(), q.data(), nullptr, out3.data()).ok());
  EXPECT_NE(out1, out3);
  ASSERT_TRUE(drawn.Redraw(11).ok());
  ASSERT_TRUE(drawn.Execute(q.data(), q.data(), q.data(), nullptr, out3.data()).ok());
  EXPECT_EQ(out1, out3);
  // A given projection cannot be redrawn.
  EXPECT_EQ(given.Redraw(3).code(), LOWRANK_INVALID_ARGUMENT);
}

TEST(FeatureMapApiTest, OrthogonalFeatures) {
  // Rows within a block of d are orthogonal; sqrt-d norms are exact.
  const int64_t m = 20, d = 8;
  std::vector<float> w(static_cast<size_t>(m * d));
  ASSERT_EQ(lowrank_random_features_init(w.data(), 1, m, d, LOWRANK_RANDOM_FEATURES_ORTHOGONAL,
                                         LOWRANK_FEATURE_NORMS_SQRT_D, 5),
            LOWRANK_OK);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = i; j < m && j / d == i / d; ++j) {
      double dot = 0.0;
      for (int64_t c = 0; c < d; ++c) dot += static_cast<double>(w[i * d + c]) * w[j * d + c];
      // float storage of unit rows scaled by sqrt(d): d u relative.
      EXPECT_NEAR(dot, i == j ? static_cast<double>(d) : 0.0, 1e-5) << i << " " << j;
    }
  }
  // Gram-Schmidt in row order: row i of a block depends on rows 0..i only,
  // so 20 rows are the first 20 of 24 (3 whole blocks), for each of two
  // heads: the second head also checks that a partial block consumes the
  // same draws as a whole one (its rows come after the first head's).
  std::vector<float> w20(static_cast<size_t>(2 * 20 * d)), w24(static_cast<size_t>(2 * 24 * d));
  ASSERT_EQ(lowrank_random_features_init(w20.data(), 2, 20, d, LOWRANK_RANDOM_FEATURES_ORTHOGONAL,
                                         LOWRANK_FEATURE_NORMS_SQRT_D, 9),
            LOWRANK_OK);
  ASSERT_EQ(lowrank_random_features_init(w24.data(), 2, 24, d, LOWRANK_RANDOM_FEATURES_ORTHOGONAL,
                                         LOWRANK_FEATURE_NORMS_SQRT_D, 9),
            LOWRANK_OK);
  for (size_t h = 0; h < 2; ++h) {
    for (size_t i = 0; i < static_cast<size_t>(20 * d); ++i) {
      ASSERT_EQ(w20[h * 20 * d + i], w24[h * 24 * d + i]) << "head " << h << " float " << i;
    }
  }
  EXPECT_EQ(lowrank_random_features_init(w.data(), 1, m, d, LOWRANK_RANDOM_FEATURES_NONE,
                                         LOWRANK_FEATURE_NORMS_CHI, 5),
            LOWRANK_INVALID_ARGUMENT);
  EXPECT_EQ(lowrank_random_features_init(nullptr, 1, m, d, LOWRANK_RANDOM_FEATURES_IID,
                                         LOWRANK_FEATURE_NORMS_CHI, 5),
            LOWRANK_INVALID_ARGUMENT);
}

TEST(FeatureMapApiTest, BadInput) {
  const auto q = lowrank::TensorDesc::BHSD(1, 2, 20, 8);
  auto expect = [&](const lowrank::Options& opt, lowrank_status_t want) {
    lowrank::Plan plan;
    const lowrank::Status st = plan.Create(opt, q, q, q, q);
    EXPECT_EQ(st.code(), want) << st.ToString();
    EXPECT_FALSE(st.message().empty());
  };
  lowrank::Options base;
  base.method = LOWRANK_METHOD_FEATURE_MAP;
  lowrank::Options o = base;
  o.features = 0;
  expect(o, LOWRANK_INVALID_ARGUMENT);
  o = base;
  o.feature_map = static_cast<lowrank_feature_map_t>(9);
  expect(o, LOWRANK_INVALID_ARGUMENT);
  o = base;
  o.random_features = LOWRANK_RANDOM_FEATURES_NONE;  // favor needs a projection
  expect(o, LOWRANK_INVALID_ARGUMENT);
  o = base;
  o.feature_map = LOWRANK_FEATURE_MAP_ELU;
  o.scale = 0.5f;  // elu takes no scale
  expect(o, LOWRANK_INVALID_ARGUMENT);
  std::vector<float> w(3 * 256 * 8, 0.1f);
  o = base;
  o.feature_projection = w.data();
  o.feature_projection_heads = 3;  // not 1 or the 2 kv heads
  expect(o, LOWRANK_INVALID_ARGUMENT);
  o = base;
  o.feature_map = LOWRANK_FEATURE_MAP_ELU;
  o.feature_projection = w.data();  // elu has no projection
  expect(o, LOWRANK_INVALID_ARGUMENT);
  o = base;
  o.feature_eps = NAN;
  expect(o, LOWRANK_INVALID_ARGUMENT);
  o = base;
  o.scale = -1.0f;
  expect(o, LOWRANK_INVALID_ARGUMENT);
  o = base;
  o.method = LOWRANK_METHOD_EXACT;
  o.feature_projection = w.data();
  expect(o, LOWRANK_INVALID_ARGUMENT);
  // Decoding: only feature-map plans; views must match.
  lowrank::Plan exact;
  ASSERT_TRUE(exact.Create(lowrank::Options(), q, q, q, q).ok());
  lowrank::DecodeState st;
  EXPECT_EQ(st.Create(exact).code(), LOWRANK_INVALID_ARGUMENT);
  lowrank::Plan fm;
  ASSERT_TRUE(fm.Create(base, q, q, q, q).ok());
  ASSERT_TRUE(st.Create(fm).ok());
  std::vector<float> buf(320, 0.5f), out(320, 9.0f);
  const auto bad = lowrank::TensorDesc::BHSD(1, 3, 1, 8);  // 3 heads
  EXPECT_EQ(st.Append(buf.data(), bad, buf.data(), bad).code(), LOWRANK_INVALID_ARGUMENT);
  const auto tok = lowrank::TensorDesc::BHSD(1, 2, 1, 8);
  EXPECT_EQ(st.Append(nullptr, tok, buf.data(), tok).code(), LOWRANK_INVALID_ARGUMENT);
  EXPECT_EQ(st.Query(buf.data(), tok, buf.data(), tok).code(), LOWRANK_INVALID_ARGUMENT);
  EXPECT_EQ(out[0], 9.0f);
  EXPECT_EQ(lowrank_decode_append(nullptr, buf.data(), &tok, buf.data(), &tok),
            LOWRANK_INVALID_ARGUMENT);
  EXPECT_EQ(lowrank_decode_create(fm.get(), nullptr), LOWRANK_INVALID_ARGUMENT);
  lowrank_decode_destroy(nullptr);
}

}  // namespace
}  // namespace lowrank_test
