// libFuzzer target: plan creation and execution through the C API with
// arbitrary methods, shapes, strides, options and key lengths, over a
// bounded arena. Every call must either fail cleanly (a status with a
// message, the output arena untouched) or succeed; a successful exact
// attention must match the double reference; any successful call on
// finite inputs must give finite outputs. Views that would reach past the
// arena are not executed (the library trusts the caller's pointers; the
// plan still validates them).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "lowrank/lowrank.h"
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
  int64_t positions[20];
  for (int64_t& p : positions) p = b.Small(-1, 50);
  int32_t mode_value = 0, method_value = 0;
  std::memcpy(&mode_value, &o.landmark_mode, sizeof(mode_value));
  std::memcpy(&method_value, &o.method, sizeof(method_value));
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
      if (method_value == LOWRANK_METHOD_EXACT) {
        lowrank_test::AttentionProblem p{qd, kd, vd, od, q.data(), k.data(), v.data(),
                                         use_lengths ? lengths : nullptr,
                                         o.scale != 0 ? o.scale : 1.0 / std::sqrt(static_cast<double>(d)),
                                         o.causal != 0};
        const std::vector<double> want = lowrank_test::ReferenceAttention(p);
        for (int64_t bb = 0; bb < batch; ++bb)
          for (int64_t h = 0; h < hq; ++h)
            for (int64_t i = 0; i < nq; ++i)
              for (int64_t c = 0; c < dv; ++c) {
                const double got = out[static_cast<size_t>(lowrank_test::Offset(od, bb, h, i, c))];
                const double ref = want[static_cast<size_t>(((bb * hq + h) * nq + i) * dv + c)];
                // Inputs in [-1, 1], |scale| <= 8, d <= 16: logits below
                // 128 with (d + 2) u relative error; weights move by less
                // than 1e-3, outputs (|v| <= 0.3) by less than 1e-3.
                if (std::fabs(got - ref) > 1e-3) std::abort();
              }
      }
    }
  }
  lowrank_plan_destroy(plan);
  return 0;
}
