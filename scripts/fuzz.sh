#!/usr/bin/env bash
# Builds the libFuzzer targets of the weight-file readers (fuzz/) with clang in build-fuzz/ and
# runs each for MAE_FUZZ_SECONDS (default 60) through the `slow` test FuzzTargets.*, which starts
# from the committed seed corpus (fuzz/corpus/) and fails on any crash, leak or timeout.
#   scripts/fuzz.sh            after scripts/install.sh (clang and libclang-rt come from its apt list)
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=$(cat build/.torch-prefix 2>/dev/null || true)
[[ -n $prefix ]] || { echo "error: run scripts/install.sh first (build/.torch-prefix is missing)" >&2; exit 2; }
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMAE_BUILD_FUZZ=ON \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CXX_COMPILER_LAUNCHER=ccache >/dev/null
ninja -C build-fuzz fuzz_safetensors fuzz_pickle fuzz_pth
ninja -C build mae_slow_tests
MAE_FUZZ_BIN_DIR=$PWD/build-fuzz/bin MAE_FUZZ_SECONDS=${MAE_FUZZ_SECONDS:-60} build/bin/mae_slow_tests --gtest_filter='FuzzTargets.*'
