// Runtime choice between the Highway low-rank GEMMs and oneDNN (see
// gemm_select.h).
#include "kernels/gemm_select.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "dispatch/isa.h"
#include "onednn/onednn.h"

namespace lowrank {
namespace {

GemmBackend FromEnvironment() {
  const char* env = std::getenv("LOWRANK_GEMM");
  if (env == nullptr) return GemmBackend::kAuto;
  if (std::strcmp(env, "highway") == 0) return GemmBackend::kHighway;
  if (std::strcmp(env, "onednn") == 0) return GemmBackend::kOnednn;
  return GemmBackend::kAuto;  // "auto" or anything else: the measured rule
}

std::atomic<int>& BackendState() {
  static std::atomic<int> backend{static_cast<int>(FromEnvironment())};
  return backend;
}

}  // namespace

void SetGemmBackend(GemmBackend backend) {
  BackendState().store(static_cast<int>(backend), std::memory_order_relaxed);
}

GemmBackend GetGemmBackend() {
  return static_cast<GemmBackend>(BackendState().load(std::memory_order_relaxed));
}

// The rule, from bench/lowrank_gemm_bench (1 thread, d = 64, medians of 3
// repetitions on the development machine, a Sapphire Rapids class Xeon;
// oneDNN capped with DNNL_MAX_CPU_ISA=AVX2 beside the AVX2 rows, uncapped
// beside AVX3; measured after the 4-row tiles and in-place accumulation).
// Time of oneDNN / time of Highway (> 1: Highway faster):
//
//                 AtB (W^T V)            AB (U S)
//   r =         64    128   256       64    128   256
//   AVX2 n=1K   1.01  1.01  0.99      1.03  1.05  1.00
//        n=4K   1.03  1.11  1.09      1.07  1.02  0.94
//        n=16K  1.02  1.07  1.07      1.07  1.02  0.95
//        n=64K  1.04  1.14  1.09      1.15  1.35  1.22
//   AVX3 n=1K   1.06  1.14  1.16      1.14  1.08  1.02
//        n=4K   1.21  1.18  1.20      1.15  1.03  0.92
//        n=16K  1.14  1.18  1.18      1.12  1.03  0.88
//        n=64K  1.22  1.56  1.39      1.07  1.55  1.39
//
// Run-to-run noise on this shared machine is about +-5% (two rows running
// the very same kernel differed by that much). AB at r = 256 is the one
// column oneDNN tends to win (B is 64 KiB, larger than L1; grouping strips
// panel by panel did not help), by less than it loses at n = 64K, so the
// Highway kernels, with no per-call overhead, stay.
//
// Where oneDNN does win, clearly:
//   - outputs narrower than 32 columns. n = 4096, r = 64, d = 16 takes 82 /
//     71-80 us (AtB / AB) on AVX3, 95-109 / 81-91 us on AVX2, against
//     oneDNN's 72-79 / 69-71 us. (Before the tiles narrowed to the output
//     (PanelCols), AVX3 padded d = 16 to a 64-column panel and took 264 /
//     216 us; d = 32, then also sent to oneDNN, now runs at oneDNN's speed:
//     129-140 / 110-124 us against 114-177 / 113-119 us, and the m = 32
//     squares of the pseudoinverse at 0.48 / 0.59 us against 0.80 us.) So
//     d < 32 goes to oneDNN, except products with n <= kGemmKc = 64 (A^T B
//     over one block, A B with at most 64 rows: the causal feature maps'
//     per-chunk state updates and outputs), where oneDNN's per-call cost is
//     not repaid. d = 16, r = 64, n = 36 / 64: A^T B 0.66 / 1.11 us on AVX3
//     and 0.77 / 1.30 us on AVX2 against oneDNN's 0.92 / 1.42 us, A B 0.68 /
//     1.21 and 0.75 / 1.35 us against 0.93 / 1.49 us (r = 256: Highway equal
//     or up to 11% faster); at n = 256 oneDNN is up to 10% faster
//     (favor-causal, d = 16, m = 64, AVX3: 1.24 ms with the per-chunk
//     products on oneDNN, 0.86 ms without);
//   - fewer than 4 rows of C: the smallest tile has 4 rows, so one row costs
//     4 rows' work (n = 1, r = 256, d = 64 A B: 1.5 us against 0.6 us).
//     Tiny products otherwise stay: since B is read in place when small and
//     4-row tiles end the strips, m = 32 squares take 0.61 us (A B) and
//     0.66 us (A^T B) on AVX2 against oneDNN's 0.79 and 0.78 us, n = 4,
//     r = d = 64 0.31 against 0.50 us (an earlier rule sent every product
//     with n r d <= 32^3 to oneDNN).
bool PreferOnednn(GemmOp op, size_t n, size_t r, size_t d) {
  const GemmBackend backend = GetGemmBackend();
  if (backend == GemmBackend::kHighway || !onednn::Available()) return false;
  if (backend == GemmBackend::kOnednn) return true;
  if (!IsaIsBest()) return false;
  const size_t c_rows = op == GemmOp::kAtB ? r : n;
  return (d < 32 && n > kGemmKc) || c_rows < 4;
}

bool OnednnGemm(GemmOp op, const GemmArgs& g) {
  if (!onednn::Available()) return false;
  const auto n = static_cast<int64_t>(g.n), r = static_cast<int64_t>(g.r),
             d = static_cast<int64_t>(g.d);
  // An empty reduction (no valid keys: K = 0): dnnl_sgemm returns success
  // without touching C, where BLAS semantics (and the Highway kernels) give
  // C = 0. Handle it here.
  const int64_t k = op == GemmOp::kAtB ? n : r;
  if (k == 0) {
    const size_t rows = op == GemmOp::kAtB ? g.r : g.n;
    if (!g.accumulate) {
      for (size_t i = 0; i < rows; ++i) std::fill(g.c + i * g.ldc, g.c + i * g.ldc + g.d, 0.0f);
    }
    return true;
  }
  const float beta = g.accumulate ? 1.0f : 0.0f;
  if (op == GemmOp::kAtB) {
    return onednn::SgemmSerial('T', 'N', r, d, n, 1.0f, g.a, static_cast<int64_t>(g.lda), g.b,
                               static_cast<int64_t>(g.ldb), beta, g.c,
                               static_cast<int64_t>(g.ldc));
  }
  return onednn::SgemmSerial('N', 'N', n, d, r, 1.0f, g.a, static_cast<int64_t>(g.lda), g.b,
                             static_cast<int64_t>(g.ldb), beta, g.c, static_cast<int64_t>(g.ldc));
}

}  // namespace lowrank
