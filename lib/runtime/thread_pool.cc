// Worker pool behind ParallelFor.
#include "runtime/thread_pool.h"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <sched.h>
#endif

namespace lowrank {
namespace {

struct Job {
  ChunkFn fn;
  void* arg;
  size_t num_chunks;
  size_t max_threads;
  std::atomic<size_t> next{0};
  size_t slots_taken = 1;  // guarded by Pool::mu_; slot 0 is the caller's
  size_t active = 0;       // helpers inside Run; guarded by Pool::mu_
  std::condition_variable helpers_done;

  void Run(size_t slot) {
    for (;;) {
      const size_t chunk = next.fetch_add(1, std::memory_order_relaxed);
      if (chunk >= num_chunks) return;
      fn(arg, chunk, slot);
    }
  }
  bool HasWork() const {
    return next.load(std::memory_order_relaxed) < num_chunks;
  }
};

class Pool {
 public:
  static Pool& Get() {
    // Leaked on purpose: workers may still be parked at process exit, and
    // joining them from a static destructor races with other destructors.
    static Pool* pool = new Pool();
    return *pool;
  }

  void Run(Job& job) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      EnsureWorkers(job.max_threads - 1);
      queue_.push_back(&job);
    }
    work_available_.notify_all();
    job.Run(0);
    std::unique_lock<std::mutex> lock(mu_);
    Remove(&job);
    job.helpers_done.wait(lock, [&] { return job.active == 0; });
  }

 private:
  void EnsureWorkers(size_t wanted) {
    // Bounded so that a plan asking for absurd thread counts cannot exhaust
    // the process; more helpers than cores only adds contention.
    constexpr size_t kMaxWorkers = 255;
    if (wanted > kMaxWorkers) wanted = kMaxWorkers;
    while (workers_.size() < wanted) {
      // If the OS refuses a thread, run with the workers we have: the
      // caller alone can always finish the job.
      try {
        workers_.emplace_back([this] { WorkerLoop(); });
      } catch (...) {
        return;
      }
      workers_.back().detach();
    }
  }

  void Remove(Job* job) {
    for (auto it = queue_.begin(); it != queue_.end(); ++it) {
      if (*it == job) {
        queue_.erase(it);
        return;
      }
    }
  }

  void WorkerLoop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      work_available_.wait(lock, [&] { return !queue_.empty(); });
      Job* job = queue_.front();
      const size_t slot = job->slots_taken++;
      ++job->active;
      if (job->slots_taken >= job->max_threads || !job->HasWork()) {
        queue_.pop_front();
      }
      lock.unlock();
      job->Run(slot);
      lock.lock();
      if (--job->active == 0) job->helpers_done.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable work_available_;
  std::deque<Job*> queue_;
  std::vector<std::thread> workers_;
};

}  // namespace

void ParallelFor(size_t num_chunks, size_t num_threads, ChunkFn fn, void* arg) {
  if (num_chunks == 0) return;
  if (num_threads > num_chunks) num_threads = num_chunks;
  if (num_threads <= 1) {
    for (size_t c = 0; c < num_chunks; ++c) fn(arg, c, 0);
    return;
  }
  Job job;
  job.fn = fn;
  job.arg = arg;
  job.num_chunks = num_chunks;
  job.max_threads = num_threads;
  Pool::Get().Run(job);
}

int HardwareThreads() {
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
#endif
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

}  // namespace lowrank
