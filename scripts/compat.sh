#!/usr/bin/env bash
# The oldest LibTorch mae supports (CMake's MAE_TORCH_MIN_VERSION): installs its PyPI wheel into a
# venv of its own, builds the library, the CLI and the unit tests against it in
# build-torch<version>/ and runs the unit tests. scripts/test.sh (and so CI) runs it before the
# full suite; MAE_COMPAT_TORCH picks another version, MAE_COMPAT_TORCH=none skips it there.
# Arguments go to ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
version="${MAE_COMPAT_TORCH:-2.4.1}"
dir="build-torch$version"
start=$SECONDS
MAE_TORCH_VERSION="$version" MAE_BUILD_DIR="$dir" scripts/install.sh
MAE_BUILD_DIR="$dir" MAE_BUILD_TARGETS="mae_cli mae_unit_tests" scripts/build.sh -DMAE_BUILD_BENCH=OFF
ctest --test-dir "$dir" -L unit --output-on-failure -j "$(nproc)" "$@"
echo "[compat] LibTorch $version: library, CLI and unit tests built and passed in $(((SECONDS - start) / 60)) min $(((SECONDS - start) % 60)) s"
