#!/usr/bin/env bash
# Checkpoint save/load of a pretraining state (MAE weights + AdamW state): ours (bench_checkpoint.cpp)
# and, where a Python with torch is found, torch.save/torch.load of the same tensors
# (bench/checkpoint_reference.py), on the same disk in the same run.
# Usage: bench/run_checkpoint_bench.sh [--model mae_vit_large_patch16] [--dir DIR] [--label after] [--no-reference]
# Appends rows to bench/results/checkpoint_cpu_torch<ver>.csv.
set -euo pipefail
cd "$(dirname "$0")/.."
model=mae_vit_large_patch16 dir="${TMPDIR:-/tmp}" label=after reference=1
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --label) label=$2; shift 2 ;;
    --no-reference) reference=0; shift ;;
    *) echo "usage: $0 [--model NAME] [--dir DIR] [--label before|after] [--no-reference]" >&2; exit 2 ;;
  esac
done
bin=build/bin/mae_bench_checkpoint
[ -x "$bin" ] || { echo "error: $bin missing; run scripts/build.sh first" >&2; exit 1; }
python="${MAE_PYTHON:-$HOME/.cache/mae/venv/bin/python}"
[ -x "$python" ] || python=python3
if [ "$reference" = 1 ] && ! "$python" -c 'import torch' 2>/dev/null; then
  echo "note: no Python torch; only our figures are printed"
  reference=0
fi

work=$(mktemp -d -p "$dir" mae_ckpt_bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
out=$("$bin" --model "$model" --dir "$work" --label "$label" --keep)
echo "$out"
torch_ver=$(echo "$out" | sed -n 's/.*; torch: \([^;]*\);.*/\1/p')
mkdir -p bench/results
csv="bench/results/checkpoint_cpu_torch${torch_ver}.csv"
[ -f "$csv" ] || echo "$out" | tail -2 | head -1 >"$csv"
echo "$out" | tail -1 >>"$csv"
if [ "$reference" = 1 ]; then
  disk=$(echo "$out" | tail -1 | awk -F, '{print $(NF-1)}')
  row=$("$python" bench/checkpoint_reference.py --stem "$work/checkpoint-0001" --model "$model" --disk-mb-s "$disk")
  echo "torch.save/torch.load of the same tensors: $row"
  echo "$row" >>"$csv"
fi
echo "rows appended to $csv"
