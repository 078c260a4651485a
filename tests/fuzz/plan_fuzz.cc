// libFuzzer target: plan creation and execution through the C API with
// arbitrary methods, shapes, strides, options and key lengths, over a
// bounded arena. Every call must either fail cleanly (a status with a
// message, the output arena untouched) or succeed; any successful call on
// finite inputs gives finite outputs that match the double reference of
// its method (reference.h, nystrom_reference.h, feature_map_reference.h)
// within that reference's derived bound. Views that would reach past the
// arena are not executed (the library trusts the caller's pointers; the
// plan still validates them).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "feature_map_reference.h"
#include "lowrank/lowrank.h"
#include "nystrom_reference.h"
#include "reference.h"

namespace {

constexpr int64_t kArena = 1 << 16;  // floats per tensor

// Reads fuzz bytes in order; zeros once they run out.
struct Bytes {
  const uint8_t* p;
  size_t n;
  uint8_t U8() { return n ? (--n, *p++) : 0; }
  uint32_t U32() { return U8() | (U8() << 8) | (U8() << 16) | (static_cast<uint32_t>(U8()) << 24); }
  int64_t Small(int64_t lo, int64_t hi) { return lo + static_cast<int64_t>(U8()) % (hi - lo + 1); }
};

// A view: dense [B,H,S,D] or [B,S,H,D], or (1 in 8) raw fuzzed strides,
// possibly bad.
lowrank_tensor_desc_t View(Bytes& b, int64_t batch, int64_t heads, int64_t seq, int64_t dim) {
  lowrank_tensor_desc_t t;
  const uint8_t mode = b.U8() % 8;
  if (mode == 0) {
    t.batch = batch, t.heads = heads, t.seq = seq, t.dim = dim;
    t.stride_batch = static_cast<int32_t>(b.U32()) % 70000;
    t.stride_head = static_cast<int32_t>(b.U32()) % 9000;
    t.stride_seq = static_cast<int32_t>(b.U32()) % 300;
    t.stride_dim = static_cast<int32_t>(b.U32()) % 4;
    if (b.U8() % 16 == 0) t.seq = static_cast<int32_t>(b.U32());  // wild extents
    return t;
  }
  if (mode < 4) {
    lowrank_tensor_desc_init_bshd(&t, batch, seq, heads, dim);
  } else {
    lowrank_tensor_desc_init_bhsd(&t, batch, heads, seq, dim);
  }
  return t;
}

int64_t Span(const lowrank_tensor_desc_t& t) {
  if (t.batch < 1 || t.heads < 1 || t.seq < 1 || t.dim < 1) return -1;
  if (t.stride_batch < 0 || t.stride_head < 0 || t.stride_seq < 0 || t.stride_dim < 0) return -1;
  const double s = static_cast<double>(t.batch - 1) * t.stride_batch +
                   static_cast<double>(t.heads - 1) * t.stride_head +
                   static_cast<double>(t.seq - 1) * t.stride_seq +
                   static_cast<double>(t.dim - 1) * t.stride_dim + 1;
  return s > kArena ? -1 : static_cast<int64_t>(s);
}

// Inputs are in [-1, 1] (q), [-0.7, 0.7] (k), [-0.3, 0.3] (v), 0.1 of that
// for projections; |scale| <= 8, d <= 16, n <= 48.
constexpr double kVMax = 0.3;

using lowrank_test::AttentionProblem;
using lowrank_test::Bounded;

// Exact attention: logits below 8 * 16 = 128 in magnitude with (d + 2) u
// relative error move the weights by less than 1e-3 (relative), outputs
// (|v| <= 0.3) by less than 1e-3.
Bounded Exact(const AttentionProblem& p) {
  Bounded r;
  r.want = lowrank_test::ReferenceAttention(p);
  r.tol.assign(r.want.size(), 1e-3);
  return r;
}

// Nystrom: the reference of the same algorithm and its per-head Frobenius
// bound, spread over the head's entries as the bound itself (each entry's
// error is at most the head's Frobenius error). Returns false when k-means
// may legitimately cluster differently in float: an assignment margin below
// twice the float cost's error, (6 d (2 d + 4) + 8 d (n + 2)) u per cost
// (the cost |c|^2 - 2 (q.c_q + k.c_k) over 2d coordinates with |x|, |c| <= 1;
// a float centroid, a mean of at most n tokens, is (n + 2) u off per
// coordinate, and the cost's gradient in c is at most 4 per coordinate).
bool Nystrom(const AttentionProblem& p, const lowrank_options_t& o, int32_t mode, Bounded* r) {
  lowrank_test::NystromOptions n;
  n.m = o.landmarks;
  std::memcpy(&n.mode, &mode, sizeof(mode));
  n.positions = o.landmark_positions;
  n.kmeans_iterations = o.kmeans_iterations;
  n.pinv_iterations = o.pinv_iterations;
  int32_t init = 0;
  std::memcpy(&init, &o.pinv_init, sizeof(init));
  n.original_init = init == LOWRANK_PINV_INIT_ORIGINAL;
  n.seed = o.seed;
  double gap = INFINITY;
  *r = lowrank_test::ReferenceNystromBounded(p, n, kVMax, &gap);
  const double u = std::ldexp(1.0, -24), d = static_cast<double>(p.q.dim);
  const double cost_err = (6 * d * (2 * d + 4) + 8 * d * (static_cast<double>(p.k.seq) + 2)) * u;
  return gap > 2 * cost_err;
}

// Feature maps: the projection the plan used (given, or the documented draw
// from the seed), the reference of the same computation and its bound,
// which assumes |v| <= 1 (here 0.3).
Bounded FeatureMap(const AttentionProblem& p, const lowrank_options_t& o) {
  lowrank_test::FeatureOptions f;
  int32_t map = 0, kind = 0;
  std::memcpy(&map, &o.feature_map, sizeof(map));
  std::memcpy(&kind, &o.random_features, sizeof(kind));
  std::memcpy(&f.map, &map, sizeof(map));
  const bool projected = map != LOWRANK_FEATURE_MAP_ELU && kind != LOWRANK_RANDOM_FEATURES_NONE;
  f.m = projected ? o.features : 0;
  std::vector<float> drawn;
  if (projected && o.feature_projection != nullptr) {
    f.w = o.feature_projection;
    f.w_heads = o.feature_projection_heads;
  } else if (projected) {
    drawn.resize(static_cast<size_t>(o.features * p.q.dim));
    if (lowrank_random_features_init(drawn.data(), 1, o.features, p.q.dim, o.random_features,
                                     o.feature_norms, o.seed) != LOWRANK_OK) {
      std::abort();  // the plan accepted these options
    }
    f.w = drawn.data();
  }
  // The library's defaults, as the float it adds.
  f.eps = static_cast<float>(map == LOWRANK_FEATURE_MAP_RELU  ? 1e-3
                             : map == LOWRANK_FEATURE_MAP_ELU ? 0.0
                                                              : 1e-6);
  return lowrank_test::ReferenceFeatureMapBounded(p, f);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Bytes b{data, size};
  static std::vector<float> q(kArena), k(kArena), v(kArena), out(kArena), proj(kArena),
      before(kArena);
  // Inputs: bounded values (and, 1 in 16, a NaN somewhere).
  for (int64_t i = 0; i < kArena; ++i) {
    const float x = static_cast<float>((i * 2654435761u + size) % 2001) / 1000.0f - 1.0f;
    q[static_cast<size_t>(i)] = x, k[static_cast<size_t>(i)] = -x * 0.7f,
    v[static_cast<size_t>(i)] = x * 0.3f;
    proj[static_cast<size_t>(i)] = 0.1f * x;
  }
  std::fill(out.begin(), out.end(), 0.0f);
  const bool nan = b.U8() % 16 == 0;
  if (nan) k[b.U32() % kArena] = NAN;

  lowrank_options_t o;
  lowrank_options_init(&o);
  // Enum fields are set through their integer representation (a C caller
  // can store any int there; loading an out-of-range enum in C++ is UB, so
  // neither the library nor this harness ever does).
  auto set_enum = [](auto* field, int32_t value) { std::memcpy(field, &value, sizeof(value)); };
  set_enum(&o.method, b.U8() % 7);  // 5 and 6 are not methods
  int32_t method_value = 0;
  std::memcpy(&method_value, &o.method, sizeof(method_value));
  const int64_t batch = b.Small(1, 3), hkv = b.Small(1, 3), group = b.Small(1, 2);
  const int64_t hq = hkv * group, nq = b.Small(1, 48), nk = b.Small(1, 48);
  const int64_t d = b.Small(1, 16), dv = b.Small(1, 16);
  o.causal = b.U8() % 4 == 0;
  o.num_threads = static_cast<int32_t>(b.U8() % 5);
  if (b.U8() % 8 == 0) o.scale = static_cast<float>(static_cast<int8_t>(b.U8())) / 16.0f;
  o.normalize = b.U8() % 3 == 0;
  o.landmarks = b.Small(0, 20);
  set_enum(&o.landmark_mode, b.U8() % 5);
  o.pinv_iterations = static_cast<int32_t>(b.Small(-1, 8));
  o.kmeans_iterations = static_cast<int32_t>(b.Small(0, 4));
  set_enum(&o.pinv_init, b.U8() % 3);
  o.seed = b.U32();
  set_enum(&o.feature_map, b.U8() % 5);
  o.features = b.Small(0, 40);
  set_enum(&o.random_features, b.U8() % 4);
  set_enum(&o.feature_norms, b.U8() % 3);
  if (method_value == LOWRANK_METHOD_FEATURE_MAP && b.U8() % 4 == 0) {
    o.feature_projection = proj.data();
    o.feature_projection_heads = b.Small(0, 3);
  }
  int64_t positions[20];
  for (int64_t& p : positions) p = b.Small(-1, 50);
  int32_t mode_value = 0;
  std::memcpy(&mode_value, &o.landmark_mode, sizeof(mode_value));
  if (mode_value == LOWRANK_LANDMARKS_POSITIONS && b.U8() % 4) o.landmark_positions = positions;
  if (method_value == LOWRANK_METHOD_LINFORMER && b.U8() % 4) {
    o.proj_k = proj.data();
    o.proj_heads = b.Small(0, 3);
    o.proj_dim = b.Small(0, 20);
    o.proj_max_len = b.Small(0, 60);
    if (o.proj_heads * o.proj_dim * o.proj_max_len > kArena) o.proj_k = nullptr;
  }
  const lowrank_tensor_desc_t qd = View(b, batch, hq, nq, d), kd = View(b, batch, hkv, nk, d),
                              vd = View(b, batch, hkv, nk, dv), od = View(b, batch, hq, nq, dv);
  lowrank_plan_t plan = nullptr;
  const lowrank_status_t st = lowrank_plan_create(&o, &qd, &kd, &vd, &od, &plan);
  if (st != LOWRANK_OK) {
    if (plan != nullptr || lowrank_last_error()[0] == '\0') std::abort();
    return 0;
  }
  const int64_t sq = Span(qd), sk = Span(kd), sv = Span(vd), so = Span(od);
  int32_t lengths[3];
  for (int32_t& l : lengths) l = static_cast<int32_t>(b.Small(-1, 50));
  const bool use_lengths = b.U8() % 2;
  if (sq > 0 && sk > 0 && sv > 0 && so > 0) {
    before = out;
    const lowrank_status_t ex =
        lowrank_plan_execute(plan, q.data(), k.data(), v.data(), use_lengths ? lengths : nullptr,
                             out.data());
    if (ex != LOWRANK_OK) {
      if (lowrank_last_error()[0] == '\0' || out != before) std::abort();
    } else if (!nan) {
      for (int64_t i = 0; i < so; ++i) {
        if (!std::isfinite(out[static_cast<size_t>(i)]) && out[static_cast<size_t>(i)] != before[static_cast<size_t>(i)]) {
          // A finite input never yields a non-finite output.
          std::abort();
        }
      }
      const AttentionProblem p{qd, kd, vd, od, q.data(), k.data(), v.data(),
                               use_lengths ? lengths : nullptr,
                               o.scale != 0 ? o.scale : 1.0 / std::sqrt(static_cast<double>(d)),
                               o.causal != 0};
      Bounded ref;
      bool check = true;
      switch (method_value) {
        case LOWRANK_METHOD_EXACT:
          ref = Exact(p);
          break;
        case LOWRANK_METHOD_FACTORS:
          ref = lowrank_test::ReferenceFactors(p, o.normalize != 0);
          break;
        case LOWRANK_METHOD_LINFORMER:
          ref = lowrank_test::ReferenceLinformer(p, o.proj_k, o.proj_v ? o.proj_v : o.proj_k,
                                                 o.proj_heads, o.proj_dim, o.proj_max_len);
          break;
        case LOWRANK_METHOD_NYSTROM:
          check = Nystrom(p, o, mode_value, &ref);
          break;
        case LOWRANK_METHOD_FEATURE_MAP:
          ref = FeatureMap(p, o);
          break;
        default:
          std::abort();  // a plan for a method that does not exist
      }
      if (check && lowrank_test::WorstRatio(ref, od, out.data()) > 1.0) std::abort();
    }
  }
  lowrank_plan_destroy(plan);
  return 0;
}
