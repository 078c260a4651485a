// Feature-map pieces on every supported target, one thread:
//   feature_kernel vs hwy_exp: the fused exp feature map (projection result
//     + norm term and stabilizer + exp + eps, one pass) against a plain loop
//     of Highway's hn::Exp computing the same values, 256 rows x 256
//     features; counter elems_per_ns;
//   decode: one token appended and one query answered for one head of a
//     FAVOR+ decoding state (m = 256, d = 64, d_v = 64); time per iteration
//     = per head and token.
// FAVOR+ attention itself (bidirectional, causal) beside exact attention is
// in lowrank_methods_bench.
#include <chrono>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "bench_util.h"
#include "kernels/feature_map.h"
#include "lowrank/lowrank.hpp"

namespace {

constexpr size_t kRows = 256, kFeatures = 256;

void BM_Map(benchmark::State& state, lowrank_isa_t isa, bool fused) {
  if (!lowrank::Isa::Force(isa).ok()) {
    state.SkipWithError("target not supported");
    return;
  }
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.0f, 2.0f);
  std::vector<float> u(kRows * kFeatures), g(u.size()), hc(kRows);
  for (float& x : u) x = dist(rng);
  for (size_t i = 0; i < kRows; ++i) {
    float mx = u[i * kFeatures];
    for (size_t f = 0; f < kFeatures; ++f) mx = std::max(mx, u[i * kFeatures + f]);
    hc[i] = mx + 1.0f;  // h + c: every exponent below 0, as in the kernel
  }
  for (auto _ : state) {
    if (fused) {
      lowrank::ExpFeatureRows(u.data(), kRows, kFeatures, hc.data(), 1e-6f, 0.0625f, g.data());
    } else {
      lowrank::HwyExpRows(u.data(), kRows, kFeatures, hc.data(), 1e-6f, 0.0625f, g.data());
    }
    benchmark::DoNotOptimize(g.data());
  }
  state.counters["elems_per_ns"] = benchmark::Counter(
      static_cast<double>(kRows * kFeatures) * static_cast<double>(state.iterations()) * 1e-9,
      benchmark::Counter::kIsRate);
  (void)lowrank::Isa::Force(LOWRANK_ISA_AUTO);
}

void BM_Decode(benchmark::State& state, lowrank_isa_t isa) {
  if (!lowrank::Isa::Force(isa).ok()) {
    state.SkipWithError("target not supported");
    return;
  }
  constexpr int64_t kD = 64;
  const auto desc = lowrank::TensorDesc::BHSD(1, 1, 1, kD);
  lowrank::Options opt;
  opt.method = LOWRANK_METHOD_FEATURE_MAP;
  opt.features = 256;
  opt.causal = 1;
  lowrank::Plan plan;
  lowrank::DecodeState st;
  if (!plan.Create(opt, desc, desc, desc, desc).ok() || !st.Create(plan).ok()) {
    state.SkipWithError("plan or state creation failed");
    return;
  }
  std::mt19937 rng(4);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> q(kD), k(kD), v(kD), o(kD);
  for (auto* x : {&q, &k, &v}) {
    for (float& f : *x) f = dist(rng);
  }
  for (auto _ : state) {
    (void)st.Append(k.data(), desc, v.data(), desc);
    (void)st.Query(q.data(), desc, o.data(), desc);
    benchmark::DoNotOptimize(o.data());
  }
  (void)lowrank::Isa::Force(LOWRANK_ISA_AUTO);
}

void RegisterAll() {
  for (lowrank_isa_t isa : lowrank::Isa::Supported()) {
    const std::string name = lowrank_isa_name(isa);
    benchmark::RegisterBenchmark(("feature_kernel/" + name).c_str(),
                                 [=](benchmark::State& s) { BM_Map(s, isa, true); });
    benchmark::RegisterBenchmark(("hwy_exp/" + name).c_str(),
                                 [=](benchmark::State& s) { BM_Map(s, isa, false); });
    benchmark::RegisterBenchmark(("decode/" + name + "/m:256/d:64").c_str(),
                                 [=](benchmark::State& s) { BM_Decode(s, isa); })
        ->Unit(benchmark::kMicrosecond);
  }
}

}  // namespace

int main(int argc, char** argv) { return lowrank_bench::Main(argc, argv, RegisterAll); }
