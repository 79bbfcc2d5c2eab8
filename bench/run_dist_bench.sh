#!/usr/bin/env bash
# Data-parallel scaling on one machine with Gloo: the same pretraining at the same global batch in
# 1 process (all cores) and in N processes (cores / N threads each), through `mae launch`.
# Prints images/s, the speed-up, and the share of step time spent waiting for gradient
# all-reduces that backward did not hide (comm_wait); appends rows to
# bench/results/dist_cpu_fp32_torch<ver>_gloo.csv.
# Usage: bench/run_dist_bench.sh [--nproc N] [--steps S]
set -euo pipefail
cd "$(dirname "$0")/.."
nproc_run=2 steps=40
while [ $# -gt 0 ]; do
  case "$1" in
    --nproc) nproc_run=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    *) echo "usage: $0 [--nproc N] [--steps S]" >&2; exit 2 ;;
  esac
done
mae=build/bin/mae
[ -x "$mae" ] || { echo "error: $mae missing; run scripts/build.sh first" >&2; exit 1; }
cores=$(nproc)
threads_each=$(( cores / nproc_run > 0 ? cores / nproc_run : 1 ))
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
torch_ver=$("$mae" --version | sed -n 's/.*LibTorch \([0-9.]*\).*/\1/p' | head -1)
cpu=$(lscpu | sed -n 's/^Model name:\s*//p' | head -1)
csv=bench/results/dist_cpu_fp32_torch${torch_ver}_gloo.csv
mkdir -p bench/results
[ -f "$csv" ] || echo "date,config,processes,threads_per_process,global_batch,img_per_s,speedup,comm_wait_share,mb_allreduced_per_step,buckets,machine" >"$csv"

# name | global batch | model keys (Fashion-MNIST, the built-in data)
configs=(
  "default_128d|256|"
  "vit_small_384d|64|--set model.embed_dim=384 --set model.depth=12 --set model.num_heads=6 --set model.decoder_embed_dim=256 --set model.decoder_depth=4 --set model.decoder_num_heads=8"
)
# The mean img_per_s and comm_wait of a run's metrics records after the first (warm-up) window.
summarise() {
  python3 - "$1" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"img_per_s"' in l][1:]
ips = sum(r["img_per_s"] for r in rows) / len(rows)
cw = sum(r.get("comm_wait", 0.0) for r in rows) / len(rows)
print(f"{ips:.1f} {cw:.4f}")
PY
}
echo "machine: $cpu, $cores cores; LibTorch $torch_ver; $steps steps per run, metrics every 10 (first window dropped)"
printf "%-16s %10s %8s %8s %10s %10s %9s %12s\n" config processes threads batch img_per_s speedup comm_wait MB_per_step
for entry in "${configs[@]}"; do
  IFS='|' read -r name batch keys <<<"$entry"
  common="--set train.max_steps=$steps --set log.every=10 --set log.progress=none --set visualize.num_images=0 --set log.tensorboard=false --set train.warmup_epochs=0 $keys"
  # shellcheck disable=SC2086
  "$mae" pretrain --threads "$cores" --set train.batch_size="$batch" --output "$work/$name-1" $common >"$work/$name-1.log" 2>&1
  read -r ips1 _ < <(summarise "$work/$name-1/metrics.jsonl")
  # shellcheck disable=SC2086
  "$mae" launch --nproc "$nproc_run" -- pretrain --threads "$threads_each" --set train.batch_size=$((batch / nproc_run)) \
    --output "$work/$name-$nproc_run" $common >"$work/$name-$nproc_run.log" 2>&1
  read -r ipsn cwn < <(summarise "$work/$name-$nproc_run/metrics.jsonl")
  mb=$(sed -n 's/.*gradient sync: [0-9]* bucket(s) of up to [0-9.]* MiB, \([0-9.e+]*\) MB.*/\1/p' "$work/$name-$nproc_run.log" | head -1)
  buckets=$(sed -n 's/.*gradient sync: \([0-9]*\) bucket(s).*/\1/p' "$work/$name-$nproc_run.log" | head -1)
  speedup=$(python3 -c "print(f'{$ipsn / $ips1:.2f}')")
  printf "%-16s %10s %8s %8s %10s %10s %9s %12s\n" "$name" 1 "$cores" "$batch" "$ips1" 1.00 - -
  printf "%-16s %10s %8s %8s %10s %10s %9s %12s\n" "$name" "$nproc_run" "$threads_each" "$batch" "$ipsn" "$speedup" "$cwn" "$mb"
  echo "$(date +%F),$name,1,$cores,$batch,$ips1,1.00,0,0,0,\"$cpu\"" >>"$csv"
  echo "$(date +%F),$name,$nproc_run,$threads_each,$batch,$ipsn,$speedup,$cwn,$mb,$buckets,\"$cpu\"" >>"$csv"
done
echo "rows appended to $csv"
