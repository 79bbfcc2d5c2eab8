#!/usr/bin/env bash
# mae against the oldest LibTorch it supports, from PyPI wheels in venvs of their own
# (scripts/install.sh MAE_TORCH_VERSION=...). scripts/test.sh (and so CI) runs it before the
# full suite; MAE_COMPAT_TORCH=none skips it there. Arguments go to ctest.
#   1. torch 2.7.0, the oldest PyPI wheel with the C++11 string ABI that Debian's yaml-cpp and
#      GoogleTest need: the library, the CLI and the unit tests are built in build-torch2.7.0/ and
#      the unit tests run.
#   2. torch 2.4.1, the oldest LibTorch supported (CMake's MAE_TORCH_MIN_VERSION): its wheel has
#      the old ABI and cannot link with those libraries, so every library, CLI and test source is
#      compiled against its headers (-O0, no linking) in build-torch2.4.1/.
set -euo pipefail
cd "$(dirname "$0")/.."
linked="${MAE_COMPAT_TORCH:-2.7.0}"
compiled="${MAE_COMPAT_TORCH_COMPILE:-2.4.1}"
start=$SECONDS

dir="build-torch$linked"
MAE_TORCH_VERSION="$linked" MAE_BUILD_DIR="$dir" scripts/install.sh
MAE_BUILD_DIR="$dir" MAE_BUILD_TARGETS="mae_cli mae_unit_tests" scripts/build.sh -DMAE_BUILD_BENCH=OFF
ctest --test-dir "$dir" -L unit --output-on-failure -j "$(nproc)" "$@"
echo "[compat] LibTorch $linked: library, CLI and unit tests built and passed ($(((SECONDS - start) / 60)) min)"

mid=$SECONDS
dir="build-torch$compiled"
MAE_TORCH_VERSION="$compiled" MAE_BUILD_DIR="$dir" scripts/install.sh
MAE_BUILD_DIR="$dir" MAE_CONFIGURE_ONLY=1 scripts/build.sh -DMAE_COMPILE_ONLY=ON -DMAE_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=None
mapfile -t objects < <(ninja -C "$dir" -t targets all | sed -n 's/^\([^:]*\.cpp\.o\): .*/\1/p')
ninja -C "$dir" -j "${MAE_BUILD_JOBS:-$(nproc)}" "${objects[@]}"
echo "[compat] LibTorch $compiled: all ${#objects[@]} library, CLI and test sources compiled ($(((SECONDS - mid) / 60)) min)"
