#!/usr/bin/env bash
# Checkpoint save/load of a pretraining state (MAE weights + AdamW state): ours (bench_checkpoint.cpp)
# and, where a Python with torch is found, torch.save/torch.load of the same tensors
# (bench/checkpoint_reference.py), on the same disk in the same run.
# The two alternate for --rounds rounds (disks vary from minute to minute); the medians are printed.
# Usage: bench/run_checkpoint_bench.sh [--model mae_vit_large_patch16] [--dir DIR] [--label after] [--rounds 3] [--no-reference]
# Appends every round's rows to bench/results/checkpoint_cpu_torch<ver>.csv.
set -euo pipefail
cd "$(dirname "$0")/.."
model=mae_vit_large_patch16 dir="${TMPDIR:-/tmp}" label=after reference=1 rounds=3
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --label) label=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --no-reference) reference=0; shift ;;
    *) echo "usage: $0 [--model NAME] [--dir DIR] [--label before|after] [--rounds N] [--no-reference]" >&2; exit 2 ;;
  esac
done
bin=build/bin/mae_bench_checkpoint
[ -x "$bin" ] || { echo "error: $bin missing; run scripts/build.sh first" >&2; exit 1; }
source bench/common.sh
python=$(bench_python)
if [ "$reference" = 1 ] && ! "$python" -c 'import torch' 2>/dev/null; then
  echo "note: no Python torch; only our figures are printed"
  reference=0
fi

work=$(mktemp -d -p "$dir" mae_ckpt_bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
rows="$work/rows.csv"
for round in $(seq 1 "$rounds"); do
  rm -f "$work"/checkpoint-0001*
  out=$("$bin" --model "$model" --dir "$work" --label "$label" --keep)
  echo "$out"
  torch_ver=$(echo "$out" | sed -n 's/.*; torch: \([^;]*\);.*/\1/p')
  header=$(echo "$out" | tail -2 | head -1)
  echo "$out" | tail -1 >>"$rows"
  if [ "$reference" = 1 ]; then
    disk=$(echo "$out" | tail -1 | awk -F, '{print $(NF-1)}')
    row=$("$python" bench/checkpoint_reference.py --stem "$work/checkpoint-0001" --model "$(echo "$out" | tail -1 | awk -F, '{print $(NF - 9)}')" --disk-mb-s "$disk")
    echo "torch.save/torch.load of the same tensors: $row"
    echo "$row" >>"$rows"
  fi
done
mkdir -p bench/results
csv="bench/results/checkpoint_cpu_torch${torch_ver}.csv"
[ -f "$csv" ] || echo "$header" >"$csv"
cat "$rows" >>"$csv"
# Medians per code (the machine column is quoted and holds a comma: fields count from the end).
echo "medians of $rounds round(s): code, save_s, load_s, load_peak_extra_mib, disk_write_mb_s"
for code in $(awk -F, '{print $NF}' "$rows" | sort -u); do
  median() { awk -F, -v c="$code" -v f="$1" '$NF == c {print $(NF - f)}' "$rows" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
  echo "  $code, $(median 7), $(median 6), $(median 3), $(median 1)"
done
echo "rows appended to $csv"
