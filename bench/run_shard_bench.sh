#!/usr/bin/env bash
# Loose JPEG files against the same JPEGs in WebDataset shards (`mae pack`), through the threaded
# loaders with RandomResizedCrop(224) + flip + normalize: images per second (wall) and per core
# (images / CPU seconds), page cache warm and cold (posix_fadvise DONTNEED on every file before a
# cold run), medians of alternating rounds; and `mae pack`'s own throughput (copy, re-encode to 256).
# JPEGs (about 500x375, quality 90) come from bench/data_reference.py make-images, or --images DIR.
# Usage: bench/run_shard_bench.sh [--count N] [--rounds R] [--images DIR]
# Writes bench/results/shards_<cpu>_<cores>cores_torch<ver>.csv.
set -euo pipefail
cd "$(dirname "$0")/.."
count=2000 rounds=3 images=""
while [ $# -gt 0 ]; do
  case "$1" in
    --count) count=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --images) images=$2; shift 2 ;;
    *) echo "usage: $0 [--count N] [--rounds R] [--images DIR]" >&2; exit 2 ;;
  esac
done
source bench/common.sh
bin=$(bench_bin mae_bench_shards)
python=$(bench_python)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
if [ -z "$images" ]; then
  require_pillow "$python"
  images=$scratch/images
  "$python" bench/data_reference.py make-images --out "$images" --count "$count" >&2
fi
mkdir -p "$scratch/shards"
cpu=$(lscpu | sed -n 's/^Model name:\s*//p' | head -1 | tr -c 'A-Za-z0-9\n' '_' | tr -s '_' | sed 's/_$//')
torch=$("$python" -c 'import torch; print(torch.__version__.split("+")[0])' 2>/dev/null || echo unknown)
csv="bench/results/shards_${cpu}_$(nproc)cores_torch${torch}.csv"
mkdir -p bench/results
"$bin" --images "$images" --scratch "$scratch/shards" --rounds "$rounds" | grep -v "^pack: " | tee "$csv"
echo "wrote $csv"
