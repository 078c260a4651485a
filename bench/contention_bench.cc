// Contention: one execute on 1 and on 2 threads while another process
// spins on a core (a busy neighbour on a 2-core machine), and without it.
// On a shared machine a static split with a barrier (OpenMP's default)
// stalls whenever one worker is descheduled; lowrank hands work out from
// an atomic counter, so the 2-thread run should take at most 1.3x the
// 1-thread time even with the other core busy.
//
// Rows: <method>/threads:<t>/<idle|spinner>; the 2-thread rows carry
// vs_1thread = time / time of the 1-thread row of the same condition
// (measured just before in this run).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "bench_util.h"
#include "lowrank/lowrank.hpp"

namespace {

std::map<std::string, double> g_one_thread;  // seconds per iteration

// A child process that spins until killed.
pid_t StartSpinner() {
  const pid_t pid = fork();
  if (pid == 0) {
    volatile unsigned long x = 0;
    for (;;) x = x + 1;
  }
  return pid;
}
void StopSpinner(pid_t pid) {
  if (pid > 0) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
}

void BM_Contention(benchmark::State& state, const std::string& method, int threads, bool spin) {
  constexpr int64_t kHeads = 8, kN = 2048, kD = 64;
  const auto desc = lowrank::TensorDesc::BHSD(1, kHeads, kN, kD);
  lowrank::Options opt;
  opt.num_threads = threads;
  if (method == "nystrom") {
    opt.method = LOWRANK_METHOD_NYSTROM;
  } else if (method == "favor") {
    opt.method = LOWRANK_METHOD_FEATURE_MAP;
  }
  lowrank::Plan plan;
  if (!plan.Create(opt, desc, desc, desc, desc).ok()) {
    state.SkipWithError("plan creation failed");
    return;
  }
  std::mt19937 rng(2);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> q(static_cast<size_t>(kHeads * kN * kD)), k(q.size()), v(q.size()), o(q.size());
  for (auto* x : {&q, &k, &v}) {
    for (float& f : *x) f = g(rng);
  }
  (void)plan.Execute(q.data(), k.data(), v.data(), nullptr, o.data());  // warm-up
  const pid_t spinner = spin ? StartSpinner() : -1;
  double seconds = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    (void)plan.Execute(q.data(), k.data(), v.data(), nullptr, o.data());
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    benchmark::DoNotOptimize(o.data());
  }
  StopSpinner(spinner);
  const double per = seconds / static_cast<double>(state.iterations());
  const std::string key = method + (spin ? "/spinner" : "/idle");
  if (threads == 1) {
    g_one_thread[key] = per;
  } else if (g_one_thread.count(key)) {
    state.counters["vs_1thread"] = per / g_one_thread[key];
  }
}

void RegisterAll() {
  for (const std::string method : {"exact", "nystrom", "favor"}) {
    for (bool spin : {false, true}) {
      for (int t : {1, 2}) {
        benchmark::RegisterBenchmark(
            (method + "/threads:" + std::to_string(t) + (spin ? "/spinner" : "/idle")).c_str(),
            [=](benchmark::State& s) { BM_Contention(s, method, t, spin); })
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime()
            ->MinTime(1.0);
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) { return lowrank_bench::Main(argc, argv, RegisterAll); }
