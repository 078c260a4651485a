// Plans and decoding states used from many threads at once (issue 8's
// ThreadSanitizer target; it runs in every configuration): 8 threads, each
// with plans of its own, all sharing one plan per method, and a decoding
// state per thread. Every output must equal, bitwise, what the same plan
// gave on one caller thread: the methods are deterministic for a plan (work
// chunks are independent of the thread that runs them).
#include <atomic>
#include <cmath>
#include <random>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "lowrank/lowrank.hpp"

namespace {

constexpr int kThreads = 8;
constexpr int64_t kN = 96, kD = 16;

struct MethodCase {
  const char* name;
  lowrank::Options options;
};

std::vector<MethodCase> Methods(std::vector<float>* proj) {
  std::vector<MethodCase> out;
  lowrank::Options o;
  o.num_threads = 2;
  out.push_back({"exact", o});
  o.causal = 1;
  out.push_back({"exact-causal", o});
  o.causal = 0;
  lowrank::Options f = o;
  f.method = LOWRANK_METHOD_FACTORS;
  f.normalize = 1;
  out.push_back({"factors", f});
  lowrank::Options l = o;
  l.method = LOWRANK_METHOD_LINFORMER;
  proj->resize(static_cast<size_t>(24 * kN));
  (void)lowrank_projection_init(proj->data(), 1, 24, kN, LOWRANK_PROJECTION_UNIFORM, 3);
  l.proj_k = proj->data();
  l.proj_heads = 1, l.proj_dim = 24, l.proj_max_len = kN;
  out.push_back({"linformer", l});
  lowrank::Options n = o;
  n.method = LOWRANK_METHOD_NYSTROM;
  n.landmarks = 12;
  out.push_back({"nystrom", n});
  n.landmark_mode = LOWRANK_LANDMARKS_KMEANS;
  out.push_back({"nystrom-kmeans", n});
  lowrank::Options m = o;
  m.method = LOWRANK_METHOD_FEATURE_MAP;
  m.features = 32;
  out.push_back({"favor", m});
  m.causal = 1;
  out.push_back({"favor-causal", m});
  return out;
}

TEST(Concurrency, PlansAndStatesFromEightThreads) {
  const auto desc = lowrank::TensorDesc::BHSD(2, 2, kN, kD);
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> dist(0.05f, 1.0f);  // positive: valid factors too
  std::vector<float> q(static_cast<size_t>(2 * 2 * kN * kD)), k(q.size()), v(q.size());
  for (auto* x : {&q, &k, &v}) {
    for (float& f : *x) f = dist(rng);
  }
  const int32_t lengths[2] = {static_cast<int32_t>(kN), 70};
  std::vector<float> proj;
  const std::vector<MethodCase> methods = Methods(&proj);
  // One shared plan per method and its single-caller output.
  std::vector<lowrank::Plan> shared(methods.size());
  std::vector<std::vector<float>> want(methods.size(), std::vector<float>(q.size()));
  for (size_t i = 0; i < methods.size(); ++i) {
    ASSERT_TRUE(shared[i].Create(methods[i].options, desc, desc, desc, desc).ok()) << methods[i].name;
    const bool causal = methods[i].options.causal != 0;
    ASSERT_TRUE(shared[i]
                    .Execute(q.data(), k.data(), v.data(), causal ? nullptr : lengths,
                             want[i].data())
                    .ok())
        << methods[i].name;
  }
  // Token-by-token decoding reference for the causal feature map.
  const size_t favor_causal = methods.size() - 1;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<float> out(q.size());
      for (int rep = 0; rep < 3; ++rep) {
        for (size_t i = 0; i < methods.size(); ++i) {
          const bool causal = methods[i].options.causal != 0;
          const int32_t* kl = causal ? nullptr : lengths;
          // The shared plan, and a plan of this thread's own.
          lowrank::Plan own;
          if (!own.Create(methods[i].options, desc, desc, desc, desc).ok()) ++failures;
          for (const lowrank::Plan* p : {&shared[i], &own}) {
            if (!p->Execute(q.data(), k.data(), v.data(), kl, out.data()).ok() ||
                out != want[i]) {
              ++failures;
            }
          }
        }
        // A decoding state per thread, fed token by token.
        lowrank::DecodeState st;
        if (!st.Create(shared[favor_causal]).ok()) ++failures;
        auto one = [](lowrank::TensorDesc d) {
          d.seq = 1;
          return d;
        };
        std::vector<float> dec(q.size());
        for (int64_t i = 0; i < kN; ++i) {
          const int64_t off = i * desc.stride_seq;
          if (!st.Append(k.data() + off, one(desc), v.data() + off, one(desc)).ok() ||
              !st.Query(q.data() + off, one(desc), dec.data() + off, one(desc)).ok()) {
            ++failures;
          }
        }
        // Decoding equals the causal plan up to float rounding (different
        // summation order): 1e-5 on these outputs in (0, 1).
        for (size_t e = 0; e < dec.size(); ++e) {
          if (!(std::fabs(dec[e] - want[favor_causal][e]) <= 1e-5f)) {
            ++failures;
            break;
          }
        }
      }
      (void)t;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
