// Helpers shared by the benchmark programs: per-target FMA peaks measured
// once per run, the peak matching oneDNN's ISA, and the common main().
#ifndef LOWRANK_BENCH_BENCH_UTIL_H_
#define LOWRANK_BENCH_BENCH_UTIL_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "benchmark/benchmark.h"
#include "lowrank/lowrank.hpp"
#include "onednn/onednn.h"
#include "perf/fma_peak.h"

namespace lowrank_bench {

// GFLOP/s of one core per supported target, measured on first use and
// recorded in the benchmark context.
inline const std::map<lowrank_isa_t, double>& Peaks() {
  static const std::map<lowrank_isa_t, double> peaks = [] {
    std::map<lowrank_isa_t, double> m;
    for (lowrank_isa_t isa : lowrank::Isa::Supported()) {
      (void)lowrank::Isa::Force(isa);
      m[isa] = lowrank::MeasureFmaPeakGflops();
      benchmark::AddCustomContext(std::string("fma_peak_gflops_per_core_") + lowrank_isa_name(isa),
                                  std::to_string(m[isa]));
    }
    (void)lowrank::Isa::Force(LOWRANK_ISA_AUTO);
    benchmark::AddCustomContext("onednn", lowrank::onednn::Version() + " isa " +
                                              lowrank::onednn::EffectiveIsa());
    return m;
  }();
  return peaks;
}

inline double PeakOf(lowrank_isa_t isa) {
  const auto it = Peaks().find(isa);
  return it == Peaks().end() ? 0.0 : it->second;
}

// The lowrank target matching the ISA oneDNN's JIT uses (AUTO where none
// does): the flash baseline runs its softmax at it, so that capping oneDNN
// with DNNL_MAX_CPU_ISA=AVX2 on an AVX-512 machine gives a baseline that is
// AVX2 throughout, as on an AVX2 machine.
inline lowrank_isa_t OnednnIsa() {
  const std::string isa = lowrank::onednn::EffectiveIsa();
  lowrank_isa_t t = LOWRANK_ISA_AUTO;
  if (isa.rfind("avx512", 0) == 0) {
    t = LOWRANK_ISA_AVX3;
  } else if (isa.rfind("avx2", 0) == 0) {
    t = LOWRANK_ISA_AVX2;
  } else if (isa == "sse41") {
    t = LOWRANK_ISA_SSE4;
  }
  return Peaks().count(t) != 0 ? t : LOWRANK_ISA_AUTO;
}

// Peak of the target matching the ISA oneDNN's JIT uses (for baselines).
inline double OnednnPeak() {
  double p = PeakOf(OnednnIsa());
  if (p > 0.0) return p;
  for (const auto& [t, peak] : Peaks()) p = std::max(p, peak);
  return p;
}

// Writes back and evicts the cache lines of [p, p + bytes) from every cache
// level (clflush on x86, dc civac on arm64), so the next access comes from
// DRAM: the "cold" benchmark rows, where a repeated call would otherwise
// find inputs of a few MiB in the last-level cache. Returns false where the
// architecture has no such user-level instruction.
inline bool EvictFromCaches(const void* p, size_t bytes) {
  constexpr uintptr_t kLine = 64;  // the smallest line of either; extra flushes are harmless
  const uintptr_t begin = reinterpret_cast<uintptr_t>(p) & ~(kLine - 1);
  const uintptr_t end = reinterpret_cast<uintptr_t>(p) + bytes;
#if defined(__x86_64__) || defined(__i386__)
  for (uintptr_t a = begin; a < end; a += kLine) _mm_clflush(reinterpret_cast<const void*>(a));
  _mm_mfence();
  return true;
#elif defined(__aarch64__)
  for (uintptr_t a = begin; a < end; a += kLine) asm volatile("dc civac, %0" ::"r"(a) : "memory");
  asm volatile("dsb ish" ::: "memory");
  return true;
#else
  (void)begin, (void)end;
  return false;
#endif
}

// main() of every benchmark program: register, then run.
inline int Main(int argc, char** argv, void (*register_all)()) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  Peaks();
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace lowrank_bench

#endif  // LOWRANK_BENCH_BENCH_UTIL_H_
