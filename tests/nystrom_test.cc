// Nystrom attention on every target: the m = n identity (landmarks at every
// position, a converged pseudoinverse: exact attention), and every option
// against the double-precision reference of the same algorithm
// (nystrom_reference.h); masks, the exact path, determinism, bad input.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <numeric>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/exact_attention.h"
#include "kernels/nystrom.h"
#include "lowrank/lowrank.hpp"
#include "method_data.h"
#include "nystrom_reference.h"
#include "per_isa.h"
#include "reference.h"

namespace lowrank_test {
namespace {

struct Case : MethodShape {
  bool padded = false;
  int threads = 1;
  float data_scale = 1.0f;  // inputs uniform in [-data_scale, data_scale]
  bool clustered = false;   // tokens near 4 centres (k-means cases)
};

using Data = MethodTensors;

Data MakeData(const Case& c, unsigned seed) {
  Data x;
  AllocateMethodTensors(c, &x);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-c.data_scale, c.data_scale);
  for (auto* t : {&x.q, &x.k, &x.v}) {
    for (float& f : *t) f = dist(rng);
  }
  if (c.clustered) {
    // Shuffled clusters: token i belongs to centre (i * 7) % 4, and q and k
    // sit within 0.05 of their centre (well separated: no near ties).
    std::uniform_real_distribution<float> centre(-2.0f, 2.0f), jitter(-0.05f, 0.05f);
    std::vector<float> cq(4 * static_cast<size_t>(c.d)), ck(cq.size());
    for (float& f : cq) f = centre(rng);
    for (float& f : ck) f = centre(rng);
    for (int64_t b = 0; b < c.batch; ++b) {
      for (int64_t h = 0; h < c.q_heads; ++h) {
        for (int64_t i = 0; i < c.q_len; ++i) {
          for (int64_t col = 0; col < c.d; ++col) {
            x.q[static_cast<size_t>(Offset(x.qd, b, h, i, col))] =
                cq[static_cast<size_t>((i * 7) % 4 * c.d + col)] + jitter(rng);
          }
        }
      }
      for (int64_t h = 0; h < c.kv_heads; ++h) {
        for (int64_t j = 0; j < c.kv_len; ++j) {
          for (int64_t col = 0; col < c.d; ++col) {
            x.k[static_cast<size_t>(Offset(x.kd, b, h, j, col))] =
                ck[static_cast<size_t>((j * 7) % 4 * c.d + col)] + jitter(rng);
          }
        }
      }
    }
  }
  for (int64_t b = 0; b < c.batch; ++b) {
    x.lengths.push_back(static_cast<int32_t>(b % 3 == 1 ? c.kv_len * 2 / 3 : (b % 3 == 2 ? 3 : c.kv_len)));
  }
  return x;
}

lowrank::Options ToOptions(const NystromOptions& n, int threads) {
  lowrank::Options opt;
  opt.method = LOWRANK_METHOD_NYSTROM;
  opt.landmarks = n.m;
  opt.landmark_mode = n.mode;
  opt.landmark_positions = n.positions;
  opt.kmeans_iterations = n.kmeans_iterations;
  opt.pinv_iterations = n.pinv_iterations;
  opt.pinv_init = n.original_init ? LOWRANK_PINV_INIT_ORIGINAL : LOWRANK_PINV_INIT_RAZAVI;
  opt.seed = n.seed;
  opt.conv_weights = n.conv;
  opt.conv_kernel = n.conv_kernel;
  opt.num_threads = threads;
  return opt;
}

// Runs the plan and compares with the reference; returns the output.
std::vector<float> RunAndCheck(const Case& c, const NystromOptions& n, unsigned seed = 1) {
  SCOPED_TRACE(::testing::Message()
               << "B" << c.batch << " Hq" << c.q_heads << " Hkv" << c.kv_heads << " Nq" << c.q_len
               << " Nkv" << c.kv_len << " d" << c.d << "/" << c.d_v << " m" << n.m << " mode "
               << n.mode << " it" << n.pinv_iterations << (n.original_init ? " original" : "")
               << (c.padded ? " padded" : "") << (c.bshd ? " bshd" : "") << " T" << c.threads
               << (n.conv ? " conv" : ""));
  Data x = MakeData(c, seed);
  lowrank::Plan plan;
  lowrank::Status st = plan.Create(ToOptions(n, c.threads), x.qd, x.kd, x.vd, x.od);
  EXPECT_TRUE(st.ok()) << st.ToString();
  if (!st.ok()) return {};
  st = plan.Execute(x.q.data(), x.k.data(), x.v.data(), c.padded ? x.lengths.data() : nullptr,
                    x.o.data());
  EXPECT_TRUE(st.ok()) << st.ToString();

  AttentionProblem p{x.qd, x.kd, x.vd, x.od, x.q.data(), x.k.data(), x.v.data(),
                     c.padded ? x.lengths.data() : nullptr,
                     1.0 / std::sqrt(static_cast<double>(c.d)), false};
  std::vector<double> norms, conds;
  const std::vector<double> want = ReferenceNystrom(p, n, &norms, &conds);
  for (int64_t b = 0; b < c.batch; ++b) {
    for (int64_t h = 0; h < c.q_heads; ++h) {
      const size_t bh = static_cast<size_t>(b * c.q_heads + h);
      const double bound = NystromBound(n, c.kv_len, c.d, norms[bh], conds[bh]) +
                           NystromPlainBound(n, c.kv_len, c.q_len, c.d_v, 1.0);
      double err2 = 0.0;
      for (int64_t i = 0; i < c.q_len; ++i) {
        for (int64_t col = 0; col < c.d_v; ++col) {
          const double got = x.o[static_cast<size_t>(Offset(x.od, b, h, i, col))];
          const double ref = want[static_cast<size_t>(((b * c.q_heads + h) * c.q_len + i) * c.d_v + col)];
          err2 += (got - ref) * (got - ref);
        }
      }
      EXPECT_LE(std::sqrt(err2), bound) << "b " << b << " h " << h << " norm " << norms[bh];
    }
  }
  return x.o;
}

class NystromTest : public PerIsaTest {};

TEST_P(NystromTest, SegmentMeansMatchReference) {
  for (int64_t n : {7, 33, 100, 257}) {
    for (int64_t m : {1, 3, 8, 16}) {
      if (m >= n) continue;
      Case c;
      c.q_len = c.kv_len = n;
      NystromOptions o;
      o.m = m;
      RunAndCheck(c, o);
    }
  }
}

TEST_P(NystromTest, ShapesLayoutsThreads) {
  Case c;
  c.batch = 2, c.q_heads = 4, c.kv_heads = 2, c.q_len = c.kv_len = 70, c.d = 3, c.d_v = 5;
  NystromOptions o;
  o.m = 9;
  RunAndCheck(c, o);
  c.bshd = true, c.threads = 3;
  RunAndCheck(c, o);
  c.d = 64, c.d_v = 80, c.q_len = c.kv_len = 300, c.threads = 2;  // two row blocks
  o.m = 32;
  RunAndCheck(c, o);
  // Cross attention: Q~ are segment means over all Nq rows.
  Case x;
  x.q_len = 13, x.kv_len = 50;
  o.m = 6;
  RunAndCheck(x, o);
  x.q_len = 4;  // fewer queries than landmarks: empty query segments
  RunAndCheck(x, o);
}

TEST_P(NystromTest, PaddedKeysAndExactPath) {
  Case c;
  c.batch = 3, c.q_heads = 2, c.kv_heads = 2, c.q_len = c.kv_len = 60, c.padded = true;
  NystromOptions o;
  o.m = 8;  // batch 2 has 3 valid keys: exact path
  RunAndCheck(c, o);
  c.threads = 2;
  RunAndCheck(c, o);
}

// More keys than one segment of the split B V pass (SeqSplit: 2048-row
// segments here): each segment's landmark attention merged by its softmax
// row statistics; padding leaves segments unused (valid 5000, 3333 and 3:
// the last on the exact path); m = 2 takes the exact kernel's row path,
// m = 16 its tile path; several threads. The segment means are pooled in
// groups of landmarks (3 here), also for cross attention and as k-means
// seeds.
TEST_P(NystromTest, SequenceSegments) {
  for (int64_t m : {2, 16}) {
    Case c;
    c.batch = 3, c.q_len = c.kv_len = 5000, c.padded = true, c.threads = 3;
    NystromOptions o;
    o.m = m;
    RunAndCheck(c, o);
    c.q_len = 3001;  // cross attention: query segments of their own
    RunAndCheck(c, o);
  }
  Case c;
  c.q_len = c.kv_len = 5000, c.threads = 2, c.clustered = true;
  NystromOptions o;
  o.m = 8, o.mode = LOWRANK_LANDMARKS_KMEANS;
  RunAndCheck(c, o);
}

// The same tokens, alone and followed by padded ones: 50 of 64, and 2000
// of 5000 (a plan whose landmark means are pooled in 3 groups and whose
// B V has 3 key segments, against one of each).
TEST_P(NystromTest, PaddingChangesNothing) {
  for (auto [valid, total] : {std::pair<int64_t, int64_t>{50, 64}, {2000, 5000}}) {
    SCOPED_TRACE(total);
    Case a;
    a.q_len = a.kv_len = valid;
    Case b = a;
    b.q_len = b.kv_len = total, b.padded = true;
    NystromOptions o;
    o.m = 7;
    Data x = MakeData(a, 3), y = MakeData(b, 4);
    for (int64_t i = 0; i < valid; ++i) {
      for (int64_t col = 0; col < a.d; ++col) {
        y.q[static_cast<size_t>(i * a.d + col)] = x.q[static_cast<size_t>(i * a.d + col)];
        y.k[static_cast<size_t>(i * a.d + col)] = x.k[static_cast<size_t>(i * a.d + col)];
        y.v[static_cast<size_t>(i * a.d + col)] = x.v[static_cast<size_t>(i * a.d + col)];
      }
    }
    y.lengths = {static_cast<int32_t>(valid)};
    for (const auto& opts : {NystromOptions{o}, [&] {
           NystromOptions k = o;
           k.mode = LOWRANK_LANDMARKS_KMEANS;
           return k;
         }()}) {
      lowrank::Plan pa, pb;
      ASSERT_TRUE(pa.Create(ToOptions(opts, 1), x.qd, x.kd, x.vd, x.od).ok());
      ASSERT_TRUE(pb.Create(ToOptions(opts, 1), y.qd, y.kd, y.vd, y.od).ok());
      ASSERT_TRUE(pa.Execute(x.q.data(), x.k.data(), x.v.data(), nullptr, x.o.data()).ok());
      ASSERT_TRUE(
          pb.Execute(y.q.data(), y.k.data(), y.v.data(), y.lengths.data(), y.o.data()).ok());
      for (size_t i = 0; i < x.o.size(); ++i) {
        ASSERT_NEAR(x.o[i], y.o[i], 1e-6f * (1.0f + std::fabs(x.o[i]))) << i;
      }
    }
  }
}

TEST_P(NystromTest, PseudoinverseOptions) {
  Case c;
  c.batch = 2, c.q_heads = 3, c.kv_heads = 3, c.q_len = c.kv_len = 64, c.data_scale = 2.0f;
  for (int it : {0, 1, 6, 12}) {
    for (bool original : {false, true}) {
      NystromOptions o;
      o.m = 8, o.pinv_iterations = it, o.original_init = original;
      RunAndCheck(c, o);
    }
  }
}

TEST_P(NystromTest, LandmarkModes) {
  Case c;
  c.batch = 2, c.q_heads = 2, c.kv_heads = 1, c.q_len = c.kv_len = 90, c.padded = true;
  NystromOptions o;
  o.m = 10;
  o.mode = LOWRANK_LANDMARKS_RANDOM, o.seed = 5;
  RunAndCheck(c, o);
  std::vector<int64_t> pos = {0, 3, 10, 11, 40, 59, 61, 70, 88, 89};  // some past 60 valid keys
  o.mode = LOWRANK_LANDMARKS_POSITIONS, o.positions = pos.data();
  RunAndCheck(c, o);
  Case k = c;
  k.clustered = true, k.padded = false;
  o.mode = LOWRANK_LANDMARKS_KMEANS, o.positions = nullptr, o.kmeans_iterations = 3, o.m = 6;
  RunAndCheck(k, o);
  o.m = 12;  // more clusters than the 4 centres: empty clusters are re-seeded or dropped
  RunAndCheck(k, o);
}

TEST_P(NystromTest, KmeansAndRandomAreDeterministic) {
  Case c;
  c.q_len = c.kv_len = 120, c.threads = 2, c.q_heads = 2, c.kv_heads = 2;
  for (auto mode : {LOWRANK_LANDMARKS_KMEANS, LOWRANK_LANDMARKS_RANDOM}) {
    NystromOptions o;
    o.m = 10, o.mode = mode, o.seed = 42;
    const std::vector<float> a = RunAndCheck(c, o);
    const std::vector<float> b = RunAndCheck(c, o);
    EXPECT_EQ(a, b);
    o.seed = 43;
    const std::vector<float> d = RunAndCheck(c, o);
    if (mode == LOWRANK_LANDMARKS_RANDOM) {
      EXPECT_NE(a, d);
    }
  }
}

TEST_P(NystromTest, ConvolutionResidual) {
  Case c;
  c.batch = 2, c.q_heads = 2, c.kv_heads = 2, c.q_len = c.kv_len = 50, c.padded = true;
  for (int64_t ks : {1, 3, 33}) {
    std::vector<float> w(static_cast<size_t>(c.q_heads * ks));
    for (size_t i = 0; i < w.size(); ++i) w[i] = 0.1f * static_cast<float>(i % 7) - 0.3f;
    NystromOptions o;
    o.m = 5, o.conv = w.data(), o.conv_kernel = ks;
    RunAndCheck(c, o);
  }
}

// Landmarks at every position and a converged pseudoinverse: A = F = B = P,
// O = P pinv(P) P V = P V, exact attention. Run on the kernel directly (the
// API sends m >= n to the exact path). Inputs make P diagonally dominant
// (q = k, logits s |q|^2 = 8 on the diagonal), so Newton-Schulz converges.
TEST_P(NystromTest, LandmarksEverywhereGiveExactAttention) {
  for (int64_t n : {1, 6, 17, 40}) {
    Case c;
    c.q_len = c.kv_len = n, c.d = 16, c.d_v = 8;
    Data x = MakeData(c, 11);
    std::mt19937 rng(5);
    std::normal_distribution<float> g(0.0f, 1.0f);
    for (float& f : x.q) f = 1.41421356f * g(rng);
    x.k = x.q;
    std::vector<int64_t> pos(static_cast<size_t>(n));
    std::iota(pos.begin(), pos.end(), 0);
    lowrank::NystromArgs a{};
    a.batch = 1, a.q_heads = 1, a.kv_heads = 1, a.q_len = static_cast<size_t>(n),
    a.kv_len = static_cast<size_t>(n), a.d_qk = 16, a.d_v = 8;
    a.q = x.q.data(), a.k = x.k.data(), a.v = x.v.data(), a.out = x.o.data();
    a.q_strides = {n * 16, n * 16, 16, 1}, a.k_strides = a.q_strides;
    a.v_strides = {n * 8, n * 8, 8, 1}, a.out_strides = a.v_strides;
    a.num_threads = 1;
    a.scale = 0.25f;
    a.m = static_cast<size_t>(n);
    a.mode = lowrank::LandmarkMode::kPositions;
    a.positions = pos.data();
    a.kmeans_iterations = 1;
    a.pinv_iterations = 30;
    a.bv_block_q = static_cast<size_t>((n + 5) / 6 * 6);
    a.block_k = 192;
    a.exact_short_batches = false;
    const lowrank::NystromLayout lay = lowrank::MakeNystromLayout(a);
    float* ws = nullptr;
    ASSERT_EQ(posix_memalign(reinterpret_cast<void**>(&ws), 256, lay.total * sizeof(float)), 0);
    a.workspace = ws;
    lowrank::Nystrom(a);
    std::free(ws);
    AttentionProblem p{x.qd, x.kd, x.vd, x.od, x.q.data(), x.k.data(), x.v.data(), nullptr, 0.25,
                       false};
    const std::vector<double> want = ReferenceAttention(p);
    // The reference of the same computation in double equals exact
    // attention to 1e-9 (a converged Newton-Schulz on a well-conditioned P).
    NystromOptions o;
    o.m = n, o.mode = LOWRANK_LANDMARKS_POSITIONS, o.positions = pos.data(),
    o.pinv_iterations = 30, o.exact_short_batches = false;
    std::vector<double> norms;
    const std::vector<double> dref = ReferenceNystrom(p, o, &norms);
    for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(dref[i], want[i], 1e-9) << i;
    // Float: O = F (Z (B V)) with ||F|| ||Z|| ||BV|| = norms[0]; every factor
    // carries at most (n + d + 8) u relative error, the iteration a few
    // GEMM roundings that it contracts again once converged: 64 (n + 24) u
    // times the norm product.
    const double tol = 64.0 * (static_cast<double>(n) + 24.0) * std::ldexp(1.0, -24) *
                       std::max(1.0, norms[0]);
    double err2 = 0.0, ref2 = 0.0;
    for (size_t i = 0; i < want.size(); ++i) {
      err2 += (x.o[i] - want[i]) * (x.o[i] - want[i]);
      ref2 += want[i] * want[i];
    }
    EXPECT_LE(std::sqrt(err2), tol) << "n " << n << " |O| " << std::sqrt(ref2);
  }
}

LOWRANK_INSTANTIATE_PER_ISA(NystromTest);

TEST(NystromApiTest, BadInput) {
  const auto q = lowrank::TensorDesc::BHSD(1, 2, 20, 8);
  const auto o = lowrank::TensorDesc::BHSD(1, 2, 20, 8);
  auto expect = [&](lowrank::Options opt, lowrank_status_t want, const lowrank::TensorDesc& kd) {
    lowrank::Plan plan;
    const lowrank::Status st = plan.Create(opt, q, kd, kd, o);
    EXPECT_EQ(st.code(), want) << st.ToString();
    EXPECT_FALSE(st.message().empty());
  };
  lowrank::Options base;
  base.method = LOWRANK_METHOD_NYSTROM;
  base.landmarks = 4;
  lowrank::Options opt = base;
  opt.landmarks = 0;
  expect(opt, LOWRANK_INVALID_ARGUMENT, q);
  opt = base;
  opt.causal = 1;
  expect(opt, LOWRANK_UNSUPPORTED, q);
  std::vector<int64_t> pos(30, 0);
  opt = base;
  opt.landmark_mode = LOWRANK_LANDMARKS_POSITIONS;
  opt.landmark_positions = pos.data();
  opt.landmarks = 21;  // more positions than tokens
  expect(opt, LOWRANK_INVALID_ARGUMENT, q);
  opt.landmarks = 4;
  pos[2] = 20;  // out of range
  expect(opt, LOWRANK_INVALID_ARGUMENT, q);
  pos[2] = -1;
  expect(opt, LOWRANK_INVALID_ARGUMENT, q);
  opt.landmark_positions = nullptr;  // positions mode without positions
  expect(opt, LOWRANK_INVALID_ARGUMENT, q);
  opt = base;
  opt.landmark_positions = pos.data();  // positions without the mode
  expect(opt, LOWRANK_INVALID_ARGUMENT, q);
  std::vector<float> w(2 * 4, 0.1f);
  opt = base;
  opt.conv_weights = w.data();
  opt.conv_kernel = 4;  // even
  expect(opt, LOWRANK_INVALID_ARGUMENT, q);
  opt.conv_kernel = 0;  // weights without a size
  expect(opt, LOWRANK_INVALID_ARGUMENT, q);
  opt = base;
  opt.pinv_iterations = -1;
  expect(opt, LOWRANK_INVALID_ARGUMENT, q);
  opt = base;
  opt.pinv_init = static_cast<lowrank_pinv_init_t>(7);
  expect(opt, LOWRANK_INVALID_ARGUMENT, q);
  opt = base;
  opt.landmark_mode = static_cast<lowrank_landmark_mode_t>(9);
  expect(opt, LOWRANK_INVALID_ARGUMENT, q);
  opt = base;
  opt.landmark_mode = LOWRANK_LANDMARKS_KMEANS;
  opt.kmeans_iterations = 0;
  expect(opt, LOWRANK_INVALID_ARGUMENT, q);
  opt.kmeans_iterations = 5;  // k-means needs Nq = Nkv
  expect(opt, LOWRANK_INVALID_ARGUMENT, lowrank::TensorDesc::BHSD(1, 2, 30, 8));
  opt = base;
  lowrank::TensorDesc strided = lowrank::TensorDesc::BHSD(1, 2, 20, 8);
  strided.stride_dim = 2, strided.stride_seq = 16, strided.stride_head = 320,
  strided.stride_batch = 640;
  expect(opt, LOWRANK_UNSUPPORTED, strided);
  opt = base;
  opt.method = LOWRANK_METHOD_EXACT;
  opt.conv_weights = w.data();  // a Nystrom option on another method
  opt.conv_kernel = 3;
  expect(opt, LOWRANK_INVALID_ARGUMENT, q);
}

}  // namespace
}  // namespace lowrank_test
