// Instruction-set control on top of Highway's dynamic dispatch.
#include "dispatch/isa.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "dispatch/isa.cc"
#include "hwy/foreach_target.h"  // must come before highway.h
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace lowrank {
namespace HWY_NAMESPACE {
// The target the dispatch table selects now: what every kernel would run.
int64_t ChosenTarget() { return HWY_TARGET; }
}  // namespace HWY_NAMESPACE
}  // namespace lowrank
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "api/error.h"

namespace lowrank {
HWY_EXPORT(ChosenTarget);

namespace {

struct IsaEntry {
  lowrank_isa_t isa;
  int64_t hwy;  // 0 where this Highway version or architecture lacks it
  const char* name;
};

#ifndef HWY_AVX3_DL
#define HWY_AVX3_DL 0
#endif

constexpr IsaEntry kIsas[] = {
#if HWY_ARCH_X86
    {LOWRANK_ISA_AVX3_DL, HWY_AVX3_DL, "AVX3_DL"},
    {LOWRANK_ISA_AVX3, HWY_AVX3, "AVX3"},
    {LOWRANK_ISA_AVX2, HWY_AVX2, "AVX2"},
    {LOWRANK_ISA_SSE4, HWY_SSE4, "SSE4"},
    {LOWRANK_ISA_SSSE3, HWY_SSSE3, "SSSE3"},
#else
    {LOWRANK_ISA_AVX3_DL, 0, "AVX3_DL"},
    {LOWRANK_ISA_AVX3, 0, "AVX3"},
    {LOWRANK_ISA_AVX2, 0, "AVX2"},
    {LOWRANK_ISA_SSE4, 0, "SSE4"},
    {LOWRANK_ISA_SSSE3, 0, "SSSE3"},
#endif
#if HWY_ARCH_ARM_A64
    {LOWRANK_ISA_SVE2_128, HWY_SVE2_128, "SVE2_128"},
    {LOWRANK_ISA_SVE_256, HWY_SVE_256, "SVE_256"},
    {LOWRANK_ISA_SVE2, HWY_SVE2, "SVE2"},
    {LOWRANK_ISA_SVE, HWY_SVE, "SVE"},
    {LOWRANK_ISA_NEON, HWY_NEON, "NEON"},
#else
    {LOWRANK_ISA_SVE2_128, 0, "SVE2_128"},
    {LOWRANK_ISA_SVE_256, 0, "SVE_256"},
    {LOWRANK_ISA_SVE2, 0, "SVE2"},
    {LOWRANK_ISA_SVE, 0, "SVE"},
    {LOWRANK_ISA_NEON, 0, "NEON"},
#endif
    {LOWRANK_ISA_EMU128, HWY_EMU128, "EMU128"},
    {LOWRANK_ISA_SCALAR, HWY_SCALAR, "SCALAR"},
};

uint32_t ToIsaMask(int64_t hwy_targets) {
  uint32_t mask = 0;
  for (const IsaEntry& e : kIsas) {
    if (e.hwy != 0 && (hwy_targets & e.hwy) != 0) mask |= e.isa;
  }
  return mask;
}

int64_t ToHwy(lowrank_isa_t isa) {
  for (const IsaEntry& e : kIsas) {
    if (e.isa == isa) return e.hwy;
  }
  return 0;
}

struct IsaState {
  uint32_t compiled = 0;
  uint32_t supported = 0;
  int64_t best = 0;  // Highway's choice with nothing forced
  lowrank_status_t env_status = LOWRANK_OK;
  char env_message[256] = "";
};

lowrank_status_t ForceLocked(IsaState& s, lowrank_isa_t isa, char* message,
                             size_t message_size);

IsaState& State() {
  static IsaState state;
  static std::once_flag once;
  std::call_once(once, [] {
    // Nothing has been forced yet: SupportedTargets() is the CPU's truth.
    hwy::SetSupportedTargetsForTest(0);
    state.compiled = ToIsaMask(HWY_TARGETS);
    state.supported = ToIsaMask(hwy::SupportedTargets() & HWY_TARGETS);
    state.best = HWY_DYNAMIC_DISPATCH(ChosenTarget)();
    const char* env = std::getenv("LOWRANK_ISA");
    if (env != nullptr && env[0] != '\0') {
      lowrank_isa_t isa = LOWRANK_ISA_AUTO;
      if (IsaFromName(env, &isa) != LOWRANK_OK) {
        state.env_status = LOWRANK_UNSUPPORTED_ISA;
        std::snprintf(state.env_message, sizeof(state.env_message),
                      "LOWRANK_ISA=%.64s is not a target name (try "
                      "'lowrank info')",
                      env);
      } else {
        char reason[200];
        if (ForceLocked(state, isa, reason, sizeof(reason)) != LOWRANK_OK) {
          state.env_status = LOWRANK_UNSUPPORTED_ISA;
          std::snprintf(state.env_message, sizeof(state.env_message),
                        "LOWRANK_ISA=%.40s: %.180s", env, reason);
        }
      }
    }
  });
  return state;
}

lowrank_status_t ForceLocked(IsaState& s, lowrank_isa_t isa, char* message,
                             size_t message_size) {
  if (isa == LOWRANK_ISA_AUTO) {
    hwy::SetSupportedTargetsForTest(0);
    return LOWRANK_OK;
  }
  const int64_t hwy_bit = ToHwy(isa);
  if ((s.compiled & isa) == 0 || hwy_bit == 0) {
    std::snprintf(message, message_size,
                  "target %s is not compiled into this build", IsaName(isa));
    return LOWRANK_UNSUPPORTED_ISA;
  }
  if ((s.supported & isa) == 0) {
    std::snprintf(message, message_size, "this CPU does not support target %s",
                  IsaName(isa));
    return LOWRANK_UNSUPPORTED_ISA;
  }
  hwy::SetSupportedTargetsForTest(hwy_bit);
  return LOWRANK_OK;
}

}  // namespace

uint32_t IsaCompiledMask() { return State().compiled; }
uint32_t IsaSupportedMask() { return State().supported; }

lowrank_isa_t IsaActive() {
  State();
  const int64_t target = HWY_DYNAMIC_DISPATCH(ChosenTarget)();
  for (const IsaEntry& e : kIsas) {
    if (e.hwy == target) return e.isa;
  }
  return LOWRANK_ISA_AUTO;
}

bool IsaIsBest() {
  const IsaState& s = State();
  return HWY_DYNAMIC_DISPATCH(ChosenTarget)() == s.best;
}

const char* IsaName(lowrank_isa_t isa) {
  if (isa == LOWRANK_ISA_AUTO) return "AUTO";
  for (const IsaEntry& e : kIsas) {
    if (e.isa == isa) return e.name;
  }
  return "unknown";
}

lowrank_status_t IsaFromName(const char* name, lowrank_isa_t* isa) {
  if (name == nullptr || isa == nullptr) {
    return Fail(LOWRANK_INVALID_ARGUMENT, "isa name and output must not be null");
  }
  char upper[32];
  size_t i = 0;
  for (; name[i] != '\0' && i + 1 < sizeof(upper); ++i) {
    upper[i] = static_cast<char>(
        std::toupper(static_cast<unsigned char>(name[i])));
  }
  upper[i] = '\0';
  if (name[i] == '\0') {
    if (std::strcmp(upper, "AUTO") == 0) {
      *isa = LOWRANK_ISA_AUTO;
      return ClearError();
    }
    // Accept the common alias AVX512 for Highway's AVX3.
    if (std::strcmp(upper, "AVX512") == 0) {
      *isa = LOWRANK_ISA_AVX3;
      return ClearError();
    }
    for (const IsaEntry& e : kIsas) {
      if (std::strcmp(upper, e.name) == 0) {
        *isa = e.isa;
        return ClearError();
      }
    }
  }
  return Fail(LOWRANK_INVALID_ARGUMENT, "unknown target name '%.40s'", name);
}

lowrank_status_t IsaForce(lowrank_isa_t isa) {
  IsaState& s = State();
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  char message[200];
  const lowrank_status_t st = ForceLocked(s, isa, message, sizeof(message));
  if (st != LOWRANK_OK) return Fail(st, "%s", message);
  return ClearError();
}

lowrank_status_t IsaEnvironmentStatus() {
  IsaState& s = State();
  if (s.env_status != LOWRANK_OK) return Fail(s.env_status, "%s", s.env_message);
  return LOWRANK_OK;
}

}  // namespace lowrank
#endif  // HWY_ONCE
