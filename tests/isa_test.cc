// Instruction-set control through the public API.
#include <cstring>
#include <string>

#include "gtest/gtest.h"
#include "lowrank/lowrank.hpp"

namespace {

TEST(Isa, ListsAreConsistent) {
  const uint32_t compiled = lowrank_isa_compiled();
  const uint32_t supported = lowrank_isa_supported();
  EXPECT_NE(compiled, 0u);
  EXPECT_NE(supported, 0u);
  EXPECT_EQ(supported & ~compiled, 0u) << "supported must be a subset of compiled";
  std::string line = "compiled:";
  for (lowrank_isa_t isa : lowrank::Isa::Compiled()) line += std::string(" ") + lowrank_isa_name(isa);
  line += "; supported here:";
  for (lowrank_isa_t isa : lowrank::Isa::Supported()) line += std::string(" ") + lowrank_isa_name(isa);
  std::printf("%s; active: %s\n", line.c_str(), lowrank_isa_name(lowrank_isa_active()));
  // Without forcing, the best supported target is active.
  ASSERT_EQ(lowrank_isa_force(LOWRANK_ISA_AUTO), LOWRANK_OK);
  EXPECT_EQ(lowrank_isa_active(), lowrank::Isa::Supported().front());
}

TEST(Isa, ForceEachSupportedTarget) {
  for (lowrank_isa_t isa : lowrank::Isa::Supported()) {
    ASSERT_EQ(lowrank_isa_force(isa), LOWRANK_OK) << lowrank_last_error();
    EXPECT_EQ(lowrank_isa_active(), isa) << lowrank_isa_name(isa);
  }
  ASSERT_EQ(lowrank_isa_force(LOWRANK_ISA_AUTO), LOWRANK_OK);
}

TEST(Isa, RefusesTargetsItCannotRun) {
  const uint32_t compiled = lowrank_isa_compiled();
  const uint32_t supported = lowrank_isa_supported();
  const lowrank_isa_t before = lowrank_isa_active();
  for (int bit = 0; bit < 12; ++bit) {
    const auto isa = static_cast<lowrank_isa_t>(1u << bit);
    if (supported & isa) continue;
    EXPECT_EQ(lowrank_isa_force(isa), LOWRANK_UNSUPPORTED_ISA) << lowrank_isa_name(isa);
    const std::string msg = lowrank_last_error();
    EXPECT_NE(msg.find(lowrank_isa_name(isa)), std::string::npos) << msg;
    EXPECT_NE(msg.find((compiled & isa) ? "CPU" : "compiled"), std::string::npos) << msg;
    EXPECT_EQ(lowrank_isa_active(), before) << "a refused force must change nothing";
  }
  // Not a single target bit.
  EXPECT_EQ(lowrank_isa_force(static_cast<lowrank_isa_t>(3)), LOWRANK_UNSUPPORTED_ISA);
  EXPECT_EQ(lowrank_isa_force(static_cast<lowrank_isa_t>(1u << 30)), LOWRANK_UNSUPPORTED_ISA);
}

TEST(Isa, Names) {
  lowrank_isa_t isa;
  ASSERT_EQ(lowrank_isa_from_name("avx2", &isa), LOWRANK_OK);
  EXPECT_EQ(isa, LOWRANK_ISA_AVX2);
  ASSERT_EQ(lowrank_isa_from_name("AVX512", &isa), LOWRANK_OK);
  EXPECT_EQ(isa, LOWRANK_ISA_AVX3);
  ASSERT_EQ(lowrank_isa_from_name("Auto", &isa), LOWRANK_OK);
  EXPECT_EQ(isa, LOWRANK_ISA_AUTO);
  EXPECT_EQ(lowrank_isa_from_name("avx9", &isa), LOWRANK_INVALID_ARGUMENT);
  EXPECT_NE(std::strstr(lowrank_last_error(), "avx9"), nullptr);
  EXPECT_EQ(lowrank_isa_from_name(nullptr, &isa), LOWRANK_INVALID_ARGUMENT);
  EXPECT_EQ(lowrank_isa_from_name("avx2", nullptr), LOWRANK_INVALID_ARGUMENT);
  EXPECT_STREQ(lowrank_isa_name(LOWRANK_ISA_SVE2_128), "SVE2_128");
  EXPECT_STREQ(lowrank_isa_name(static_cast<lowrank_isa_t>(3)), "unknown");
}

}  // namespace
