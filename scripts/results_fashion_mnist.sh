#!/usr/bin/env bash
# The runs behind docs/results.md: MAE pretraining on Fashion-MNIST (Debian's dataset-fashion-mnist),
# then k-NN, linear probe, partial fine-tuning (last block), full fine-tuning, and the same
# fine-tuning budget from random initialisation. Each step writes its run folder under $RUNS and is
# skipped when its last checkpoint exists, so the script can be re-run after an interruption.
#   scripts/results_fashion_mnist.sh [step ...]   steps: pretrain knn linprobe partial finetune scratch
#                                                 (also: scratch_ld1 scratch_ld1_long scratch_ld1_lr2e3
#                                                 scratch_ld1_lr5e4 scratch_ld1_lr2e3_long evaluate)
# Needs a built tree (scripts/build.sh). THREADS (default: all cores) sets the CPU threads.
set -euo pipefail
cd "$(dirname "$0")/.."
MAE=build/bin/mae
RUNS=${RUNS:-runs/fashion_mnist}
THREADS=${THREADS:-0}
PRE=$RUNS/pretrain/checkpoint-last.safetensors
common=(--threads "$THREADS" --set log.progress=lines --set log.every=100)
# Fine-tuning sees whole images, flipped, and is evaluated on whole images (the built-in
# fine-tuning default): random crops of 28 px images cost more accuracy than they add in a 6-epoch
# budget.
flips=(--set data.crop_scale=1,1 --set data.crop_ratio=1,1 --set data.eval_resize_ratio=1)

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
run_linprobe() {  # frozen encoder, cls token, BatchNorm + Linear, LARS at the official absolute lr (0.1 x 16384 / 256)
  step linprobe $MAE linprobe --init "$PRE" "${common[@]}" --output "$RUNS/linprobe" "${flips[@]}" \
    --set train.epochs=5 --set train.warmup_epochs=1 --set optim.lr=6.4
}
run_partial() {  # the last block, its norm and the head
  step partial $MAE finetune --init "$PRE" "${common[@]}" --output "$RUNS/partial" "${flips[@]}" --set finetune.trainable_blocks=1
}
run_finetune() {  # the built-in fine-tuning default: 6 epochs, layer decay 0.75, drop path 0.1, smoothing 0.1
  step finetune $MAE finetune --init "$PRE" "${common[@]}" --output "$RUNS/finetune" "${flips[@]}"
}
run_scratch() {  # the same budget from random initialisation
  step scratch $MAE finetune "${common[@]}" --output "$RUNS/scratch" "${flips[@]}"
}
# A recipe of its own for scratch (docs/results.md, "A fair baseline"): no layer-wise lr decay,
# which holds back the first blocks of a random initialisation. Not in the default steps yet.
run_scratch_ld1() {  # the fine-tuning budget (6 epochs), layer decay off
  step scratch_ld1 $MAE finetune "${common[@]}" --output "$RUNS/scratch_ld1" "${flips[@]}" --set optim.layer_decay=1.0
}
run_scratch_ld1_long() {  # about the wall time of MAE pretraining + fine-tuning: 11 epochs, layer decay off
  step scratch_ld1_long $MAE finetune "${common[@]}" --output "$RUNS/scratch_ld1_long" "${flips[@]}" \
    --set optim.layer_decay=1.0 --set train.epochs=11
}
run_scratch_ld1_lr2e3() {  # the lr sweep around the fine-tuning lr (1e-3), 6 epochs, layer decay off
  step scratch_ld1_lr2e3 $MAE finetune "${common[@]}" --output "$RUNS/scratch_ld1_lr2e3" "${flips[@]}" \
    --set optim.layer_decay=1.0 --set optim.lr=2e-3
}
run_scratch_ld1_lr5e4() {
  step scratch_ld1_lr5e4 $MAE finetune "${common[@]}" --output "$RUNS/scratch_ld1_lr5e4" "${flips[@]}" \
    --set optim.layer_decay=1.0 --set optim.lr=5e-4
}
run_scratch_ld1_lr2e3_long() {  # the best lr of the sweep at the compute-matched length
  step scratch_ld1_lr2e3_long $MAE finetune "${common[@]}" --output "$RUNS/scratch_ld1_lr2e3_long" "${flips[@]}" \
    --set optim.layer_decay=1.0 --set optim.lr=2e-3 --set train.epochs=11
}

run_evaluate() {  # the last checkpoint of each classifier on the 10k test images, whole images
  for run in linprobe partial finetune scratch scratch_ld1 scratch_ld1_long scratch_ld1_lr2e3 scratch_ld1_lr5e4 scratch_ld1_lr2e3_long; do
    [[ -e $RUNS/$run/checkpoint-last.safetensors ]] || continue
    $MAE eval "$RUNS/$run/checkpoint-last.safetensors" --threads "$THREADS" --set data.eval_resize_ratio=1 \
      --output "$RUNS/$run/eval" 2>&1 | grep -a "top-1" | sed "s|^|$run: |"
  done
}

steps=("$@")
[[ ${#steps[@]} -gt 0 ]] || steps=(pretrain knn linprobe partial finetune scratch evaluate)
for s in "${steps[@]}"; do "run_$s"; done
