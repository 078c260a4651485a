#!/usr/bin/env bash
# Installs what is missing, builds every configuration and runs the whole
# test suite on each with ctest. This is the README's test command and what
# CI (.ci/run) runs.
#
#   bash tools/run_tests.sh               # everything (about 31 min on 2 cores)
#   bash tools/run_tests.sh --native-only # skip the arm64 cross build and qemu runs
set -euo pipefail
cd "$(dirname "$0")/.."
native_only=0
for arg in "$@"; do
  case "$arg" in
    --native-only) native_only=1 ;;
    *) echo "run_tests: unknown option $arg" >&2; exit 2 ;;
  esac
done
if [ "$native_only" -eq 1 ]; then
  bash third_party/install_deps.sh
else
  bash third_party/install_deps.sh --cross-arm64
fi
jobs=$(nproc)

# release: g++ 12, what users run. clang: clang 14, whose Highway fallback
# target is EMU128 instead of SCALAR. asan: g++ with AddressSanitizer and
# UndefinedBehaviorSanitizer (Highway 1.0.3's partial loads read past arrays
# on some targets; this build is what catches such reads). nodnnl: release
# without oneDNN, the Highway kernels carrying every method, no OpenMP.
# Warnings are errors in all of them.
presets=(release clang asan nodnnl)
if ! command -v clang++ >/dev/null; then
  echo "run_tests: clang++ not found, skipping the clang configuration"
  presets=(release asan nodnnl)
fi
for preset in "${presets[@]}"; do
  echo "=== configure + build: $preset"
  cmake --preset "$preset" -DLOWRANK_WERROR=ON >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
done

status=0
# The build without oneDNN must not need OpenMP (nor oneDNN) at all.
if ldd build/nodnnl/liblowrank.so | grep -Eq "libgomp|libdnnl"; then
  echo "run_tests: build/nodnnl/liblowrank.so links OpenMP or oneDNN"
  status=1
fi

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

# Static: liblowrank.a without oneDNN on a static Highway built from
# Debian's source package, and a C demo linked with -static whose output a
# test reads (natively here, under qemu on NEON and SVE for arm64 below).
static_build() {  # preset, hwy arch
  echo "=== static build: $1"
  bash third_party/build_static_hwy.sh "$2"
  cmake --preset "$1" -DLOWRANK_WERROR=ON >/dev/null
  cmake --build --preset "$1" -j "$jobs"
  ctest --preset "$1" || status=1
  bash tools/static_sizes.sh "$1"
}
static_build static amd64

# ThreadSanitizer (no oneDNN: libgomp is not instrumented): plans executed
# concurrently from 8 threads, a shared plan, a decoding state per thread.
echo "=== configure + build: tsan"
cmake --preset tsan -DLOWRANK_WERROR=ON >/dev/null
cmake --build --preset tsan -j "$jobs"
echo "=== tests: tsan"
ctest --preset tsan -j "$jobs" --timeout 1800 || status=1

# libFuzzer (clang, ASan + UBSan): the .npy reader and plan creation and
# execution through the C API, each 60 s from its committed seed corpus
# (copied: the corpus in the tree stays as committed), with a fixed seed.
if command -v clang++ >/dev/null; then
  echo "=== configure + build: fuzz"
  cmake --preset fuzz -DLOWRANK_WERROR=ON >/dev/null
  cmake --build --preset fuzz -j "$jobs"
  for target in npy plan; do
    echo "=== fuzz: ${target}_fuzz for 60 s"
    corpus=$(mktemp -d)
    cp tests/fuzz/corpus/"$target"/* "$corpus"/
    (cd "$corpus" && "$OLDPWD/build/fuzz/tests/fuzz/${target}_fuzz" -seed=1 -max_total_time=60 \
       -print_final_stats=1 "$corpus" 2>&1 | tail -n 4) || status=1
    if ls "$corpus"/crash-* "$corpus"/leak-* "$corpus"/timeout-* >/dev/null 2>&1; then status=1; fi
    rm -rf "$corpus"
  done
fi

if [ "$native_only" -eq 0 ]; then
  # aarch64: one cross build (no oneDNN), the whole suite under qemu-user on
  # four CPU models (the targets a model lacks show as SKIPPED), so every
  # kernel test runs on NEON, SVE, SVE2, SVE_256 and SVE2_128, SVE and SVE2
  # at 512, 256 and 128 bits.
  echo "=== configure + build: arm64 (cross, qemu-user)"
  cmake --preset arm64 -DLOWRANK_WERROR=ON >/dev/null
  cmake --build --preset arm64 -j "$jobs"
  for cpu in cortex-a72 max max,sve256=on max,sve128=on; do
    echo "=== tests: arm64 under qemu -cpu $cpu"
    LOWRANK_QEMU_CPU="$cpu" ctest --preset arm64 -j "$jobs" --timeout 1800 || status=1
  done
  static_build arm64-static arm64
fi
exit $status
