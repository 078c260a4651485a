// Runtime choice between the Highway low-rank GEMMs (lowrank_gemm-inl.h) and
// oneDNN's sgemm, per call shape. The rule is measured, not guessed: see
// PreferOnednn in gemm_select.cc for the numbers behind it.
#ifndef LOWRANK_LIB_KERNELS_GEMM_SELECT_H_
#define LOWRANK_LIB_KERNELS_GEMM_SELECT_H_

#include <cstddef>

#include "kernels/lowrank_gemm.h"

namespace lowrank {

enum class GemmOp { kAtB, kAB };

// Process-wide override of the rule, for benchmarks and tests. The
// environment variable LOWRANK_GEMM (auto | highway | onednn, read once)
// sets the initial value.
enum class GemmBackend { kAuto, kHighway, kOnednn };
void SetGemmBackend(GemmBackend backend);
GemmBackend GetGemmBackend();

// True if the call (shape as in GemmArgs) should run on oneDNN: oneDNN is
// built in, the Highway target in use is the CPU's best (a forced lower
// target must not have its products run on oneDNN's wider ISA, or per-ISA
// benchmarks would lie), and the shape is one where oneDNN measured faster.
bool PreferOnednn(GemmOp op, size_t n, size_t r, size_t d);

// The product on oneDNN, single-threaded in the calling thread (safe inside
// lowrank's own worker threads: no nested OpenMP team). False if oneDNN is
// not built in or failed; the caller then runs the Highway kernel.
bool OnednnGemm(GemmOp op, const GemmArgs& g);

}  // namespace lowrank

#endif  // LOWRANK_LIB_KERNELS_GEMM_SELECT_H_
