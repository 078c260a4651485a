#!/usr/bin/env bash
# Installs the Debian 12 packages lowrank needs to build, test and benchmark.
# Idempotent: does nothing (not even apt-get update) when all are present.
#
#   bash third_party/install_deps.sh          # native build (x86-64 or arm64)
#
# Runs apt-get as root directly, or through sudo when not root.
set -euo pipefail

packages=(
  cmake ninja-build g++ pkg-config
  clang                 # second compiler of the CI matrix (clang 14)
  libhwy-dev            # Highway 1.0.3: SIMD kernels, per-target dispatch
  libdnnl-dev           # oneDNN 2.6: GEMM/softmax primitives and baselines
  ocl-icd-opencl-dev    # libdnnl-dev's CMake config calls find_package(OpenCL)
  opencl-headers
  libgtest-dev          # GoogleTest
  libbenchmark-dev      # Google Benchmark
)

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
$sudo apt-get update -qq
# --no-install-recommends: ocl-icd recommends Mesa/X11 stacks nobody needs here.
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
