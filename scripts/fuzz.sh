#!/usr/bin/env bash
# Builds the libFuzzer targets of the weight-file readers (fuzz/) with clang in build-fuzz/ and
# runs each for MAE_FUZZ_SECONDS (default 60) through the `slow` test FuzzTargets.*, which starts
# from the committed seed corpus (fuzz/corpus/) and fails on any crash, leak or timeout.
#   scripts/fuzz.sh            after scripts/install.sh (clang and libclang-rt come from its apt list)
#   scripts/fuzz.sh --build    only builds them (scripts/test.sh; its ctest then runs each briefly)
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=$(cat build/.torch-prefix 2>/dev/null || true)
[[ -n $prefix ]] || { echo "error: run scripts/install.sh first (build/.torch-prefix is missing)" >&2; exit 2; }
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
# Only the fuzz targets and the sources they link (fuzz/CMakeLists.txt): no libmae, tests or benchmarks.
mkdir -p build-fuzz
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMAE_BUILD_FUZZ=ON \
  -DMAE_BUILD_TESTS=OFF -DMAE_BUILD_BENCH=OFF -DCMAKE_PREFIX_PATH="$prefix" "${launcher[@]}" >build-fuzz/cmake.log 2>&1 \
  || { cat build-fuzz/cmake.log; exit 1; }
ninja -C build-fuzz -j "${MAE_BUILD_JOBS:-$(nproc)}" fuzz_safetensors fuzz_pickle fuzz_pth fuzz_npy fuzz_tar
[[ ${1:-} == --build ]] && exit 0
ninja -C build mae_slow_tests
MAE_FUZZ_BIN_DIR=$PWD/build-fuzz/bin MAE_FUZZ_SECONDS=${MAE_FUZZ_SECONDS:-60} build/bin/mae_slow_tests --gtest_filter='FuzzTargets.*'
