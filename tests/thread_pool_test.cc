// The dynamic thread pool: every chunk exactly once, slots exclusive,
// concurrent callers.
#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/thread_pool.h"

namespace {

TEST(ThreadPool, EveryChunkOnceAndSlotsInRange) {
  for (size_t threads : {1, 2, 3, 8}) {
    for (size_t chunks : {0, 1, 5, 1000}) {
      std::vector<std::atomic<int>> hits(chunks);
      std::vector<std::atomic<int>> in_slot(threads);
      std::atomic<bool> bad_slot{false};
      lowrank::ParallelFor(chunks, threads, [&](size_t c, size_t slot) {
        if (slot >= threads || in_slot[slot].fetch_add(1) != 0) bad_slot = true;
        hits[c].fetch_add(1);
        if (slot < threads) in_slot[slot].fetch_sub(1);
      });
      for (size_t c = 0; c < chunks; ++c) ASSERT_EQ(hits[c].load(), 1) << c;
      EXPECT_FALSE(bad_slot.load());
    }
  }
}

TEST(ThreadPool, ConcurrentCallers) {
  std::vector<std::thread> callers;
  std::atomic<long> total{0};
  for (int t = 0; t < 6; ++t) {
    callers.emplace_back([&] {
      for (int rep = 0; rep < 50; ++rep) {
        lowrank::ParallelFor(37, 3, [&](size_t c, size_t) { total += static_cast<long>(c); });
      }
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(total.load(), 6L * 50 * (36 * 37 / 2));
}

TEST(ThreadPool, HardwareThreadsPositive) { EXPECT_GE(lowrank::HardwareThreads(), 1); }

}  // namespace
