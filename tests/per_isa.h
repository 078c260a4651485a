// Runs a test once per compiled target: test names end in the target
// ("/AVX2"). Targets this CPU lacks are skipped with a visible message, so a
// missing AVX-512 run shows up as SKIPPED, never as silence.
#ifndef LOWRANK_TESTS_PER_ISA_H_
#define LOWRANK_TESTS_PER_ISA_H_

#include <cstdlib>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "lowrank/lowrank.h"

namespace lowrank_test {

// True when the tests run under an emulator (tools/qemu_aarch64.sh sets
// LOWRANK_TEST_EMULATED=1; qemu runs 100-700x slower than native): heavy
// sweeps then take fewer points, never fewer kinds of case.
inline bool Emulated() {
  const char* e = std::getenv("LOWRANK_TEST_EMULATED");
  return e != nullptr && e[0] == '1';
}

inline std::vector<lowrank_isa_t> CompiledIsas() {
  std::vector<lowrank_isa_t> out;
  const uint32_t mask = lowrank_isa_compiled();
  for (int bit = 31; bit >= 0; --bit) {
    if (mask & (1u << bit)) out.push_back(static_cast<lowrank_isa_t>(1u << bit));
  }
  return out;
}

inline std::string IsaParamName(const testing::TestParamInfo<lowrank_isa_t>& info) {
  return lowrank_isa_name(info.param);
}

// Fixture: forces the parameter's target for the test's duration.
class PerIsaTest : public testing::TestWithParam<lowrank_isa_t> {
 protected:
  void SetUp() override {
    if ((lowrank_isa_supported() & GetParam()) == 0) {
      GTEST_SKIP() << "this CPU does not support " << lowrank_isa_name(GetParam())
                   << "; its kernels are compiled but not run here";
    }
    ASSERT_EQ(lowrank_isa_force(GetParam()), LOWRANK_OK) << lowrank_last_error();
    ASSERT_EQ(lowrank_isa_active(), GetParam());
  }
  void TearDown() override { (void)lowrank_isa_force(LOWRANK_ISA_AUTO); }
};

#define LOWRANK_INSTANTIATE_PER_ISA(suite)                                  \
  INSTANTIATE_TEST_SUITE_P(PerIsa, suite,                                   \
                           testing::ValuesIn(::lowrank_test::CompiledIsas()), \
                           ::lowrank_test::IsaParamName)

}  // namespace lowrank_test

#endif  // LOWRANK_TESTS_PER_ISA_H_
