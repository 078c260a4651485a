// A process-wide pool of worker threads with dynamic work distribution.
//
// ParallelFor hands out chunk indices from an atomic counter, so a thread the
// OS deschedules delays only the chunk it holds, never a barrier for the
// others (a static split, as OpenMP's default schedule does, can stall a
// whole call for a scheduler slice on a shared machine). The calling thread
// always works on its own job, so concurrent ParallelFor calls from several
// threads cannot deadlock: workers help whichever job is queued.
#ifndef LOWRANK_LIB_RUNTIME_THREAD_POOL_H_
#define LOWRANK_LIB_RUNTIME_THREAD_POOL_H_

#include <cstddef>

namespace lowrank {

// Called as fn(arg, chunk, slot): chunk in [0, num_chunks), slot in
// [0, num_threads) identifies the participating thread (for per-thread
// workspace); no two threads hold the same slot at once within one call.
using ChunkFn = void (*)(void* arg, size_t chunk, size_t slot);

// Runs fn for every chunk on up to num_threads threads including the caller,
// and returns when all chunks are done. num_threads <= 1 runs inline.
void ParallelFor(size_t num_chunks, size_t num_threads, ChunkFn fn, void* arg);

// Convenience wrapper for lambdas: body(chunk, slot).
template <class Body>
void ParallelFor(size_t num_chunks, size_t num_threads, const Body& body) {
  ParallelFor(
      num_chunks, num_threads,
      [](void* arg, size_t chunk, size_t slot) {
        (*static_cast<const Body*>(arg))(chunk, slot);
      },
      const_cast<void*>(static_cast<const void*>(&body)));
}

// Logical CPUs this process may run on (sched affinity), at least 1.
int HardwareThreads();

}  // namespace lowrank

#endif  // LOWRANK_LIB_RUNTIME_THREAD_POOL_H_
