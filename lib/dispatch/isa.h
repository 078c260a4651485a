// Instruction-set control: which Highway targets were compiled, which the CPU
// supports, and forcing one of them for the whole process.
//
// Highway dispatches every HWY_DYNAMIC_DISPATCH call through one process-wide
// "chosen target". Forcing uses hwy::SetSupportedTargetsForTest, which does
// not check the CPU, so every request is validated here against the CPU's
// real target set, captured before anything was forced.
#ifndef LOWRANK_LIB_DISPATCH_ISA_H_
#define LOWRANK_LIB_DISPATCH_ISA_H_

#include <cstdint>

#include "lowrank/lowrank.h"

namespace lowrank {

uint32_t IsaCompiledMask();
uint32_t IsaSupportedMask();  // compiled and runnable on this CPU
lowrank_isa_t IsaActive();
// True when the active target is the one Highway picks with nothing forced.
bool IsaIsBest();
const char* IsaName(lowrank_isa_t isa);
lowrank_status_t IsaFromName(const char* name, lowrank_isa_t* isa);
lowrank_status_t IsaForce(lowrank_isa_t isa);

// LOWRANK_OK, or the error (with its message recorded) that the LOWRANK_ISA
// environment variable caused when it was read at first use.
lowrank_status_t IsaEnvironmentStatus();

}  // namespace lowrank

#endif  // LOWRANK_LIB_DISPATCH_ISA_H_
