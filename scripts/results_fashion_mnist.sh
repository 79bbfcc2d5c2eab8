#!/usr/bin/env bash
# The runs behind docs/results.md: MAE pretraining on Fashion-MNIST (Debian's dataset-fashion-mnist),
# then k-NN, linear probe, partial fine-tuning (last block), full fine-tuning, and the same
# fine-tuning budget from random initialisation. Each step writes its run folder under $RUNS and is
# skipped when its last checkpoint exists, so the script can be re-run after an interruption.
#   scripts/results_fashion_mnist.sh [step ...]   steps: pretrain knn linprobe partial finetune scratch
# Needs a built tree (scripts/build.sh). THREADS (default: all cores) sets the CPU threads.
set -euo pipefail
cd "$(dirname "$0")/.."
MAE=build/bin/mae
RUNS=${RUNS:-runs/fashion_mnist}
THREADS=${THREADS:-0}
PRE=$RUNS/pretrain/checkpoint-last.safetensors
common=(--threads "$THREADS" --set log.progress=lines --set log.every=100)

step() {  # step NAME COMMAND...: runs COMMAND unless $RUNS/NAME is complete, timing it
  local name=$1; shift
  if [[ -e $RUNS/$name/done ]]; then echo "== $name: done already ($RUNS/$name)"; return; fi
  mkdir -p "$RUNS/$name"
  echo "== $name: $*"
  local start=$SECONDS
  "$@" 2>&1 | tee "$RUNS/$name/log.txt"
  echo "$((SECONDS - start))" > "$RUNS/$name/done"
  echo "== $name: $((SECONDS - start)) s"
}

run_pretrain() {  # 20 epochs of the built-in default (configs/fashion_mnist.yaml)
  step pretrain $MAE pretrain --config configs/fashion_mnist.yaml "${common[@]}" --output "$RUNS/pretrain" \
    --set train.epochs=20 --set train.warmup_epochs=2
}
run_knn() {
  step knn $MAE knn "$PRE" "${common[@]}" --set knn.train_samples=0
}
run_linprobe() {  # frozen encoder, cls token, BatchNorm + Linear, LARS
  step linprobe $MAE linprobe --init "$PRE" "${common[@]}" --output "$RUNS/linprobe" --set train.epochs=5 --set train.warmup_epochs=1
}
run_partial() {  # the last block, its norm and the head
  step partial $MAE finetune --init "$PRE" "${common[@]}" --output "$RUNS/partial" --set finetune.trainable_blocks=1
}
run_finetune() {  # the built-in fine-tuning default: 6 epochs, layer decay 0.75, drop path 0.1, smoothing 0.1
  step finetune $MAE finetune --init "$PRE" "${common[@]}" --output "$RUNS/finetune"
}
run_scratch() {  # the same budget from random initialisation
  step scratch $MAE finetune "${common[@]}" --output "$RUNS/scratch"
}

steps=("$@")
[[ ${#steps[@]} -gt 0 ]] || steps=(pretrain knn linprobe partial finetune scratch)
for s in "${steps[@]}"; do "run_$s"; done
