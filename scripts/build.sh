#!/usr/bin/env bash
# Configures and builds mae in ${MAE_BUILD_DIR:-build}/ (Release, Ninja) against the LibTorch that
# scripts/install.sh chose (<build dir>/.torch-prefix), or CMAKE_PREFIX_PATH when that is set.
# MAE_BUILD_TARGETS="mae_cli ..." builds those targets alone (default: everything);
# MAE_CONFIGURE_ONLY=1 stops after configuring.
# Extra arguments go to cmake, e.g. scripts/build.sh -DMAE_BUILD_BENCH=OFF.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${MAE_BUILD_DIR:-build}"
prefix="${CMAKE_PREFIX_PATH:-$(cat "$dir/.torch-prefix" 2>/dev/null || true)}"
[ -n "$prefix" ] || { echo "[build] error: no LibTorch known; run scripts/install.sh first or set CMAKE_PREFIX_PATH" >&2; exit 1; }
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
if [ ! -f "$dir/build.ninja" ] || [ $# -gt 0 ]; then
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" "${launcher[@]}" "$@" >"$dir/cmake.log" 2>&1 \
    || { cat "$dir/cmake.log"; exit 1; }
  grep "^-- mae:" "$dir/cmake.log" || true
fi
[ -z "${MAE_CONFIGURE_ONLY:-}" ] || exit 0
jobs="${MAE_BUILD_JOBS:-$(nproc)}"
targets=()
for t in ${MAE_BUILD_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$dir" -j "$jobs" ${targets[@]+"${targets[@]}"}
