#!/usr/bin/env bash
# The table of docs/segmentation.md ("A worked example"): MAE pretraining on 800 unlabelled
# generated shapes, then `mae segment` (linear head) on 160 or 32 labelled pairs, against the same
# fine-tuning from a random encoder. Every run is deterministic (seeded, fp32 on the CPU); the
# figures are mIoU after the last epoch on the 100 validation pairs, with the IoU per class and
# the seconds each run took. About 30 minutes on 2 cores.
# Usage: bench/run_segment_shapes.sh [--work DIR (default /tmp/mae-shapes)] [--quick (40-epoch MAE rows only)]
# Appends one row per run to bench/results/segment_shapes_cpu_torch<ver>.csv.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
work=/tmp/mae-shapes quick=0
while [ $# -gt 0 ]; do
  case "$1" in
    --work) work=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    *) echo "usage: $0 [--work DIR] [--quick]" >&2; exit 2 ;;
  esac
done
mae=$(bench_bin mae)
python=$(bench_python)
require_pillow "$python"
torch_version=$("$python" -c 'import torch; print(torch.__version__.split("+")[0])' 2>/dev/null || echo unknown)
csv=bench/results/segment_shapes_cpu_torch${torch_version}.csv
[ -f "$csv" ] || echo "date,encoder,pretrain_epochs,pretrain_blr,pretrain_s,pairs,epochs,layer_decay,miou,iou_background,iou_disc,iou_square,iou_triangle,finetune_s" >"$csv"

shapes=$work/shapes
[ -d "$shapes/images/training" ] || "$python" scripts/make_shapes.py "$shapes" --train 800 --val 100
for n in 160 32; do
  for i in $(seq 0 $((n - 1))); do echo "images/training/$i.png annotations/training/$i.png"; done >"$shapes/train$n.txt"
done
for i in $(seq 0 99); do echo "images/validation/$i.png annotations/validation/$i.png"; done >"$shapes/val.txt"
common=(data.mean=0.5,0.5,0.5 data.std=0.25,0.25,0.25 model.img_size=64 log.progress=none)

# pretrain NAME MODEL EPOCHS BLR: an MAE on the 800 images (labels unused); prints its seconds.
pretrain() {
  local start=$SECONDS
  [ -f "$work/$1/checkpoint-last.safetensors" ] || "$mae" pretrain --overwrite --set data.source=folder data.root="$shapes/images" \
    data.train_files=training data.val_files= model.name="$2" model.in_chans=3 train.epochs="$3" train.batch_size=32 \
    optim.blr="$4" knn.every=0 visualize.num_images=0 train.output_dir="$work/$1" "${common[@]}" \
    >"$work/$1.log" 2>&1
  echo $((SECONDS - start))
}

# segment ENCODER_ROW PAIRS EPOCHS LAYER_DECAY INIT|MODEL: one fine-tuning, one CSV row.
segment() {
  local row=$1 pairs=$2 epochs=$3 decay=$4 encoder=$5 out=$work/seg-$RANDOM start=$SECONDS
  local init=()
  if [ -f "$encoder" ]; then init=(--init "$encoder"); else init=(--set model.name="$encoder"); fi
  "$mae" segment "${init[@]}" --set data.root="$shapes" data.layout=list data.train_files="train$pairs.txt" \
    data.val_files=val.txt data.reduce_zero_label=false data.class_names_file=classes.txt model.head=linear \
    seg.scale=96,64 seg.inference=whole seg.layer_decay="$decay" seg.eval_every=0 optim.lr=1e-3 train.batch_size=16 \
    train.epochs="$epochs" train.output_dir="$out" "${common[@]}" >"$out.log" 2>&1
  local seconds=$((SECONDS - start))
  local metrics
  metrics=$("$python" -c 'import json, sys
m = json.load(open(sys.argv[1]))
print(",".join(["%.1f" % m["mIoU"]] + ["%.1f" % c["IoU"] for c in m["per_class"].values()]))' "$out/val_metrics.json")
  echo "$(date +%F),$row,$pairs,$epochs,$decay,$metrics,$seconds" | tee -a "$csv"
  rm -rf "$out" "$out.log"
}

s40=$(pretrain mae40-1e-2 mae_vit_mini_patch8_dec64d2b4h 40 1e-2)
segment "mae,40,1e-2,$s40" 160 60 0.9 "$work/mae40-1e-2/checkpoint-last.safetensors"
segment "scratch,0,,0" 160 60 0.9 vit_mini_patch8
segment "mae,40,1e-2,$s40" 160 30 0.9 "$work/mae40-1e-2/checkpoint-last.safetensors"
segment "scratch,0,,0" 160 30 0.9 vit_mini_patch8
[ "$quick" = 1 ] && exit 0
s40b=$(pretrain mae40-1.5e-3 mae_vit_mini_patch8_dec64d2b4h 40 1.5e-3)
segment "mae,40,1.5e-3,$s40b" 160 60 0.9 "$work/mae40-1.5e-3/checkpoint-last.safetensors"
s80=$(pretrain mae80-5e-3 mae_vit_mini_patch8_dec64d2b4h 80 5e-3)
segment "mae,80,5e-3,$s80" 160 60 0.9 "$work/mae80-5e-3/checkpoint-last.safetensors"
segment "mae,80,5e-3,$s80" 160 30 0.9 "$work/mae80-5e-3/checkpoint-last.safetensors"
s200=$(pretrain mae200-1.5e-3 mae_vit_mini_patch8_dec64d2b4h 200 1.5e-3)
segment "mae,200,1.5e-3,$s200" 160 60 0.9 "$work/mae200-1.5e-3/checkpoint-last.safetensors"
segment "mae,200,1.5e-3,$s200" 160 30 0.9 "$work/mae200-1.5e-3/checkpoint-last.safetensors"
# Fewer labels: 32 pairs, 150 epochs (half the steps of 60 epochs on 160).
segment "mae,200,1.5e-3,$s200" 32 150 0.9 "$work/mae200-1.5e-3/checkpoint-last.safetensors"
segment "mae,200,1.5e-3,$s200" 32 150 0.65 "$work/mae200-1.5e-3/checkpoint-last.safetensors"
segment "scratch,0,,0" 32 150 0.9 vit_mini_patch8
# Patch 4: 4 x the tokens; 20 epochs each.
s4=$(pretrain mae20-p4-1e-2 mae_vit_mini_patch4_dec64d2b4h 20 1e-2)
segment "mae-patch4,20,1e-2,$s4" 160 20 0.9 "$work/mae20-p4-1e-2/checkpoint-last.safetensors"
segment "scratch-patch4,0,,0" 160 20 0.9 vit_mini_patch4
