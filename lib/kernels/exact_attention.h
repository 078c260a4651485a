// Exact softmax attention kernel: O = softmax(scale * Q K^T + mask) V, as a
// blocked online softmax (flash style). Extra memory: one workspace of
// ExactAttentionWorkspaceFloats() per thread; never an n x n buffer.
//
// The caller (lib/api) has validated every argument; the kernel asserts
// nothing and never fails.
#ifndef LOWRANK_LIB_KERNELS_EXACT_ATTENTION_H_
#define LOWRANK_LIB_KERNELS_EXACT_ATTENTION_H_

#include <cstddef>
#include <algorithm>
#include <cstdint>

#include "kernels/attention_io.h"

namespace lowrank {

struct ExactAttentionArgs : AttentionIo {
  float scale;  // already resolved (never 0 here)
  bool causal;
  size_t block_q;  // query rows per work chunk; multiple of 6
  size_t block_k;  // keys per online-softmax step; multiple of 6
  float* workspace;         // num_threads * workspace_floats, aligned
  size_t workspace_floats;  // per thread, from ExactAttentionWorkspaceFloats
  // Optional, both or neither: per query row (b, h, i), at (b * q_heads + h)
  // * q_len + i, the softmax's running max M and sum L in its scaled log2
  // units (L = sum_j 2^(t_j - M), t_j = scale log2(e) q.k_j; M = -inf, L =
  // 0 where no key is visible). Outputs over disjoint key sets merge with
  // them: O = sum_s w_s O_s / sum_s w_s, w_s = 2^(M_s - max M) L_s.
  float* row_max = nullptr;
  float* row_sum = nullptr;
};

// Chunks of at most this many query rows (decoding) are computed row by
// row, without the tiles and the S^T buffer (exact_attention-inl.h).
constexpr size_t kExactRowPathMaxRows = 3;

// Alignment of the workspace and of each region in it: the widest vector
// of any target (SVE allows up to 2048 bits).
constexpr size_t kWorkspaceAlign = 256;

// Offsets (in floats) of the per-thread workspace regions for a target whose
// packed panels are `nr` columns wide. Every region starts on a
// kWorkspaceAlign boundary if the workspace does.
//   qt: the scaled query block, transposed into panels of nr queries
//       (d_qk x nr each); width = block_q rounded up to 6, then to nr;
//   st: the transposed score tile S^T (keys x queries), block_k rounded up
//       to 6 rows of `width` floats; holds P^T after the softmax step;
//   k:  a contiguous copy of key rows (the tail strip, or whole blocks of a
//       view whose dim stride is not 1);
//   v:  V packed into panels when it cannot be read in place;
//   o:  the running output, width rows x dv_pad;
//   m, l, bm, alpha: per query running max, running sum, block max, rescale.
struct ExactLayout {
  size_t width, bk6, dv_pad;
  size_t qt, st, k, v, o, m, l, bm, alpha;
  size_t total;
};
// nr: the query panel width (TileCols); nr_v <= nr: the V and O panel width
// (PanelCols(d_v) columns: narrower than nr for small d_v).
inline ExactLayout MakeExactLayout(size_t nr, size_t nr_v, size_t block_q, size_t block_k,
                                   size_t d_qk, size_t d_v) {
  constexpr size_t kRows = 6;  // kTileRows of gemm_tile-inl.h
  constexpr size_t kAlignFloats = kWorkspaceAlign / sizeof(float);
  auto round_up = [](size_t x, size_t m) { return (x + m - 1) / m * m; };
  ExactLayout l;
  // One extra 64-byte line per row: a row stride of a multiple of 4 lines
  // (1536 bytes for 384 queries) maps the strided column reads of the P V
  // step onto a quarter of the L1 sets and thrashes them. The pad is a
  // multiple of the vector length of every target (nr / 4 >= lanes).
  l.width = round_up(round_up(block_q, kRows), nr) + std::max<size_t>(16, nr / 4);
  l.bk6 = round_up(block_k, kRows);
  l.dv_pad = round_up(d_v, nr_v);
  size_t at = 0;
  auto take = [&](size_t floats) {
    const size_t offset = at;
    at += round_up(floats, kAlignFloats);
    return offset;
  };
  l.qt = take(l.width * d_qk);
  l.st = take(l.bk6 * l.width);
  l.k = take(l.bk6 * d_qk);
  l.v = take(block_k * l.dv_pad);
  l.o = take(l.width * l.dv_pad);
  l.m = take(l.width);
  l.l = take(l.width);
  l.bm = take(l.width);
  l.alpha = take(l.width);
  l.total = at;
  return l;
}

// Per-thread workspace size, an upper bound over every compiled target.
size_t ExactAttentionWorkspaceFloats(size_t block_q, size_t block_k,
                                     size_t d_qk, size_t d_v);

// Runs on the active target.
void ExactAttention(const ExactAttentionArgs& args);

// Queries per packed panel on the active target (16 on AVX2, 64 on
// AVX-512): query blocks that are multiples of lcm(6, this) waste no work.
size_t ExactAttentionPanelWidth();

// Bytes of one chunk's workspace laid out for the active target's panels:
// what a chunk keeps in cache besides the K block it reads in place (the
// workspace itself is sized for the widest panel of any target, far larger
// on SVE, where vectors may reach 2048 bits).
size_t ExactAttentionChunkBytes(size_t block_q, size_t block_k, size_t d_qk, size_t d_v);

}  // namespace lowrank

#endif  // LOWRANK_LIB_KERNELS_EXACT_ATTENTION_H_
