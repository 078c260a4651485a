// Measures the fp32 FMA throughput of one core on the active target: the
// denominator of every "fraction of peak" that tools and benchmarks report.
// Not part of the library ABI.
#ifndef LOWRANK_LIB_PERF_FMA_PEAK_H_
#define LOWRANK_LIB_PERF_FMA_PEAK_H_

#include <cstddef>

namespace lowrank {

// Runs `iterations` steps of 12 independent FMA chains on the active target
// and returns the flops done (2 per lane per FMA). The result feeds a sink
// so the work cannot be optimized away.
double FmaChains(size_t iterations);

// Best-of-5 GFLOP/s of FmaChains on one thread, on the active target.
double MeasureFmaPeakGflops();

}  // namespace lowrank

#endif  // LOWRANK_LIB_PERF_FMA_PEAK_H_
