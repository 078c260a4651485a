// The low-rank GEMMs (lib/kernels/lowrank_gemm.h) on every supported target,
// side by side with oneDNN's dnnl_sgemm on the same shapes and data, one
// thread: A^T B (r x n . n x d, the reductions over the sequence) and A B
// (n x r . r x d, the tall-skinny products), d = 64.
//
// Rows "selected" run what the methods run (gemm_select.h: the Highway
// kernel on the best target, or oneDNN where the measured rule prefers it).
//
// Names: <impl>/<AtB|AB>/<target>/n:<n>/r:<r>. GFLOPs and peak_frac (of the
// same target's measured FMA peak; oneDNN rows use its own ISA's) counters.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "kernels/lowrank_gemm.h"
#include "lowrank/lowrank.hpp"
#include "onednn/onednn.h"
#include "bench_util.h"

namespace {

struct Data {
  std::vector<float> a, b, c;
  float* ws = nullptr;
  Data(bool at, size_t n, size_t r, size_t kD) {
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    a.resize(n * r);
    b.resize((at ? n : r) * kD);
    c.resize((at ? r : n) * kD);
    for (float& x : a) x = dist(rng);
    for (float& x : b) x = dist(rng);
    const size_t floats = at ? lowrank::GemmAtBWorkspaceFloats(r, kD)
                             : lowrank::GemmABWorkspaceFloats(r, kD);
    if (posix_memalign(reinterpret_cast<void**>(&ws), lowrank::kGemmWorkspaceAlign,
                       floats * sizeof(float)) != 0) {
      ws = nullptr;
    }
  }
  ~Data() { std::free(ws); }
};

void Finish(benchmark::State& state, double seconds, double flops, double peak) {
  const double gflops = flops * static_cast<double>(state.iterations()) / seconds * 1e-9;
  state.counters["GFLOPs"] = gflops;
  state.counters["peak_frac"] = gflops / peak;
}

// isa LOWRANK_ISA_AUTO: the selected path (gemm_select.h).
void BM_Ours(benchmark::State& state, lowrank_isa_t isa, bool at, size_t n, size_t r,
             size_t kD) {
  const bool selected = isa == LOWRANK_ISA_AUTO;
  if (selected) isa = lowrank_isa_active();
  if (!selected && !lowrank::Isa::Force(isa).ok()) {
    state.SkipWithError("target not supported");
    return;
  }
  Data x(at, n, r, kD);
  lowrank::GemmArgs g{n, r, kD, x.a.data(), r, x.b.data(), kD, x.c.data(), kD, false, x.ws};
  // One clock read around the whole loop: per call, the two reads cost 6%
  // of a 0.7 us product (m = 32 squares).
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    if (selected) {
      at ? lowrank::GemmAtBSelected(g) : lowrank::GemmABSelected(g);
    } else {
      at ? lowrank::GemmAtB(g) : lowrank::GemmAB(g);
    }
    benchmark::DoNotOptimize(x.c.data());
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  Finish(state, seconds, 2.0 * n * r * kD, lowrank_bench::PeakOf(isa));
  (void)lowrank::Isa::Force(LOWRANK_ISA_AUTO);
}

void BM_Onednn(benchmark::State& state, bool at, size_t n, size_t r, size_t kD) {
  Data x(at, n, r, kD);
  lowrank::onednn::SetThreads(1);
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    const bool ok =
        at ? lowrank::onednn::Sgemm('T', 'N', r, kD, n, 1.0f, x.a.data(), r, x.b.data(), kD, 0.0f,
                                    x.c.data(), kD)
           : lowrank::onednn::Sgemm('N', 'N', n, kD, r, 1.0f, x.a.data(), r, x.b.data(), kD, 0.0f,
                                    x.c.data(), kD);
    if (!ok) {
      state.SkipWithError("dnnl_sgemm failed");
      return;
    }
    benchmark::DoNotOptimize(x.c.data());
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  Finish(state, seconds, 2.0 * n * r * kD, lowrank_bench::OnednnPeak());
}

void Register(bool at, size_t n, size_t r, size_t d) {
  const std::string kind = at ? "AtB" : "AB";
  std::string shape = "/n:" + std::to_string(n) + "/r:" + std::to_string(r);
  if (d != 64) shape += "/d:" + std::to_string(d);
  for (lowrank_isa_t isa : lowrank::Isa::Supported()) {
    benchmark::RegisterBenchmark(("lowrank/" + kind + "/" + lowrank_isa_name(isa) + shape).c_str(),
                                 [=](benchmark::State& s) { BM_Ours(s, isa, at, n, r, d); })
        ->Unit(benchmark::kMicrosecond)
        ->UseRealTime();
  }
  benchmark::RegisterBenchmark(
      ("lowrank/" + kind + "/selected" + shape).c_str(),
      [=](benchmark::State& s) { BM_Ours(s, LOWRANK_ISA_AUTO, at, n, r, d); })
      ->Unit(benchmark::kMicrosecond)
      ->UseRealTime();
  if (lowrank::onednn::Available()) {
    benchmark::RegisterBenchmark(("onednn/" + kind + "/sgemm" + shape).c_str(),
                                 [=](benchmark::State& s) { BM_Onednn(s, at, n, r, d); })
        ->Unit(benchmark::kMicrosecond)
        ->UseRealTime();
  }
}

void RegisterAll() {
  for (bool at : {true, false}) {
    // n = 256: the row blocks of the factors method's U S phase.
    for (size_t n : {256, 1024, 4096, 16384, 65536}) {
      for (size_t r : {64, 128, 256}) Register(at, n, r, 64);
    }
  }
  // Narrow heads (d = 16, 32): narrower panels than the 64 columns of an
  // AVX-512 one (PanelCols, gemm_tile-inl.h).
  for (bool at : {true, false}) {
    for (size_t d : {16, 32}) Register(at, 4096, 64, d);
  }
  // Per-chunk products at d = 16 of the causal feature maps: the state
  // updates phi(K_c)^T V_c (A^T B over a chunk of up to 64 keys) and the
  // outputs phi(Q_c) S (A B with up to 64 rows).
  for (bool at : {true, false}) {
    for (size_t n : {36, 64, 256}) {
      for (size_t r : {64, 256}) Register(at, n, r, 16);
    }
  }
  // Square m x m products: the Nystrom pseudoinverse iterations.
  for (size_t m : {32, 64, 128, 256}) Register(false, m, m, m);
  // The Nystrom output phase per 256-row block: Q K~^T (256 x 64 . 64 x m)
  // and F W (256 x m . m x 64), at the m the d = 64 rows above lack.
  for (size_t m : {32, 128, 256}) Register(false, 256, 64, m);
  Register(false, 256, 32, 64);
  // Tiny products (n r d <= 32^3), where oneDNN's per-call cost once won.
  Register(false, 1, 256, 64);
  Register(false, 4, 64, 64);
  Register(false, 16, 32, 64);
  Register(true, 32, 32, 32);
  Register(true, 256, 32, 32);
}

}  // namespace

int main(int argc, char** argv) { return lowrank_bench::Main(argc, argv, RegisterAll); }
