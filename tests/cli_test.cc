// The lowrank program end to end: `run` on .npy files against the double
// reference, and clear errors with a non-zero exit for bad input.
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "io/npy.h"
#include "lowrank/lowrank.hpp"
#include "feature_map_reference.h"
#include "nystrom_reference.h"
#include "reference.h"

namespace {

struct Result {
  int exit_code;
  std::string output;  // stdout and stderr
};

// Per-test file names: ctest runs tests in parallel processes.
std::string Temp(const std::string& name) {
  return ::testing::TempDir() + "/lowrank_cli_" +
         ::testing::UnitTest::GetInstance()->current_test_info()->name() + "_" + name;
}

Result RunCli(const std::string& args) {
  const std::string log = Temp("output.txt");
  const std::string cmd = std::string(LOWRANK_CLI_PATH) + " " + args + " > " + log + " 2>&1";
  const int raw = std::system(cmd.c_str());
  std::ifstream f(log);
  std::stringstream ss;
  ss << f.rdbuf();
  return {WIFEXITED(raw) ? WEXITSTATUS(raw) : -1, ss.str()};
}

void WriteRandom(const std::string& path, const std::vector<int64_t>& shape, unsigned seed,
                 std::vector<float>* data) {
  size_t count = 1;
  for (int64_t d : shape) count *= static_cast<size_t>(d);
  data->resize(count);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (float& x : *data) x = dist(rng);
  std::string error;
  ASSERT_TRUE(lowrank::WriteNpy(path, shape, data->data(), &error)) << error;
}

TEST(Cli, RunExactMatchesReference) {
  // [B,H,N,D] with grouped-query heads, causal and padded.
  std::vector<float> q, k, v;
  WriteRandom(Temp("q.npy"), {2, 4, 37, 16}, 1, &q);
  WriteRandom(Temp("k.npy"), {2, 2, 45, 16}, 2, &k);
  WriteRandom(Temp("v.npy"), {2, 2, 45, 24}, 3, &v);
  const Result r = RunCli("run --method exact --q " + Temp("q.npy") + " --k " + Temp("k.npy") +
                       " --v " + Temp("v.npy") + " --out " + Temp("o.npy") +
                       " --causal --key-lengths 45,20 --threads 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  lowrank::NpyArray o;
  std::string error;
  ASSERT_TRUE(lowrank::ReadNpy(Temp("o.npy"), &o, &error)) << error;
  ASSERT_EQ(o.shape, (std::vector<int64_t>{2, 4, 37, 24}));
  const int32_t lengths[2] = {45, 20};
  lowrank_test::AttentionProblem p{lowrank::TensorDesc::BHSD(2, 4, 37, 16),
                                   lowrank::TensorDesc::BHSD(2, 2, 45, 16),
                                   lowrank::TensorDesc::BHSD(2, 2, 45, 24),
                                   lowrank::TensorDesc::BHSD(2, 4, 37, 24),
                                   q.data(), k.data(), v.data(), lengths, 0.25, true};
  const std::vector<double> ref = lowrank_test::ReferenceAttention(p);
  ASSERT_EQ(ref.size(), o.data.size());
  double worst = 0;
  for (size_t i = 0; i < ref.size(); ++i) worst = std::max(worst, std::fabs(ref[i] - o.data[i]));
  // |q.k| <= 16 here: logit error (16 + 2) u * 16 / 4 ~ 4e-6, plus 2 n u:
  // see exact_attention_test.cc for the derivation.
  EXPECT_LE(worst, 1e-5);
}

TEST(Cli, RunThreeDimensionalAndIsa) {
  std::vector<float> q;
  WriteRandom(Temp("q3.npy"), {3, 10, 8}, 4, &q);
  const Result r = RunCli("run --method exact --q " + Temp("q3.npy") + " --k " + Temp("q3.npy") +
                       " --v " + Temp("q3.npy") + " --out " + Temp("o3.npy") + " --isa " +
                       lowrank_isa_name(lowrank::Isa::Supported().back()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  lowrank::NpyArray o;
  std::string error;
  ASSERT_TRUE(lowrank::ReadNpy(Temp("o3.npy"), &o, &error)) << error;
  EXPECT_EQ(o.shape, (std::vector<int64_t>{3, 10, 8}));
}

TEST(Cli, RunFactorsTwoDimensional) {
  std::vector<float> u, w, v;
  WriteRandom(Temp("u.npy"), {20, 6}, 11, &u);
  WriteRandom(Temp("w.npy"), {30, 6}, 12, &w);
  WriteRandom(Temp("v.npy"), {30, 5}, 13, &v);
  const Result r = RunCli("run --method factors --u " + Temp("u.npy") + " --w " + Temp("w.npy") +
                             " --v " + Temp("v.npy") + " --out " + Temp("o.npy"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  lowrank::NpyArray o;
  std::string error;
  ASSERT_TRUE(lowrank::ReadNpy(Temp("o.npy"), &o, &error)) << error;
  ASSERT_EQ(o.shape, (std::vector<int64_t>{20, 5}));
  for (int i = 0; i < 20; ++i) {
    for (int c = 0; c < 5; ++c) {
      double want = 0;
      for (int k = 0; k < 6; ++k) {
        double s = 0;
        for (int j = 0; j < 30; ++j) s += static_cast<double>(w[j * 6 + k]) * v[j * 5 + c];
        want += u[i * 6 + k] * s;
      }
      // 30 + 6 term float sums of terms below 1: (36 + 4) 2^-24 * 180 < 1e-3.
      EXPECT_NEAR(o.data[static_cast<size_t>(i * 5 + c)], want, 1e-4);
    }
  }
  const Result bad = RunCli("run --method factors --q " + Temp("u.npy") + " --w " + Temp("w.npy") +
                               " --v " + Temp("v.npy") + " --out " + Temp("o.npy"));
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("not --q/--k"), std::string::npos) << bad.output;
}

TEST(Cli, RunLinformer) {
  std::vector<float> q;
  WriteRandom(Temp("q.npy"), {2, 12, 8}, 21, &q);
  const std::string io = " --q " + Temp("q.npy") + " --k " + Temp("q.npy") + " --v " + Temp("q.npy");
  // Drawn projections: the same seed gives the same output.
  for (const char* out : {"a.npy", "b.npy"}) {
    const Result r = RunCli("run --method linformer" + io + " --out " + Temp(out) +
                            " --proj-dim 5 --seed 9");
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  lowrank::NpyArray a, b;
  std::string error;
  ASSERT_TRUE(lowrank::ReadNpy(Temp("a.npy"), &a, &error)) << error;
  ASSERT_TRUE(lowrank::ReadNpy(Temp("b.npy"), &b, &error)) << error;
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 12, 8}));
  EXPECT_EQ(a.data, b.data);
  // An identity projection file: Linformer equals exact attention.
  std::vector<float> eye(12 * 12, 0.0f);
  for (int i = 0; i < 12; ++i) eye[static_cast<size_t>(i * 12 + i)] = 1.0f;
  ASSERT_TRUE(lowrank::WriteNpy(Temp("eye.npy"), {12, 12}, eye.data(), &error)) << error;
  Result r = RunCli("run --method linformer" + io + " --out " + Temp("l.npy") + " --proj-k " +
                    Temp("eye.npy"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = RunCli("run --method exact" + io + " --out " + Temp("e.npy"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  lowrank::NpyArray l, e;
  ASSERT_TRUE(lowrank::ReadNpy(Temp("l.npy"), &l, &error)) << error;
  ASSERT_TRUE(lowrank::ReadNpy(Temp("e.npy"), &e, &error)) << error;
  ASSERT_EQ(l.data.size(), e.data.size());
  // Both are exact attention in float; 1e-6 covers their rounding at n = 12.
  for (size_t i = 0; i < l.data.size(); ++i) EXPECT_NEAR(l.data[i], e.data[i], 1e-6) << i;
  // Errors: neither or both projection sources, causal.
  r = RunCli("run --method linformer" + io + " --out " + Temp("x.npy"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("either --proj-k"), std::string::npos) << r.output;
  r = RunCli("run --method linformer" + io + " --out " + Temp("x.npy") + " --proj-dim 4 --causal");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("cannot be causal"), std::string::npos) << r.output;
}

TEST(Cli, RunNystrom) {
  std::vector<float> q, k, v;
  WriteRandom(Temp("q.npy"), {2, 30, 8}, 31, &q);
  WriteRandom(Temp("k.npy"), {2, 30, 8}, 32, &k);
  WriteRandom(Temp("v.npy"), {2, 30, 8}, 33, &v);
  const std::string io =
      " --q " + Temp("q.npy") + " --k " + Temp("k.npy") + " --v " + Temp("v.npy");
  // Positions from a file and a convolution shared by the heads, against
  // the double reference of the same algorithm.
  const std::vector<float> pos = {1, 5, 9, 14, 22, 29};
  const std::vector<float> conv = {0.25f, -0.5f, 0.125f};
  std::string error;
  ASSERT_TRUE(lowrank::WriteNpy(Temp("p.npy"), {6}, pos.data(), &error)) << error;
  ASSERT_TRUE(lowrank::WriteNpy(Temp("w.npy"), {3}, conv.data(), &error)) << error;
  Result r = RunCli("run --method nystrom" + io + " --out " + Temp("o.npy") +
                    " --landmark-mode positions --positions " + Temp("p.npy") +
                    " --pinv-iterations 8 --conv-weights " + Temp("w.npy"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  lowrank::NpyArray o;
  ASSERT_TRUE(lowrank::ReadNpy(Temp("o.npy"), &o, &error)) << error;
  ASSERT_EQ(o.shape, (std::vector<int64_t>{2, 30, 8}));
  const auto d = lowrank::TensorDesc::BHSD(1, 2, 30, 8);
  const std::vector<int64_t> ipos = {1, 5, 9, 14, 22, 29};
  const std::vector<float> conv2 = {0.25f, -0.5f, 0.125f, 0.25f, -0.5f, 0.125f};
  lowrank_test::NystromOptions no;
  no.m = 6, no.mode = LOWRANK_LANDMARKS_POSITIONS, no.positions = ipos.data(),
  no.pinv_iterations = 8, no.conv = conv2.data(), no.conv_kernel = 3;
  lowrank_test::AttentionProblem p{d, d, d, d, q.data(), k.data(), v.data(), nullptr,
                                   1.0 / std::sqrt(8.0), false};
  const std::vector<double> ref = lowrank_test::ReferenceNystrom(p, no);
  ASSERT_EQ(ref.size(), o.data.size());
  // Small, well-conditioned case (nystrom_test.cc derives the general
  // bound): float rounding stays far below 1e-4.
  for (size_t i = 0; i < ref.size(); ++i) EXPECT_NEAR(o.data[i], ref[i], 1e-4) << i;
  // Every landmark mode runs; k-means and random take the seed.
  for (const char* mode : {"segment", "kmeans", "random"}) {
    r = RunCli("run --method nystrom" + io + " --out " + Temp("m.npy") + " --landmarks 5" +
               " --seed 3 --pinv-init original --landmark-mode " + mode);
    EXPECT_EQ(r.exit_code, 0) << mode << ": " << r.output;
  }
  // Errors: causal, positions without the mode, a bad mode, an even kernel.
  r = RunCli("run --method nystrom" + io + " --out " + Temp("x.npy") + " --causal");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("cannot be causal"), std::string::npos) << r.output;
  r = RunCli("run --method nystrom" + io + " --out " + Temp("x.npy") + " --positions " +
             Temp("p.npy"));
  EXPECT_EQ(r.exit_code, 2);
  r = RunCli("run --method nystrom" + io + " --out " + Temp("x.npy") + " --landmark-mode pca");
  EXPECT_EQ(r.exit_code, 2);
  const std::vector<float> even = {1, 2, 3, 4};
  ASSERT_TRUE(lowrank::WriteNpy(Temp("e.npy"), {4}, even.data(), &error)) << error;
  r = RunCli("run --method nystrom" + io + " --out " + Temp("x.npy") + " --conv-weights " +
             Temp("e.npy"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("odd"), std::string::npos) << r.output;
  r = RunCli("run --method exact" + io + " --out " + Temp("x.npy") + " --landmarks 4");
  EXPECT_EQ(r.exit_code, 2);
}

TEST(Cli, RunFeatureMaps) {
  std::vector<float> q, k, v, w;
  WriteRandom(Temp("q.npy"), {2, 25, 8}, 41, &q);
  WriteRandom(Temp("k.npy"), {2, 25, 8}, 42, &k);
  WriteRandom(Temp("v.npy"), {2, 25, 8}, 43, &v);
  WriteRandom(Temp("w.npy"), {12, 8}, 44, &w);
  const std::string io =
      " --q " + Temp("q.npy") + " --k " + Temp("k.npy") + " --v " + Temp("v.npy");
  // A given projection, causal, against the double reference.
  Result r = RunCli("run --method favor" + io + " --out " + Temp("o.npy") + " --projection " +
                    Temp("w.npy") + " --causal");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  lowrank::NpyArray o;
  std::string error;
  ASSERT_TRUE(lowrank::ReadNpy(Temp("o.npy"), &o, &error)) << error;
  const auto d = lowrank::TensorDesc::BHSD(1, 2, 25, 8);
  lowrank_test::AttentionProblem p{d, d, d, d, q.data(), k.data(), v.data(), nullptr,
                                   1.0 / std::sqrt(8.0), true};
  lowrank_test::FeatureOptions fo;
  fo.m = 12, fo.w = w.data();
  const std::vector<double> ref = lowrank_test::ReferenceFeatureMap(p, fo);
  ASSERT_EQ(ref.size(), o.data.size());
  // Positive weights, |v| <= 1, 25 keys, 12 features, |W x'| < 4: the
  // feature bound of feature_map_test.cc stays below 1e-5.
  for (size_t i = 0; i < ref.size(); ++i) EXPECT_NEAR(o.data[i], ref[i], 1e-5) << i;
  // Every map runs, drawn projections take the seed.
  for (const std::string m : {"favor --iid --norms sqrt-d", "favor-hyperbolic --features 16",
                              "relu --no-projection", "relu --features 8", "elu"}) {
    r = RunCli("run --method " + m + io + " --out " + Temp("m.npy") + " --seed 2");
    EXPECT_EQ(r.exit_code, 0) << m << ": " << r.output;
  }
  r = RunCli("run --method favor" + io + " --out " + Temp("x.npy") + " --norms two");
  EXPECT_EQ(r.exit_code, 2);
  r = RunCli("run --method exact" + io + " --out " + Temp("x.npy") + " --features 4");
  EXPECT_EQ(r.exit_code, 2);
  r = RunCli("run --method elu" + io + " --out " + Temp("x.npy") + " --projection " +
             Temp("w.npy"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("takes no projection"), std::string::npos) << r.output;
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(Cli, CompareSyntheticAndFiles) {
  // Q = 0: A = softmax(0) is the uniform matrix, rank 1: all of its energy
  // in one singular value, and the rank-1 SVD bound is 0.
  std::vector<float> q(3 * 40 * 8, 0.0f), k, v;
  std::string error;
  ASSERT_TRUE(lowrank::WriteNpy(Temp("q0.npy"), {3, 40, 8}, q.data(), &error)) << error;
  WriteRandom(Temp("k.npy"), {3, 40, 8}, 51, &k);
  WriteRandom(Temp("v.npy"), {3, 40, 8}, 52, &v);
  Result r = RunCli("compare --q " + Temp("q0.npy") + " --k " + Temp("k.npy") + " --v " +
                    Temp("v.npy") + " --ranks 1,4 --json " + Temp("c.json") + " --csv " +
                    Temp("c.csv"));
  if (r.output.find("not built") != std::string::npos) GTEST_SKIP() << "built without LAPACKE";
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("90% of A's energy in 1 singular values, 99% in 1"), std::string::npos)
      << r.output;
  const std::string json = ReadFile(Temp("c.json"));
  // The rank-1 bound of a rank-1 A: zero up to double rounding.
  const std::string key = "{\"rank\": 1, \"A\": ";
  const size_t at = json.find(key);
  ASSERT_NE(at, std::string::npos) << json;
  EXPECT_LT(std::fabs(std::strtod(json.c_str() + at + key.size(), nullptr)), 1e-12) << json;
  for (const char* m : {"nystrom", "nystrom-kmeans", "favor", "linformer"}) {
    EXPECT_NE(json.find(std::string("\"method\": \"") + m + "\""), std::string::npos) << m;
  }
  const std::string csv = ReadFile(Temp("c.csv"));
  EXPECT_EQ(csv.rfind("method,rank,rel_err,max_err,seconds,speedup,svd_bound_A,svd_bound_AV,note", 0),
            0u) << csv;
  // Uniform attention: Nystrom with one landmark is exact (every softmax
  // row is uniform): its error is rounding only.
  EXPECT_NE(csv.find("nystrom,1,"), std::string::npos) << csv;
  // Synthetic regimes, causal, JSON to stdout.
  for (const char* regime : {"iid", "clustered", "smooth"}) {
    r = RunCli(std::string("compare --synthetic ") + regime +
               " --n 64 --d 8 --heads 2 --ranks 4,8 --causal --json -");
    ASSERT_EQ(r.exit_code, 0) << regime << ": " << r.output;
    EXPECT_NE(r.output.find("\"causal\": true"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("not causal"), std::string::npos) << r.output;
  }
  EXPECT_EQ(RunCli("compare --synthetic waves --n 64").exit_code, 2);
  EXPECT_EQ(RunCli("compare --ranks 4").exit_code, 2);
  EXPECT_EQ(RunCli("compare --synthetic iid --ranks x").exit_code, 2);
}

TEST(Cli, BenchQuickJson) {
  const lowrank_isa_t isa = lowrank::Isa::Supported().back();
  Result r = RunCli(std::string("bench --quick --n 64 --ranks 8 --methods exact,nystrom,favor "
                                "--reps 1 --isa ") +
                    lowrank_isa_name(isa) + " --json " + Temp("b.json"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string json = ReadFile(Temp("b.json"));
  for (const char* key : {"\"method\": \"exact\"", "\"method\": \"nystrom\"",
                          "\"seconds_median\"", "\"gflops\"", "\"peak_fraction\"",
                          "\"threads\": 1", "\"rank\": 8", "\"records\""}) {
    EXPECT_NE(json.find(key), std::string::npos) << key << "\n" << json;
  }
  // No progress bar when stderr is not a terminal (it is a file here).
  EXPECT_EQ(r.output.find("[###"), std::string::npos) << r.output;
  EXPECT_EQ(RunCli("bench --methods sparse").exit_code, 2);
  EXPECT_EQ(RunCli("bench --isa nonsense").exit_code, 2);
  EXPECT_EQ(RunCli("bench --help").exit_code, 0);
}

TEST(Cli, InfoAndDemoRun) {
  Result r = RunCli("info");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("compiled targets:"), std::string::npos) << r.output;
  r = RunCli("info --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("\"supported\": ["), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\"l2_cache_bytes\": "), std::string::npos) << r.output;
  r = RunCli("help");
  EXPECT_EQ(r.exit_code, 0);
}

TEST(Cli, IsaEnvironmentVariable) {
  const lowrank_isa_t lowest = lowrank::Isa::Supported().back();
  const std::string env = std::string("LOWRANK_ISA=") + lowrank_isa_name(lowest) + " ";
  const std::string cmd = env + LOWRANK_CLI_PATH + " info --json > " + Temp("env.txt") + " 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::ifstream f(Temp("env.txt"));
  std::stringstream ss;
  ss << f.rdbuf();
  EXPECT_NE(ss.str().find(std::string("\"active\": \"") + lowrank_isa_name(lowest) + "\""),
            std::string::npos)
      << ss.str();
  // An invalid value is reported, and plan creation (so `run`) fails.
  const std::string bad = std::string("LOWRANK_ISA=pentium ") + LOWRANK_CLI_PATH + " info > " +
                          Temp("bad.txt") + " 2>&1";
  ASSERT_EQ(std::system(bad.c_str()), 0);
  std::ifstream fb(Temp("bad.txt"));
  std::stringstream sb;
  sb << fb.rdbuf();
  EXPECT_NE(sb.str().find("LOWRANK_ISA=pentium is not a target name"), std::string::npos)
      << sb.str();
}

TEST(Cli, BadInputGivesClearErrors) {
  std::vector<float> q;
  WriteRandom(Temp("good.npy"), {2, 5, 4}, 5, &q);
  const std::string good = Temp("good.npy");
  // A complete, valid command line; each case below adds one bad option.
  const std::string base = "run --method exact --q " + good + " --k " + good + " --v " + good +
                           " --out " + Temp("x.npy");
  struct Case {
    std::string args;
    int exit_code;
    std::string message;
  } cases[] = {
      {"", 2, "missing command"},
      {"frobnicate", 2, "unknown command"},
      {"run --q " + good, 2, "--method is required"},
      {"run --method sparse --q " + good, 2, "unknown method 'sparse'"},
      {"run --method exact --q " + good, 2, "are required"},
      {"run --method exact --q /nonexistent.npy --k " + good + " --v " + good + " --out " +
           Temp("x.npy"),
       1, "cannot open"},
      {base + " --isa avx9", 2, "unknown target name"},
      {base + " --threads -3", 2, "--threads"},
      {base + " --key-lengths 3,x", 2, "not a non-negative integer"},
      {base + " --key-lengths 3,4", 1, "the batch has 1"},
      {base + " --key-lengths 9", 1, "key_lengths[0] = 9"},
      {base + " --bogus", 2, "unknown option '--bogus'"},
  };
  for (const Case& c : cases) {
    const Result r = RunCli(c.args);
    EXPECT_EQ(r.exit_code, c.exit_code) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << c.args << "\n" << r.output;
  }
  // A malformed file: valid magic, truncated data.
  {
    std::ofstream f(Temp("bad.npy"), std::ios::binary);
    const std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 5, 4), }\n";
    f << "\x93NUMPY" << '\x01' << '\x00' << static_cast<char>(header.size()) << '\x00' << header
      << "abcd";
  }
  const Result r = RunCli("run --method exact --q " + Temp("bad.npy") + " --k " + good + " --v " +
                       good + " --out " + Temp("x.npy"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("truncated data"), std::string::npos) << r.output;
  // Mismatched shapes reach the library's validation.
  std::vector<float> k;
  WriteRandom(Temp("k_bad.npy"), {2, 5, 3}, 6, &k);
  const Result r2 = RunCli("run --method exact --q " + good + " --k " + Temp("k_bad.npy") +
                        " --v " + good + " --out " + Temp("x.npy"));
  EXPECT_EQ(r2.exit_code, 1) << r2.output;
  EXPECT_NE(r2.output.find("dim mismatch"), std::string::npos) << r2.output;
}

}  // namespace
