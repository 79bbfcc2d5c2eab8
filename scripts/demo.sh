#!/usr/bin/env bash
# The README's first command: install, build, and run the built-in default job, MAE pretraining
# on Fashion-MNIST, into runs/pretrain (checkpoints, metrics, TensorBoard, reconstruction PNGs).
# Arguments go to `mae pretrain`, e.g. scripts/demo.sh --set train.epochs=1.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
scripts/build.sh
build/bin/mae pretrain "$@"
