// Exact attention: lowrank's kernel on every supported target, side by side
// with two baselines a oneDNN user would write, on the same inputs:
//   unfused/     S = scale Q K^T (oneDNN matmul), oneDNN softmax over rows,
//                O = S V (oneDNN matmul); needs n x n floats per head;
//   flash_sgemm/ the flash algorithm with PyTorch's CPU blocking (query
//                blocks of 256, key blocks of 512, online softmax) on
//                single-threaded dnnl_sgemm tiles (the parallelism is the
//                OpenMP loop over blocks, as in the other rows), exp from
//                lowrank's fast exp2 row kernel at the target matching
//                oneDNN's ISA.
// Every result reports GFLOP/s by the nominal count 2 n^2 (d_qk + d_v) per
// head and its fraction of the measured FMA peak of the target it ran on
// (per-core peak times the thread count). Baselines run at oneDNN's own ISA
// and are compared with the peak of the matching target; cap it to compare
// on one ISA, e.g. DNNL_MAX_CPU_ISA=AVX2 beside exact/AVX2.
//
// Also exact_decode/<target>/...: one query row per head (decoding shapes).
//
// With --benchmark_repetitions, a `_min` aggregate is added beside mean and
// median. Google Benchmark applies it to every counter, so in `_min` rows the
// time is the fastest run but GFLOPs/peak_frac are the lowest: read rates
// from the `_median` rows.
//
// Names: <impl>/<target>/n:<n>/heads:<h>/threads:<t>. Run a subset with
// --benchmark_filter, e.g. 'n:4096/heads:1/threads:1$'.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "bench_util.h"
#include "kernels/fast_exp.h"
#include "lowrank/lowrank.hpp"
#include "onednn/onednn.h"

namespace lowrank_bench {
namespace {

constexpr int64_t kDim = 64;

struct Inputs {
  std::vector<float> q, k, v;
};

// Same seed for every benchmark: every implementation sees the same data.
Inputs MakeInputs(int64_t heads, int64_t n) {
  Inputs in;
  std::mt19937 rng(42);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  const size_t count = static_cast<size_t>(heads * n * kDim);
  for (auto* v : {&in.q, &in.k, &in.v}) {
    v->resize(count);
    for (float& x : *v) x = dist(rng);
  }
  return in;
}

// Wall time of the timed loop, measured alongside Google Benchmark's own so
// that GFLOP/s and the fraction of peak can be reported as plain numbers.
class LoopTimer {
 public:
  void Start() { t0_ = std::chrono::steady_clock::now(); }
  void Stop() {
    seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  }
  double seconds() const { return seconds_; }

 private:
  std::chrono::steady_clock::time_point t0_;
  double seconds_ = 0.0;
};

void Report(benchmark::State& state, const LoopTimer& timer, double flops_per_iter,
            double peak_per_core, int threads) {
  if (timer.seconds() <= 0.0) return;
  const double gflops =
      flops_per_iter * static_cast<double>(state.iterations()) / timer.seconds() * 1e-9;
  state.counters["GFLOPs"] = gflops;
  state.counters["peak_frac"] = gflops / (peak_per_core * threads);
}

// Times lowrank's exact attention on target `isa` for queries qd and keys /
// values kd (same shape): plan once, execute in the timed loop. Returns false
// (with the benchmark marked skipped) if the target or the plan fails.
bool TimeExact(benchmark::State& state, lowrank_isa_t isa, const lowrank::TensorDesc& qd,
               const lowrank::TensorDesc& kd, int threads, const float* q, const float* k,
               const float* v, float* out, LoopTimer* timer, double* flops) {
  if (!lowrank::Isa::Force(isa).ok()) {
    state.SkipWithError("target not supported");
    return false;
  }
  lowrank::Options opt;
  opt.num_threads = threads;
  lowrank::Plan plan;
  const lowrank::Status st = plan.Create(opt, qd, kd, kd, qd);
  if (!st.ok()) {
    state.SkipWithError(st.ToString().c_str());
    return false;
  }
  for (auto _ : state) {
    timer->Start();
    (void)plan.Execute(q, k, v, nullptr, out);
    timer->Stop();
    benchmark::DoNotOptimize(out);
    benchmark::ClobberMemory();
  }
  *flops = plan.Flops();
  (void)lowrank::Isa::Force(LOWRANK_ISA_AUTO);
  return true;
}

void BM_Lowrank(benchmark::State& state, lowrank_isa_t isa, int64_t n, int64_t heads,
                int threads) {
  const Inputs in = MakeInputs(heads, n);
  std::vector<float> out(in.q.size());
  const auto desc = lowrank::TensorDesc::BHSD(1, heads, n, kDim);
  LoopTimer timer;
  double flops = 0;
  if (TimeExact(state, isa, desc, desc, threads, in.q.data(), in.k.data(), in.v.data(),
                out.data(), &timer, &flops)) {
    Report(state, timer, flops, PeakOf(isa), threads);
  }
}

// Decoding: one query row per head against n cached keys. Memory-bound:
// reports the K and V bytes read per second beside GFLOP/s.
void BM_LowrankDecode(benchmark::State& state, lowrank_isa_t isa, int64_t n, int64_t heads) {
  const Inputs kv = MakeInputs(heads, n);
  std::vector<float> q(static_cast<size_t>(heads * kDim), 0.5f), out(q.size());
  LoopTimer timer;
  double flops = 0;
  if (TimeExact(state, isa, lowrank::TensorDesc::BHSD(1, heads, 1, kDim),
                lowrank::TensorDesc::BHSD(1, heads, n, kDim), 1, q.data(), kv.k.data(),
                kv.v.data(), out.data(), &timer, &flops)) {
    Report(state, timer, flops, PeakOf(isa), 1);
    state.counters["KV_GBps"] = 2.0 * heads * n * kDim * sizeof(float) *
                                static_cast<double>(state.iterations()) / timer.seconds() * 1e-9;
  }
}

// Baseline (a): unfused oneDNN.
void BM_Unfused(benchmark::State& state, int64_t n, int64_t heads, int threads) {
  const Inputs in = MakeInputs(heads, n);
  std::vector<float> out(in.q.size());
  std::vector<float> scores(static_cast<size_t>(n * n));
  lowrank::onednn::SetThreads(threads);
  lowrank::onednn::Matmul qk, pv;
  lowrank::onednn::Softmax softmax;
  const float scale = 1.0f / std::sqrt(static_cast<float>(kDim));
  if (!qk.Init(n, kDim, n, /*b_transposed=*/true, scale) ||
      !pv.Init(n, n, kDim, /*b_transposed=*/false) || !softmax.Init(n, n)) {
    state.SkipWithError("oneDNN primitive creation failed");
    return;
  }
  LoopTimer timer;
  for (auto _ : state) {
    timer.Start();
    for (int64_t h = 0; h < heads; ++h) {
      const size_t off = static_cast<size_t>(h * n * kDim);
      qk.Execute(in.q.data() + off, in.k.data() + off, scores.data());
      softmax.Execute(scores.data());
      pv.Execute(scores.data(), in.v.data() + off, out.data() + off);
    }
    timer.Stop();
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  Report(state, timer, 4.0 * static_cast<double>(heads) * n * n * kDim, OnednnPeak(), threads);
}

// Baseline (b): flash attention on dnnl_sgemm tiles, PyTorch's blocking.
constexpr int64_t kFlashBq = 256;
constexpr int64_t kFlashBk = 512;

void FlashBlock(const float* q, const float* k, const float* v, float* out, int64_t n,
                int64_t i0, int64_t rows, std::vector<float>& s, std::vector<float>& o,
                std::vector<float>& tmp, std::vector<float>& m, std::vector<float>& l) {
  const float alpha = 1.4426950408889634f / std::sqrt(static_cast<float>(kDim));
  std::fill(o.begin(), o.end(), 0.0f);
  std::fill(m.begin(), m.end(), -INFINITY);
  std::fill(l.begin(), l.end(), 0.0f);
  for (int64_t j0 = 0; j0 < n; j0 += kFlashBk) {
    const int64_t kb = std::min(kFlashBk, n - j0);
    // S = alpha Q_blk K_blk^T (base-2 logits).
    lowrank::onednn::SgemmSerial('N', 'T', rows, kb, kDim, alpha, q + i0 * kDim, kDim,
                                 k + j0 * kDim, kDim, 0.0f, s.data(), kFlashBk);
    for (int64_t r = 0; r < rows; ++r) {
      float* srow = s.data() + r * kFlashBk;
      float bmax = 0.0f;
      const float sum = lowrank::SoftmaxExp2Row(srow, srow, static_cast<size_t>(kb), &bmax);
      const float m_new = std::max(m[r], bmax);
      const float a_old = std::exp2(m[r] - m_new), a_blk = std::exp2(bmax - m_new);
      l[r] = l[r] * a_old + sum * a_blk;
      m[r] = m_new;
      // Scale the running output now; the block's P V is added scaled below.
      for (int64_t c = 0; c < kDim; ++c) o[r * kDim + c] *= a_old;
      tmp[r] = a_blk;
    }
    // o += diag(a_blk) (P V): P rows scaled through the GEMM's A operand
    // would cost a pass over P; scale the small result instead.
    std::vector<float>& pv = tmp;  // tmp[0..rows) holds a_blk, the rest P V
    float* pvout = pv.data() + kFlashBq;
    lowrank::onednn::SgemmSerial('N', 'N', rows, kDim, kb, 1.0f, s.data(), kFlashBk,
                                 v + j0 * kDim, kDim, 0.0f, pvout, kDim);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < kDim; ++c) o[r * kDim + c] += pv[r] * pvout[r * kDim + c];
    }
  }
  for (int64_t r = 0; r < rows; ++r) {
    const float inv = 1.0f / l[r];
    for (int64_t c = 0; c < kDim; ++c) out[(i0 + r) * kDim + c] = o[r * kDim + c] * inv;
  }
}

void BM_FlashSgemm(benchmark::State& state, int64_t n, int64_t heads, int threads) {
  const Inputs in = MakeInputs(heads, n);
  std::vector<float> out(in.q.size());
  const int64_t q_blocks = (n + kFlashBq - 1) / kFlashBq;
  const int64_t chunks = heads * q_blocks;
  // The softmax runs at the target matching oneDNN's ISA (see OnednnIsa).
  const lowrank_isa_t softmax_isa = OnednnIsa();
  if (softmax_isa != LOWRANK_ISA_AUTO) (void)lowrank::Isa::Force(softmax_isa);
  LoopTimer timer;
  for (auto _ : state) {
    timer.Start();
    // Parallel over (head, query block); each sgemm runs on its calling
    // thread (SgemmSerial). Plain dnnl_sgemm is not enough: a team of one
    // thread is not "in parallel" for OpenMP, so at threads = 1 it spread
    // each tile over every core (5% faster than one core on 2 cores).
#pragma omp parallel num_threads(threads)
    {
      std::vector<float> s(static_cast<size_t>(kFlashBq * kFlashBk)),
          o(static_cast<size_t>(kFlashBq * kDim)),
          tmp(static_cast<size_t>(kFlashBq + kFlashBq * kDim)),
          m(static_cast<size_t>(kFlashBq)), l(static_cast<size_t>(kFlashBq));
#pragma omp for schedule(dynamic, 1)
      for (int64_t c = 0; c < chunks; ++c) {
        const int64_t h = c / q_blocks, qb = c % q_blocks;
        const size_t off = static_cast<size_t>(h * n * kDim);
        FlashBlock(in.q.data() + off, in.k.data() + off, in.v.data() + off,
                   out.data() + off, n, qb * kFlashBq, std::min(kFlashBq, n - qb * kFlashBq),
                   s, o, tmp, m, l);
      }
    }
    timer.Stop();
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  (void)lowrank::Isa::Force(LOWRANK_ISA_AUTO);
  Report(state, timer, 4.0 * static_cast<double>(heads) * n * n * kDim, OnednnPeak(), threads);
}

// Min over repetitions: on a shared machine the fastest run is the one least
// disturbed by other work (use with --benchmark_repetitions).
double MinOf(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }

void RegisterAll() {
  const int all = lowrank_hardware_threads();
  std::vector<int> thread_counts = {1};
  if (all > 1) thread_counts.push_back(all);
  for (int64_t n : {1024, 4096, 16384}) {
    for (lowrank_isa_t isa : lowrank::Isa::Supported()) {
      benchmark::RegisterBenchmark((std::string("exact_decode/") + lowrank_isa_name(isa) +
                                    "/n:" + std::to_string(n) + "/heads:8/threads:1")
                                       .c_str(),
                                   [=](benchmark::State& s) { BM_LowrankDecode(s, isa, n, 8); })
          ->Unit(benchmark::kMicrosecond)
          ->UseRealTime()
          ->ComputeStatistics("min", MinOf);
    }
  }
  for (int64_t n : {512, 1024, 2048, 4096, 8192, 16384}) {
    for (int64_t heads : {1, 8}) {
      for (int t : thread_counts) {
        const std::string shape = "/n:" + std::to_string(n) + "/heads:" +
                                  std::to_string(heads) + "/threads:" + std::to_string(t);
        for (lowrank_isa_t isa : lowrank::Isa::Supported()) {
          benchmark::RegisterBenchmark(
              (std::string("exact/") + lowrank_isa_name(isa) + shape).c_str(),
              [=](benchmark::State& s) { BM_Lowrank(s, isa, n, heads, t); })
              ->Unit(benchmark::kMillisecond)
              ->UseRealTime()
              ->ComputeStatistics("min", MinOf);
        }
        if (lowrank::onednn::Available()) {
          benchmark::RegisterBenchmark(("unfused/onednn" + shape).c_str(),
                                       [=](benchmark::State& s) { BM_Unfused(s, n, heads, t); })
              ->Unit(benchmark::kMillisecond)
              ->UseRealTime()
              ->ComputeStatistics("min", MinOf);
          benchmark::RegisterBenchmark(("flash_sgemm/onednn" + shape).c_str(),
                                       [=](benchmark::State& s) { BM_FlashSgemm(s, n, heads, t); })
              ->Unit(benchmark::kMillisecond)
              ->UseRealTime()
              ->ComputeStatistics("min", MinOf);
        }
      }
    }
  }
}

}  // namespace
}  // namespace lowrank_bench

int main(int argc, char** argv) {
  return lowrank_bench::Main(argc, argv, lowrank_bench::RegisterAll);
}
