#!/usr/bin/env bash
# The README's test command: install, build, run the whole test suite (ctest prints its summary).
# Arguments go to ctest, e.g. scripts/test.sh -L unit.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
scripts/build.sh
ctest --test-dir build --output-on-failure -j "$(nproc)" "$@"
