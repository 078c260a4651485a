// Low-rank methods beside exact attention, one run, same inputs, one thread:
// factors (U = elu(Q)+1, W = elu(K)+1, normalized) at rank r, Linformer
// (seeded projections) at k, and Nystrom (segment means, 6 iterations) at m
// landmarks, for n in {1024, 4096, 16384, 65536}, d = 64, every supported
// target. Rates by each method's nominal FLOP count. The GEMMs of the
// Nystrom output phase are 256-row blocks: Q K~^T (256 x 64 . 64 x m) and
// F W (256 x m . m x 64), the n:256 rows of lowrank_gemm_bench. FAVOR+
// (256 orthogonal features by default; r = m) bidirectional and causal.
//
// Names: <method>/<target>/n:<n>/r:<r> (exact: r:0). Exact at n = 65536 runs
// about 10 s per iteration on AVX2; filter it out for quick runs.
//
// Rows named <method>_cold/... (factors, Linformer and Nystrom at n = 16384
// and 65536) evict the inputs and the output from every cache level before
// each call (outside the timed region: manual time), so both sizes read their
// operands from DRAM. Otherwise the repeated calls of n = 16384 (4-8 MiB per
// operand) find them in the last-level cache while those of n = 65536 do
// not, and t(65536) / t(16384) measures the cache as much as the kernels.
#include <chrono>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "lowrank/lowrank.hpp"
#include "bench_util.h"

namespace {

constexpr int64_t kD = 64;

enum class Method { kExact, kFactors, kLinformer, kNystrom, kFavor, kFavorCausal };

void BM_Method(benchmark::State& state, lowrank_isa_t isa, Method method, int64_t n, int64_t r,
               bool cold = false) {
  if (!lowrank::Isa::Force(isa).ok()) {
    state.SkipWithError("target not supported");
    return;
  }
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  const size_t count = static_cast<size_t>(n * kD);
  std::vector<float> q(count), k(count), v(count), o(count);
  for (auto* x : {&q, &k, &v}) {
    for (float& f : *x) f = dist(rng);
  }
  lowrank::Options opt;
  opt.num_threads = 1;
  std::vector<float> proj;
  auto qd = lowrank::TensorDesc::BHSD(1, 1, n, kD);
  auto kd = qd;
  if (method == Method::kFactors) {
    // U, W: n x r features, elu+1 of a random projection of Q and K.
    opt.method = LOWRANK_METHOD_FACTORS;
    opt.normalize = 1;
    std::vector<float> u(static_cast<size_t>(n * r)), w(u.size());
    for (auto* x : {&u, &w}) {
      for (float& f : *x) {
        const float g = dist(rng);
        f = g >= 0 ? g + 1.0f : std::exp(g);
      }
    }
    q.swap(u), k.swap(w);
    qd = lowrank::TensorDesc::BHSD(1, 1, n, r), kd = qd;
  } else if (method == Method::kLinformer) {
    opt.method = LOWRANK_METHOD_LINFORMER;
    proj.resize(static_cast<size_t>(r * n));
    (void)lowrank_projection_init(proj.data(), 1, r, n, LOWRANK_PROJECTION_XAVIER_UNIFORM, 1);
    opt.proj_k = proj.data();
    opt.proj_heads = 1, opt.proj_dim = r, opt.proj_max_len = n;
  }
  if (method == Method::kNystrom) {
    opt.method = LOWRANK_METHOD_NYSTROM;
    opt.landmarks = r;
  }
  if (method == Method::kFavor || method == Method::kFavorCausal) {
    opt.method = LOWRANK_METHOD_FEATURE_MAP;
    opt.features = r;
    opt.causal = method == Method::kFavorCausal;
  }
  const auto vd = lowrank::TensorDesc::BHSD(1, 1, n, kD);
  lowrank::Plan plan;
  const lowrank::Status st = plan.Create(opt, qd, kd, vd, vd);
  if (!st.ok()) {
    state.SkipWithError(st.ToString().c_str());
    return;
  }
  double seconds = 0;
  for (auto _ : state) {
    if (cold) {
      for (const std::vector<float>* x : {&q, &k, &v, &o, &proj}) {
        if (!lowrank_bench::EvictFromCaches(x->data(), x->size() * sizeof(float))) {
          state.SkipWithError("no cache eviction instruction on this architecture");
          return;
        }
      }
    }
    const auto t0 = std::chrono::steady_clock::now();
    (void)plan.Execute(q.data(), k.data(), v.data(), nullptr, o.data());
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    seconds += dt;
    if (cold) state.SetIterationTime(dt);  // the call only, not the eviction
    benchmark::DoNotOptimize(o.data());
  }
  const double gflops = plan.Flops() * static_cast<double>(state.iterations()) / seconds * 1e-9;
  state.counters["GFLOPs"] = gflops;
  state.counters["peak_frac"] = gflops / lowrank_bench::PeakOf(isa);
  (void)lowrank::Isa::Force(LOWRANK_ISA_AUTO);
}

void RegisterAll() {
  for (int64_t n : {1024, 4096, 16384, 65536}) {
    for (lowrank_isa_t isa : lowrank::Isa::Supported()) {
      const std::string tail = std::string(lowrank_isa_name(isa)) + "/n:" + std::to_string(n);
      auto add = [&](const char* name, Method method, int64_t r, bool cold = false) {
        auto* b = benchmark::RegisterBenchmark(
            (name + std::string(cold ? "_cold/" : "/") + tail + "/r:" + std::to_string(r)).c_str(),
            [=](benchmark::State& s) { BM_Method(s, isa, method, n, r, cold); });
        b->Unit(benchmark::kMillisecond);
        if (cold) {
          b->UseManualTime();
        } else {
          b->UseRealTime();
        }
      };
      add("exact", Method::kExact, 0);
      for (int64_t r : {64, 128, 256}) {
        add("factors", Method::kFactors, r);
        add("linformer", Method::kLinformer, r);
      }
      for (int64_t m : {32, 64, 128, 256}) add("nystrom", Method::kNystrom, m);
      if (n >= 16384) {
        for (int64_t r : {64, 128}) {
          add("factors", Method::kFactors, r, /*cold=*/true);
          add("linformer", Method::kLinformer, r, /*cold=*/true);
        }
        for (int64_t m : {32, 64}) add("nystrom", Method::kNystrom, m, /*cold=*/true);
      }
      for (int64_t m : {64, 128, 256}) {
        add("favor", Method::kFavor, m);
        add("favor_causal", Method::kFavorCausal, m);
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) { return lowrank_bench::Main(argc, argv, RegisterAll); }
