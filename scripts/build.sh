#!/usr/bin/env bash
# Configures and builds mae in build/ (Release, Ninja) against the LibTorch that
# scripts/install.sh chose (build/.torch-prefix), or CMAKE_PREFIX_PATH when that is set.
# Extra arguments go to cmake, e.g. scripts/build.sh -DMAE_BUILD_BENCH=OFF.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix="${CMAKE_PREFIX_PATH:-$(cat build/.torch-prefix 2>/dev/null || true)}"
[ -n "$prefix" ] || { echo "[build] error: no LibTorch known; run scripts/install.sh first or set CMAKE_PREFIX_PATH" >&2; exit 1; }
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
if [ ! -f build/build.ninja ] || [ $# -gt 0 ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" "${launcher[@]}" "$@" >build/cmake.log 2>&1 \
    || { cat build/cmake.log; exit 1; }
  grep "^-- mae:" build/cmake.log || true
fi
jobs="${MAE_BUILD_JOBS:-$(nproc)}"
cmake --build build -j "$jobs"
