// Exact attention against the double-precision reference, on every target.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "api/plan.h"
#include "gtest/gtest.h"
#include "kernels/exact_attention.h"
#include "lowrank/lowrank.hpp"
#include "per_isa.h"
#include "reference.h"

namespace lowrank_test {
namespace {

enum class Layout { kBHSD, kBSHD, kStrided };

struct Case {
  int64_t batch = 1, q_heads = 1, kv_heads = 1, q_len = 1, kv_len = 1;
  int64_t d_qk = 8, d_v = 8;
  bool causal = false;
  bool padded = false;  // per-batch key lengths
  int threads = 1;
  Layout layout = Layout::kBHSD;
  float logit_scale = 1.0f;  // inputs ~ U(-a, a) with a = logit_scale
  std::string Name() const {
    return "B" + std::to_string(batch) + " Hq" + std::to_string(q_heads) + " Hkv" +
           std::to_string(kv_heads) + " Nq" + std::to_string(q_len) + " Nkv" +
           std::to_string(kv_len) + " d" + std::to_string(d_qk) + "/" +
           std::to_string(d_v) + (causal ? " causal" : "") + (padded ? " padded" : "") +
           " T" + std::to_string(threads) + " layout" +
           std::to_string(static_cast<int>(layout));
  }
};

// A view plus the buffer behind it. kStrided: [B,N,H,D] order with 3 spare
// floats between rows, dim stride 2, and the data starting 1 float past an
// aligned address (misaligned for every vector width).
struct View {
  lowrank::TensorDesc desc;
  std::vector<float> storage;
  size_t base = 0;
  float* data() { return storage.data() + base; }
};

View MakeView(Layout layout, int64_t b, int64_t h, int64_t s, int64_t d,
              std::mt19937& rng, float amplitude) {
  View v;
  switch (layout) {
    case Layout::kBHSD:
      v.desc = lowrank::TensorDesc::BHSD(b, h, s, d);
      break;
    case Layout::kBSHD:
      v.desc = lowrank::TensorDesc::BSHD(b, s, h, d);
      break;
    case Layout::kStrided: {
      v.desc.batch = b, v.desc.heads = h, v.desc.seq = s, v.desc.dim = d;
      v.desc.stride_dim = 2;
      v.desc.stride_head = 2 * d + 1;
      v.desc.stride_seq = h * v.desc.stride_head + 3;
      v.desc.stride_batch = s * v.desc.stride_seq + 5;
      v.base = 1;
      break;
    }
  }
  const int64_t span = (b - 1) * v.desc.stride_batch + (h - 1) * v.desc.stride_head +
                       (s - 1) * v.desc.stride_seq + (d - 1) * v.desc.stride_dim + 1;
  v.storage.assign(static_cast<size_t>(span) + v.base + 8,
                   std::numeric_limits<float>::quiet_NaN());  // gaps are NaN
  std::uniform_real_distribution<float> dist(-amplitude, amplitude);
  for (int64_t ib = 0; ib < b; ++ib) {
    for (int64_t ih = 0; ih < h; ++ih) {
      for (int64_t is = 0; is < s; ++is) {
        for (int64_t c = 0; c < d; ++c) v.data()[Offset(v.desc, ib, ih, is, c)] = dist(rng);
      }
    }
  }
  return v;
}

void RunCase(const Case& c) {
  SCOPED_TRACE(c.Name());
  std::mt19937 rng(1234 + static_cast<unsigned>(c.q_len * 31 + c.kv_len * 7 + c.d_qk));
  View q = MakeView(c.layout, c.batch, c.q_heads, c.q_len, c.d_qk, rng, c.logit_scale);
  View k = MakeView(c.layout, c.batch, c.kv_heads, c.kv_len, c.d_qk, rng, c.logit_scale);
  View v = MakeView(c.layout, c.batch, c.kv_heads, c.kv_len, c.d_v, rng, 1.0f);
  View o = MakeView(c.layout, c.batch, c.q_heads, c.q_len, c.d_v, rng, 1.0f);
  // Sentinel everywhere in the output buffer, so gaps can be checked.
  std::fill(o.storage.begin(), o.storage.end(), 12345.0f);

  std::vector<int32_t> lengths;
  if (c.padded) {
    for (int64_t b = 0; b < c.batch; ++b) {
      // Cycle through 0 keys, all keys, and partial lengths.
      const int64_t choices[4] = {c.kv_len, 0, (c.kv_len + 1) / 2, std::max<int64_t>(1, c.kv_len - 3)};
      lengths.push_back(static_cast<int32_t>(choices[b % 4]));
    }
  }

  lowrank::Options opt;
  opt.causal = c.causal ? 1 : 0;
  opt.num_threads = c.threads;
  lowrank::Plan plan;
  ASSERT_TRUE(plan.Create(opt, q.desc, k.desc, v.desc, o.desc).ok());
  const lowrank::Status st = plan.Execute(q.data(), k.data(), v.data(),
                                          c.padded ? lengths.data() : nullptr, o.data());
  ASSERT_TRUE(st.ok()) << st.ToString();

  AttentionProblem p{q.desc, k.desc, v.desc, o.desc, q.data(), k.data(), v.data(),
                     c.padded ? lengths.data() : nullptr,
                     1.0 / std::sqrt(static_cast<double>(c.d_qk)), c.causal};
  double max_abs_dot = 0.0;
  const std::vector<double> ref = ReferenceAttention(p, &max_abs_dot);

  // Error bound, with u = 2^-24 (float unit roundoff), n = Nkv, |v| <= 1:
  //  - each logit is a d-term float dot product (then scaled by
  //    scale * log2 e): |ds| <= (d + 2) u scale max_j sum_c |q_c k_c|;
  //    a softmax weight depends on two logits, the max and its own, and
  //    on the row sum, so its relative error is <= 2 |ds| + (sum error);
  //  - the fast exp: <= 4e-7 relative per weight (fast_exp_test.cc);
  //  - the row sum and the P V accumulation are float sums of n terms:
  //    <= n u relative each (worst case, sequential order).
  // With sum_j p_j = 1 and |v| <= 1 the output error is at most the sum of
  // those relative errors.
  const double u = std::ldexp(1.0, -24);
  const double scale = 1.0 / std::sqrt(static_cast<double>(c.d_qk));
  const double logit_err = (static_cast<double>(c.d_qk) + 2) * u * scale * max_abs_dot;
  const double tol = 2 * logit_err + 4e-7 + 2 * static_cast<double>(c.kv_len + 1) * u;

  double worst = 0.0;
  int64_t worst_at = -1;
  for (int64_t b = 0; b < c.batch; ++b) {
    for (int64_t h = 0; h < c.q_heads; ++h) {
      for (int64_t i = 0; i < c.q_len; ++i) {
        for (int64_t col = 0; col < c.d_v; ++col) {
          const double want = ref[static_cast<size_t>(((b * c.q_heads + h) * c.q_len + i) * c.d_v + col)];
          const double got = o.data()[Offset(o.desc, b, h, i, col)];
          const double err = std::fabs(got - want);
          if (!(err <= worst) || std::isnan(got)) {
            worst = std::isnan(got) ? INFINITY : err;
            worst_at = ((b * c.q_heads + h) * c.q_len + i) * c.d_v + col;
          }
        }
      }
    }
  }
  EXPECT_LE(worst, tol) << "worst element (flat index " << worst_at << ")";

  // Nothing outside the view was written.
  std::vector<char> inside(o.storage.size(), 0);
  for (int64_t b = 0; b < c.batch; ++b) {
    for (int64_t h = 0; h < c.q_heads; ++h) {
      for (int64_t i = 0; i < c.q_len; ++i) {
        for (int64_t col = 0; col < c.d_v; ++col) {
          inside[static_cast<size_t>(Offset(o.desc, b, h, i, col)) + o.base] = 1;
        }
      }
    }
  }
  for (size_t i = 0; i < o.storage.size(); ++i) {
    if (!inside[i]) {
      ASSERT_EQ(o.storage[i], 12345.0f) << "wrote outside the output at " << i;
    }
  }
}

class ExactAttentionTest : public PerIsaTest {};

// Sequence lengths around every tile: 1, 7, 33, 257, 1000, the 6-row
// register tile (6, 12), the 16/64-query panels (16, 64, 65), the key block
// (191, 192, 193, 384) and the query block (383, 384, 385, 768), each against
// head dim 64 (one thread: the query block is not shrunk for balance).
TEST_P(ExactAttentionTest, SequenceLengths) {
  // Every tile and block edge (6-row strips, 16/64-query panels, 192-key
  // blocks, 384-query blocks). Emulated runs keep 385 of the query block's
  // edges (one whole block and a 1-row block; 383 and 384 took 40% of this
  // test under qemu) and stop there (768 and 1000 add no new edge).
  std::vector<int64_t> lens = {1, 6, 7, 12, 16, 33, 64, 65, 191, 192, 193, 257, 385};
  if (!Emulated()) lens.insert(lens.end(), {383, 384, 768, 1000});
  for (int64_t n : lens) {
    Case c;
    c.q_len = c.kv_len = n;
    c.d_qk = c.d_v = 64;
    RunCase(c);
  }
  // Independent q_len and kv_len.
  const int64_t far = Emulated() ? 400 : 1000;
  for (auto [nq, nk] : {std::pair<int64_t, int64_t>{1, far}, {257, 33}, {33, 257}, {200, 511}}) {
    Case c;
    c.q_len = nq, c.kv_len = nk;
    c.d_qk = c.d_v = 64;
    RunCase(c);
  }
}

TEST_P(ExactAttentionTest, HeadDims) {
  const int64_t dims[] = {1, 3, 8, 64, 80, 128, 256};
  for (int64_t d : dims) {
    Case c;
    c.q_len = 70, c.kv_len = 300;
    c.d_qk = c.d_v = d;
    RunCase(c);
  }
  // d_qk and d_v independent. d_v narrower than a panel takes tiles of 1 to
  // 3 vectors (PanelCols): 12 is 3 vectors of 4 lanes (SSE4, NEON, SVE128),
  // 24 is 3 of 8 (AVX2, SVE256), 40 (StridedAndMisalignedViews) 3 of 16.
  // The last panel is only as wide as its columns (PanelWidthAt): 80 and 70
  // are 64 + 16 on AVX-512, 70 is 4 x 16 + 8 on AVX2.
  for (auto [dq, dv] : {std::pair<int64_t, int64_t>{64, 1}, {3, 80}, {256, 17}, {16, 256},
                        {8, 12}, {32, 24}, {8, 70}}) {
    Case c;
    c.q_len = 40, c.kv_len = 270;
    c.d_qk = dq, c.d_v = dv;
    RunCase(c);
  }
}

TEST_P(ExactAttentionTest, StridedAndMisalignedViews) {
  for (Layout layout : {Layout::kBSHD, Layout::kStrided}) {
    Case c;
    c.batch = 2, c.q_heads = 3, c.kv_heads = 3;
    c.q_len = 37, c.kv_len = 300;
    c.d_qk = 24, c.d_v = 40;
    c.layout = layout;
    RunCase(c);
  }
}

TEST_P(ExactAttentionTest, CausalAndPadded) {
  const int64_t n = Emulated() ? 200 : 300;  // past one 192-key block either way
  // Fewer queries than keys over three key blocks (emulated: 130 x 400,
  // 40% of 257 x 513).
  const std::pair<int64_t, int64_t> wide = Emulated() ? std::pair<int64_t, int64_t>{130, 400}
                                                      : std::pair<int64_t, int64_t>{257, 513};
  for (auto [nq, nk] : {std::pair<int64_t, int64_t>{n, n}, {7, n}, {n, 7}, {1, 1}, wide}) {
    Case c;
    c.q_len = nq, c.kv_len = nk;
    c.d_qk = c.d_v = 32;
    c.causal = true;
    RunCase(c);
    c.padded = true;
    c.batch = 4;
    RunCase(c);
    c.causal = false;
    RunCase(c);
  }
}

// One to three query rows take the row path (decoding shapes); four the
// tile path. Every mask, layout and head dim on both.
TEST_P(ExactAttentionTest, FewQueryRows) {
  for (int64_t nq : {1, 2, 3, 4}) {
    for (int64_t d : {1, 3, 64, 80}) {
      Case c;
      c.batch = 4, c.q_heads = 4, c.kv_heads = 2;
      c.q_len = nq, c.kv_len = 450;
      c.d_qk = d, c.d_v = d == 80 ? 17 : d;
      c.causal = (d != 3);
      c.padded = (d != 64);
      c.layout = d == 80 ? Layout::kStrided : (d == 3 ? Layout::kBSHD : Layout::kBHSD);
      c.threads = nq == 2 ? 3 : 1;
      RunCase(c);
    }
  }
}

TEST_P(ExactAttentionTest, GroupedQueryHeads) {
  Case c;
  c.batch = 2, c.q_heads = 8, c.kv_heads = 2;
  c.q_len = 50, c.kv_len = 260;
  c.d_qk = c.d_v = 16;
  RunCase(c);
  c.kv_heads = 1;  // multi-query
  c.causal = true;
  RunCase(c);
}

TEST_P(ExactAttentionTest, Threads) {
  for (int t : {2, 3, 8}) {
    Case c;
    c.batch = 2, c.q_heads = 3, c.kv_heads = 3;
    c.q_len = c.kv_len = Emulated() ? 200 : 400;  // several query blocks either way
    c.d_qk = c.d_v = 32;
    c.causal = (t == 3);
    c.threads = t;
    RunCase(c);
  }
}

// Large logits (|s| up to ~50) stress the max subtraction and the exp range.
TEST_P(ExactAttentionTest, LargeLogits) {
  Case c;
  c.q_len = 100, c.kv_len = 600;
  c.d_qk = c.d_v = 16;
  c.logit_scale = 4.0f;  // |q.k| / sqrt(16) up to 16 * 16 / 4 = 64
  RunCase(c);
}

LOWRANK_INSTANTIATE_PER_ISA(ExactAttentionTest);

// Same inputs, different thread counts: the kernel's per-row arithmetic does
// not depend on the split, so outputs are bitwise identical.
// The kernel's optional softmax row statistics (ExactAttentionArgs::
// row_max / row_sum, what Nystrom's split B V merges with): attention over
// disjoint key ranges, merged as O = sum_s w_s O_s / sum_s w_s with w_s =
// 2^(M_s - max M) L_s, must equal attention over all keys. Checked against
// the double reference with the RunCase bound plus the merge's own
// rounding (a few u per output: the weights' exp2 and products, one
// multiply-add per range and the final division). Query counts 2 (row
// path) and 50 (tile path); ranges of 1, 95 and 204 keys; logits up to ~12
// so the ranges' maxima differ.
TEST_P(ExactAttentionTest, RowStatisticsMergeKeyRanges) {
  const int64_t dq = 16, dv = 8, nk = 300;
  const size_t cuts[] = {0, 1, 96, 300};
  for (int64_t nq : {2, 50}) {
    SCOPED_TRACE(nq);
    std::mt19937 rng(77);
    View q = MakeView(Layout::kBHSD, 1, 1, nq, dq, rng, 3.0f);
    View k = MakeView(Layout::kBHSD, 1, 1, nk, dq, rng, 3.0f);
    View v = MakeView(Layout::kBHSD, 1, 1, nk, dv, rng, 1.0f);
    const size_t block_q = 48, block_k = 96;
    const size_t ws_floats = lowrank::ExactAttentionWorkspaceFloats(block_q, block_k, dq, dv);
    std::vector<float> ws_storage(ws_floats + lowrank::kWorkspaceAlign / sizeof(float));
    float* ws = ws_storage.data();
    while (reinterpret_cast<uintptr_t>(ws) % lowrank::kWorkspaceAlign != 0) ++ws;
    const size_t ranges = 3;
    std::vector<float> outs(ranges * nq * dv), maxes(ranges * nq), sums(ranges * nq);
    for (size_t r = 0; r < ranges; ++r) {
      lowrank::ExactAttentionArgs e;
      e.batch = 1, e.q_heads = 1, e.kv_heads = 1;
      e.q_len = static_cast<size_t>(nq), e.kv_len = cuts[r + 1] - cuts[r];
      e.d_qk = dq, e.d_v = dv;
      e.q = q.data(), e.k = k.data() + cuts[r] * dq, e.v = v.data() + cuts[r] * dv;
      e.out = outs.data() + r * nq * dv;
      e.q_strides = lowrank::Strides4{0, 0, dq, 1};
      e.k_strides = lowrank::Strides4{0, 0, dq, 1};
      e.v_strides = e.out_strides = lowrank::Strides4{0, 0, dv, 1};
      e.key_lengths = nullptr;
      e.num_threads = 1;
      e.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(dq)));
      e.causal = false;
      e.block_q = block_q, e.block_k = block_k;
      e.workspace = ws, e.workspace_floats = ws_floats;
      e.row_max = maxes.data() + r * nq, e.row_sum = sums.data() + r * nq;
      lowrank::ExactAttention(e);
    }
    AttentionProblem p{q.desc, k.desc, v.desc, lowrank::TensorDesc::BHSD(1, 1, nq, dv),
                       q.data(), k.data(), v.data(), nullptr,
                       1.0 / std::sqrt(static_cast<double>(dq)), false};
    double max_abs_dot = 0.0;
    const std::vector<double> ref = ReferenceAttention(p, &max_abs_dot);
    const double u = std::ldexp(1.0, -24);
    const double logit_err = (dq + 2) * u * (1.0 / std::sqrt(static_cast<double>(dq))) * max_abs_dot;
    const double tol = 2 * logit_err + 4e-7 + 2 * static_cast<double>(nk + 1) * u + 16 * u;
    for (int64_t i = 0; i < nq; ++i) {
      float top = -INFINITY;
      for (size_t r = 0; r < ranges; ++r) top = std::max(top, maxes[r * nq + i]);
      float total = 0.0f;
      std::vector<float> row(dv, 0.0f);
      for (size_t r = 0; r < ranges; ++r) {
        const float w = std::exp2(maxes[r * nq + i] - top) * sums[r * nq + i];
        total += w;
        for (int64_t c = 0; c < dv; ++c) row[c] += w * outs[(r * nq + i) * dv + c];
      }
      for (int64_t c = 0; c < dv; ++c) {
        EXPECT_NEAR(row[c] / total, ref[i * dv + c], tol) << "row " << i << " col " << c;
      }
    }
  }
}

// The key-block rule (lib/api/plan.cc) on explicit L2 sizes, so that it is
// checked on every machine, not only on one whose L2 is small: 192 keys
// unless the one-thread chunk's workspace at 192 keys is larger than the L2.
// The boundary is that workspace, laid out for the active target, for a
// 384-query block (n = 4096 gives 384 on every target: a multiple of each
// target's granule, lcm(6, panel width)). The rule takes no thread count:
// key blocks fix the softmax's rounding, and outputs must be bitwise the
// same for any thread count (BitwiseAcrossThreadCounts below).
TEST(ExactBlocking, KeyBlockHalvesOnlyWhereTheChunkOverflowsL2) {
  using lowrank::ChooseExactBlockK;
  const size_t need = lowrank::ExactAttentionChunkBytes(384, 192, 64, 64);
  // 603 KiB on every target whose panels are at most 64 wide (x86, NEON,
  // SVE up to 512 bits): the cases below sit far from that boundary.
  ASSERT_GT(need, 512u * 1024);
  ASSERT_LT(need, 1024u * 1024);
  EXPECT_EQ(192u, ChooseExactBlockK(0, 1, 4096, 64, 64));  // L2 unknown: the default
  EXPECT_EQ(192u, ChooseExactBlockK(need, 1, 4096, 64, 64));
  EXPECT_EQ(96u, ChooseExactBlockK(need - 1, 1, 4096, 64, 64));
  EXPECT_EQ(96u, ChooseExactBlockK(512 * 1024, 8, 4096, 64, 64));      // Zen 3
  EXPECT_EQ(192u, ChooseExactBlockK(2048 * 1024, 8, 4096, 64, 64));    // 2 MiB L2
  EXPECT_EQ(96u, ChooseExactBlockK(1024 * 1024, 1, 4096, 128, 256));   // 1195 KiB > 1 MiB
  // Decoding (at most 3 query rows: the row path, no S^T) keeps 192 even
  // where its small workspace would not fit; 4 rows take the tiles.
  EXPECT_EQ(192u, ChooseExactBlockK(1024, 8, 3, 64, 64));
  EXPECT_EQ(96u, ChooseExactBlockK(1024, 8, 4, 64, 64));
  EXPECT_EQ(192u, ChooseExactBlockK(512 * 1024, 1, 60, 64, 64));       // a short block fits
}

TEST(ExactAttentionDeterminism, BitwiseAcrossThreadCounts) {
  std::mt19937 rng(7);
  // 8 (emulated: 4) heads of 333 (200) rows: several query blocks, split
  // differently for each thread count.
  const int64_t B = Emulated() ? 1 : 2, H = 4, N = Emulated() ? 200 : 333, D = 64;
  View q = MakeView(Layout::kBHSD, B, H, N, D, rng, 1.0f);
  View k = MakeView(Layout::kBHSD, B, H, N, D, rng, 1.0f);
  View v = MakeView(Layout::kBHSD, B, H, N, D, rng, 1.0f);
  std::vector<float> first;
  for (int t : {1, 2, 4}) {
    lowrank::Options opt;
    opt.num_threads = t;
    lowrank::Plan plan;
    ASSERT_TRUE(plan.Create(opt, q.desc, k.desc, v.desc, q.desc).ok());
    std::vector<float> out(static_cast<size_t>(B * H * N * D));
    ASSERT_TRUE(plan.Execute(q.data(), k.data(), v.data(), nullptr, out.data()).ok());
    if (first.empty()) {
      first = out;
    } else {
      ASSERT_EQ(0, std::memcmp(first.data(), out.data(), out.size() * sizeof(float)))
          << "threads " << t;
    }
  }
}

}  // namespace
}  // namespace lowrank_test
