// Nystrom plans: option checks, workspace sizing and execution (the exact
// path for batches with no more valid keys than landmarks, then the Nystrom
// kernel).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>

#include "api/error.h"
#include "api/plan.h"
#include "api/validate.h"
#include "kernels/exact_attention.h"
#include "kernels/nystrom.h"

namespace lowrank {
namespace {

// Bounds that keep the m x m buffers and the iteration counts sane: m^2
// floats per head, 4 m^3 flops per pseudoinverse iteration.
constexpr int64_t kMaxLandmarks = 4096;
constexpr int32_t kMaxIterations = 100;
constexpr int64_t kMaxConvKernel = 1025;

size_t RoundUp(size_t x, size_t m) { return (x + m - 1) / m * m; }

NystromArgs ShapeArgs(const lowrank_plan& p) {
  NystromArgs a{};
  a.batch = static_cast<size_t>(p.q.batch);
  a.q_heads = static_cast<size_t>(p.q.heads);
  a.kv_heads = static_cast<size_t>(p.k.heads);
  a.q_len = static_cast<size_t>(p.q.seq);
  a.kv_len = static_cast<size_t>(p.k.seq);
  a.d_qk = static_cast<size_t>(p.q.dim);
  a.d_v = static_cast<size_t>(p.v.dim);
  a.m = p.landmarks;
  a.mode = static_cast<LandmarkMode>(p.landmark_mode);
  a.bv_block_q = p.bv_block_q;
  a.block_k = kExactBlockK;
  a.num_threads = p.num_threads;
  return a;
}

}  // namespace

lowrank_status_t PrepareNystrom(const lowrank_options_t& o, lowrank_plan& p,
                                size_t requested) {
  if (p.causal) {
    return Fail(LOWRANK_UNSUPPORTED,
                "options: nystrom cannot be causal (its landmarks mix future tokens)");
  }
  const int64_t q_len = p.q.seq, kv_len = p.k.seq;
  if (o.landmarks < 1 || o.landmarks > kMaxLandmarks) {
    return Fail(LOWRANK_INVALID_ARGUMENT, "options: landmarks = %lld is out of range [1, %lld]",
                static_cast<long long>(o.landmarks), static_cast<long long>(kMaxLandmarks));
  }
  int32_t mode = 0, init = 0;
  static_assert(sizeof(mode) == sizeof(o.landmark_mode), "enum is int-sized");
  std::memcpy(&mode, &o.landmark_mode, sizeof(mode));
  std::memcpy(&init, &o.pinv_init, sizeof(init));
  if (mode < LOWRANK_LANDMARKS_SEGMENT_MEANS || mode > LOWRANK_LANDMARKS_POSITIONS) {
    return Fail(LOWRANK_INVALID_ARGUMENT, "options: unknown landmark_mode %d",
                static_cast<int>(mode));
  }
  if (init != LOWRANK_PINV_INIT_RAZAVI && init != LOWRANK_PINV_INIT_ORIGINAL) {
    return Fail(LOWRANK_INVALID_ARGUMENT, "options: unknown pinv_init %d",
                static_cast<int>(init));
  }
  if (o.pinv_iterations < 0 || o.pinv_iterations > kMaxIterations) {
    return Fail(LOWRANK_INVALID_ARGUMENT, "options: pinv_iterations = %d is out of range [0, %d]",
                static_cast<int>(o.pinv_iterations), static_cast<int>(kMaxIterations));
  }
  if (mode == LOWRANK_LANDMARKS_KMEANS &&
      (o.kmeans_iterations < 1 || o.kmeans_iterations > kMaxIterations)) {
    return Fail(LOWRANK_INVALID_ARGUMENT,
                "options: kmeans_iterations = %d is out of range [1, %d]",
                static_cast<int>(o.kmeans_iterations), static_cast<int>(kMaxIterations));
  }
  if ((mode == LOWRANK_LANDMARKS_KMEANS || mode == LOWRANK_LANDMARKS_RANDOM) && q_len != kv_len) {
    return Fail(LOWRANK_INVALID_ARGUMENT,
                "options: %s landmarks need as many queries as keys (q has %lld, k %lld)",
                mode == LOWRANK_LANDMARKS_KMEANS ? "kmeans" : "random",
                static_cast<long long>(q_len), static_cast<long long>(kv_len));
  }
  const bool positions = mode == LOWRANK_LANDMARKS_POSITIONS;
  if (positions != (o.landmark_positions != nullptr)) {
    return Fail(LOWRANK_INVALID_ARGUMENT,
                positions ? "options: landmark_mode POSITIONS needs landmark_positions"
                          : "options: landmark_positions needs landmark_mode POSITIONS");
  }
  if (positions) {
    const int64_t limit = std::min(q_len, kv_len);
    if (o.landmarks > limit) {
      return Fail(LOWRANK_INVALID_ARGUMENT,
                  "options: %lld landmark positions exceed the %lld tokens",
                  static_cast<long long>(o.landmarks), static_cast<long long>(limit));
    }
    for (int64_t j = 0; j < o.landmarks; ++j) {
      const int64_t pos = o.landmark_positions[j];
      if (pos < 0 || pos >= limit) {
        return Fail(LOWRANK_INVALID_ARGUMENT,
                    "options: landmark_positions[%lld] = %lld is out of range [0, %lld)",
                    static_cast<long long>(j), static_cast<long long>(pos),
                    static_cast<long long>(limit));
      }
    }
  }
  if (o.conv_kernel != 0 || o.conv_weights != nullptr) {
    if (o.conv_weights == nullptr || o.conv_kernel < 1 || o.conv_kernel > kMaxConvKernel ||
        o.conv_kernel % 2 == 0) {
      return Fail(LOWRANK_INVALID_ARGUMENT,
                  "options: conv_kernel = %lld must be odd, in [1, %lld], with conv_weights "
                  "given (or 0 with none)",
                  static_cast<long long>(o.conv_kernel), static_cast<long long>(kMaxConvKernel));
    }
    if (q_len != kv_len) {
      return Fail(LOWRANK_INVALID_ARGUMENT,
                  "options: the convolution residual needs as many queries as keys");
    }
  }
  static const char* const kNames[4] = {"q", "k", "v", "out"};
  if (const lowrank_status_t st = RequireUnitDimStride(p, "nystrom", kNames); st != LOWRANK_OK) {
    return st;
  }

  p.landmarks = static_cast<size_t>(o.landmarks);
  p.landmark_mode = mode;
  p.kmeans_iterations = static_cast<size_t>(std::max(o.kmeans_iterations, 1));
  p.pinv_iterations = static_cast<size_t>(o.pinv_iterations);
  p.pinv_original = init == LOWRANK_PINV_INIT_ORIGINAL;
  p.seed = o.seed;
  try {
    if (positions) p.landmark_positions.assign(o.landmark_positions, o.landmark_positions + o.landmarks);
    if (o.conv_weights != nullptr) {
      p.conv_kernel = static_cast<size_t>(o.conv_kernel);
      p.conv_weights.assign(o.conv_weights,
                            o.conv_weights + static_cast<size_t>(p.q.heads) * p.conv_kernel);
    }
  } catch (const std::bad_alloc&) {
    return Fail(LOWRANK_OUT_OF_MEMORY, "plan: cannot copy the nystrom options");
  }

  const size_t batch_heads = static_cast<size_t>(p.q.batch * p.q.heads);
  const size_t m = p.landmarks;
  const size_t row_blocks = (static_cast<size_t>(q_len) + kNystromRowBlock - 1) / kNystromRowBlock;
  p.num_threads = std::max<size_t>(1, std::min(requested, batch_heads * row_blocks));
  p.bv_block_q = std::min<size_t>(RoundUp(m, 6), 384);
  // The exact path for batches with kv valid keys <= m: the exact kernel's
  // blocking and workspace, as an exact plan would have them.
  p.block_k = kExactBlockK;
  p.block_q = ChooseExactBlockQ(batch_heads, static_cast<size_t>(q_len), p.num_threads);
  p.workspace_floats = ExactAttentionWorkspaceFloats(p.block_q, p.block_k,
                                                     static_cast<size_t>(p.q.dim),
                                                     static_cast<size_t>(p.v.dim));
  size_t exact_total = 0;
  if (MulOverflows(p.workspace_floats, p.num_threads, &exact_total)) {
    return Fail(LOWRANK_INVALID_ARGUMENT, "workspace size overflows");
  }
  p.exact_ws_floats = exact_total;
  // Per-head and per-thread sizes are bounded (m <= 4096, dims <= 1024,
  // extents < 2^31); their totals over heads and threads saturate
  // (runtime/sizes.h), and the byte count is checked.
  const NystromLayout lay = MakeNystromLayout(ShapeArgs(p));
  size_t bytes = 0;
  if (MulOverflows(std::max(lay.total, exact_total), sizeof(float), &bytes) ||
      bytes > static_cast<size_t>(PTRDIFF_MAX) - kWorkspaceAlign) {
    return Fail(LOWRANK_INVALID_ARGUMENT, "workspace size overflows");
  }
  p.workspace_bytes = bytes + kWorkspaceAlign;
  // Nominal flops per query head: F = Q K~^T and F W (2 n m (d_qk + d_v)),
  // B V (2 m n (d_qk + d_v)), A and W = Z (B V) (2 m^2 (d_qk + d_v)), and
  // 4 GEMMs of 2 m^3 per pseudoinverse iteration.
  const double n = static_cast<double>(q_len), nk = static_cast<double>(kv_len),
               md = static_cast<double>(m), dd = static_cast<double>(p.q.dim + p.v.dim);
  p.flops = static_cast<double>(batch_heads) *
            (2.0 * n * md * dd + 2.0 * md * nk * dd + 2.0 * md * md * dd +
             8.0 * md * md * md * static_cast<double>(p.pinv_iterations));
  return LOWRANK_OK;
}

void ExecuteNystrom(const lowrank_plan& p, const AttentionIo& io, float* workspace) {
  // Batches with no more valid keys than landmarks: exact attention, one
  // batch at a time on all threads.
  for (size_t b = 0; b < io.batch; ++b) {
    if (!NystromBatchIsExact(io, p.landmarks, b)) continue;
    ExactAttentionArgs e;
    static_cast<AttentionIo&>(e) = io;
    e.batch = 1;
    e.q = io.q + static_cast<int64_t>(b) * io.q_strides.batch;
    e.k = io.k + static_cast<int64_t>(b) * io.k_strides.batch;
    e.v = io.v + static_cast<int64_t>(b) * io.v_strides.batch;
    e.out = io.out + static_cast<int64_t>(b) * io.out_strides.batch;
    e.key_lengths = io.key_lengths ? io.key_lengths + b : nullptr;
    e.scale = p.scale;
    e.causal = false;
    e.block_q = p.block_q;
    e.block_k = p.block_k;
    e.workspace = workspace;
    e.workspace_floats = p.workspace_floats;
    ExactAttention(e);
  }
  NystromArgs a = ShapeArgs(p);
  static_cast<AttentionIo&>(a) = io;
  a.scale = p.scale;
  a.positions = p.landmark_positions.empty() ? nullptr : p.landmark_positions.data();
  a.kmeans_iterations = p.kmeans_iterations;
  a.pinv_iterations = p.pinv_iterations;
  a.pinv_original = p.pinv_original;
  a.seed = p.seed;
  a.conv_weights = p.conv_weights.empty() ? nullptr : p.conv_weights.data();
  a.conv_kernel = p.conv_kernel;
  a.workspace = workspace;
  Nystrom(a);
}

}  // namespace lowrank
