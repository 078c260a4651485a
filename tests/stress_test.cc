// Numeric stress and resource limits for every method (issue 8): huge
// logits, all-equal keys, zero vectors, n = 1, fully masked batches, NaN
// inputs, a very long sequence with the workspace checked to stay
// O(n (r + d)), an unallocatable workspace, and determinism across thread
// counts. Finite outputs are compared with the double references.
#include <sys/resource.h>

#include <cmath>
#include <fstream>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "feature_map_reference.h"
#include "gtest/gtest.h"
#include "lowrank/lowrank.hpp"
#include "nystrom_reference.h"
#include "per_isa.h"
#include "reference.h"

namespace lowrank_test {
namespace {

struct Method {
  std::string name;
  lowrank::Options options;
};

// Every method with a small rank (factors take U = elu(Q)+1, W = elu(K)+1).
std::vector<Method> AllMethods(int64_t n, std::vector<float>* proj) {
  std::vector<Method> out;
  lowrank::Options o;
  o.num_threads = 2;
  out.push_back({"exact", o});
  lowrank::Options f = o;
  f.method = LOWRANK_METHOD_FACTORS;
  f.normalize = 1;
  out.push_back({"factors", f});
  lowrank::Options l = o;
  l.method = LOWRANK_METHOD_LINFORMER;
  proj->resize(static_cast<size_t>(8 * n));
  (void)lowrank_projection_init(proj->data(), 1, 8, n, LOWRANK_PROJECTION_UNIFORM, 3);
  l.proj_k = proj->data();
  l.proj_heads = 1, l.proj_dim = 8, l.proj_max_len = n;
  out.push_back({"linformer", l});
  lowrank::Options y = o;
  y.method = LOWRANK_METHOD_NYSTROM;
  y.landmarks = 4;
  out.push_back({"nystrom", y});
  lowrank::Options m = o;
  m.method = LOWRANK_METHOD_FEATURE_MAP;
  m.features = 16;
  out.push_back({"favor", m});
  m.causal = 1;
  out.push_back({"favor-causal", m});
  lowrank::Options e = o;
  e.method = LOWRANK_METHOD_FEATURE_MAP;
  e.feature_map = LOWRANK_FEATURE_MAP_ELU;
  out.push_back({"elu", e});
  return out;
}

struct Inputs {
  std::vector<float> q, k, v, u, w;  // u, w: factors' elu+1 features of q, k
};

Inputs Make(int64_t count, float scale, unsigned seed) {
  Inputs in;
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-scale, scale), unit(-1.0f, 1.0f);
  in.q.resize(static_cast<size_t>(count));
  in.k.resize(in.q.size());
  in.v.resize(in.q.size());
  for (float& x : in.q) x = dist(rng);
  for (float& x : in.k) x = dist(rng);
  for (float& x : in.v) x = unit(rng);
  return in;
}

void Features(Inputs* in) {
  auto elu1 = [](float x) { return x >= 0 ? x + 1.0f : std::exp(x); };
  in->u.resize(in->q.size());
  in->w.resize(in->k.size());
  for (size_t i = 0; i < in->q.size(); ++i) in->u[i] = elu1(in->q[i]), in->w[i] = elu1(in->k[i]);
}

// Runs `method` on [B, H, n, d]; returns the status and fills out.
lowrank::Status RunMethod(const Method& m, int64_t b, int64_t h, int64_t n, int64_t d, Inputs& in,
                    const int32_t* lengths, std::vector<float>* out) {
  const auto desc = lowrank::TensorDesc::BHSD(b, h, n, d);
  lowrank::Plan plan;
  lowrank::Status st = plan.Create(m.options, desc, desc, desc, desc);
  if (!st.ok()) return st;
  out->assign(static_cast<size_t>(b * h * n * d), -9.0f);
  const bool factors = m.options.method == LOWRANK_METHOD_FACTORS;
  if (factors) Features(&in);
  return plan.Execute(factors ? in.u.data() : in.q.data(), factors ? in.w.data() : in.k.data(),
                      in.v.data(), lengths, out->data());
}

bool AllFinite(const std::vector<float>& x) {
  for (float f : x) {
    if (!std::isfinite(f)) return false;
  }
  return true;
}

// What the plan of a feature-map method drew from seed 0 (m = 16 rows), or
// the elu map's options; eps as the library's default.
FeatureOptions FeatureOptionsFor(const Method& m, int64_t d, std::vector<float>* w) {
  FeatureOptions fo;
  if (m.options.feature_map == LOWRANK_FEATURE_MAP_ELU) {
    fo.map = LOWRANK_FEATURE_MAP_ELU, fo.m = 0, fo.eps = 0.0;
    return fo;
  }
  fo.m = m.options.features;
  w->resize(static_cast<size_t>(fo.m * d));
  EXPECT_EQ(lowrank_random_features_init(w->data(), 1, fo.m, d, LOWRANK_RANDOM_FEATURES_ORTHOGONAL,
                                         LOWRANK_FEATURE_NORMS_CHI, m.options.seed),
            LOWRANK_OK);
  fo.w = w->data();
  fo.eps = static_cast<float>(1e-6);  // the float the library adds
  return fo;
}

// The double reference of method m on p (views [B, H, n, d] over in; the
// factors read in.u and in.w) with a bound per entry, u = 2^-24:
// - exact: a logit's float error is at most 1.5 (d + 4) u s sum_c |q_c k_c|
//   = delta (the d-term dot, the scale, the log2(e) factor of the exp
//   argument); weights move by expm1(2 delta + 8e-7) (plus the exp's 4e-7
//   twice), outputs (|v| <= 1) by that plus 2 (n + 8) u for the sums;
// - factors, Linformer: their references' own bounds (reference.h);
// - Nystrom: its per-head Frobenius bound (nystrom_reference.h), which
//   bounds every entry of the head;
// - feature maps: FeatureMapBound (feature_map_reference.h).
Bounded ReferenceFor(const Method& m, AttentionProblem p, const Inputs& in,
                     const std::vector<float>& proj, int64_t proj_len) {
  const double u = std::ldexp(1.0, -24);
  const int64_t n = p.k.seq, d = p.q.dim;
  Bounded r;
  switch (m.options.method) {
    case LOWRANK_METHOD_EXACT: {
      double dot = 0.0;
      r.want = ReferenceAttention(p, &dot);
      const double delta = 1.5 * static_cast<double>(d + 4) * u * p.scale * dot;
      r.tol.assign(r.want.size(), std::expm1(2 * delta + 8e-7) + 2.0 * static_cast<double>(n + 8) * u);
      return r;
    }
    case LOWRANK_METHOD_FACTORS:
      p.q_data = in.u.data(), p.k_data = in.w.data();
      return ReferenceFactors(p, m.options.normalize != 0);
    case LOWRANK_METHOD_LINFORMER:
      return ReferenceLinformer(p, proj.data(), proj.data(), 1, m.options.proj_dim, proj_len);
    case LOWRANK_METHOD_NYSTROM: {
      NystromOptions no;
      no.m = m.options.landmarks;
      return ReferenceNystromBounded(p, no, 1.0);
    }
    default: {
      std::vector<float> w;
      return ReferenceFeatureMapBounded(p, FeatureOptionsFor(m, d, &w));
    }
  }
}

// Runs m on [b, h, n, d] and checks the output against ReferenceFor.
void RunAndCompare(const Method& m, int64_t b, int64_t h, int64_t n, int64_t d, Inputs& in,
                   const int32_t* lengths, const std::vector<float>& proj, int64_t proj_len,
                   std::vector<float>* out) {
  ASSERT_TRUE(RunMethod(m, b, h, n, d, in, lengths, out).ok());
  EXPECT_TRUE(AllFinite(*out));
  const auto desc = lowrank::TensorDesc::BHSD(b, h, n, d);
  const AttentionProblem p{desc, desc, desc, desc, in.q.data(), in.k.data(), in.v.data(), lengths,
                           1.0 / std::sqrt(static_cast<double>(d)), m.options.causal != 0};
  EXPECT_LE(WorstRatio(ReferenceFor(m, p, in, proj, proj_len), desc, out->data()), 1.0)
      << "worst error / bound";
}

class StressTest : public PerIsaTest {};

// |q.k| / sqrt(d) up to 100, all-equal keys, zero q and k, n = 1, a fully
// masked batch: every method returns finite outputs within the derived bound
// of its double reference (ReferenceFor); a fully masked batch gives 0.
TEST_P(StressTest, ExtremeInputsStayFinite) {
  const int64_t n = 40, d = 8;
  std::vector<float> proj;
  const auto methods = AllMethods(n, &proj);
  // Entries of 10 / sqrt(8)... scaled so |q.k|/sqrt(d) reaches 100.
  const float big = std::sqrt(100.0f * std::sqrt(8.0f) / 8.0f) * 1.0f;
  for (const Method& m : methods) {
    SCOPED_TRACE(m.name);
    std::vector<float> out;
    // Huge logits.
    Inputs in = Make(2 * n * d, big, 1);
    RunAndCompare(m, 1, 2, n, d, in, nullptr, proj, n, &out);
    // All-equal keys and zero vectors.
    Inputs eq = Make(2 * n * d, 1.0f, 2);
    for (int64_t i = 0; i < 2 * n; ++i) {
      for (int64_t c = 0; c < d; ++c) eq.k[static_cast<size_t>(i * d + c)] = 0.5f;
    }
    RunAndCompare(m, 1, 2, n, d, eq, nullptr, proj, n, &out);
    Inputs zero = Make(2 * n * d, 1.0f, 3);
    std::fill(zero.q.begin(), zero.q.end(), 0.0f);
    std::fill(zero.k.begin(), zero.k.end(), 0.0f);
    RunAndCompare(m, 1, 2, n, d, zero, nullptr, proj, n, &out);
    if (m.name == "exact" || m.name == "nystrom") {
      // Zero logits: every method that approximates softmax gives the mean
      // of V exactly (uniform weights); Nystrom's landmarks are uniform too.
      for (int64_t h = 0; h < 2; ++h) {
        for (int64_t c = 0; c < d; ++c) {
          double mean = 0.0;
          for (int64_t j = 0; j < n; ++j) mean += zero.v[static_cast<size_t>((h * n + j) * d + c)];
          mean /= n;
          EXPECT_NEAR(out[static_cast<size_t>((h * n + 3) * d + c)], mean, 1e-5);
        }
      }
    }
    // n = 1 (Linformer's projection is built for n = 40: skip it here).
    if (m.name != "linformer") {
      Inputs one = Make(d, 1.0f, 4);
      RunAndCompare(m, 1, 1, 1, d, one, nullptr, proj, n, &out);
    }
    // A fully masked batch (batch 1 of 2): its output is 0.
    Inputs masked = Make(2 * 2 * n * d, 1.0f, 5);
    const int32_t lengths[2] = {static_cast<int32_t>(n), 0};
    if (m.options.causal == 0) {
      RunAndCompare(m, 2, 2, n, d, masked, lengths, proj, n, &out);
      for (size_t i = out.size() / 2; i < out.size(); ++i) ASSERT_EQ(out[i], 0.0f) << i;
    }
  }
}

// Huge logits against the double references (the stabilizers at work).
TEST_P(StressTest, HugeLogitsMatchReferences) {
  const int64_t n = 40, d = 8;
  const float big = std::sqrt(100.0f * std::sqrt(8.0f) / 8.0f);
  Inputs in = Make(n * d, big, 7);
  const auto desc = lowrank::TensorDesc::BHSD(1, 1, n, d);
  AttentionProblem p{desc, desc, desc, desc, in.q.data(), in.k.data(), in.v.data(), nullptr,
                     1.0 / std::sqrt(8.0), false};
  std::vector<float> proj, out;
  const auto methods = AllMethods(n, &proj);
  // Exact: weights are ratios of exps with arguments near 100: the float
  // logits' relative error (d + 2) u |q.k| s moves them by about 1e-4
  // absolute, so outputs (|v| <= 1) move by at most 2e-4 x 2.
  ASSERT_TRUE(RunMethod(methods[0], 1, 1, n, d, in, nullptr, &out).ok());
  const std::vector<double> exact = ReferenceAttention(p);
  for (size_t i = 0; i < out.size(); ++i) EXPECT_NEAR(out[i], exact[i], 1e-3) << i;
  // Nystrom (m = 4): its own double reference, same logit sensitivity, and
  // the pseudoinverse of an almost one-hot A (condition close to 1).
  ASSERT_TRUE(RunMethod(methods[3], 1, 1, n, d, in, nullptr, &out).ok());
  NystromOptions no;
  no.m = 4;
  const std::vector<double> nys = ReferenceNystrom(p, no);
  for (size_t i = 0; i < out.size(); ++i) EXPECT_NEAR(out[i], nys[i], 2e-3) << i;
  // Linformer: exact attention (double) over K' = E K and V' = E V (E: the
  // 8 x n projection of AllMethods); the projected logits reach about 100
  // too, so the same sensitivity bound applies.
  ASSERT_TRUE(RunMethod(methods[2], 1, 1, n, d, in, nullptr, &out).ok());
  std::vector<float> kp(8 * d, 0.0f), vp(8 * d, 0.0f);
  for (int64_t r = 0; r < 8; ++r) {
    for (int64_t c = 0; c < d; ++c) {
      double sk = 0.0, sv = 0.0;
      for (int64_t j = 0; j < n; ++j) {
        sk += static_cast<double>(proj[static_cast<size_t>(r * n + j)]) * in.k[static_cast<size_t>(j * d + c)];
        sv += static_cast<double>(proj[static_cast<size_t>(r * n + j)]) * in.v[static_cast<size_t>(j * d + c)];
      }
      kp[static_cast<size_t>(r * d + c)] = static_cast<float>(sk);
      vp[static_cast<size_t>(r * d + c)] = static_cast<float>(sv);
    }
  }
  const auto pd = lowrank::TensorDesc::BHSD(1, 1, 8, d);
  AttentionProblem lp{desc, pd, pd, desc, in.q.data(), kp.data(), vp.data(), nullptr,
                      1.0 / std::sqrt(8.0), false};
  const std::vector<double> lin = ReferenceAttention(lp);
  for (size_t i = 0; i < out.size(); ++i) EXPECT_NEAR(out[i], lin[i], 2e-3) << i;
  // Factors with huge features (elu+1 of entries up to 5): O = U (W^T V) /
  // (U (W^T 1)) in double; positive weights, so the relative error of
  // each ratio is a few (n + d) u.
  ASSERT_TRUE(RunMethod(methods[1], 1, 1, n, d, in, nullptr, &out).ok());
  for (int64_t i = 0; i < n; ++i) {
    double num[8] = {0}, den = 0.0;
    for (int64_t j = 0; j < n; ++j) {
      double w = 0.0;
      for (int64_t c = 0; c < d; ++c) w += static_cast<double>(in.u[static_cast<size_t>(i * d + c)]) * in.w[static_cast<size_t>(j * d + c)];
      den += w;
      for (int64_t c = 0; c < d; ++c) num[c] += w * in.v[static_cast<size_t>(j * d + c)];
    }
    for (int64_t c = 0; c < d; ++c) {
      EXPECT_NEAR(out[static_cast<size_t>(i * d + c)], num[c] / den, 1e-4) << i;
    }
  }
}

// NaN in an input: no crash, status OK; the documented behaviour is that
// NaN propagates to the outputs that read it and nowhere else for exact
// attention (other methods mix all keys: their whole head may be NaN).
TEST_P(StressTest, NanInputPropagatesWithoutCrashing) {
  const int64_t n = 30, d = 8;
  std::vector<float> proj, out;
  for (const Method& m : AllMethods(n, &proj)) {
    SCOPED_TRACE(m.name);
    Inputs in = Make(2 * n * d, 1.0f, 8);
    in.k[static_cast<size_t>((n + 5) * d + 2)] = NAN;  // head 1, key 5
    ASSERT_TRUE(RunMethod(m, 1, 2, n, d, in, nullptr, &out).ok());
    // Head 0 never reads head 1's keys: finite.
    for (size_t i = 0; i < static_cast<size_t>(n * d); ++i) ASSERT_TRUE(std::isfinite(out[i])) << i;
  }
}

// Runs m at 1, 2 and 3 threads (key lengths for non-causal methods):
// the outputs must be bitwise identical.
void ExpectSameAtThreadCounts(Method m, int64_t b, int64_t h, int64_t n, int64_t d, Inputs& in,
                              const int32_t* lengths) {
  std::vector<float> first, out;
  for (int t : {1, 2, 3}) {
    m.options.num_threads = t;
    ASSERT_TRUE(RunMethod(m, b, h, n, d, in, m.options.causal ? nullptr : lengths, &out).ok());
    if (first.empty()) {
      first = out;
    } else {
      EXPECT_EQ(out, first) << t << " threads";
    }
  }
}

// Same plan options at 1, 2 and 3 threads: bitwise identical outputs for
// every method (the README documents it).
TEST_P(StressTest, DeterministicAcrossThreadCounts) {
  const int64_t n = 300, d = 16;
  std::vector<float> proj;
  for (const Method& m : AllMethods(n, &proj)) {
    SCOPED_TRACE(m.name);
    Inputs in = Make(3 * 2 * n * d, 1.0f, 9);
    const int32_t lengths[3] = {static_cast<int32_t>(n), 200, 77};
    ExpectSameAtThreadCounts(m, 3, 2, n, d, in, lengths);
  }
}

// Sequences of several segments of the split reductions over keys
// (SeqSplit: 2048 rows each here), one batch padded to leave a segment
// unused: still bitwise identical at 1, 2 and 3 threads.
TEST_P(StressTest, SegmentedReductionsDeterministicAcrossThreadCounts) {
  const int64_t n = 4200, d = 8;
  std::vector<float> proj;
  for (const Method& m : AllMethods(n, &proj)) {
    if (m.name == "exact") continue;  // no reduction over keys to split
    SCOPED_TRACE(m.name);
    Inputs in = Make(2 * n * d, 1.0f, 11);
    const int32_t lengths[2] = {static_cast<int32_t>(n), 2100};
    ExpectSameAtThreadCounts(m, 2, 1, n, d, in, lengths);
  }
}

// A long sequence through each low-rank method: finite outputs, and the
// workspace O(n (r + d)): no n x n buffer (at n = 262144 that would be
// 256 GiB). Emulated runs use n = 16384.
TEST_P(StressTest, LongSequenceMemoryIsLinear) {
  const int64_t n = Emulated() ? 16384 : 262144, d = 8;
  std::vector<float> proj;
  for (const Method& m : AllMethods(n, &proj)) {
    if (m.name == "exact") continue;
    SCOPED_TRACE(m.name);
    const auto desc = lowrank::TensorDesc::BHSD(1, 1, n, d);
    lowrank::Plan plan;
    ASSERT_TRUE(plan.Create(m.options, desc, desc, desc, desc).ok());
    // r + d <= 24 here; allow 64 (n (r + d)) floats for all the per-head
    // and per-thread buffers.
    EXPECT_LE(plan.WorkspaceBytes(), 64u * static_cast<size_t>(n) * 24u * sizeof(float));
    Inputs in = Make(n * d, 1.0f, 10);
    std::vector<float> out;
    ASSERT_TRUE(RunMethod(m, 1, 1, n, d, in, nullptr, &out).ok());
    EXPECT_TRUE(AllFinite(out));
    // Against the double references, all O(n) at this length. Factors and
    // Linformer: their references' own bounds. Nystrom and the feature maps:
    // each output is a ratio of n-term positive sums (|v| <= 1): the blocked
    // float accumulation keeps the error near (n / block + block) u, about
    // 1e-4 at n = 2^18 (a plain running sum would allow n u = 0.016).
    AttentionProblem p{desc, desc, desc, desc, in.q.data(), in.k.data(), in.v.data(), nullptr,
                       1.0 / std::sqrt(8.0), m.options.causal != 0};
    if (m.options.method == LOWRANK_METHOD_FACTORS ||
        m.options.method == LOWRANK_METHOD_LINFORMER) {
      EXPECT_LE(WorstRatio(ReferenceFor(m, p, in, proj, n), desc, out.data()), 1.0)
          << "worst error / bound";
      continue;
    }
    std::vector<double> want;
    if (m.options.method == LOWRANK_METHOD_NYSTROM) {
      NystromOptions no;
      no.m = m.options.landmarks;
      want = ReferenceNystrom(p, no);
    } else {
      std::vector<float> w;
      want = ReferenceFeatureMapRecurrence(p, FeatureOptionsFor(m, d, &w));
    }
    double worst = 0.0;
    for (size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::fabs(out[i] - want[i]));
    EXPECT_LE(worst, 1e-3) << "against the double reference";
  }
  // Peak memory of the whole process (this test runs alone in its process
  // under ctest): inputs, outputs and workspaces are tens of MiB; one n x n
  // float matrix would be 256 GiB.
  rusage usage{};
  ASSERT_EQ(getrusage(RUSAGE_SELF, &usage), 0);
  EXPECT_LT(usage.ru_maxrss, 1024L * 1024L) << "KiB";  // 1 GiB
}

LOWRANK_INSTANTIATE_PER_ISA(StressTest);

// A workspace that cannot be allocated: LOWRANK_OUT_OF_MEMORY from execute,
// the output untouched. Nystrom with 4096 landmarks sizes m^2 floats per
// head: 4096 heads make 256 GiB, beyond what the kernel's heuristic
// overcommit (or any machine this runs on) grants. The tensors themselves
// are tiny (one token per head).
TEST(ResourceLimits, UnallocatableWorkspaceIsOutOfMemory) {
  std::ifstream overcommit("/proc/sys/vm/overcommit_memory");
  int mode = 0;
  if (overcommit >> mode && mode == 1) GTEST_SKIP() << "vm.overcommit_memory = 1 grants anything";
  lowrank::Options o;
  o.method = LOWRANK_METHOD_NYSTROM;
  o.landmarks = 4096;
  o.num_threads = 1;
  const auto desc = lowrank::TensorDesc::BHSD(1, 4096, 1, 1);
  lowrank::Plan plan;
  ASSERT_TRUE(plan.Create(o, desc, desc, desc, desc).ok());
  EXPECT_GT(plan.WorkspaceBytes(), size_t{1} << 37);
  std::vector<float> q(4096, 0.5f), k(4096, 0.5f), v(4096, 0.5f), out(4096, 3.0f);
  const std::vector<float> before = out;
  const lowrank::Status st = plan.Execute(q.data(), k.data(), v.data(), nullptr, out.data());
  EXPECT_EQ(st.code(), LOWRANK_OUT_OF_MEMORY) << st.ToString();
  EXPECT_NE(st.message().find("workspace"), std::string::npos);
  EXPECT_EQ(out, before);
}

}  // namespace
}  // namespace lowrank_test
