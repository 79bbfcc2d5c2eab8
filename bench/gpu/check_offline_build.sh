#!/usr/bin/env bash
# Proves on a Debian machine that the bundle of bench/gpu/prepare.sh is all the build needs besides
# CMake, a compiler and LibTorch: in a private mount namespace every file the system's copies of
# those packages installed (headers, libraries, CMake and pkg-config files, and their runtime
# libraries) is hidden (an empty file mounted over it), then mae is configured against
# .deps/gpu/usr and LibTorch only (CMake told to ignore the /usr prefix: a prefix-only search),
# built, and its CPU tests run. Nothing outside the namespace
# changes. libtiff is hidden too: the bundle leaves it out, so that build refuses TIFF files (and
# leaves out the tests that write them). Needs root or unprivileged user namespaces.
# Usage: bench/gpu/check_offline_build.sh [BUILD_DIR] [CTEST_LABELS]   (default build-offline, unit|parity)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build-offline} labels=${2:-unit|parity}
deps=$PWD/.deps/gpu/usr
[ -d "$deps" ] || { echo "error: $deps missing; run bench/gpu/prepare.sh first" >&2; exit 1; }
torch=${CMAKE_PREFIX_PATH:-$(cat build/.torch-prefix 2>/dev/null || true)}
[ -n "$torch" ] || { echo "error: no LibTorch known; run scripts/install.sh or set CMAKE_PREFIX_PATH" >&2; exit 1; }
if [ "${MAE_OFFLINE_NAMESPACE:-}" != 1 ]; then
  as_root=()
  [ "$(id -u)" = 0 ] || as_root=(--user --map-root-user)
  exec env MAE_OFFLINE_NAMESPACE=1 unshare "${as_root[@]}" --mount --propagation private "$0" "$@"
fi

# Inside the namespace: hide the system's copies.
hidden=0
for package in libyaml-cpp-dev libyaml-cpp0.7 libcli11-dev nlohmann-json3-dev libgtest-dev libgmock-dev libjpeg62-turbo-dev \
               libjpeg62-turbo libpng-dev libpng16-16 libgloo-dev libtiff-dev; do
  dpkg -s "$package" >/dev/null 2>&1 || continue
  while read -r file; do
    case "$file" in /usr/include/*|/usr/lib/*|/usr/share/cmake/*|/usr/share/pkgconfig/*) ;; *) continue ;; esac
    [ -f "$file" ] || continue  # regular files, and symlinks to them (the mount lands on the target)
    mount --bind /dev/null "$file" && hidden=$((hidden + 1))
  done < <(dpkg -L "$package")
done
echo "[offline] hid $hidden files of the system's packages; building against $deps and $torch only"
[ -s /usr/include/yaml-cpp/yaml.h ] && { echo "error: the system's yaml-cpp is still visible" >&2; exit 1; }

rm -rf "$build"
mkdir -p "$build"
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMAE_BUILD_BENCH=OFF -DCMAKE_PREFIX_PATH="$deps;$torch" \
  -DCMAKE_SYSTEM_IGNORE_PREFIX_PATH=/usr "${launcher[@]}" \
  >"$build/cmake.log" 2>&1 || { cat "$build/cmake.log"; exit 1; }
grep -E "^-- (mae|Found)" "$build/cmake.log" || true
cmake --build "$build" -j "${MAE_BUILD_JOBS:-$(nproc)}"
echo "[offline] libraries the tests load:"
ldd "$build/bin/mae_unit_tests" | grep -vE "torch|c10|linux-vdso|ld-linux" | sed 's/^/  /'
ctest --test-dir "$build" -L "$labels" -j "$(nproc)" 2>&1 | tail -15
