#!/usr/bin/env bash
# Prints the sizes of a static build's liblowrank.a and of the statically
# linked demo (as built, and stripped), for the README's table.
#   bash tools/static_sizes.sh static|arm64-static
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-static}"
dir="build/$preset"
strip_tool=strip
if [ "$preset" = arm64-static ]; then strip_tool=aarch64-linux-gnu-strip; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$dir/examples/static_demo" "$tmp/demo"
"$strip_tool" --strip-all "$tmp/demo"
kib() { echo "$(( ($(stat -c %s "$1") + 512) / 1024 )) KiB"; }
echo "sizes ($preset): liblowrank.a $(kib "$dir/liblowrank.a"); static_demo $(kib "$dir/examples/static_demo"), stripped $(kib "$tmp/demo")"
