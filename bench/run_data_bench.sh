#!/usr/bin/env bash
# Data pipeline, ours against torchvision + PIL in the same run on the same machine: images per
# second per core (images / CPU seconds) of read + decode + RandomResizedCrop(224, bicubic) + flip
# + normalize.
#   mae (crop_decode on)   crop box from the header, DCT-scaled, only its rows and columns decoded
#   mae (crop_decode off)  whole image decoded, then cropped (as torchvision does)
#   torchvision            the official MAE pipeline: PIL loader + transforms, one thread
#   mae_loader / torchvision_dataloader   the same in the threaded loader / torch's DataLoader
#                          (worker processes), on every core, batches of 64
# JPEGs (about 500x375, quality 90) are cut from photos under /usr/share/backgrounds and friends
# (`apt-get install mate-backgrounds`), or synthesised when there are none.
# With --multiband: 6-band uint16 scenes instead (a folder of TIFFs, uncompressed and LZW, and one
# memory-mapped .npy), ours only (no reference pipeline exists for them in the same run).
# Usage: bench/run_data_bench.sh [--count N] [--images DIR | --multiband]
# Prints the rows and writes bench/results/data_<cpu>_<photos|synthetic|multiband>_torch<ver>.csv.
set -euo pipefail
cd "$(dirname "$0")/.."
count=2000 images="" multiband=""
while [ $# -gt 0 ]; do
  case "$1" in
    --count) count=$2; shift 2 ;;
    --images) images=$2; shift 2 ;;
    --multiband) multiband=1; shift ;;
    *) echo "usage: $0 [--count N] [--images DIR | --multiband]" >&2; exit 2 ;;
  esac
done
source bench/common.sh
bin=$(bench_bin mae_bench_data)
python=$(bench_python)
cpu=$(lscpu | sed -n 's/^Model name:\s*//p' | head -1 | tr -c 'A-Za-z0-9\n' '_' | tr -s '_' | sed 's/_$//')
torch=$("$python" -c 'import torch; print(torch.__version__.split("+")[0])' 2>/dev/null || echo unknown)
mkdir -p bench/results
if [ -n "$multiband" ]; then
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  csv="bench/results/data_${cpu}_multiband_torch${torch}.csv"
  "$bin" --multiband "$scratch" --count "$count" | tee "$csv"
  echo "wrote $csv"
  exit 0
fi
if [ -z "$images" ]; then
  require_pillow "$python"
  images=$(mktemp -d)
  trap 'rm -rf "$images"' EXIT
  "$python" bench/data_reference.py make-images --out "$images" --count 240 2> "$images.log"
  cat "$images.log" >&2
fi
kind=photos
grep -q synthetic "$images.log" 2>/dev/null && kind=synthetic
rm -f "$images.log"

out=$(mktemp)
reference=0 reference_loader=0
if "$python" -c 'import torchvision, PIL' 2>/dev/null; then
  "$python" bench/data_reference.py run --images "$images" --count "$count" | tee "$out"
  reference=$(awk -F, '$1 == "torchvision" {print $7}' "$out")
  reference_loader=$(awk -F, '$1 == "torchvision_dataloader" {print $7}' "$out")
else
  echo "note: the reference (torchvision + Pillow) is missing in $python; only our figures are printed." \
    "Install it with: $python -m pip install pillow torchvision \"torch==$torch\" (the pin keeps the torch the build uses)" >&2
fi
"$bin" --images "$images" --count "$count" --reference "$reference" --reference-loader "$reference_loader" | tee -a "$out"

csv="bench/results/data_${cpu}_${kind}_torch${torch}.csv"
{ grep '^#' "$out"; echo "pipeline,crop_decode,threads,images,wall_s,cpu_s,images_per_s_per_core,ratio_vs_torchvision";
  grep -v -e '^#' -e '^pipeline,' "$out"; } > "$csv"
rm -f "$out"
echo "wrote $csv"
