#!/usr/bin/env bash
# MAE pretraining step (forward, backward, AdamW), ours against PyTorch in the same script on the
# same machine, alternated for --rounds rounds so that the machine's drift (10-15 % between runs
# on shared VMs) hits every implementation alike; prints medians and the spread (min-max).
#   mae               this project as it runs by default (model.fused_attn=true: per call the
#                     faster attention path for the length, head dim and dtype, as measured)
#   mae-plain         this project with model.fused_attn=false (ATen ops composed as the official code)
#   pytorch-explicit  the official code's formulation (q @ k^T, softmax, @ v), eager: reference (a)
#   pytorch-sdpa      the same model with F.scaled_dot_product_attention, eager: reference (b)
#   pytorch-explicit-compile  reference (a) under torch.compile (inductor), with --compile
#   mae-ckpt          ours with activation checkpointing (memory vs speed), CUDA only
# Our rows also carry the achieved GFLOP/s (model FLOPs, see bench_step.cpp) and its share of the
# GEMM peak (in the step's dtype) measured in the same process.
# Usage: bench/run_step_bench.sh [--device cpu|cuda] [--dtype fp32|bf16|fp16] [--threads N]
#          [--rounds N] [--configs name,name] [--compile] [--quick]
# Appends one row per (config, implementation) to bench/results/step_<device>_<dtype>_torch<ver>.csv.
set -euo pipefail
cd "$(dirname "$0")/.."
device=cpu dtype=fp32 threads=$(nproc) quick=0 rounds=3 only="" compile=0
usage="usage: $0 [--device cpu|cuda] [--dtype fp32|bf16|fp16] [--threads N] [--rounds N] [--configs a,b] [--compile] [--quick]"
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device=$2; shift 2 ;;
    --dtype) dtype=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --configs) only=$2; shift 2 ;;
    --compile) compile=1; shift ;;
    --quick) quick=1; shift ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done
bin=build/bin/mae_bench_step
[ -x "$bin" ] || { echo "error: $bin missing; run scripts/build.sh first" >&2; exit 1; }
source bench/common.sh
python=$(bench_python)
"$python" -c 'import torch' 2>/dev/null || { echo "note: no Python torch in $python (scripts/install.sh installs it); only our figures are printed"; python=""; }

# name | arguments shared by both sides | steps
demo="--preset mini --img 28 --patch 4 --in-chans 1 --decoder-dim 64 --decoder-depth 2 --decoder-heads 4 --norm-pix-loss"
if [ "$device" = cuda ]; then
  configs=("vit_base_224_b256|--preset base --img 224 --batch 256|--steps 10 --warmup 3"
           "vit_large_224_b128|--preset large --img 224 --batch 128|--steps 10 --warmup 3")
else
  configs=("demo_28_p4_b256|$demo --batch 256|--steps 15 --warmup 3"
           "vit_tiny_32_p4_dec128x2_b256|--preset tiny --img 32 --patch 4 --decoder-dim 128 --decoder-depth 2 --decoder-heads 4 --batch 256|--steps 4 --warmup 1"
           "vit_small_224_b32|--preset small --img 224 --batch 32|--steps 3 --warmup 1"
           "vit_base_224_b8|--preset base --img 224 --batch 8|--steps 3 --warmup 1")
fi

cpu=$(lscpu | sed -n 's/^Model name:\s*//p' | head -1)
echo "machine: $cpu, $(nproc) cores, threads $threads, device $device, dtype $dtype, $rounds rounds (medians; spread = min-max)"
mkdir -p bench/results
torch_ver=$("$bin" --preset tiny --img 32 --patch 16 --batch 1 --steps 1 --warmup 0 --device "$device" | sed -n 's/.*"torch":"\([^"]*\)".*/\1/p')
csv="bench/results/step_${device}_${dtype}_torch${torch_ver}.csv"
header="date,config,impl,device,dtype,threads,batch,img_per_s,step_ms,peak_mem_mb,machine,achieved_gflops,gemm_peak_share,rounds,img_per_s_min,img_per_s_max"
if [ ! -f "$csv" ]; then echo "$header" >"$csv"; elif [ "$(head -1 "$csv")" != "$header" ]; then sed -i "1s/.*/$header/" "$csv"; fi
runs=$(mktemp)
trap 'rm -f "$runs"' EXIT

for entry in "${configs[@]}"; do
  IFS='|' read -r name args steps <<<"$entry"
  [ -n "$only" ] && [[ ",$only," != *",$name,"* ]] && continue
  [ "$quick" = 1 ] && steps="--steps 1 --warmup 1"
  impls=(mae mae-plain)
  [ "$device" = cuda ] && impls+=(mae-ckpt)
  [ -n "$python" ] && impls+=(pytorch-explicit pytorch-sdpa)
  [ -n "$python" ] && [ "$compile" = 1 ] && impls+=(pytorch-explicit-compile)
  echo "$name ($args)"
  for ((r = 1; r <= rounds; r++)); do
    for impl in "${impls[@]}"; do
      common="$args $steps --threads $threads --dtype $dtype --device $device"
      case "$impl" in
        mae) line=$("$bin" $common --attn fused) ;;
        mae-plain) line=$("$bin" $common --attn plain) ;;
        mae-ckpt) line=$("$bin" $common --grad-checkpointing) ;;
        pytorch-explicit-compile) line=$("$python" bench/step_reference.py $common --attn explicit --compile 2>/dev/null) || line="" ;;
        pytorch-*) line=$("$python" bench/step_reference.py $common --attn "${impl#pytorch-}") || line="" ;;
      esac
      if [ -n "$line" ]; then echo "$name|$impl|$r|$line" >>"$runs"; else echo "  note: $impl failed in round $r (left out)"; fi
    done
  done
  # Medians per implementation, the table, the ratios, the CSV rows.
  "${python:-python3}" - "$runs" "$name" "$csv" "$device" "$dtype" "$threads" "$cpu" "$rounds" <<'PY'
import json, statistics, sys, datetime
runs, name, csv, device, dtype, threads, cpu, rounds = sys.argv[1:]
rows, by_round = {}, {}
for line in open(runs):
    n, impl, r, js = line.rstrip("\n").split("|", 3)
    if n == name:
        rows.setdefault(impl, []).append(json.loads(js))
        by_round.setdefault(impl, {})[r] = rows[impl][-1]["img_per_s"]
med = {}
with open(csv, "a") as out:
    for impl, rs in rows.items():
        ips = sorted(r["img_per_s"] for r in rs)
        m = statistics.median(ips)
        pick = min(rs, key=lambda r: abs(r["img_per_s"] - m))  # the run at the median, for its other figures
        med[impl] = m
        g, share = pick.get("achieved_gflops"), pick.get("peak_share")
        flops = f"  {g:7.1f} GFLOP/s = {100 * share:4.1f} % of the {dtype} GEMM peak" if g else ""
        print(f"  {impl:26s} {m:9.1f} img/s  [{ips[0]:.1f}-{ips[-1]:.1f}]  {1000 * pick['batch'] / m:8.1f} ms/step"
              f"  {pick['peak_mem_mb']:7.0f} MiB{flops}")
        out.write(f"{datetime.date.today()},{name},{impl},{device},{dtype},{threads},{pick['batch']},{m:.3f},"
                  f"{1000 * pick['batch'] / m:.3f},{pick['peak_mem_mb']:.1f},\"{cpu}\",{g or ''},{share or ''},"
                  f"{len(ips)},{ips[0]:.3f},{ips[-1]:.3f}\n")
if "mae" in med:
    refs = [r for r in ("pytorch-explicit", "pytorch-sdpa", "pytorch-explicit-compile") if r in med]
    if refs:
        print("  ratio mae / " + ", / ".join(f"{r} = {med['mae'] / med[r]:.2f}x" for r in refs))
        # Paired: ours over the reference run next to it in the same round, which cancels the
        # machine's slow drift; the median of those and their spread.
        for ref in refs:
            paired = sorted(by_round["mae"][r] / by_round[ref][r] for r in by_round["mae"] if r in by_round[ref])
            if paired:
                print(f"  paired by round, mae / {ref}: median {statistics.median(paired):.2f}x [{paired[0]:.2f}-{paired[-1]:.2f}]")
PY
done
echo "rows appended to $csv"
