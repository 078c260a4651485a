#!/usr/bin/env bash
# Installs what is missing, builds the release and the ASan+UBSan
# configurations, and runs the whole test suite on both with ctest.
# This is the README's test command and what CI (.ci/run) runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash third_party/install_deps.sh
jobs=$(nproc)

# release: g++ 12, what users run. clang: clang 14, whose Highway fallback
# target is EMU128 instead of SCALAR. asan: g++ with AddressSanitizer and
# UndefinedBehaviorSanitizer (Highway 1.0.3's partial loads read past arrays
# on some targets; this build is what catches such reads). Warnings are
# errors in all three.
presets=(release clang asan)
if ! command -v clang++ >/dev/null; then
  echo "run_tests: clang++ not found, skipping the clang configuration"
  presets=(release asan)
fi
for preset in "${presets[@]}"; do
  echo "=== configure + build: $preset"
  cmake --preset "$preset" -DLOWRANK_WERROR=ON >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
done

status=0
# The installed package: headers, library, CMake package and pkg-config files,
# used by a separate consumer project (one C and one C++ program).
echo "=== install + consumer project"
rm -rf build/install build/consumer
cmake --install build/release --prefix build/install >/dev/null
cmake -S examples/consumer -B build/consumer -G Ninja \
  -DCMAKE_PREFIX_PATH="$PWD/build/install" >/dev/null
cmake --build build/consumer
LD_LIBRARY_PATH="$PWD/build/install/lib" build/consumer/c_consumer || status=1
LD_LIBRARY_PATH="$PWD/build/install/lib" build/consumer/cpp_consumer || status=1

for preset in "${presets[@]}"; do
  echo "=== tests: $preset"
  ctest --preset "$preset" -j "$jobs" --timeout 1800 || status=1
done
exit $status
