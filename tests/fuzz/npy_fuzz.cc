// libFuzzer target: the .npy reader on arbitrary bytes. It must either
// reject the input with a message, or return an array whose data holds
// exactly the product of its shape, never crash or read out of bounds
// (run under AddressSanitizer and UndefinedBehaviorSanitizer).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "io/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lowrank::NpyArray a;
  std::string error;
  if (!lowrank::ParseNpy(data, size, &a, &error)) {
    if (error.empty()) std::abort();  // every rejection says why
    return 0;
  }
  size_t count = 1;
  for (int64_t e : a.shape) {
    if (e < 0) std::abort();
    count *= static_cast<size_t>(e);
  }
  if (count != a.data.size()) std::abort();
  return 0;
}
