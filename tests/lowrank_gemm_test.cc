// The tiled low-rank GEMMs against double precision, on every target, at
// sizes around the 6-row strips, the panel widths (8, 16, 64 columns) and
// the 256-row reduction blocks, with odd leading dimensions.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/gemm_select.h"
#include "kernels/lowrank_gemm.h"
#include "onednn/onednn.h"
#include "per_isa.h"

namespace lowrank_test {
namespace {

struct Aligned {
  float* p = nullptr;
  explicit Aligned(size_t floats) {
    if (posix_memalign(reinterpret_cast<void**>(&p), lowrank::kGemmWorkspaceAlign,
                       std::max<size_t>(1, floats) * sizeof(float)) != 0) {
      p = nullptr;
    }
  }
  ~Aligned() { std::free(p); }
};

// transpose_a: C = A^T B (A n x r, B n x d); else C = A B (A n x r, B r x d).
// selected: the entry points the methods use (gemm_select.h) instead of the
// Highway kernels; packed: A B with B packed beforehand (GemmArgs::packed_b).
// scale_rows: A B with the row-scaling epilogue (GemmArgs::row_scale).
// row_dot: A B with the row-normalization epilogue (GemmArgs::row_dot).
void Check(bool transpose_a, size_t n, size_t r, size_t d, bool accumulate,
           bool selected = false, bool packed = false, bool scale_rows = false,
           bool row_dot = false) {
  SCOPED_TRACE(::testing::Message() << (transpose_a ? "AtB" : "AB") << " n " << n << " r " << r
                                    << " d " << d << (accumulate ? " acc" : "")
                                    << (packed ? " packed" : "") << (scale_rows ? " scaled" : "")
                                    << (row_dot ? " row_dot" : ""));
  std::mt19937 rng(static_cast<unsigned>(n * 131 + r * 17 + d));
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  const size_t lda = r + 3, ldb = d + 5, ldc = d + 1;  // padding
  const size_t b_rows = transpose_a ? n : r;
  const size_t c_rows = transpose_a ? r : n;
  // At least one element each: an empty reduction still gets real (non-null)
  // pointers, as the methods pass them (oneDNN once skipped writing C then).
  std::vector<float> a(std::max<size_t>(1, n * lda)), b(std::max<size_t>(1, b_rows * ldb)),
      c(c_rows * ldc);
  for (float& x : a) x = dist(rng);
  for (float& x : b) x = dist(rng);
  for (float& x : c) x = dist(rng);
  const std::vector<float> c0 = c;
  std::vector<float> scale(n);
  for (float& x : scale) x = dist(rng);
  // z for row_dot (its guard is tested through the methods: FactorsTest).
  std::vector<float> z(std::max<size_t>(1, r));
  for (float& x : z) x = dist(rng);

  const size_t ws_floats = transpose_a ? lowrank::GemmAtBWorkspaceFloats(r, d)
                                       : lowrank::GemmABWorkspaceFloats(r, d);
  Aligned ws(ws_floats);
  ASSERT_NE(ws.p, nullptr);
  lowrank::GemmArgs g{n, r, d, a.data(), lda, b.data(), ldb, c.data(), ldc, accumulate, ws.p};
  Aligned pb(lowrank::PackedBFloats(r, d));
  if (packed) {
    lowrank::PackGemmBForTarget(b.data(), ldb, r, d, pb.p);
    g.packed_b = pb.p;
    g.b = nullptr;  // must not be read
  }
  if (scale_rows) g.row_scale = scale.data();
  if (row_dot) g.row_dot = z.data();
  if (selected) {
    transpose_a ? lowrank::GemmAtBSelected(g) : lowrank::GemmABSelected(g);
  } else {
    transpose_a ? lowrank::GemmAtB(g) : lowrank::GemmAB(g);
  }

  // Each entry is a K-term float dot product (K = n for A^T B, r for A B):
  // |error| <= (K + 1) u sum_k |a_k b_k| (+ one more rounding with
  // accumulate or the row scaling), u = 2^-24.
  // With row_dot the product P is divided by den = A_i . z, itself an r-term
  // dot product with |error| <= (r + 1) u sum_k |a_k z_k| =: e_den; to first
  // order |P/den - P'/den'| <= |P - P'| / |den| + |P / den| (e_den / |den| +
  // 2u) (the reciprocal and the product rounded once each); the bound below
  // doubles that for the second-order terms and uses the exact guarded den.
  const double u = std::ldexp(1.0, -24);
  const size_t K = transpose_a ? n : r;
  double worst_ratio = 0.0;
  for (size_t i = 0; i < c_rows; ++i) {
    double den = 1.0, den_err = 0.0;
    if (row_dot) {
      double dmag = 0.0;
      den = 0.0;
      for (size_t k = 0; k < r; ++k) {
        den += static_cast<double>(a[i * lda + k]) * z[k];
        dmag += std::fabs(static_cast<double>(a[i * lda + k]) * z[k]);
      }
      if (std::fabs(den) <= lowrank::kDenominatorStab) den += 2.0 * lowrank::kDenominatorStab;
      den_err = (static_cast<double>(r) + 1) * u * dmag;
    }
    for (size_t col = 0; col < d; ++col) {
      double want = accumulate ? c0[i * ldc + col] : 0.0, mag = std::fabs(want);
      for (size_t k = 0; k < K; ++k) {
        const double x = transpose_a ? a[k * lda + i] : a[i * lda + k];
        const double y = b[k * ldb + col];
        want += x * y;
        mag += std::fabs(x * y);
      }
      if (scale_rows) want *= scale[i], mag *= std::fabs(scale[i]);
      double tol = (static_cast<double>(K) + 2) * u * mag + 1e-30;
      if (row_dot) {
        want /= den;
        tol = 2.0 * (tol / std::fabs(den) + std::fabs(want) * (den_err / std::fabs(den) + 2 * u));
      }
      const double err = std::fabs(c[i * ldc + col] - want);
      worst_ratio = std::max(worst_ratio, std::isnan(err) ? INFINITY : err / tol);
    }
    // Padding columns of C are untouched.
    for (size_t col = d; col < ldc; ++col) ASSERT_EQ(c[i * ldc + col], c0[i * ldc + col]);
  }
  EXPECT_LE(worst_ratio, 1.0) << "worst error / bound";
}

class LowRankGemmTest : public PerIsaTest {};

// d narrower than a panel takes panels of 1 to 3 vectors (PanelCols):
// with 4 lanes (SSE4, NEON, SVE128) d = 8 and 12 are 2 and 3 vectors, with 16
// (AVX-512) d = 15, 17 and 40 are 1, 2 and 3. Past one panel the last panel
// is only as wide as its columns (PanelWidthAt): d = 70 is 64 + 16 on
// AVX-512, 4 x 16 + 8 on AVX2; 65 and 80 (AB) likewise.
TEST_P(LowRankGemmTest, AtBEdgeShapes) {
  for (size_t n : {1, 6, 7, 255, 256, 257, 1000}) {
    // Under qemu n = 1000 adds nothing 255-257 do not cover (several blocks,
    // the next one prefetched) but a third of the time.
    if (n == 1000 && Emulated()) continue;
    for (size_t r : {1, 5, 6, 7, 64}) {
      for (size_t d : {1, 12, 15, 16, 17, 40, 64, 70}) Check(true, n, r, d, n % 2 == 1);
    }
  }
  // Every way the r rows split into 6- and 4-row strips (r mod 6 of 0..5;
  // 8 and 14 end in 4 + 4; padded tails); d = 16 and 64 fill whole panels,
  // where the tiles accumulate in C itself, with and without C's old value.
  for (size_t n : {7, 65}) {  // one block; two (the second prefetched)
    for (size_t r : {2, 3, 4, 8, 9, 10, 11, 14, 128}) {
      for (size_t d : {16, 17, 64}) {
        for (bool accumulate : {false, true}) Check(true, n, r, d, accumulate);
      }
    }
  }
  // A 1 KiB row stride (r = 253 + 3 padding = 256) takes 32-row blocks.
  for (size_t n : {31, 32, 33, 100}) Check(true, n, 253, 16, n % 2 == 0);
}

TEST_P(LowRankGemmTest, ABEdgeShapes) {
  // n: every split into 6- and 4-row strips (see AtBEdgeShapes), and n > 24
  // where a large B is packed rather than read in place.
  // r = 256 (emulated: 129, half the time under qemu) is a long K loop.
  for (size_t n : {1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 100}) {
    for (size_t r : {size_t{1}, size_t{7}, size_t{64}, size_t{65}, Emulated() ? size_t{129} : size_t{256}}) {
      for (size_t d : {1, 8, 12, 15, 16, 17, 40, 63, 64, 65, 80}) {
        Check(false, n, r, d, d % 2 == 1);
      }
    }
  }
}

TEST_P(LowRankGemmTest, ABPrepackedB) {
  for (size_t n : {1, 6, 7, 100}) {
    for (size_t r : {1, 7, 64}) {
      for (size_t d : {1, 12, 16, 17, 64, 80}) Check(false, n, r, d, n % 2 == 1, false, true);
    }
  }
}

// The row-normalization epilogue (GemmArgs::row_dot): every split of the
// rows into 6- and 4-row strips (the epilogue runs per strip, the tail strip
// from a padded copy of A), B read in place (small) or packed, edge panels.
TEST_P(LowRankGemmTest, ABRowDot) {
  for (size_t n : {1, 4, 5, 6, 7, 13, 100}) {
    for (size_t r : {1, 7, 64, 129}) {
      for (size_t d : {1, 16, 17, 64, 80}) Check(false, n, r, d, false, false, false, false, true);
    }
  }
}

// A packed B of more than 32 KiB is reduced in chunks of rows (128 at d = 64)
// over blocks of 384 rows of A (kABChunkFloats in lowrank_gemm-inl.h): n
// over several blocks with a ragged last one and a 4-row tail strip (775 =
// 2 x 384 + 7), r splitting evenly (256) or not (200 at d = 64: 128 + 72;
// d = 80: chunks of 102 rows on AVX2, 64 on AVX-512), accumulating, with B
// packed beforehand, and with the row scaling or the row normalization
// applied once, after the last chunk. Under qemu (160 s a target at the
// full sizes) only n = 391 = 384 + 7 (two blocks, the second ragged, a 4-row
// tail strip) and r = 200.
TEST_P(LowRankGemmTest, ABChunkedReduction) {
  using Sizes = std::vector<size_t>;
  const Sizes ns = Emulated() ? Sizes{391} : Sizes{100, 775};
  const Sizes rs = Emulated() ? Sizes{200} : Sizes{200, 256};
  for (size_t n : ns) {
    for (size_t r : rs) {
      for (size_t d : {size_t{64}, size_t{80}}) {
        Check(false, n, r, d, false);
        Check(false, n, r, d, true);
        Check(false, n, r, d, false, false, true);
        Check(false, n, r, d, false, false, false, true);
        Check(false, n, r, d, false, false, false, false, true);
      }
    }
  }
}

LOWRANK_INSTANTIATE_PER_ISA(LowRankGemmTest);

// The runtime choice: each backend forced, and the measured rule, on shapes
// on both sides of the rule (narrow d, one row, d = 64). Whatever runs
// must meet the same bound.
// The split of reductions over the sequence (lowrank_gemm.h): segments of
// whole kGemmKc blocks, at least 2048 rows, at most 16, covering the
// sequence with none empty.
TEST(SeqSplitTest, SegmentsCoverTheSequence) {
  for (size_t n : {size_t{0}, size_t{1}, size_t{2047}, size_t{2048}, size_t{2049}, size_t{32768},
                   size_t{32769}, size_t{65536}, size_t{1} << 24, (size_t{1} << 31) - 1}) {
    SCOPED_TRACE(n);
    const lowrank::SeqSplit split(n);
    EXPECT_EQ(split.rows % lowrank::kGemmKc, 0u);
    EXPECT_GE(split.rows, lowrank::SeqSplit::kMinSegmentRows);
    EXPECT_GE(split.segments, 1u);
    EXPECT_LE(split.segments, lowrank::SeqSplit::kMaxSegments);
    EXPECT_GE(split.segments * split.rows, n);
    if (n > 0) {
      EXPECT_LT((split.segments - 1) * split.rows, n);
    }
    EXPECT_EQ(split.Used(n), split.segments);
    EXPECT_EQ(split.Used(0), 1u);
    EXPECT_LE(split.Used(n / 2), split.segments);
  }
}

TEST(GemmSelectTest, EveryBackendMatchesReference) {
  for (auto backend : {lowrank::GemmBackend::kHighway, lowrank::GemmBackend::kOnednn,
                       lowrank::GemmBackend::kAuto}) {
    SCOPED_TRACE(static_cast<int>(backend));
    lowrank::SetGemmBackend(backend);
    for (bool at : {true, false}) {
      for (size_t n : {0, 1, 7, 32, 300}) {
        for (size_t d : {1, 16, 32, 64}) {
          if (n == 0 && !at) continue;  // AB needs rows
          Check(at, n, 32, d, d == 16, /*selected=*/true);
          if (at && n > 0) Check(at, n, 3, d, d == 32, /*selected=*/true);
          if (!at) {  // the row epilogues after oneDNN too
            Check(at, n, 32, d, false, true, false, /*scale_rows=*/true);
            Check(at, n, 32, d, false, true, false, false, /*row_dot=*/true);
          }
        }
      }
    }
  }
  lowrank::SetGemmBackend(lowrank::GemmBackend::kAuto);
}

TEST(GemmSelectTest, RuleFollowsMeasurements) {
  ASSERT_EQ(lowrank_isa_force(LOWRANK_ISA_AUTO), LOWRANK_OK);
  lowrank::SetGemmBackend(lowrank::GemmBackend::kAuto);
  const bool dnnl = lowrank::onednn::Available();
  // Narrow outputs and fewer than 4 rows of C: oneDNN when it is built in.
  EXPECT_EQ(lowrank::PreferOnednn(lowrank::GemmOp::kAB, 4096, 64, 16), dnnl);
  EXPECT_EQ(lowrank::PreferOnednn(lowrank::GemmOp::kAB, 1, 256, 64), dnnl);
  EXPECT_EQ(lowrank::PreferOnednn(lowrank::GemmOp::kAtB, 4096, 3, 64), dnnl);
  EXPECT_EQ(lowrank::PreferOnednn(lowrank::GemmOp::kAtB, 256, 64, 16), dnnl);
  // ... but not products with n <= 64 (one block) of a narrow output.
  EXPECT_FALSE(lowrank::PreferOnednn(lowrank::GemmOp::kAtB, 64, 256, 16));
  EXPECT_FALSE(lowrank::PreferOnednn(lowrank::GemmOp::kAB, 36, 64, 16));
  // d = 32 on every target (the tiles narrow to the output): Highway.
  EXPECT_FALSE(lowrank::PreferOnednn(lowrank::GemmOp::kAtB, 4096, 64, 32));
  // Small squares (the pseudoinverse's) and short reductions: Highway.
  EXPECT_FALSE(lowrank::PreferOnednn(lowrank::GemmOp::kAB, 32, 32, 32));
  EXPECT_FALSE(lowrank::PreferOnednn(lowrank::GemmOp::kAtB, 1, 64, 64));
  // d = 64, large enough: Highway.
  EXPECT_FALSE(lowrank::PreferOnednn(lowrank::GemmOp::kAtB, 4096, 64, 64));
  EXPECT_FALSE(lowrank::PreferOnednn(lowrank::GemmOp::kAB, 4096, 256, 64));
  // A forced target below the best never hands its products to oneDNN.
  const std::vector<lowrank_isa_t> isas = CompiledIsas();
  for (lowrank_isa_t isa : isas) {
    if ((lowrank_isa_supported() & isa) == 0 || isa == lowrank_isa_active()) continue;
    ASSERT_EQ(lowrank_isa_force(isa), LOWRANK_OK);
    EXPECT_FALSE(lowrank::PreferOnednn(lowrank::GemmOp::kAB, 4096, 64, 16));
    ASSERT_EQ(lowrank_isa_force(LOWRANK_ISA_AUTO), LOWRANK_OK);
    break;
  }
  lowrank::SetGemmBackend(lowrank::GemmBackend::kHighway);
  EXPECT_FALSE(lowrank::PreferOnednn(lowrank::GemmOp::kAB, 4096, 64, 16));
  lowrank::SetGemmBackend(lowrank::GemmBackend::kAuto);
}

}  // namespace
}  // namespace lowrank_test
