#!/usr/bin/env bash
# Installs what is missing, builds the release and the ASan+UBSan
# configurations, and runs the whole test suite on both with ctest.
# This is the README's test command and what CI (.ci/run) runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash third_party/install_deps.sh
jobs=$(nproc)

for preset in release asan; do
  echo "=== configure + build: $preset"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
done

status=0
echo "=== tests: release"
ctest --preset release -j "$jobs" --timeout 900 || status=1
echo "=== tests: asan (AddressSanitizer + UndefinedBehaviorSanitizer)"
ctest --preset asan -j "$jobs" --timeout 1800 || status=1
exit $status
