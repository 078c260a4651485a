# Cross build for 64-bit Arm Linux with Debian's cross compiler and arm64
# multiarch packages (bash third_party/install_deps.sh --cross-arm64), run
# under qemu-user:
#
#   cmake --preset arm64 && cmake --build --preset arm64
#   LOWRANK_QEMU_CPU=cortex-a72 ctest --preset arm64
#
# Tests and tools run through tools/qemu_aarch64.sh, which calls
# qemu-aarch64 -cpu "$LOWRANK_QEMU_CPU" (default max: SVE2 with 512-bit
# vectors). No -L and no QEMU_LD_PREFIX: with the cross glibc's ld.so beside
# the multiarch libc every threaded program hangs; the multiarch
# /lib/ld-linux-aarch64.so.1 is what a plain qemu-aarch64 uses.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
# Packages' CMake files under /usr/lib/aarch64-linux-gnu/cmake/<pkg>.
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH /)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(CMAKE_CROSSCOMPILING_EMULATOR "${CMAKE_CURRENT_LIST_DIR}/../tools/qemu_aarch64.sh")
