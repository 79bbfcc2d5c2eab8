#!/usr/bin/env bash
# Every GPU measurement in one prepared run (issue: speed, distributed), under 8 minutes on an
# H100/H200 machine:
#   1. build against the machine's PyTorch (python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
#      and the bundle bench/gpu/prepare.sh made (.deps/gpu: yaml-cpp, CLI11, json, GoogleTest,
#      libjpeg, libpng, zlib, Gloo headers), so that a bare offline machine needs nothing else
#   2. the gpu-labelled tests (fused attention, bf16, checkpointing, fused AdamW, NCCL job)
#   3. the pretraining step (norm_pix_loss), ours with and without the CUDA kernels against PyTorch
#      eager (autocast + SDPA, fused AdamW) and torch.compile, on the same card in the same run:
#      ViT-B/16 batch 256 and ViT-L/16 batch 128 in bf16 (fp16: ours); images/s and peak memory;
#      then ViT-L with activation checkpointing
#   3b. the segmentation step of `mae segment` as the paper's ADE20K recipe (UPerNet, 512 x 512,
#      batch 2 per GPU, bf16): ViT-B and ViT-L, images/s and peak memory per GPU, and the hours
#      mmseg's 160k iterations would take at that speed
#   4. NCCL: `mae launch --nproc 1` pretraining on the GPU (world size 1)
#   5. end to end: the C++ loader decoding JPEGs from local disk into ViT-B pretraining; the
#      data-wait share and the decoder threads used
# Results go to $OUT (the device tool's folder) or bench/results/gpu-<date>/. On a machine without
# a CUDA device, steps 1-2 run (the GPU tests skip) and the rest is skipped with a note.
# Usage: bench/gpu/run.sh [--build-dir DIR] [--quick] [--rounds N (step rounds, alternating; default 1)]
set -uo pipefail
cd "$(dirname "$0")/../.."
build=build-gpu quick=0 rounds=1
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    --rounds) rounds=$2; shift 2 ;;
    *) echo "usage: $0 [--build-dir DIR] [--quick] [--rounds N]" >&2; exit 2 ;;
  esac
done
out=${OUT:-bench/results/gpu-$(date +%F)}
mkdir -p "$out"
log() { echo "[gpu] $*" | tee -a "$out/summary.txt"; }
start=$(date +%s)
python=${MAE_PYTHON:-python3}

# 1. Build.
prefix=$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null || true)
[ -n "$prefix" ] || prefix=$(cat build/.torch-prefix 2>/dev/null || true)
[ -n "$prefix" ] || { log "no PyTorch/LibTorch found (python3 -c 'import torch' failed, no build/.torch-prefix)"; exit 1; }
[ -d .deps/gpu/usr ] && prefix="$PWD/.deps/gpu/usr;$prefix"
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" >"$out/cmake.log" 2>&1 \
    || { log "cmake failed (missing packages? run bench/gpu/prepare.sh on a Debian machine first; see scripts/apt-packages.txt):"
         tail -20 "$out/cmake.log" | tee -a "$out/summary.txt"; exit 1; }
fi
cmake --build "$build" -j "$(nproc)" --target mae_cli mae_bench_step mae_gpu_tests mae_unit_tests >"$out/build.log" 2>&1 || { log "build failed:"; tail -30 "$out/build.log" | tee -a "$out/summary.txt"; exit 1; }
log "built in $(( $(date +%s) - start )) s against $prefix"

# 2. GPU tests (skip cleanly without a device).
ctest --test-dir "$build" -L gpu --output-on-failure >"$out/ctest_gpu.log" 2>&1
log "gpu tests: $(grep -E 'tests passed|tests failed' "$out/ctest_gpu.log" | tail -1), $(grep -c '(Skipped)' "$out/ctest_gpu.log") skipped"
"$build/bin/mae_unit_tests" --gtest_filter='*Cuda*' >>"$out/ctest_gpu.log" 2>&1 || log "unit CUDA tests failed (see ctest_gpu.log)"

if ! "$build/bin/mae" --version | grep -q "CUDA [0-9]" || ! "$python" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  log "no CUDA device here: steps 3-5 skipped"
  exit 0
fi
card=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
log "card: $card"

# 3. Step benchmark on the same card in the same run: ours (ATen's loss; the CUDA kernels with
#    MAE_CUDA_KERNELS=1) against PyTorch eager (autocast + SDPA + fused AdamW) and the same model under
#    torch.compile (bf16, the bar of issue 29). Rounds alternate the implementations; medians count.
steps="--steps 10 --warmup 3"
[ "$quick" = 1 ] && steps="--steps 3 --warmup 2"
torch_ver=$("$build/bin/mae" --version | sed -n 's/.*LibTorch \([0-9.]*\).*/\1/p' | head -1)
row() {  # csv dtype config impl json
  "$python" - "$2" "$3" "$4" "$5" "$card" >>"$1" <<'PY'
import json, sys, datetime
dtype, cfg, impl, line, card = sys.argv[1:6]
d = json.loads(line)
print(f'{datetime.date.today()},{cfg},{impl},cuda,{dtype},{d.get("threads", "")},{d["batch"]},{d["img_per_s"]},{d["step_ms"]},{d["peak_mem_mb"]},"{card}",{d.get("achieved_gflops", "")},{d.get("peak_share", "")}')
PY
}
step_once() {  # impl dtype args -> one JSON line (empty on failure)
  local impl=$1 dtype=$2; shift 2
  case $impl in
    mae-fused) "$build/bin/mae_bench_step" "$@" $steps --device cuda --dtype "$dtype" --norm-pix-loss ;;
    mae-cuda-kernels) MAE_CUDA_KERNELS=1 "$build/bin/mae_bench_step" "$@" $steps --device cuda --dtype "$dtype" --norm-pix-loss ;;
    pytorch-sdpa-fusedadamw) "$python" bench/step_reference.py "$@" $steps --device cuda --dtype "$dtype" --attn sdpa --fused-adamw --norm-pix-loss ;;
    pytorch-sdpa-fusedadamw-compile) "$python" bench/step_reference.py "$@" $steps --device cuda --dtype "$dtype" --attn sdpa --fused-adamw --norm-pix-loss --compile ;;
  esac 2>>"$out/bench.err" | tail -1
}
for dtype in bf16 fp16; do
  csv="bench/results/step_cuda_${dtype}_torch${torch_ver}.csv"
  [ -f "$csv" ] || echo "date,config,impl,device,dtype,threads,batch,img_per_s,step_ms,peak_mem_mb,machine,achieved_gflops,gemm_peak_share" >"$csv"
  impls="mae-fused mae-cuda-kernels"  # fp16: ours only (the eager figures of 12-04 stand)
  [ "$dtype" = bf16 ] && impls="$impls pytorch-sdpa-fusedadamw pytorch-sdpa-fusedadamw-compile"
  for cfg in "vit_base_224_b256|--preset base --img 224 --batch 256" "vit_large_224_b128|--preset large --img 224 --batch 128"; do
    name=${cfg%%|*} args=${cfg#*|}
    for round in $(seq "$rounds"); do
      for impl in $impls; do
        # shellcheck disable=SC2086
        line=$(step_once "$impl" "$dtype" $args)
        [ -n "$line" ] || { log "$name $dtype $impl round $round failed (bench.err)"; continue; }
        echo "{\"config\": \"$name\", \"dtype\": \"$dtype\", \"impl\": \"$impl\", \"run\": $line}" >>"$out/step.jsonl"
        row "$csv" "$dtype" "$name" "$impl" "$line"
      done
    done
    log "$name $dtype: $("$python" - "$out/step.jsonl" "$name" "$dtype" <<'PY'
import json, statistics, sys
path, name, dtype = sys.argv[1:4]
runs = {}
for line in open(path):
    d = json.loads(line)
    if d["config"] == name and d["dtype"] == dtype:
        runs.setdefault(d["impl"], []).append(d["run"])
med = {k: statistics.median(r["img_per_s"] for r in v) for k, v in runs.items()}
mem = {k: max(r["peak_mem_mb"] for r in v) for k, v in runs.items()}
parts = [f"{k} {med[k]:.0f} img/s {mem[k]:.0f} MiB" for k in med]
for ours in ("mae-fused", "mae-cuda-kernels"):
    for ref in ("pytorch-sdpa-fusedadamw", "pytorch-sdpa-fusedadamw-compile"):
        if ours in med and ref in med:
            parts.append(f"{ours}/{ref} {med[ours] / med[ref]:.2f}x")
print("; ".join(parts))
PY
)"
  done
done
csv="bench/results/step_cuda_bf16_torch${torch_ver}.csv"
# Activation checkpointing: ViT-L b128 memory and speed.
# shellcheck disable=SC2086
ckpt=$("$build/bin/mae_bench_step" --preset large --img 224 --batch 128 $steps --device cuda --dtype bf16 --grad-checkpointing 2>>"$out/bench.err")
echo "$ckpt" >>"$out/step.jsonl"; row "$csv" bf16 vit_large_224_b128 mae-fused-ckpt "$ckpt"
log "vit_large b128 with activation checkpointing: $ckpt"

# 3b. Segmentation (issue 31): the ADE20K recipe's step per GPU.
csv="bench/results/segment_step_cuda_bf16_torch${torch_ver}.csv"
[ -f "$csv" ] || echo "date,config,impl,device,dtype,threads,batch,img_per_s,step_ms,peak_mem_mb,machine,achieved_gflops,gemm_peak_share" >"$csv"
for cfg in "upernet_vit_base_512_b2|--preset base --channels 768 --batch 2" "upernet_vit_base_512_b8|--preset base --channels 768 --batch 8" \
           "upernet_vit_large_512_b2|--preset large --channels 1024 --batch 2"; do
  name=${cfg%%|*} args=${cfg#*|}
  # shellcheck disable=SC2086
  line=$("$build/bin/mae_bench_step" --task segment --img 512 $args $steps --device cuda --dtype bf16 2>>"$out/bench.err" | tail -1)
  [ -n "$line" ] || { log "$name failed (bench.err)"; continue; }
  echo "{\"config\": \"$name\", \"dtype\": \"bf16\", \"impl\": \"mae-segment\", \"run\": $line}" >>"$out/step.jsonl"
  row "$csv" bf16 "$name" mae-segment "$line"
  log "$name bf16: $("$python" - "$line" <<'PY'
import json, sys
d = json.loads(sys.argv[1])
print(f"{d['img_per_s']:.1f} img/s, {d['step_ms']:.0f} ms/step, {d['peak_mem_mb']:.0f} MiB; 160k steps: {160000 * d['step_ms'] / 3.6e6:.1f} h")
PY
)"
done

# 4. NCCL, one process on the GPU.
timeout 120 "$build/bin/mae" launch --nproc 1 -- pretrain --device cuda --set train.max_steps=50 --set train.batch_size=256 \
  --set log.every=10 --set log.progress=lines --set visualize.num_images=0 --set train.precision=bf16 \
  --output "$out/nccl_run" >"$out/nccl.log" 2>&1
log "nccl world size 1: exit $?; $(grep -E '^distributed:|gradient sync:' "$out/nccl.log" | tr '\n' ' ')"

# 5. End to end from JPEG files: ViT-B pretraining fed by the C++ loader.
images=$(mktemp -d)
"$python" bench/data_reference.py make-images --out "$images" --count 2000 >"$out/images.log" 2>&1 \
  || "$python" - "$images" <<'PY' >>"$out/images.log" 2>&1
import sys, torch, torchvision.io as io
for i in range(2000):
    torch.manual_seed(i)
    img = (torch.rand(3, 375, 500) * 255).to(torch.uint8)
    open(f"{sys.argv[1]}/{i:05d}.jpg", "wb").write(io.encode_jpeg(img, quality=90).numpy().tobytes())
PY
count=$(find "$images" -name '*.jpg' | wc -l)
if [ "$count" -gt 0 ]; then
  workers=$(( $(nproc) - 2 ))
  timeout 240 "$build/bin/mae" pretrain --device cuda --config configs/mae_vit_base_patch16_imagenet.yaml \
    --set data.source=folder --set data.root="$images" --set data.num_workers=$workers --set train.batch_size=256 \
    --set train.precision=bf16 --set train.max_steps=40 --set log.every=10 --set log.progress=lines \
    --set visualize.num_images=0 --set train.epochs=100 --output "$out/e2e_run" >"$out/e2e.log" 2>&1
  log "end to end ($count JPEGs, $workers decoder threads): exit $?; $(grep -E 'img_per_s' "$out/e2e.log" | tail -2 | tr '\n' ' ')"
else
  log "end to end skipped: no JPEG writer (Pillow or torchvision) in $python"
fi
rm -rf "$images"
cp bench/results/step_cuda_*_torch"${torch_ver}".csv bench/results/segment_step_cuda_*_torch"${torch_ver}".csv "$out/" 2>/dev/null || true
log "done in $(( $(date +%s) - start )) s; results in $out (and bench/results/step_cuda_*_torch${torch_ver}.csv)"
