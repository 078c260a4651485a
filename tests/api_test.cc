// Every C entry point with bad input: the documented status, a message that
// names the problem, and an untouched output.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "lowrank/lowrank.h"
#include "lowrank/lowrank.hpp"

namespace {

struct Shapes {
  lowrank_tensor_desc_t q, k, v, o;
  Shapes() {
    lowrank_tensor_desc_init_bhsd(&q, 2, 4, 10, 8);
    lowrank_tensor_desc_init_bhsd(&k, 2, 2, 12, 8);
    lowrank_tensor_desc_init_bhsd(&v, 2, 2, 12, 6);
    lowrank_tensor_desc_init_bhsd(&o, 2, 4, 10, 6);
  }
};

lowrank_options_t Defaults() {
  lowrank_options_t o;
  lowrank_options_init(&o);
  return o;
}

// Expects plan creation to fail with `status` and a message containing
// `needle`, and leave the plan pointer null.
void ExpectCreateFails(const lowrank_options_t& opt, const Shapes& s,
                       lowrank_status_t status, const char* needle) {
  lowrank_plan_t plan = reinterpret_cast<lowrank_plan_t>(0x1);
  EXPECT_EQ(lowrank_plan_create(&opt, &s.q, &s.k, &s.v, &s.o, &plan), status)
      << lowrank_last_error();
  EXPECT_EQ(plan, nullptr);
  const std::string msg = lowrank_last_error();
  EXPECT_NE(msg.find(needle), std::string::npos) << "message: " << msg;
}

TEST(Api, ValidPlanWorks) {
  Shapes s;
  lowrank_options_t opt = Defaults();
  lowrank_plan_t plan = nullptr;
  ASSERT_EQ(lowrank_plan_create(&opt, &s.q, &s.k, &s.v, &s.o, &plan), LOWRANK_OK);
  EXPECT_STREQ(lowrank_last_error(), "");
  double flops = 0;
  ASSERT_EQ(lowrank_plan_flops(plan, &flops), LOWRANK_OK);
  EXPECT_EQ(flops, 2.0 * 2 * 4 * 10 * 12 * (8 + 6));
  size_t bytes = 0;
  ASSERT_EQ(lowrank_plan_workspace_bytes(plan, &bytes), LOWRANK_OK);
  EXPECT_GT(bytes, 0u);
  lowrank_plan_destroy(plan);
  lowrank_plan_destroy(nullptr);  // allowed
}

TEST(Api, NullPointersAtCreate) {
  Shapes s;
  lowrank_options_t opt = Defaults();
  lowrank_plan_t plan = nullptr;
  EXPECT_EQ(lowrank_plan_create(&opt, &s.q, &s.k, &s.v, &s.o, nullptr), LOWRANK_INVALID_ARGUMENT);
  EXPECT_EQ(lowrank_plan_create(nullptr, &s.q, &s.k, &s.v, &s.o, &plan), LOWRANK_INVALID_ARGUMENT);
  EXPECT_NE(std::strstr(lowrank_last_error(), "options"), nullptr);
  EXPECT_EQ(lowrank_plan_create(&opt, nullptr, &s.k, &s.v, &s.o, &plan), LOWRANK_INVALID_ARGUMENT);
  EXPECT_NE(std::strstr(lowrank_last_error(), "q:"), nullptr);
  EXPECT_EQ(lowrank_plan_create(&opt, &s.q, nullptr, &s.v, &s.o, &plan), LOWRANK_INVALID_ARGUMENT);
  EXPECT_NE(std::strstr(lowrank_last_error(), "k:"), nullptr);
  EXPECT_EQ(lowrank_plan_create(&opt, &s.q, &s.k, nullptr, &s.o, &plan), LOWRANK_INVALID_ARGUMENT);
  EXPECT_NE(std::strstr(lowrank_last_error(), "v:"), nullptr);
  EXPECT_EQ(lowrank_plan_create(&opt, &s.q, &s.k, &s.v, nullptr, &plan), LOWRANK_INVALID_ARGUMENT);
  EXPECT_NE(std::strstr(lowrank_last_error(), "out:"), nullptr);
  EXPECT_EQ(plan, nullptr);
}

TEST(Api, BadSizes) {
  const lowrank_options_t opt = Defaults();
  {
    Shapes s;
    s.q.seq = 0;
    ExpectCreateFails(opt, s, LOWRANK_INVALID_ARGUMENT, "q: seq = 0");
  }
  {
    Shapes s;
    s.k.dim = -3;
    ExpectCreateFails(opt, s, LOWRANK_INVALID_ARGUMENT, "k: dim = -3");
  }
  {
    Shapes s;
    s.v.batch = int64_t{1} << 40;
    ExpectCreateFails(opt, s, LOWRANK_INVALID_ARGUMENT, "v: batch");
  }
  {
    Shapes s;  // extents fine, but the strides overflow 64-bit offsets
    s.q.stride_batch = INT64_MAX / 2;
    ExpectCreateFails(opt, s, LOWRANK_INVALID_ARGUMENT, "q: shape and strides");
  }
  {
    Shapes s;  // addressable in 64 bits, but not as a pointer difference
    s.q.stride_batch = INT64_MAX / 3;
    ExpectCreateFails(opt, s, LOWRANK_INVALID_ARGUMENT, "q: shape and strides");
  }
  {
    Shapes s;
    s.q.dim = s.k.dim = 2000;
    s.q.stride_seq = s.k.stride_seq = 2000;
    s.q.stride_head = 20000, s.q.stride_batch = 80000;
    s.k.stride_head = 24000, s.k.stride_batch = 48000;
    ExpectCreateFails(opt, s, LOWRANK_INVALID_ARGUMENT, "head dim 2000");
  }
  lowrank_tensor_desc_t d;
  EXPECT_EQ(lowrank_tensor_desc_init_bhsd(&d, 1, 1, 0, 8), LOWRANK_INVALID_ARGUMENT);
  EXPECT_EQ(lowrank_tensor_desc_init_bhsd(&d, INT32_MAX, INT32_MAX, INT32_MAX, 8),
            LOWRANK_INVALID_ARGUMENT);
  EXPECT_NE(std::strstr(lowrank_last_error(), "overflows"), nullptr);
  EXPECT_EQ(lowrank_tensor_desc_init_bshd(nullptr, 1, 1, 1, 1), LOWRANK_INVALID_ARGUMENT);
}

// Every view valid (inputs broadcast over 2^31 - 1 batches and 2^25 heads
// with stride 0; the output dense, one float per (batch, head): 2^56
// floats, addressable), but the per-head buffers of the low-rank methods
// would total more than 2^64 floats: the workspace size must be rejected,
// not wrapped around to a small number.
TEST(Api, WorkspaceSizeOverflowIsRejected) {
  const int64_t batch = INT32_MAX, heads = int64_t{1} << 25, dim = 1024, keys = 100;
  Shapes s;
  lowrank_tensor_desc_init_bhsd(&s.q, 1, 1, 1, dim);
  lowrank_tensor_desc_init_bhsd(&s.k, 1, 1, keys, dim);
  lowrank_tensor_desc_init_bhsd(&s.v, 1, 1, keys, 1);
  for (lowrank_tensor_desc_t* t : {&s.q, &s.k, &s.v}) {
    t->batch = batch, t->heads = heads, t->stride_batch = 0, t->stride_head = 0;
  }
  s.o.batch = batch, s.o.heads = heads, s.o.seq = 1, s.o.dim = 1;
  s.o.stride_dim = 1, s.o.stride_seq = 1, s.o.stride_head = 1, s.o.stride_batch = heads;
  std::vector<float> proj(8 * keys, 0.01f);
  lowrank_options_t factors = Defaults(), linformer = Defaults(), nystrom = Defaults(),
                    relu = Defaults();
  factors.method = LOWRANK_METHOD_FACTORS;
  linformer.method = LOWRANK_METHOD_LINFORMER;
  linformer.proj_k = proj.data();
  linformer.proj_heads = 1, linformer.proj_dim = 8, linformer.proj_max_len = keys;
  nystrom.method = LOWRANK_METHOD_NYSTROM;
  nystrom.landmarks = 64;
  // relu(x) without a projection: no draw (an orthogonal draw of the
  // default 256 rows at d = 1024 is O(m d^2), a tenth of a second); a state
  // of d = 1024 features per head.
  relu.method = LOWRANK_METHOD_FEATURE_MAP;
  relu.feature_map = LOWRANK_FEATURE_MAP_RELU;
  relu.random_features = LOWRANK_RANDOM_FEATURES_NONE;
  for (const lowrank_options_t& opt : {factors, linformer, nystrom, relu}) {
    SCOPED_TRACE(opt.method);
    ExpectCreateFails(opt, s, LOWRANK_INVALID_ARGUMENT, "workspace size overflows");
  }
}

TEST(Api, MismatchedShapes) {
  const lowrank_options_t opt = Defaults();
  {
    Shapes s;
    lowrank_tensor_desc_init_bhsd(&s.k, 3, 2, 12, 8);
    ExpectCreateFails(opt, s, LOWRANK_INVALID_ARGUMENT, "batch mismatch");
  }
  {
    Shapes s;
    lowrank_tensor_desc_init_bhsd(&s.k, 2, 3, 12, 8);
    lowrank_tensor_desc_init_bhsd(&s.v, 2, 3, 12, 6);
    ExpectCreateFails(opt, s, LOWRANK_INVALID_ARGUMENT, "multiple of k/v heads");
  }
  {
    Shapes s;
    lowrank_tensor_desc_init_bhsd(&s.v, 2, 2, 11, 6);
    ExpectCreateFails(opt, s, LOWRANK_INVALID_ARGUMENT, "seq mismatch");
  }
  {
    Shapes s;
    lowrank_tensor_desc_init_bhsd(&s.k, 2, 2, 12, 9);
    ExpectCreateFails(opt, s, LOWRANK_INVALID_ARGUMENT, "dim mismatch: q has 8, k has 9");
  }
  {
    Shapes s;
    lowrank_tensor_desc_init_bhsd(&s.o, 2, 4, 10, 7);
    ExpectCreateFails(opt, s, LOWRANK_INVALID_ARGUMENT, "dim mismatch: v has 6, out has 7");
  }
  {
    Shapes s;
    lowrank_tensor_desc_init_bhsd(&s.o, 2, 4, 9, 6);
    ExpectCreateFails(opt, s, LOWRANK_INVALID_ARGUMENT, "q has 10 rows, out has 9");
  }
  {
    Shapes s;
    lowrank_tensor_desc_init_bhsd(&s.o, 2, 2, 10, 6);
    ExpectCreateFails(opt, s, LOWRANK_INVALID_ARGUMENT, "out has 2");
  }
}

TEST(Api, BadStrides) {
  const lowrank_options_t opt = Defaults();
  {
    Shapes s;
    s.k.stride_seq = -8;
    ExpectCreateFails(opt, s, LOWRANK_INVALID_ARGUMENT, "k: stride_seq = -8 is negative");
  }
  {
    Shapes s;  // output rows overlap each other
    s.o.stride_seq = 3;
    ExpectCreateFails(opt, s, LOWRANK_INVALID_ARGUMENT, "out: strides make distinct");
  }
  {
    Shapes s;  // broadcast (stride 0) inputs are fine ...
    s.k.stride_batch = 0;
    lowrank_plan_t plan = nullptr;
    EXPECT_EQ(lowrank_plan_create(&opt, &s.q, &s.k, &s.v, &s.o, &plan), LOWRANK_OK);
    lowrank_plan_destroy(plan);
    s.o.stride_head = 0;  // ... but not outputs
    ExpectCreateFails(opt, s, LOWRANK_INVALID_ARGUMENT, "out: strides");
  }
}

TEST(Api, BadOptions) {
  Shapes s;
  {
    lowrank_options_t opt = Defaults();
    opt.struct_size = 4;
    ExpectCreateFails(opt, s, LOWRANK_INVALID_ARGUMENT, "lowrank_options_init");
  }
  {
    lowrank_options_t opt = Defaults();
    opt.method = static_cast<lowrank_method_t>(99);
    ExpectCreateFails(opt, s, LOWRANK_INVALID_ARGUMENT, "unknown method 99");
  }
  {
    lowrank_options_t opt = Defaults();
    opt.scale = INFINITY;
    ExpectCreateFails(opt, s, LOWRANK_INVALID_ARGUMENT, "scale must be finite");
    opt.scale = NAN;
    ExpectCreateFails(opt, s, LOWRANK_INVALID_ARGUMENT, "scale must be finite");
  }
  {
    lowrank_options_t opt = Defaults();
    opt.causal = 2;
    ExpectCreateFails(opt, s, LOWRANK_INVALID_ARGUMENT, "causal must be 0 or 1");
  }
  {
    lowrank_options_t opt = Defaults();
    opt.num_threads = -1;
    ExpectCreateFails(opt, s, LOWRANK_INVALID_ARGUMENT, "num_threads = -1");
    opt.num_threads = 100000;
    ExpectCreateFails(opt, s, LOWRANK_INVALID_ARGUMENT, "num_threads = 100000");
  }
  EXPECT_EQ(lowrank_options_init(nullptr), LOWRANK_INVALID_ARGUMENT);
}

TEST(Api, BadExecuteArgumentsLeaveOutputUntouched) {
  Shapes s;
  lowrank_options_t opt = Defaults();
  lowrank_plan_t plan = nullptr;
  ASSERT_EQ(lowrank_plan_create(&opt, &s.q, &s.k, &s.v, &s.o, &plan), LOWRANK_OK);
  std::vector<float> q(2 * 4 * 10 * 8, 0.5f), k(2 * 2 * 12 * 8, 0.25f),
      v(2 * 2 * 12 * 6, 1.0f), o(2 * 4 * 10 * 6, -7.0f);
  const std::vector<float> o_before = o;
  auto untouched = [&] { return o == o_before; };

  EXPECT_EQ(lowrank_plan_execute(nullptr, q.data(), k.data(), v.data(), nullptr, o.data()),
            LOWRANK_INVALID_ARGUMENT);
  EXPECT_NE(std::strstr(lowrank_last_error(), "plan"), nullptr);
  EXPECT_EQ(lowrank_plan_execute(plan, nullptr, k.data(), v.data(), nullptr, o.data()),
            LOWRANK_INVALID_ARGUMENT);
  EXPECT_NE(std::strstr(lowrank_last_error(), "q: data pointer is null"), nullptr);
  EXPECT_EQ(lowrank_plan_execute(plan, q.data(), nullptr, v.data(), nullptr, o.data()),
            LOWRANK_INVALID_ARGUMENT);
  EXPECT_EQ(lowrank_plan_execute(plan, q.data(), k.data(), nullptr, nullptr, o.data()),
            LOWRANK_INVALID_ARGUMENT);
  EXPECT_EQ(lowrank_plan_execute(plan, q.data(), k.data(), v.data(), nullptr, nullptr),
            LOWRANK_INVALID_ARGUMENT);
  EXPECT_TRUE(untouched());

  const int32_t bad_lengths[2] = {12, 13};
  EXPECT_EQ(lowrank_plan_execute(plan, q.data(), k.data(), v.data(), bad_lengths, o.data()),
            LOWRANK_INVALID_ARGUMENT);
  EXPECT_NE(std::strstr(lowrank_last_error(), "key_lengths[1] = 13"), nullptr);
  const int32_t negative[2] = {-1, 3};
  EXPECT_EQ(lowrank_plan_execute(plan, q.data(), k.data(), v.data(), negative, o.data()),
            LOWRANK_INVALID_ARGUMENT);
  EXPECT_TRUE(untouched());

  // Output overlapping an input.
  std::vector<float> shared(q.size() + o.size());
  EXPECT_EQ(lowrank_plan_execute(plan, shared.data(), k.data(), v.data(), nullptr,
                                 shared.data() + 100),
            LOWRANK_INVALID_ARGUMENT);
  EXPECT_NE(std::strstr(lowrank_last_error(), "overlaps"), nullptr);

  EXPECT_EQ(lowrank_plan_flops(nullptr, nullptr), LOWRANK_INVALID_ARGUMENT);
  EXPECT_EQ(lowrank_plan_workspace_bytes(plan, nullptr), LOWRANK_INVALID_ARGUMENT);

  // A good call clears the message.
  EXPECT_EQ(lowrank_plan_execute(plan, q.data(), k.data(), v.data(), nullptr, o.data()),
            LOWRANK_OK);
  EXPECT_STREQ(lowrank_last_error(), "");
  lowrank_plan_destroy(plan);
}

TEST(Api, StatusNamesAndVersion) {
  EXPECT_STREQ(lowrank_status_name(LOWRANK_OK), "LOWRANK_OK");
  EXPECT_STREQ(lowrank_status_name(LOWRANK_UNSUPPORTED_ISA), "LOWRANK_UNSUPPORTED_ISA");
  EXPECT_STREQ(lowrank_status_name(static_cast<lowrank_status_t>(77)),
               "LOWRANK_UNKNOWN_STATUS");
  EXPECT_STREQ(lowrank_version(), "0.1.0");
}

// One plan, several threads executing it at once, each checking its result
// against a single-threaded run.
TEST(Api, OnePlanManyThreads) {
  lowrank::Options opt;
  opt.num_threads = 2;
  const auto q = lowrank::TensorDesc::BHSD(1, 2, 100, 16);
  lowrank::Plan plan;
  ASSERT_TRUE(plan.Create(opt, q, q, q, q).ok());
  std::vector<float> in(2 * 100 * 16);
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>((i * 37) % 101) / 50.0f - 1.0f;
  std::vector<float> want(in.size());
  ASSERT_TRUE(plan.Execute(in.data(), in.data(), in.data(), nullptr, want.data()).ok());
  std::vector<std::thread> threads;
  std::vector<int> ok(6, 0);
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      std::vector<float> out(in.size());
      bool good = true;
      for (int rep = 0; rep < 20; ++rep) {
        good = good && plan.Execute(in.data(), in.data(), in.data(), nullptr, out.data()).ok();
        good = good && out == want;
      }
      ok[static_cast<size_t>(t)] = good;
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 6; ++t) EXPECT_TRUE(ok[static_cast<size_t>(t)]) << "thread " << t;
}

}  // namespace
