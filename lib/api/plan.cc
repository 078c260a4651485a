// Plan creation (validation, blocking, workspace sizing) and execution.
#include "api/plan.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "api/error.h"
#include "api/validate.h"
#include "dispatch/isa.h"
#include "kernels/exact_attention.h"
#include "kernels/factors.h"
#include "kernels/linformer.h"
#include "kernels/lowrank_gemm.h"
#include "runtime/cache_info.h"
#include "runtime/sizes.h"
#include "runtime/thread_pool.h"

namespace lowrank {
namespace {

// Largest thread count a plan accepts; more only adds contention.
constexpr int32_t kMaxThreads = 1024;

// Exact kernel blocking (see exact_attention-inl.h for the cache budget and
// the measurements behind these numbers); kExactBlockK is in plan.h.
constexpr size_t kMaxBlockQ = 384;
constexpr size_t kTileRows = 6;

size_t RoundUp(size_t x, size_t m) { return (x + m - 1) / m * m; }

// Picks the query block. Blocks are multiples of `granule` = lcm(6, panel
// width of the active target), so that no tile computes padding rows (a
// 24-row block on AVX-512 would fill a 64-query panel), except a q_len
// smaller than one granule. Start from kMaxBlockQ; with several threads,
// halve while that leaves fewer than 4 chunks per thread (dynamic
// scheduling needs slack to balance), but not below one granule.
size_t ChooseBlockQ(size_t batch_heads, size_t q_len, size_t threads, size_t granule) {
  const size_t max_block = std::max(granule, kMaxBlockQ / granule * granule);
  size_t block = std::min(max_block, RoundUp(q_len, kTileRows));
  if (threads <= 1) return block;
  const size_t wanted_chunks = 4 * threads;
  while (block > granule && batch_heads * ((q_len + block - 1) / block) < wanted_chunks) {
    block = std::max(granule, RoundUp(block / 2, granule));
  }
  return block;
}

size_t Lcm(size_t a, size_t b) {
  size_t x = a, y = b;
  while (y != 0) {
    const size_t t = x % y;
    x = y;
    y = t;
  }
  return a / x * b;
}

}  // namespace

lowrank_status_t RequireUnitDimStride(const lowrank_plan& p, const char* method,
                                      const char* const names[4]) {
  const lowrank_tensor_desc_t* views[4] = {&p.q, &p.k, &p.v, &p.out};
  for (int i = 0; i < 4; ++i) {
    if (views[i]->stride_dim != 1 && views[i]->dim > 1) {
      return Fail(LOWRANK_UNSUPPORTED, "%s: the %s method needs a dim stride of 1 (got %lld)",
                  names[i], method, static_cast<long long>(views[i]->stride_dim));
    }
  }
  return LOWRANK_OK;
}

size_t ChooseExactBlockQ(size_t batch_heads, size_t q_len, size_t threads) {
  return ChooseBlockQ(batch_heads, q_len, threads, Lcm(kTileRows, ExactAttentionPanelWidth()));
}

// kExactBlockK = 192 keys was measured on cores with a 2 MiB L2 (AVX2 and
// AVX-512), which hold a chunk's working set: its workspace laid out for the
// active target (Q^T, S^T, O_acc, the V block, a K buffer: 603 KiB at
// block_q = 384, d = 64 on every x86 target) plus the K block read in
// place. On a 512 KiB L2 (Zen 3) that set spills to L3, and 96 keys (S^T
// 150 KiB, 405 KiB in all) measured 2-3% faster on AVX2, 1 thread: n =
// 1024, 4096 and 16384 at d = 64, n = 4096 at d = 128 (runs of the two plans
// alternated in one process); 48, 72 and 120 keys were no better than 96.
// Linformer (k = 128, 256 keys) unchanged. Decoding keeps 192: its row path
// has no S^T, and 96 keys made it 5-20% slower. Nystrom's landmark pass
// (plan_nystrom.cc) keeps 192 too (not measured there).
// The key blocks fix the order of the online softmax's floating-point
// operations, so they must not depend on the thread count (outputs are
// bitwise the same for any thread count): the working set is sized for the
// one-thread query block, the largest, whatever block the plan then uses.
// Machines with different L2 sizes may differ in the last bits, as
// different targets do.
size_t ChooseExactBlockK(size_t l2_bytes, size_t batch_heads, size_t q_len, size_t d_qk,
                         size_t d_v) {
  if (l2_bytes == 0 || q_len <= kExactRowPathMaxRows) return kExactBlockK;
  const size_t block_q = ChooseExactBlockQ(batch_heads, q_len, 1);
  const size_t bytes = ExactAttentionChunkBytes(block_q, kExactBlockK, d_qk, d_v);
  return bytes <= l2_bytes ? kExactBlockK : kExactBlockK / 2;
}

lowrank_status_t CreatePlan(const lowrank_options_t* options,
                            const lowrank_tensor_desc_t* q,
                            const lowrank_tensor_desc_t* k,
                            const lowrank_tensor_desc_t* v,
                            const lowrank_tensor_desc_t* out,
                            lowrank_plan_t* plan_out) {
  if (plan_out == nullptr) {
    return Fail(LOWRANK_INVALID_ARGUMENT, "plan: output pointer is null");
  }
  *plan_out = nullptr;
  if (const lowrank_status_t st = IsaEnvironmentStatus(); st != LOWRANK_OK) {
    return st;
  }
  if (options == nullptr) {
    return Fail(LOWRANK_INVALID_ARGUMENT, "options: pointer is null");
  }
  if (options->struct_size != sizeof(lowrank_options_t)) {
    return Fail(LOWRANK_INVALID_ARGUMENT,
                "options: struct_size is %u, expected %u (call "
                "lowrank_options_init first)",
                options->struct_size,
                static_cast<unsigned>(sizeof(lowrank_options_t)));
  }
  // Read the enum as its integer representation: a C caller may store any
  // int there, and loading an out-of-range value as the C++ enum is
  // undefined behaviour.
  int32_t method = 0;
  static_assert(sizeof(method) == sizeof(options->method), "enum is int-sized");
  std::memcpy(&method, &options->method, sizeof(method));
  if (method != LOWRANK_METHOD_EXACT && method != LOWRANK_METHOD_FACTORS &&
      method != LOWRANK_METHOD_LINFORMER && method != LOWRANK_METHOD_NYSTROM &&
      method != LOWRANK_METHOD_FEATURE_MAP) {
    return Fail(LOWRANK_INVALID_ARGUMENT, "options: unknown method %d",
                static_cast<int>(method));
  }
  const bool factors = method == LOWRANK_METHOD_FACTORS;
  const bool linformer = method == LOWRANK_METHOD_LINFORMER;
  const bool nystrom = method == LOWRANK_METHOD_NYSTROM;
  const bool feature_map = method == LOWRANK_METHOD_FEATURE_MAP;
  if (!feature_map && options->feature_projection != nullptr) {
    return Fail(LOWRANK_INVALID_ARGUMENT,
                "options: feature_projection applies to the feature-map method only");
  }
  if (!nystrom && (options->landmark_positions != nullptr || options->conv_weights != nullptr)) {
    return Fail(LOWRANK_INVALID_ARGUMENT,
                "options: landmark_positions/conv_weights apply to the nystrom method only");
  }
  if (!linformer && (options->proj_k != nullptr || options->proj_v != nullptr)) {
    return Fail(LOWRANK_INVALID_ARGUMENT,
                "options: proj_k/proj_v apply to the linformer method only");
  }
  if (linformer && options->causal) {
    return Fail(LOWRANK_UNSUPPORTED,
                "options: linformer cannot be causal (its projections mix future positions)");
  }
  if (!std::isfinite(options->scale)) {
    return Fail(LOWRANK_INVALID_ARGUMENT, "options: scale must be finite");
  }
  if (options->causal != 0 && options->causal != 1) {
    return Fail(LOWRANK_INVALID_ARGUMENT, "options: causal must be 0 or 1, got %d",
                static_cast<int>(options->causal));
  }
  if (options->normalize != 0 && options->normalize != 1) {
    return Fail(LOWRANK_INVALID_ARGUMENT, "options: normalize must be 0 or 1, got %d",
                static_cast<int>(options->normalize));
  }
  if (options->normalize && !factors) {
    return Fail(LOWRANK_INVALID_ARGUMENT,
                "options: normalize applies to the factors method only");
  }
  if (factors && options->scale != 0.0f) {
    return Fail(LOWRANK_INVALID_ARGUMENT,
                "options: scale must be 0 for the factors method (it has no logits)");
  }
  if (options->num_threads < 0 || options->num_threads > kMaxThreads) {
    return Fail(LOWRANK_INVALID_ARGUMENT,
                "options: num_threads = %d is out of range [0, %d]",
                static_cast<int>(options->num_threads), kMaxThreads);
  }

  lowrank_plan* created = new (std::nothrow) lowrank_plan();
  if (created == nullptr) {
    return Fail(LOWRANK_OUT_OF_MEMORY, "plan: allocation failed");
  }
  // Owned until handed to the caller.
  struct Owner {
    lowrank_plan* p;
    ~Owner() { delete p; }
  } owner{created};
  lowrank_plan& p = *created;
  p.method = static_cast<lowrank_method_t>(method);
  p.normalize = options->normalize != 0;
  if (lowrank_status_t st = CheckDesc("q", q, &p.q_span); st != LOWRANK_OK) return st;
  if (lowrank_status_t st = CheckDesc("k", k, &p.k_span); st != LOWRANK_OK) return st;
  if (lowrank_status_t st = CheckDesc("v", v, &p.v_span); st != LOWRANK_OK) return st;
  if (lowrank_status_t st = CheckDesc("out", out, &p.out_span); st != LOWRANK_OK) {
    return st;
  }
  if (lowrank_status_t st = CheckNoSelfOverlap("out", *out); st != LOWRANK_OK) {
    return st;
  }
  p.q = *q, p.k = *k, p.v = *v, p.out = *out;

  if (k->batch != q->batch || v->batch != q->batch || out->batch != q->batch) {
    return Fail(LOWRANK_INVALID_ARGUMENT,
                "batch mismatch: q %lld, k %lld, v %lld, out %lld",
                static_cast<long long>(q->batch), static_cast<long long>(k->batch),
                static_cast<long long>(v->batch), static_cast<long long>(out->batch));
  }
  if (k->heads != v->heads) {
    return Fail(LOWRANK_INVALID_ARGUMENT, "heads mismatch: k has %lld, v has %lld",
                static_cast<long long>(k->heads), static_cast<long long>(v->heads));
  }
  if (out->heads != q->heads) {
    return Fail(LOWRANK_INVALID_ARGUMENT, "heads mismatch: q has %lld, out has %lld",
                static_cast<long long>(q->heads), static_cast<long long>(out->heads));
  }
  if (q->heads % k->heads != 0) {
    return Fail(LOWRANK_INVALID_ARGUMENT,
                "q heads (%lld) must be a multiple of k/v heads (%lld)",
                static_cast<long long>(q->heads), static_cast<long long>(k->heads));
  }
  if (k->seq != v->seq) {
    return Fail(LOWRANK_INVALID_ARGUMENT, "seq mismatch: k has %lld keys, v has %lld",
                static_cast<long long>(k->seq), static_cast<long long>(v->seq));
  }
  if (out->seq != q->seq) {
    return Fail(LOWRANK_INVALID_ARGUMENT, "seq mismatch: q has %lld rows, out has %lld",
                static_cast<long long>(q->seq), static_cast<long long>(out->seq));
  }
  if (k->dim != q->dim) {
    return Fail(LOWRANK_INVALID_ARGUMENT, "dim mismatch: q has %lld, k has %lld",
                static_cast<long long>(q->dim), static_cast<long long>(k->dim));
  }
  if (out->dim != v->dim) {
    return Fail(LOWRANK_INVALID_ARGUMENT, "dim mismatch: v has %lld, out has %lld",
                static_cast<long long>(v->dim), static_cast<long long>(out->dim));
  }
  if (q->dim > LOWRANK_MAX_HEAD_DIM || v->dim > LOWRANK_MAX_HEAD_DIM) {
    return Fail(LOWRANK_INVALID_ARGUMENT, "head dim %lld exceeds the maximum %d",
                static_cast<long long>(std::max(q->dim, v->dim)),
                LOWRANK_MAX_HEAD_DIM);
  }

  if (linformer) {
    if (options->proj_k == nullptr) {
      return Fail(LOWRANK_INVALID_ARGUMENT, "options: linformer needs proj_k");
    }
    if (options->proj_dim < 1 || options->proj_dim > LOWRANK_MAX_HEAD_DIM * 64 ||
        options->proj_max_len < 1 || options->proj_max_len > kMaxExtent) {
      return Fail(LOWRANK_INVALID_ARGUMENT,
                  "options: proj_dim = %lld and proj_max_len = %lld must be >= 1 (proj_dim "
                  "at most %d)",
                  static_cast<long long>(options->proj_dim),
                  static_cast<long long>(options->proj_max_len), LOWRANK_MAX_HEAD_DIM * 64);
    }
    if (options->proj_heads != 1 && options->proj_heads != k->heads) {
      return Fail(LOWRANK_INVALID_ARGUMENT,
                  "options: proj_heads = %lld must be 1 or the k/v head count %lld",
                  static_cast<long long>(options->proj_heads), static_cast<long long>(k->heads));
    }
    if (k->seq > options->proj_max_len) {
      return Fail(LOWRANK_INVALID_ARGUMENT,
                  "k: %lld keys exceed the projections' proj_max_len %lld",
                  static_cast<long long>(k->seq), static_cast<long long>(options->proj_max_len));
    }
    if ((k->stride_dim != 1 && k->dim > 1) || (v->stride_dim != 1 && v->dim > 1)) {
      return Fail(LOWRANK_UNSUPPORTED, "k, v: linformer needs a dim stride of 1");
    }
    p.proj_heads = static_cast<size_t>(options->proj_heads);
    p.proj_dim = static_cast<size_t>(options->proj_dim);
    p.proj_max_len = static_cast<size_t>(options->proj_max_len);
    size_t count = 0;
    if (MulOverflows(p.proj_heads * p.proj_dim, p.proj_max_len, &count) ||
        count > PTRDIFF_MAX / sizeof(float) / 2) {
      return Fail(LOWRANK_INVALID_ARGUMENT, "options: projection size overflows");
    }
    // Transposed copies: position-major, so masked positions are trailing rows.
    auto transpose = [&](const float* e, std::vector<float>* et) {
      et->resize(count);
      for (size_t h = 0; h < p.proj_heads; ++h) {
        const float* src = e + h * p.proj_dim * p.proj_max_len;
        float* dst = et->data() + h * p.proj_dim * p.proj_max_len;
        for (size_t kk = 0; kk < p.proj_dim; ++kk) {
          for (size_t j = 0; j < p.proj_max_len; ++j) dst[j * p.proj_dim + kk] = src[kk * p.proj_max_len + j];
        }
      }
    };
    try {
      transpose(options->proj_k, &p.ekt);
      if (options->proj_v != nullptr && options->proj_v != options->proj_k) {
        transpose(options->proj_v, &p.evt);
      }
    } catch (const std::bad_alloc&) {
      return Fail(LOWRANK_OUT_OF_MEMORY, "plan: cannot allocate the projections");
    }
  }
  if (factors) {
    static const char* const kNames[4] = {"u (q)", "w (k)", "v", "out"};
    if (const lowrank_status_t st = RequireUnitDimStride(p, "factors", kNames); st != LOWRANK_OK) {
      return st;
    }
  }
  p.scale = options->scale != 0.0f
                ? options->scale
                : static_cast<float>(1.0 / std::sqrt(static_cast<double>(q->dim)));
  p.causal = options->causal != 0;
  const size_t batch_heads = static_cast<size_t>(q->batch) * static_cast<size_t>(q->heads);
  const size_t q_len = static_cast<size_t>(q->seq);
  const size_t requested =
      options->num_threads == 0 ? static_cast<size_t>(HardwareThreads())
                                : static_cast<size_t>(options->num_threads);
  if (nystrom) {
    if (const lowrank_status_t st = PrepareNystrom(*options, p, requested); st != LOWRANK_OK) {
      return st;
    }
  } else if (feature_map) {
    if (const lowrank_status_t st = PrepareFeatureMap(*options, p, requested);
        st != LOWRANK_OK) {
      return st;
    }
  } else if (factors) {
    const size_t rank = static_cast<size_t>(q->dim), d_v = static_cast<size_t>(v->dim);
    const size_t batch = static_cast<size_t>(q->batch);
    const size_t row_blocks = (q_len + kFactorsRowBlock - 1) / kFactorsRowBlock;
    const bool causal = options->causal != 0;
    const size_t kv_len = static_cast<size_t>(k->seq);
    const size_t chunks =
        causal ? batch_heads
               : std::max(batch * static_cast<size_t>(k->heads) * SeqSplit(kv_len).segments,
                          batch_heads * row_blocks);
    p.num_threads = std::max<size_t>(1, std::min(requested, chunks));
    p.workspace_floats = FactorsWorkspaceFloats(batch, static_cast<size_t>(k->heads), kv_len,
                                                rank, d_v, p.num_threads, causal);
    size_t bytes = 0;
    if (MulOverflows(p.workspace_floats, sizeof(float), &bytes)) {
      return Fail(LOWRANK_INVALID_ARGUMENT, "workspace size overflows");
    }
    p.workspace_bytes = bytes + kWorkspaceAlign;
    p.flops = 2.0 * static_cast<double>(rank) * static_cast<double>(d_v) *
              static_cast<double>(batch) *
              (static_cast<double>(k->heads) * static_cast<double>(k->seq) +
               static_cast<double>(q->heads) * static_cast<double>(q->seq));
  } else {
    // Exact attention, or Linformer's attention over proj_dim projected keys
    // after its projections.
    const size_t keys = linformer ? p.proj_dim : static_cast<size_t>(k->seq);
    p.block_q = ChooseExactBlockQ(batch_heads, q_len, requested);
    p.block_k = ChooseExactBlockK(L2CacheBytes(), batch_heads, q_len,
                                  static_cast<size_t>(q->dim), static_cast<size_t>(v->dim));
    size_t chunks = batch_heads * ((q_len + p.block_q - 1) / p.block_q);
    if (linformer) {
      // The projections' work chunks: (batch, kv head, K or V, segment).
      chunks = std::max(chunks, static_cast<size_t>(k->batch * k->heads) * 2 *
                                    SeqSplit(static_cast<size_t>(k->seq)).segments);
    }
    p.num_threads = std::max<size_t>(1, std::min(requested, chunks));
    p.workspace_floats = ExactAttentionWorkspaceFloats(
        p.block_q, p.block_k, static_cast<size_t>(q->dim), static_cast<size_t>(v->dim));
    size_t total = 0;
    if (MulOverflows(p.workspace_floats, p.num_threads, &total)) {
      return Fail(LOWRANK_INVALID_ARGUMENT, "workspace size overflows");
    }
    p.flops = 2.0 * static_cast<double>(batch_heads) * static_cast<double>(q->seq) *
              static_cast<double>(keys) * static_cast<double>(q->dim + v->dim);
    if (linformer) {
      const size_t kv = static_cast<size_t>(k->batch * k->heads);
      const size_t dq = static_cast<size_t>(q->dim), dv = static_cast<size_t>(v->dim);
      // K', V', then the partial projections of the sequence segments.
      p.proj_floats =
          MakeLinformerProjLayout(kv, p.proj_dim, dq, dv, static_cast<size_t>(k->seq)).total;
      p.linformer_ws_floats = LinformerWorkspaceFloats(p.proj_dim, dq, dv);
      size_t extra = 0;
      if (MulOverflows(p.linformer_ws_floats, p.num_threads, &extra) ||
          __builtin_add_overflow(total, extra, &total) ||
          __builtin_add_overflow(total, p.proj_floats, &total)) {
        return Fail(LOWRANK_INVALID_ARGUMENT, "workspace size overflows");
      }
      p.flops += 2.0 * static_cast<double>(kv) * static_cast<double>(k->seq) *
                 static_cast<double>(p.proj_dim) * static_cast<double>(dq + dv);
    }
    size_t bytes = 0;
    if (MulOverflows(total, sizeof(float), &bytes)) {
      return Fail(LOWRANK_INVALID_ARGUMENT, "workspace size overflows");
    }
    p.workspace_bytes = bytes + kWorkspaceAlign;
  }

  *plan_out = owner.p;
  owner.p = nullptr;
  return ClearError();
}

// Takes a cached workspace or allocates one; null if out of memory.
void* AcquireWorkspace(lowrank_plan& p) {
  {
    std::lock_guard<std::mutex> lock(p.workspace_mu);
    if (!p.free_workspaces.empty()) {
      void* w = p.free_workspaces.back();
      p.free_workspaces.pop_back();
      return w;
    }
  }
  void* raw = nullptr;
  if (posix_memalign(&raw, kWorkspaceAlign, p.workspace_bytes) != 0) return nullptr;
  return raw;
}

void ReleaseWorkspace(lowrank_plan& p, void* w) {
  // Keep at most a few: one per concurrently executing thread is typical.
  constexpr size_t kMaxCached = 8;
  std::lock_guard<std::mutex> lock(p.workspace_mu);
  if (p.free_workspaces.size() < kMaxCached) {
    try {
      p.free_workspaces.push_back(w);
      return;
    } catch (...) {
    }
  }
  std::free(w);
}

lowrank_status_t ExecutePlan(lowrank_plan& p, const float* q,
                             const float* k, const float* v,
                             const int32_t* key_lengths, float* out) {
  if (q == nullptr) return Fail(LOWRANK_INVALID_ARGUMENT, "q: data pointer is null");
  if (k == nullptr) return Fail(LOWRANK_INVALID_ARGUMENT, "k: data pointer is null");
  if (v == nullptr) return Fail(LOWRANK_INVALID_ARGUMENT, "v: data pointer is null");
  if (out == nullptr) {
    return Fail(LOWRANK_INVALID_ARGUMENT, "out: data pointer is null");
  }
  if (RangesOverlap(out, p.out_span, q, p.q_span) ||
      RangesOverlap(out, p.out_span, k, p.k_span) ||
      RangesOverlap(out, p.out_span, v, p.v_span)) {
    return Fail(LOWRANK_INVALID_ARGUMENT, "out: memory overlaps an input");
  }
  if (key_lengths != nullptr) {
    for (int64_t b = 0; b < p.q.batch; ++b) {
      if (key_lengths[b] < 0 || key_lengths[b] > p.k.seq) {
        return Fail(LOWRANK_INVALID_ARGUMENT,
                    "key_lengths[%lld] = %d is out of range [0, %lld]",
                    static_cast<long long>(b), static_cast<int>(key_lengths[b]),
                    static_cast<long long>(p.k.seq));
      }
    }
  }

  void* raw = AcquireWorkspace(p);
  if (raw == nullptr) {
    return Fail(LOWRANK_OUT_OF_MEMORY, "workspace: cannot allocate %zu bytes",
                p.workspace_bytes);
  }
  auto strides = [](const lowrank_tensor_desc_t& t) {
    return Strides4{t.stride_batch, t.stride_head, t.stride_seq, t.stride_dim};
  };
  AttentionIo io;
  io.batch = static_cast<size_t>(p.q.batch);
  io.q_heads = static_cast<size_t>(p.q.heads);
  io.kv_heads = static_cast<size_t>(p.k.heads);
  io.q_len = static_cast<size_t>(p.q.seq);
  io.kv_len = static_cast<size_t>(p.k.seq);
  io.d_qk = static_cast<size_t>(p.q.dim);
  io.d_v = static_cast<size_t>(p.v.dim);
  io.q = q, io.k = k, io.v = v, io.out = out;
  io.q_strides = strides(p.q);
  io.k_strides = strides(p.k);
  io.v_strides = strides(p.v);
  io.out_strides = strides(p.out);
  io.key_lengths = key_lengths;
  io.num_threads = p.num_threads;
  if (p.method == LOWRANK_METHOD_FEATURE_MAP) {
    ExecuteFeatureMap(p, io, static_cast<float*>(raw));
    ReleaseWorkspace(p, raw);
    return ClearError();
  }
  if (p.method == LOWRANK_METHOD_NYSTROM) {
    ExecuteNystrom(p, io, static_cast<float*>(raw));
    ReleaseWorkspace(p, raw);
    return ClearError();
  }
  if (p.method == LOWRANK_METHOD_FACTORS) {
    FactorsArgs f;
    static_cast<AttentionIo&>(f) = io;
    f.normalize = p.normalize;
    f.causal = p.causal;
    f.workspace = static_cast<float*>(raw);
    Factors(f);
    ReleaseWorkspace(p, raw);
    return ClearError();
  }
  ExactAttentionArgs a;
  static_cast<AttentionIo&>(a) = io;
  a.scale = p.scale;
  a.causal = p.causal;
  a.block_q = p.block_q;
  a.block_k = p.block_k;
  a.workspace = static_cast<float*>(raw);
  a.workspace_floats = p.workspace_floats;
  if (p.method == LOWRANK_METHOD_LINFORMER) {
    // Workspace: [K' | V' | partials | projection GEMM space per thread |
    // exact space].
    float* base = static_cast<float*>(raw);
    LinformerProjectArgs l;
    static_cast<AttentionIo&>(l) = io;
    l.proj_dim = p.proj_dim, l.proj_max_len = p.proj_max_len, l.proj_heads = p.proj_heads;
    l.ekt = p.ekt.data();
    l.evt = p.evt.empty() ? p.ekt.data() : p.evt.data();
    const LinformerProjLayout layout =
        MakeLinformerProjLayout(a.batch * a.kv_heads, p.proj_dim, a.d_qk, a.d_v, a.kv_len);
    l.k_proj = base;
    l.v_proj = base + layout.v_proj;
    l.partials = base + layout.partials;
    l.workspace = base + p.proj_floats;
    l.workspace_floats = p.linformer_ws_floats;
    LinformerProject(l);
    // Attention over the proj_dim projected keys: no mask left.
    a.k = l.k_proj, a.v = l.v_proj;
    a.kv_len = p.proj_dim;
    a.k_strides = Strides4{static_cast<int64_t>(a.kv_heads * p.proj_dim * a.d_qk),
                           static_cast<int64_t>(p.proj_dim * a.d_qk),
                           static_cast<int64_t>(a.d_qk), 1};
    a.v_strides = Strides4{static_cast<int64_t>(a.kv_heads * p.proj_dim * a.d_v),
                           static_cast<int64_t>(p.proj_dim * a.d_v),
                           static_cast<int64_t>(a.d_v), 1};
    a.key_lengths = nullptr;
    a.workspace = l.workspace + p.num_threads * p.linformer_ws_floats;
  }
  ExactAttention(a);
  ReleaseWorkspace(p, raw);
  return ClearError();
}

}  // namespace lowrank

lowrank_plan::~lowrank_plan() {
  for (void* w : free_workspaces) std::free(w);
}
