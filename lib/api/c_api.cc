// The C entry points of include/lowrank/lowrank.h. Every function here is a
// boundary: nothing may throw out of it.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "api/error.h"
#include "api/plan.h"
#include "dispatch/isa.h"
#include "lowrank/lowrank.h"
#include "runtime/random.h"
#include "runtime/thread_pool.h"

using lowrank::ClearError;
using lowrank::Fail;

extern "C" {

const char* lowrank_status_name(lowrank_status_t status) {
  switch (status) {
    case LOWRANK_OK: return "LOWRANK_OK";
    case LOWRANK_INVALID_ARGUMENT: return "LOWRANK_INVALID_ARGUMENT";
    case LOWRANK_UNSUPPORTED: return "LOWRANK_UNSUPPORTED";
    case LOWRANK_UNSUPPORTED_ISA: return "LOWRANK_UNSUPPORTED_ISA";
    case LOWRANK_OUT_OF_MEMORY: return "LOWRANK_OUT_OF_MEMORY";
    case LOWRANK_IO_ERROR: return "LOWRANK_IO_ERROR";
    case LOWRANK_INTERNAL_ERROR: return "LOWRANK_INTERNAL_ERROR";
  }
  return "LOWRANK_UNKNOWN_STATUS";
}

const char* lowrank_last_error(void) { return lowrank::LastError(); }

const char* lowrank_version(void) {
#define LOWRANK_STR2(x) #x
#define LOWRANK_STR(x) LOWRANK_STR2(x)
  return LOWRANK_STR(LOWRANK_VERSION_MAJOR) "." LOWRANK_STR(
      LOWRANK_VERSION_MINOR) "." LOWRANK_STR(LOWRANK_VERSION_PATCH);
}

uint32_t lowrank_isa_compiled(void) { return lowrank::IsaCompiledMask(); }
uint32_t lowrank_isa_supported(void) { return lowrank::IsaSupportedMask(); }
lowrank_isa_t lowrank_isa_active(void) { return lowrank::IsaActive(); }
const char* lowrank_isa_name(lowrank_isa_t isa) { return lowrank::IsaName(isa); }
lowrank_status_t lowrank_isa_from_name(const char* name, lowrank_isa_t* isa) {
  return lowrank::IsaFromName(name, isa);
}
lowrank_status_t lowrank_isa_force(lowrank_isa_t isa) {
  return lowrank::IsaForce(isa);
}

int lowrank_hardware_threads(void) { return lowrank::HardwareThreads(); }

static lowrank_status_t InitDesc(lowrank_tensor_desc_t* d, int64_t batch,
                                 int64_t heads, int64_t seq, int64_t dim,
                                 bool bshd) {
  if (d == nullptr) return Fail(LOWRANK_INVALID_ARGUMENT, "descriptor is null");
  const int64_t extents[4] = {batch, heads, seq, dim};
  for (int64_t e : extents) {
    if (e < 1 || e > INT32_MAX) {
      return Fail(LOWRANK_INVALID_ARGUMENT,
                  "extent %lld is out of range [1, 2^31 - 1]",
                  static_cast<long long>(e));
    }
  }
  // Four extents below 2^31 can overflow 64 bits: check each product.
  int64_t sd = 1, ss = dim, sh = 0, sb = 0;
  if (bshd) {
    if (__builtin_mul_overflow(dim, heads, &ss) || __builtin_mul_overflow(ss, seq, &sb)) {
      return Fail(LOWRANK_INVALID_ARGUMENT, "tensor size overflows 64 bits");
    }
    sh = dim;
  } else {
    if (__builtin_mul_overflow(seq, dim, &sh) || __builtin_mul_overflow(sh, heads, &sb)) {
      return Fail(LOWRANK_INVALID_ARGUMENT, "tensor size overflows 64 bits");
    }
  }
  int64_t total = 0;
  if (__builtin_mul_overflow(sb, batch, &total)) {
    return Fail(LOWRANK_INVALID_ARGUMENT, "tensor size overflows 64 bits");
  }
  *d = lowrank_tensor_desc_t{batch, heads, seq, dim, sb, sh, ss, sd};
  return ClearError();
}

lowrank_status_t lowrank_tensor_desc_init_bhsd(lowrank_tensor_desc_t* desc,
                                               int64_t batch, int64_t heads,
                                               int64_t seq, int64_t dim) {
  return InitDesc(desc, batch, heads, seq, dim, /*bshd=*/false);
}

lowrank_status_t lowrank_tensor_desc_init_bshd(lowrank_tensor_desc_t* desc,
                                               int64_t batch, int64_t seq,
                                               int64_t heads, int64_t dim) {
  return InitDesc(desc, batch, heads, seq, dim, /*bshd=*/true);
}

lowrank_status_t lowrank_options_init(lowrank_options_t* options) {
  if (options == nullptr) return Fail(LOWRANK_INVALID_ARGUMENT, "options is null");
  *options = lowrank_options_t{};
  options->struct_size = sizeof(lowrank_options_t);
  options->method = LOWRANK_METHOD_EXACT;
  options->scale = 0.0f;
  options->causal = 0;
  options->num_threads = 0;
  options->normalize = 0;
  options->landmarks = 64;
  options->landmark_mode = LOWRANK_LANDMARKS_SEGMENT_MEANS;
  options->kmeans_iterations = 5;
  options->pinv_iterations = 6;
  options->pinv_init = LOWRANK_PINV_INIT_RAZAVI;
  options->seed = 0;
  options->feature_map = LOWRANK_FEATURE_MAP_FAVOR;
  options->features = 256;
  options->feature_projection_heads = 1;
  options->random_features = LOWRANK_RANDOM_FEATURES_ORTHOGONAL;
  options->feature_norms = LOWRANK_FEATURE_NORMS_CHI;
  options->feature_eps = -1.0f;
  return ClearError();
}

lowrank_status_t lowrank_plan_create(const lowrank_options_t* options,
                                     const lowrank_tensor_desc_t* q,
                                     const lowrank_tensor_desc_t* k,
                                     const lowrank_tensor_desc_t* v,
                                     const lowrank_tensor_desc_t* out,
                                     lowrank_plan_t* plan) {
  try {
    return lowrank::CreatePlan(options, q, k, v, out, plan);
  } catch (...) {
    return Fail(LOWRANK_INTERNAL_ERROR, "unexpected exception in plan creation");
  }
}

lowrank_status_t lowrank_plan_execute(lowrank_plan_t plan, const float* q,
                                      const float* k, const float* v,
                                      const int32_t* key_lengths, float* out) {
  if (plan == nullptr) return Fail(LOWRANK_INVALID_ARGUMENT, "plan is null");
  try {
    return lowrank::ExecutePlan(*plan, q, k, v, key_lengths, out);
  } catch (...) {
    return Fail(LOWRANK_INTERNAL_ERROR, "unexpected exception in execute");
  }
}

lowrank_status_t lowrank_plan_workspace_bytes(lowrank_plan_t plan, size_t* bytes) {
  if (plan == nullptr || bytes == nullptr) {
    return Fail(LOWRANK_INVALID_ARGUMENT, "plan and bytes must not be null");
  }
  *bytes = plan->workspace_bytes;
  return ClearError();
}

lowrank_status_t lowrank_plan_flops(lowrank_plan_t plan, double* flops) {
  if (plan == nullptr || flops == nullptr) {
    return Fail(LOWRANK_INVALID_ARGUMENT, "plan and flops must not be null");
  }
  *flops = plan->flops;
  return ClearError();
}

void lowrank_plan_destroy(lowrank_plan_t plan) { delete plan; }

lowrank_status_t lowrank_plan_redraw(lowrank_plan_t plan, uint64_t seed) {
  if (plan == nullptr) return Fail(LOWRANK_INVALID_ARGUMENT, "plan is null");
  try {
    const lowrank_status_t st = lowrank::RedrawFeatures(*plan, seed);
    return st == LOWRANK_OK ? ClearError() : st;
  } catch (...) {
    return Fail(LOWRANK_INTERNAL_ERROR, "unexpected exception in redraw");
  }
}

lowrank_status_t lowrank_random_features_init(float* out, int64_t heads, int64_t m, int64_t d,
                                              lowrank_random_features_t kind,
                                              lowrank_feature_norms_t norms, uint64_t seed) {
  if (out == nullptr) return Fail(LOWRANK_INVALID_ARGUMENT, "random features: out is null");
  int64_t count = 0;
  if (heads < 1 || m < 1 || d < 1 || d > LOWRANK_MAX_HEAD_DIM ||
      __builtin_mul_overflow(heads, m, &count) || __builtin_mul_overflow(count, d, &count) ||
      count > static_cast<int64_t>(PTRDIFF_MAX / sizeof(float))) {
    return Fail(LOWRANK_INVALID_ARGUMENT,
                "random features: heads, m >= 1, d in [1, %d], and their product must fit in "
                "memory",
                LOWRANK_MAX_HEAD_DIM);
  }
  int32_t k = 0, n = 0;
  std::memcpy(&k, &kind, sizeof(k));
  std::memcpy(&n, &norms, sizeof(n));
  if (k != LOWRANK_RANDOM_FEATURES_ORTHOGONAL && k != LOWRANK_RANDOM_FEATURES_IID) {
    return Fail(LOWRANK_INVALID_ARGUMENT,
                "random features: kind must be ORTHOGONAL or IID, got %d", k);
  }
  if (n != LOWRANK_FEATURE_NORMS_CHI && n != LOWRANK_FEATURE_NORMS_SQRT_D) {
    return Fail(LOWRANK_INVALID_ARGUMENT, "random features: unknown norms %d", n);
  }
  try {
    lowrank::DrawRandomFeatures(out, static_cast<size_t>(heads), static_cast<size_t>(m),
                                static_cast<size_t>(d), k, n, seed);
  } catch (...) {
    return Fail(LOWRANK_OUT_OF_MEMORY, "random features: allocation failed");
  }
  return ClearError();
}

lowrank_status_t lowrank_projection_init(float* out, int64_t heads, int64_t dim,
                                         int64_t max_len, lowrank_projection_init_t kind,
                                         uint64_t seed) {
  if (out == nullptr) return Fail(LOWRANK_INVALID_ARGUMENT, "projection: out is null");
  int64_t count = 0;
  if (heads < 1 || dim < 1 || max_len < 1 || __builtin_mul_overflow(heads, dim, &count) ||
      __builtin_mul_overflow(count, max_len, &count) ||
      count > static_cast<int64_t>(PTRDIFF_MAX / sizeof(float))) {
    return Fail(LOWRANK_INVALID_ARGUMENT,
                "projection: sizes must be >= 1 and their product must fit in memory");
  }
  int32_t k = 0;
  static_assert(sizeof(k) == sizeof(kind), "enum is int-sized");
  std::memcpy(&k, &kind, sizeof(k));
  if (k < LOWRANK_PROJECTION_XAVIER_UNIFORM || k > LOWRANK_PROJECTION_NORMAL) {
    return Fail(LOWRANK_INVALID_ARGUMENT, "projection: unknown initialization %d", k);
  }
  lowrank::Rng rng(seed);
  const double xavier = std::sqrt(6.0 / static_cast<double>(dim + max_len)) / std::sqrt(2.0);
  const double uniform = 1.0 / std::sqrt(static_cast<double>(dim));
  for (int64_t i = 0; i < count; ++i) {
    double x;
    if (k == LOWRANK_PROJECTION_NORMAL) {
      x = 0.02 * rng.Normal();
    } else {
      const double a = k == LOWRANK_PROJECTION_XAVIER_UNIFORM ? xavier : uniform;
      x = a * (2.0 * rng.Uniform() - 1.0);
    }
    out[i] = static_cast<float>(x);
  }
  return ClearError();
}

}  // extern "C"
