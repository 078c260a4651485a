// Decoding states of feature-map plans (lowrank_decode_* in lowrank.h).
#include <algorithm>
#include <cmath>
#include <new>
#include <vector>

#include "api/error.h"
#include "api/plan.h"
#include "api/validate.h"
#include "kernels/feature_map.h"
#include "lowrank/lowrank.h"

struct lowrank_decode_state {
  lowrank::FeatureMapSpec spec;
  std::vector<float> wt;  // the state's own copy of the plan's W'^T
  size_t batch = 0, q_heads = 0, kv_heads = 0, d = 0, dv = 0;
  std::vector<float> s;   // per (batch, kv head): F x (d_v + 1), last column z
  std::vector<float> c;   // per (batch, kv head): key stabilizer
  std::vector<float> scratch;
  int64_t tokens = 0;
  size_t StateFloats() const { return spec.features * (dv + 1); }
  void Reset() {
    std::fill(s.begin(), s.end(), 0.0f);
    std::fill(c.begin(), c.end(), spec.Exponential() ? -HUGE_VALF : 0.0f);
    tokens = 0;
  }
};

using lowrank::ClearError;
using lowrank::Fail;

namespace {

// Checks a per-call view: batch and heads as the state's, dim as given,
// seq >= 1, valid strides, dim stride 1.
lowrank_status_t CheckView(const char* name, const lowrank_tensor_desc_t* t, size_t batch,
                           size_t heads, size_t dim, int64_t* span) {
  if (const lowrank_status_t st = lowrank::CheckDesc(name, t, span); st != LOWRANK_OK) return st;
  if (static_cast<size_t>(t->batch) != batch || static_cast<size_t>(t->heads) != heads ||
      static_cast<size_t>(t->dim) != dim) {
    return Fail(LOWRANK_INVALID_ARGUMENT,
                "%s: shape [%lld, %lld, *, %lld] does not match the plan's [%zu, %zu, *, %zu]",
                name, static_cast<long long>(t->batch), static_cast<long long>(t->heads),
                static_cast<long long>(t->dim), batch, heads, dim);
  }
  if (t->stride_dim != 1 && t->dim > 1) {
    return Fail(LOWRANK_UNSUPPORTED, "%s: decoding needs a dim stride of 1", name);
  }
  return LOWRANK_OK;
}

}  // namespace

extern "C" {

lowrank_status_t lowrank_decode_create(lowrank_plan_t plan, lowrank_decode_state_t* state) {
  if (state == nullptr) return Fail(LOWRANK_INVALID_ARGUMENT, "decode: state pointer is null");
  *state = nullptr;
  if (plan == nullptr) return Fail(LOWRANK_INVALID_ARGUMENT, "decode: plan is null");
  if (plan->method != LOWRANK_METHOD_FEATURE_MAP) {
    return Fail(LOWRANK_INVALID_ARGUMENT,
                "decode: states exist for feature-map plans only (method %d)",
                static_cast<int>(plan->method));
  }
  try {
    auto* st = new lowrank_decode_state();
    st->spec = lowrank::FeatureSpecOf(*plan);
    st->wt = plan->feature_wt;
    st->spec.wt = st->wt.empty() ? nullptr : st->wt.data();
    st->batch = static_cast<size_t>(plan->q.batch);
    st->q_heads = static_cast<size_t>(plan->q.heads);
    st->kv_heads = static_cast<size_t>(plan->k.heads);
    st->d = static_cast<size_t>(plan->q.dim);
    st->dv = static_cast<size_t>(plan->v.dim);
    st->s.resize(st->batch * st->kv_heads * st->StateFloats());
    st->c.resize(st->batch * st->kv_heads);
    st->scratch.resize(lowrank::FeatureMapThreadFloats(st->spec, st->dv));
    st->Reset();
    *state = st;
  } catch (const std::bad_alloc&) {
    return Fail(LOWRANK_OUT_OF_MEMORY, "decode: cannot allocate the state");
  } catch (...) {
    return Fail(LOWRANK_INTERNAL_ERROR, "decode: unexpected exception");
  }
  return ClearError();
}

lowrank_status_t lowrank_decode_append(lowrank_decode_state_t st, const float* k,
                                       const lowrank_tensor_desc_t* k_desc, const float* v,
                                       const lowrank_tensor_desc_t* v_desc) {
  if (st == nullptr) return Fail(LOWRANK_INVALID_ARGUMENT, "decode: state is null");
  if (k == nullptr || v == nullptr) {
    return Fail(LOWRANK_INVALID_ARGUMENT, "decode: k and v data must not be null");
  }
  int64_t span = 0;
  if (lowrank_status_t s = CheckView("k", k_desc, st->batch, st->kv_heads, st->d, &span);
      s != LOWRANK_OK) {
    return s;
  }
  if (lowrank_status_t s = CheckView("v", v_desc, st->batch, st->kv_heads, st->dv, &span);
      s != LOWRANK_OK) {
    return s;
  }
  if (k_desc->seq != v_desc->seq) {
    return Fail(LOWRANK_INVALID_ARGUMENT, "decode: k has %lld tokens, v %lld",
                static_cast<long long>(k_desc->seq), static_cast<long long>(v_desc->seq));
  }
  const size_t count = static_cast<size_t>(k_desc->seq);
  for (size_t b = 0; b < st->batch; ++b) {
    for (size_t h = 0; h < st->kv_heads; ++h) {
      const size_t i = b * st->kv_heads + h;
      const int64_t bb = static_cast<int64_t>(b), hh = static_cast<int64_t>(h);
      lowrank::FeatureMapDecodeAppend(
          st->spec, h, st->dv, k + bb * k_desc->stride_batch + hh * k_desc->stride_head,
          k_desc->stride_seq, v + bb * v_desc->stride_batch + hh * v_desc->stride_head,
          v_desc->stride_seq, count, st->s.data() + i * st->StateFloats(), &st->c[i],
          st->scratch.data());
    }
  }
  st->tokens += k_desc->seq;
  return ClearError();
}

lowrank_status_t lowrank_decode_query(lowrank_decode_state_t st, const float* q,
                                      const lowrank_tensor_desc_t* q_desc, float* out,
                                      const lowrank_tensor_desc_t* out_desc) {
  if (st == nullptr) return Fail(LOWRANK_INVALID_ARGUMENT, "decode: state is null");
  if (q == nullptr || out == nullptr) {
    return Fail(LOWRANK_INVALID_ARGUMENT, "decode: q and out data must not be null");
  }
  int64_t q_span = 0, out_span = 0;
  if (lowrank_status_t s = CheckView("q", q_desc, st->batch, st->q_heads, st->d, &q_span);
      s != LOWRANK_OK) {
    return s;
  }
  if (lowrank_status_t s = CheckView("out", out_desc, st->batch, st->q_heads, st->dv, &out_span);
      s != LOWRANK_OK) {
    return s;
  }
  if (q_desc->seq != out_desc->seq) {
    return Fail(LOWRANK_INVALID_ARGUMENT, "decode: q has %lld rows, out %lld",
                static_cast<long long>(q_desc->seq), static_cast<long long>(out_desc->seq));
  }
  if (lowrank_status_t s = lowrank::CheckNoSelfOverlap("out", *out_desc); s != LOWRANK_OK) {
    return s;
  }
  if (lowrank::RangesOverlap(out, out_span, q, q_span)) {
    return Fail(LOWRANK_INVALID_ARGUMENT, "out: memory overlaps q");
  }
  const size_t count = static_cast<size_t>(q_desc->seq);
  for (size_t b = 0; b < st->batch; ++b) {
    for (size_t h = 0; h < st->q_heads; ++h) {
      const size_t hk = h * st->kv_heads / st->q_heads;
      const int64_t bb = static_cast<int64_t>(b), hh = static_cast<int64_t>(h);
      lowrank::FeatureMapDecodeQuery(
          st->spec, hk, st->dv, q + bb * q_desc->stride_batch + hh * q_desc->stride_head,
          q_desc->stride_seq, count, st->s.data() + (b * st->kv_heads + hk) * st->StateFloats(),
          out + bb * out_desc->stride_batch + hh * out_desc->stride_head, out_desc->stride_seq,
          st->scratch.data());
    }
  }
  return ClearError();
}

lowrank_status_t lowrank_decode_reset(lowrank_decode_state_t st) {
  if (st == nullptr) return Fail(LOWRANK_INVALID_ARGUMENT, "decode: state is null");
  st->Reset();
  return ClearError();
}

lowrank_status_t lowrank_decode_length(lowrank_decode_state_t st, int64_t* tokens) {
  if (st == nullptr || tokens == nullptr) {
    return Fail(LOWRANK_INVALID_ARGUMENT, "decode: state and tokens must not be null");
  }
  *tokens = st->tokens;
  return ClearError();
}

void lowrank_decode_destroy(lowrank_decode_state_t st) { delete st; }

}  // extern "C"
