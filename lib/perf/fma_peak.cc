// FMA peak microbenchmark, compiled for every target.
//
// 12 independent accumulators: an FMA has 4 cycles of latency and 2 issue
// ports on current x86 and Arm server cores, so 8 chains saturate them; 12
// leave margin (and fit the 16 registers of SSE4/AVX2 with the 2 operands).
#include "perf/fma_peak.h"

#include <algorithm>
#include <chrono>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "perf/fma_peak.cc"
#include "hwy/foreach_target.h"  // must come before highway.h
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace lowrank {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

double FmaChainsImpl(size_t iterations, float* sink) {
  const hn::ScalableTag<float> d;
  // x <- x * m + a converges to a / (1 - m) without denormals or overflow.
  const auto m = hn::Set(d, 0.999999f);
  const auto a = hn::Set(d, 1e-6f);
#define LOWRANK_ACC(i) auto c##i = hn::Set(d, static_cast<float>(i));
#define LOWRANK_STEP(i) c##i = hn::MulAdd(c##i, m, a);
#define LOWRANK_ALL(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
  LOWRANK_ALL(LOWRANK_ACC)
  for (size_t it = 0; it < iterations; ++it) {
    LOWRANK_ALL(LOWRANK_STEP)
  }
  auto s = hn::Add(hn::Add(hn::Add(c0, c1), hn::Add(c2, c3)),
                   hn::Add(hn::Add(c4, c5), hn::Add(c6, c7)));
  s = hn::Add(s, hn::Add(hn::Add(c8, c9), hn::Add(c10, c11)));
#undef LOWRANK_ACC
#undef LOWRANK_STEP
#undef LOWRANK_ALL
  *sink += hn::GetLane(s);
  return 2.0 * 12.0 * static_cast<double>(hn::Lanes(d)) * static_cast<double>(iterations);
}

}  // namespace HWY_NAMESPACE
}  // namespace lowrank
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace lowrank {
HWY_EXPORT(FmaChainsImpl);

namespace {
volatile float g_sink = 0.0f;
}

double FmaChains(size_t iterations) {
  float sink = 0.0f;
  const double flops = HWY_DYNAMIC_DISPATCH(FmaChainsImpl)(iterations, &sink);
  g_sink = g_sink + sink;
  return flops;
}

double MeasureFmaPeakGflops() {
  // Warm-up (clock ramp, page in), also timed: each repetition is sized to
  // about 40 ms at the warm-up's rate, at most 2e7 iterations (40 ms at 96
  // GFLOP/s on AVX2; AVX-512 takes 20 ms). An emulated CPU (the arm64 tests
  // run under qemu, 100-1000x slower) then measures in well under a second
  // instead of a minute.
  constexpr size_t kWarmup = 1000000, kMaxIterations = 20000000;
  const auto w0 = std::chrono::steady_clock::now();
  FmaChains(kWarmup);
  const double warm_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
  const double fit = warm_s > 0.0 ? 0.04 / warm_s * static_cast<double>(kWarmup) : 1e300;
  const size_t iterations =
      static_cast<size_t>(std::max(10000.0, std::min(fit, static_cast<double>(kMaxIterations))));
  double best = 0.0;
  for (int rep = 0; rep < 5; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    const double flops = FmaChains(iterations);
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, flops / s * 1e-9);
  }
  return best;
}
}  // namespace lowrank
#endif  // HWY_ONCE
