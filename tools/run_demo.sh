#!/usr/bin/env bash
# Installs what is missing, builds the release configuration and runs
# `lowrank demo` (the README's main job). Extra arguments go to the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash third_party/install_deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target lowrank_cli
./build/release/tools/lowrank info
echo
./build/release/tools/lowrank demo "$@"
