// Nystrom attention kernel (Xiong et al. 2021), per (batch, query head):
//   landmarks Q~, K~ (m x d_qk; lowrank_landmark_mode_t), compacted to the
//   m' landmarks that hold a valid token;
//   A = softmax(s Q~ K~^T) (m' x m'), Z ~ pinv(A) by Newton-Schulz;
//   W = Z (B V) with B V the exact kernel's attention of the m' landmark
//   queries over the valid keys (B never stored), one work chunk per key
//   segment of SeqSplit, merged by their softmax row statistics;
//   O = F W, F = softmax(s Q K~^T) in blocks of kNystromRowBlock rows;
//   then the optional depthwise convolution residual on V.
// Batches whose valid key count is <= m are skipped here (lib/api runs the
// exact kernel on them first); their convolution residual is added here.
// The caller validated everything (dim strides 1, positions in range, Nq =
// Nkv where a mode needs it).
#ifndef LOWRANK_LIB_KERNELS_NYSTROM_H_
#define LOWRANK_LIB_KERNELS_NYSTROM_H_

#include <cstddef>
#include <cstdint>

#include "kernels/attention_io.h"

namespace lowrank {

enum class LandmarkMode { kSegmentMeans = 0, kKmeans = 1, kRandom = 2, kPositions = 3 };

struct NystromArgs : AttentionIo {
  float scale;
  size_t m;  // landmarks requested (m < valid keys for every batch run here)
  LandmarkMode mode;
  const int64_t* positions;  // kPositions: m entries in [0, min(q_len, kv_len))
  size_t kmeans_iterations;
  size_t pinv_iterations;
  bool pinv_original;        // global max column sum init
  uint64_t seed;
  const float* conv_weights;  // [q_heads, conv_kernel] or null
  size_t conv_kernel;
  size_t bv_block_q;  // exact kernel query block for B V (>= m, multiple of 6)
  size_t block_k;     // exact kernel key block
  // false: run the Nystrom computation even where m >= the valid keys
  // (tests of the m = n identity); lib/api always leaves it true.
  bool exact_short_batches = true;
  float* workspace;   // NystromWorkspaceFloats, kWorkspaceAlign-aligned
};

// Query rows per chunk of the output phase O = F W.
constexpr size_t kNystromRowBlock = 256;

// Workspace regions, in floats from a kWorkspaceAlign-aligned base, each
// region aligned. Per (batch, query head), `head` floats at head * index:
//   ql: Q~ (m x d_qk); kl: K~ (m x d_qk); klt: K~^T (d_qk x m'); z: A, then
//   Z (m' x m');
//   w: Z (B V) (m' x d_v); meta: [largest column sum of A, m']; bv: B V of
//   each key segment of SeqSplit(kv_len) (m x d_v each, merged into the
//   first); stats: each segment's softmax row maxima and sums (2 m).
// Per thread, `thread` floats after all heads: the pseudoinverse products
// (az, t1, t2: m x m each), the GEMM workspace, the exact kernel's
// workspace for B V, a block of F (kNystromRowBlock x m), and
// the landmark scratch (k-means sums and centroids,
// token assignments, positions).
struct NystromLayout {
  size_t ql, kl, klt, z, w, meta, bv, stats, head;
  size_t zc, az, t1, t2, gemm, exact, f, sums, cqt, ckt, c2, counts, assign, pos, thread;
  size_t total;
};
NystromLayout MakeNystromLayout(const NystromArgs& shape);

// True if batch b runs the exact path (m >= its valid keys).
inline bool NystromBatchIsExact(const AttentionIo& io, size_t m, size_t b) {
  return m >= io.ValidKeys(b);
}

// True if the kernel leaves batch b's rows to the exact path (it still adds
// their convolution residual).
inline bool NystromSkipsBatch(const NystromArgs& a, size_t b) {
  return a.exact_short_batches && NystromBatchIsExact(a, a.m, b);
}

void Nystrom(const NystromArgs& args);

}  // namespace lowrank

#endif  // LOWRANK_LIB_KERNELS_NYSTROM_H_
