// Measures the fp32 FMA throughput of one core on the active target: the
// denominator of every "fraction of peak" the benchmarks report.
#ifndef LOWRANK_BENCH_FMA_PEAK_H_
#define LOWRANK_BENCH_FMA_PEAK_H_

#include <cstddef>

namespace lowrank_bench {

// Runs `iterations` steps of 12 independent FMA chains on the active target
// and returns the flops done (2 per lane per FMA). The result feeds a sink
// so the work cannot be optimized away.
double FmaChains(size_t iterations);

// Best-of-5 GFLOP/s of FmaChains on one thread, on the active target.
double MeasureFmaPeakGflops();

}  // namespace lowrank_bench

#endif  // LOWRANK_BENCH_FMA_PEAK_H_
