// The one module through which lowrank talks to oneDNN. No other file
// includes a oneDNN header. Built only with LOWRANK_WITH_ONEDNN; otherwise
// Available() is false and every call returns false.
//
// oneDNN 2.6 (Debian) threads with OpenMP and has no per-call thread count:
// SetThreads() sets the OpenMP team size for subsequent calls. Library
// kernels never call oneDNN from inside their own parallel regions, so the
// two thread pools never oversubscribe the cores.
#ifndef LOWRANK_LIB_ONEDNN_ONEDNN_H_
#define LOWRANK_LIB_ONEDNN_ONEDNN_H_

#include <cstdint>
#include <memory>
#include <string>

namespace lowrank {
namespace onednn {

bool Available();
// "2.6.3" or "not built".
std::string Version();
// The ISA oneDNN's JIT uses on this CPU ("Intel AVX-512 ..."), or "".
std::string EffectiveIsa();
// Sets the OpenMP thread count oneDNN uses; no-op without oneDNN.
void SetThreads(int threads);

// Row-major single-precision GEMM: C = alpha * op(A) op(B) + beta * C, with
// op(X) = X or X^T per trans ('N' or 'T'). Single call, no primitive cache.
bool Sgemm(char transa, char transb, int64_t m, int64_t n, int64_t k,
           float alpha, const float* a, int64_t lda, const float* b,
           int64_t ldb, float beta, float* c, int64_t ldc);

// Sgemm on one thread, from any thread: the calling thread's OpenMP team
// size is set to 1 for the call and restored, so a call from inside
// lowrank's own worker threads does not start a nested team per worker.
bool SgemmSerial(char transa, char transb, int64_t m, int64_t n, int64_t k,
                 float alpha, const float* a, int64_t lda, const float* b,
                 int64_t ldb, float beta, float* c, int64_t ldc);

// A oneDNN matmul primitive for fixed shapes: C (m x n) = scale * A (m x k)
// * B, where B is k x n row-major or, with b_transposed, stored as n x k
// rows. Create once, execute many times.
class Matmul {
 public:
  Matmul();
  ~Matmul();
  Matmul(const Matmul&) = delete;
  Matmul& operator=(const Matmul&) = delete;
  bool Init(int64_t m, int64_t k, int64_t n, bool b_transposed, float scale = 1.0f);
  bool Execute(const float* a, const float* b, float* c) const;
  // oneDNN's implementation name ("gemm:jit").
  std::string ImplName() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// oneDNN's softmax primitive over the rows of a dense rows x cols matrix,
// in place.
class Softmax {
 public:
  Softmax();
  ~Softmax();
  Softmax(const Softmax&) = delete;
  Softmax& operator=(const Softmax&) = delete;
  bool Init(int64_t rows, int64_t cols);
  bool Execute(float* data) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace onednn
}  // namespace lowrank

#endif  // LOWRANK_LIB_ONEDNN_ONEDNN_H_
