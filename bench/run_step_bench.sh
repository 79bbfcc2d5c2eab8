#!/usr/bin/env bash
# MAE pretraining step, ours against PyTorch eager in the same run on the same machine:
#   mae-fused       this project (scaled_dot_product_attention)
#   mae-plain       this project, explicit attention matmuls
#   pytorch-explicit  the official code's formulation (q @ k^T, softmax, @ v), reference (a)
#   mae-fused-ckpt  this project with activation checkpointing (memory vs speed)
#   pytorch-sdpa      the same model with F.scaled_dot_product_attention, reference (b)
#   pytorch-sdpa-fusedadamw  reference (b) with AdamW(fused=True): the best plain PyTorch
# Our rows also carry the achieved GFLOP/s (model FLOPs, see bench_step.cpp) and its share of the
# GEMM peak (in the step's dtype) measured in the same process.
# Usage: bench/run_step_bench.sh [--device cpu|cuda] [--dtype fp32|bf16] [--threads N] [--quick]
# Prints a table with the ratios and appends rows to bench/results/step_<device>_<dtype>_torch<ver>.csv.
set -euo pipefail
cd "$(dirname "$0")/.."
device=cpu dtype=fp32 threads=$(nproc) quick=0
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device=$2; shift 2 ;;
    --dtype) dtype=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    *) echo "usage: $0 [--device cpu|cuda] [--dtype fp32|bf16] [--threads N] [--quick]" >&2; exit 2 ;;
  esac
done
bin=build/bin/mae_bench_step
[ -x "$bin" ] || { echo "error: $bin missing; run scripts/build.sh first" >&2; exit 1; }
python="${MAE_PYTHON:-$HOME/.cache/mae/venv/bin/python}"
[ -x "$python" ] || python=python3
"$python" -c 'import torch' 2>/dev/null || { echo "note: no Python torch; only our figures are printed"; python=""; }

# name | arguments shared by both sides
if [ "$device" = cuda ]; then
  configs=("vit_base_224_b256|--preset base --img 224 --batch 256" "vit_large_224_b128|--preset large --img 224 --batch 128")
  steps="--steps 10 --warmup 3"
else
  configs=("vit_base_224_b8|--preset base --img 224 --batch 8" "vit_tiny_32_p4_b256|--preset tiny --img 32 --patch 4 --batch 256")
  steps="--steps 3 --warmup 1"
fi
[ "$quick" = 1 ] && steps="--steps 1 --warmup 1"

cpu=$(lscpu | sed -n 's/^Model name:\s*//p' | head -1)
echo "machine: $cpu, $(nproc) cores, threads $threads, device $device, dtype $dtype (our rows: GEMM peak measured in each process)"
mkdir -p bench/results
torch_ver=$("$bin" --preset tiny --img 32 --patch 16 --batch 1 --steps 1 --warmup 0 --device "$device" | sed -n 's/.*"torch":"\([^"]*\)".*/\1/p')
csv="bench/results/step_${device}_${dtype}_torch${torch_ver}.csv"
header="date,config,impl,device,dtype,threads,batch,img_per_s,step_ms,peak_mem_mb,machine,achieved_gflops,gemm_peak_share"
[ -f "$csv" ] || echo "$header" >"$csv"

for entry in "${configs[@]}"; do
  name=${entry%%|*} args=${entry#*|}
  declare -A ips=()
  run() {  # impl json-line
    local impl=$1 line=$2
    local v=$(echo "$line" | "${python:-python3}" -c 'import json,sys; d=json.loads(sys.stdin.read()); print(d["img_per_s"], d["step_ms"], d["peak_mem_mb"], round(d.get("achieved_gflops", 0), 1), round(d.get("peak_share", 0), 3))')
    read -r i s m g share <<<"$v"
    ips[$impl]=$i
    if [ "$g" != "0" ]; then
      printf "  %-24s %10.2f img/s %10.1f ms/step %9.0f MiB  %7.1f GFLOP/s = %5.1f %% of the $dtype GEMM peak\n" "$impl" "$i" "$s" "$m" "$g" "$(awk "BEGIN{print $share * 100}")"
    else
      printf "  %-24s %10.2f img/s %10.1f ms/step %9.0f MiB\n" "$impl" "$i" "$s" "$m"
      g="" share=""
    fi
    echo "$(date -u +%F),$name,$impl,$device,$dtype,$threads,$(echo "$args" | sed -n 's/.*--batch \([0-9]*\).*/\1/p'),$i,$s,$m,\"$cpu\",$g,$share" >>"$csv"
  }
  echo "$name ($args)"
  for attn in fused plain; do
    run "mae-$attn" "$("$bin" $args $steps --threads "$threads" --attn $attn --dtype "$dtype" --device "$device")"
  done
  run "mae-fused-ckpt" "$("$bin" $args $steps --threads "$threads" --dtype "$dtype" --device "$device" --grad-checkpointing)"
  if [ -n "$python" ]; then
    for attn in explicit sdpa; do
      run "pytorch-$attn" "$("$python" bench/step_reference.py $args $steps --threads "$threads" --attn $attn --dtype "$dtype" --device "$device")"
    done
    run "pytorch-sdpa-fusedadamw" "$("$python" bench/step_reference.py $args $steps --threads "$threads" --attn sdpa --fused-adamw --dtype "$dtype" --device "$device")"
    "${python}" -c "
f, e, s, b = ${ips[mae-fused]}, ${ips[pytorch-explicit]}, ${ips[pytorch-sdpa]}, ${ips[pytorch-sdpa-fusedadamw]}
print(f'  ratio mae-fused / pytorch-explicit = {f/e:.2f}x, / pytorch-sdpa = {f/s:.2f}x, / pytorch-sdpa-fusedadamw = {f/b:.2f}x')"
  fi
  unset ips
done
echo "rows appended to $csv"
