// The fast exp kernels against double-precision exp, on every target.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/fast_exp.h"
#include "per_isa.h"

namespace lowrank_test {
namespace {

float FromBits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

class FastExpTest : public PerIsaTest {};

// Every 61st float in [-86.6, 88.7] (about 3.5e7 points across the whole
// range, both signs, every binade down to the smallest normals) against
// std::exp in double: relative error <= 4e-6 is the contract (performance
// notes, T8); the measured worst case is printed.
TEST_P(FastExpTest, RelativeErrorOverWholeRange) {
  const double lo = -125.0 * std::log(2.0);  // below: flushed to 0
  const double hi = 128.0 * std::log(2.0);   // above: +inf
  std::vector<float> in;
  in.reserve(1 << 22);
  double worst = 0.0, worst_x = 0.0;
  std::vector<float> out;
  auto flush = [&] {
    out.resize(in.size());
    lowrank::FastExpArray(in.data(), out.data(), in.size());
    for (size_t i = 0; i < in.size(); ++i) {
      const double want = std::exp(static_cast<double>(in[i]));
      const double err = std::fabs(out[i] - want) / want;
      if (!(err <= worst)) {
        worst = err;
        worst_x = in[i];
      }
    }
    in.clear();
  };
  // Emulated: every 6151st float (3.5e5 points, still every binade).
  const uint64_t stride = Emulated() ? 6151 : 61;
  for (uint64_t bits = 0; bits <= 0xFFFFFFFFu; bits += stride) {
    const float x = FromBits(static_cast<uint32_t>(bits));
    if (!(x > lo && x < hi - 1e-4)) continue;
    in.push_back(x);
    if (in.size() == (1u << 22)) flush();
  }
  flush();
  RecordProperty("max_rel_error", std::to_string(worst));
  std::printf("[%s] FastExp max relative error %.3g at x = %.9g\n",
              lowrank_isa_name(GetParam()), worst, worst_x);
  EXPECT_LE(worst, 4e-6);
}

TEST_P(FastExpTest, SpecialValues) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // Odd count: exercises the tail path too.
  const std::vector<float> in = {0.0f, -0.0f, -inf, inf, nan, -87.0f, -1000.0f,
                                 89.0f, 1000.0f, 1e30f, -1e30f};
  std::vector<float> out(in.size());
  lowrank::FastExpArray(in.data(), out.data(), in.size());
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], 1.0f);
  EXPECT_EQ(out[2], 0.0f);
  EXPECT_EQ(out[3], inf);
  EXPECT_TRUE(std::isnan(out[4]));
  EXPECT_EQ(out[5], 0.0f);  // below 2^-125: flushed
  EXPECT_EQ(out[6], 0.0f);
  EXPECT_EQ(out[7], inf);
  EXPECT_EQ(out[8], inf);
  EXPECT_EQ(out[9], inf);
  EXPECT_EQ(out[10], 0.0f);
}

TEST_P(FastExpTest, Exp2Range) {
  std::vector<float> in, out;
  for (float t = -125.0f; t < 127.99f; t += 0.01171875f) in.push_back(t);
  out.resize(in.size());
  lowrank::FastExp2Array(in.data(), out.data(), in.size());
  double worst = 0.0;
  for (size_t i = 0; i < in.size(); ++i) {
    const double want = std::exp2(static_cast<double>(in[i]));
    worst = std::max(worst, std::fabs(out[i] - want) / want);
  }
  EXPECT_LE(worst, 4e-6);
  const float sp[3] = {-126.0f, 128.0f, -std::numeric_limits<float>::infinity()};
  float so[3];
  lowrank::FastExp2Array(sp, so, 3);
  EXPECT_EQ(so[0], 0.0f);
  EXPECT_EQ(so[1], std::numeric_limits<float>::infinity());
  EXPECT_EQ(so[2], 0.0f);
}

// The clamped exp2 of the attention softmax, on every float in [-125, 0]
// with a stride (about 1.8e7 points): relative error <= 4e-6 against
// double, 2^-125 below the clamp, exactly 1 at 0.
TEST_P(FastExpTest, Exp2ClampedSoftmaxForm) {
  std::vector<float> in, out;
  double worst = 0.0;
  float worst_x = 0.0f;
  auto flush = [&] {
    out.resize(in.size());
    lowrank::Exp2ClampedArray(in.data(), out.data(), in.size());
    for (size_t i = 0; i < in.size(); ++i) {
      const double want = std::exp2(static_cast<double>(in[i]));
      const double err = std::fabs(out[i] - want) / want;
      if (!(err <= worst)) worst = err, worst_x = in[i];
    }
    in.clear();
  };
  // Negative floats from -0 down to -125: bit patterns 0x80000000 up.
  const uint64_t stride = Emulated() ? 6763 : 67;  // emulated: 1.8e5 points
  for (uint64_t bits = 0x80000000u; bits <= 0xC2FA0000u; bits += stride) {
    in.push_back(FromBits(static_cast<uint32_t>(bits)));
    if (in.size() == (1u << 22)) flush();
  }
  flush();
  std::printf("[%s] Exp2Clamped max relative error %.3g at t = %.9g\n",
              lowrank_isa_name(GetParam()), worst, worst_x);
  EXPECT_LE(worst, 4e-6);
  const float sp[4] = {0.0f, -125.0f, -200.0f, -std::numeric_limits<float>::infinity()};
  float so[4];
  lowrank::Exp2ClampedArray(sp, so, 4);
  EXPECT_EQ(so[0], 1.0f);
  EXPECT_EQ(so[1], std::ldexp(1.0f, -125));
  EXPECT_EQ(so[2], std::ldexp(1.0f, -125));
  EXPECT_EQ(so[3], std::ldexp(1.0f, -125));
}

// The fused softmax pass: out = 2^(x - max), sum returned, for lengths
// around the vector width.
TEST_P(FastExpTest, SoftmaxRow) {
  for (size_t n : {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100}) {
    std::vector<float> in(n), out(n);
    for (size_t i = 0; i < n; ++i) in[i] = std::sin(0.7 * i) * 20.0f;
    const float sum = lowrank::SoftmaxExp2Row(in.data(), out.data(), n);
    double mx = -INFINITY, want_sum = 0.0;
    for (float x : in) mx = std::max(mx, static_cast<double>(x));
    for (size_t i = 0; i < n; ++i) {
      const double want = std::exp2(in[i] - mx);
      want_sum += want;
      EXPECT_NEAR(out[i], want, 4e-6 * want + 1e-30) << "n " << n << " i " << i;
    }
    // Summation of n terms in float: n u relative at most.
    EXPECT_NEAR(sum, want_sum, (4e-6 + n * 6e-8) * want_sum) << "n " << n;
  }
}

LOWRANK_INSTANTIATE_PER_ISA(FastExpTest);

}  // namespace
}  // namespace lowrank_test
