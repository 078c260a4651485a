#!/usr/bin/env bash
# Runs an aarch64 program under qemu-user on the CPU model named by
# LOWRANK_QEMU_CPU (default max: SVE2, 512-bit vectors). The arm64 preset's
# tests and tools run through this (CMAKE_CROSSCOMPILING_EMULATOR), so one
# build serves every model:
#   cortex-a72      NEON only
#   max             SVE2 512-bit (and SVE, NEON)
#   max,sve256=on   SVE_256 (and SVE2, SVE, NEON at 256 bits)
#   max,sve128=on   SVE2_128 (and SVE2, SVE, NEON at 128 bits)
# LOWRANK_TEST_EMULATED=1 tells the tests to use their smaller sizes (qemu
# runs 100-700x slower than native). Never -L: see
# cmake/aarch64-linux-gnu.cmake.
export LOWRANK_TEST_EMULATED=1
exec qemu-aarch64 -cpu "${LOWRANK_QEMU_CPU:-max}" "$@"
