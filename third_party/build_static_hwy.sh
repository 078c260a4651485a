#!/usr/bin/env bash
# Builds Highway as a static library from Debian's own source package
# (Debian ships only libhwy.so), for static links of lowrank such as the
# mobile-style example in examples/static_demo.c.
#
#   bash third_party/build_static_hwy.sh amd64   # -> third_party/build/hwy-amd64/install
#   bash third_party/build_static_hwy.sh arm64   # -> third_party/build/hwy-arm64/install
#                                                #    (needs install_deps.sh --cross-arm64)
#
# It enables Debian's deb-src entries for bookworm if none are configured,
# fetches the source with `apt-get source highway` (the version Debian
# ships, with Debian's patches applied), and builds only libhwy.a (no tests,
# no contrib: lowrank needs neither). Idempotent: an existing install is
# kept. Nothing of Highway's source enters the lowrank tree; the build
# folder is ignored by git.
set -euo pipefail
arch="${1:-amd64}"
case "$arch" in amd64|arm64) ;; *) echo "usage: $0 amd64|arm64" >&2; exit 2 ;; esac
root="$(cd "$(dirname "$0")" && pwd)/build"
prefix="$root/hwy-$arch/install"
if [ -f "$prefix/lib/libhwy.a" ]; then
  echo "build_static_hwy: $prefix/lib/libhwy.a present"
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
if ! grep -rqs "deb-src" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "build_static_hwy: enabling deb-src for bookworm"
  $sudo tee /etc/apt/sources.list.d/lowrank-debian-src.sources >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  $sudo apt-get update -qq
fi
if ! command -v dpkg-source >/dev/null; then
  $sudo apt-get install -y -qq --no-install-recommends dpkg-dev
fi
src="$root/highway-src"
if [ ! -d "$src" ]; then
  mkdir -p "$root/fetch"
  (cd "$root/fetch" && apt-get source -qq highway 2>&1 | grep -v "^W: " || true)
  dir=$(find "$root/fetch" -maxdepth 1 -type d -name "highway-*" | head -1)
  [ -n "$dir" ] || { echo "build_static_hwy: apt-get source highway failed" >&2; exit 1; }
  mv "$dir" "$src"
  rm -rf "$root/fetch"
fi
toolchain=()
if [ "$arch" = arm64 ] && [ "$(dpkg --print-architecture)" != arm64 ]; then
  toolchain=(-DCMAKE_TOOLCHAIN_FILE="$(cd "$(dirname "$0")/.." && pwd)/cmake/aarch64-linux-gnu.cmake")
fi
cmake -S "$src" -B "$root/hwy-$arch/build" -G Ninja "${toolchain[@]}" \
  -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
  -DHWY_ENABLE_TESTS=OFF -DBUILD_TESTING=OFF -DHWY_ENABLE_EXAMPLES=OFF -DHWY_ENABLE_CONTRIB=OFF \
  -DCMAKE_INSTALL_PREFIX="$prefix" >/dev/null
cmake --build "$root/hwy-$arch/build" --target install >/dev/null
echo "build_static_hwy: installed $prefix/lib/libhwy.a"
