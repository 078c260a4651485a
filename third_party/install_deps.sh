#!/usr/bin/env bash
# Installs the Debian 12 packages lowrank needs to build, test and benchmark.
# Idempotent: does nothing (not even apt-get update) when all are present.
#
#   bash third_party/install_deps.sh                # native build (x86-64 or arm64)
#   bash third_party/install_deps.sh --cross-arm64  # also the aarch64 cross build:
#                                                   # cross g++, qemu-user, arm64 libraries
#
# Runs apt-get as root directly, or through sudo when not root.
set -euo pipefail

cross=0
for arg in "$@"; do
  case "$arg" in
    --cross-arm64) cross=1 ;;
    *) echo "install_deps: unknown option $arg (try --cross-arm64)" >&2; exit 2 ;;
  esac
done

packages=(
  cmake ninja-build g++ pkg-config
  clang                 # second compiler of the CI matrix (clang 14)
  libclang-rt-14-dev    # clang's libFuzzer and sanitizer runtimes (tests/fuzz)
  libhwy-dev            # Highway 1.0.3: SIMD kernels, per-target dispatch
  libdnnl-dev           # oneDNN 2.6: GEMM/softmax primitives and baselines
  ocl-icd-opencl-dev    # libdnnl-dev's CMake config calls find_package(OpenCL)
  opencl-headers
  libgtest-dev          # GoogleTest
  libbenchmark-dev      # Google Benchmark
  liblapacke-dev        # the SVD of `lowrank compare` (tools only, never the library)
  libopenblas-dev       # a fast LAPACK/BLAS under LAPACKE
  python3-matplotlib    # bench/plot.py
)
if [ "$cross" -eq 1 ]; then
  # The arm64 build has no oneDNN (libdnnl-dev:arm64 cannot be installed
  # beside the amd64 one: both own dnnl_config.h), so it needs only these.
  packages+=(
    g++-aarch64-linux-gnu   # Debian's cross compiler (g++ 12)
    qemu-user               # runs the arm64 tests (qemu-aarch64 -cpu MODEL)
    libhwy-dev:arm64
    libgtest-dev:arm64
  )
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "install_deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if [ "$cross" -eq 1 ] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
  $sudo dpkg --add-architecture arm64
fi
$sudo apt-get update -qq
# --no-install-recommends: ocl-icd recommends Mesa/X11 stacks nobody needs here.
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
