#!/usr/bin/env bash
# The README's test command: install, build, run the whole test suite (ctest prints its summary).
# Arguments go to ctest, e.g. scripts/test.sh -L unit.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
scripts/build.sh
# The libFuzzer targets (clang, in build-fuzz/): the `slow` tests FuzzTargets.* run each for
# MAE_FUZZ_SECONDS, and fail rather than skip when they are missing from MAE_FUZZ_BIN_DIR.
scripts/fuzz.sh --build
# The same sources against the oldest LibTorch supported (its unit tests; MAE_COMPAT_TORCH=none skips).
[ "${MAE_COMPAT_TORCH:-}" = none ] || scripts/compat.sh
MAE_FUZZ_BIN_DIR=$PWD/build-fuzz/bin MAE_FUZZ_SECONDS=${MAE_FUZZ_SECONDS:-20} \
  ctest --test-dir build --output-on-failure -j "$(nproc)" "$@"
