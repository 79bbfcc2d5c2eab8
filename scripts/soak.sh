#!/usr/bin/env bash
# Kill-and-resume soak: a small pretraining is killed with SIGKILL at random moments (some of them
# while a checkpoint is being written) and stopped with SIGTERM, resumed with --resume auto each
# time until it finishes, and its final weights and optimizer state are compared byte for byte
# with an uninterrupted run of the same settings.
#   scripts/soak.sh [--kills 20] [--terms 5] [--epochs 20] [--save-every 1] [--mae build/bin/mae] [--work DIR] [--seed 1]
# Prints the kills survived and the steps lost per kill; exits non-zero when the results differ.
set -euo pipefail
kills=20 terms=5 epochs=20 save_every=1 mae="$(cd "$(dirname "$0")/.." && pwd)/build/bin/mae" work="" seed=1
while [ $# -gt 0 ]; do
  case "$1" in
    --kills) kills="$2"; shift 2 ;;
    --terms) terms="$2"; shift 2 ;;
    --epochs) epochs="$2"; shift 2 ;;
    --save-every) save_every="$2"; shift 2 ;;
    --mae) mae="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    *) echo "soak: unknown argument $1 (see the top of $0)" >&2; exit 2 ;;
  esac
done
[ -x "$mae" ] || { echo "soak: $mae is not built; run scripts/build.sh first" >&2; exit 2; }
work="${work:-$(mktemp -d)}"
mkdir -p "$work/data" "$work/straight" "$work/soaked"
RANDOM=$seed

# 512 random 16x16 grey images with 4 labels, as IDX files (big-endian headers).
idx() {  # idx FILE MAGIC_TYPE_BYTE DIMS... < data
  { printf '\x00\x00\x08'; printf "\\x$(printf %02x "$2")"
    for d in "${@:3}"; do printf "\\x$(printf %02x $((d >> 24 & 255)))\\x$(printf %02x $((d >> 16 & 255)))\\x$(printf %02x $((d >> 8 & 255)))\\x$(printf %02x $((d & 255)))"; done
    cat; } > "$1"
}
head -c $((512 * 256)) /dev/urandom | idx "$work/data/images.idx" 3 512 16 16
head -c 512 /dev/urandom | tr '\0-\377' '\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3\0-\3' \
  | idx "$work/data/labels.idx" 1 512

# Both runs write into a folder named "run" (inside straight/ and soaked/), so their saved configs,
# and hence their files, are identical when the training is.
# fp32: train.precision=auto measures at start-up and could choose differently in two runs.
settings=(--threads 1 --output run --set data.root="$work/data" --set data.train_files=images.idx,labels.idx
  --set data.val_files=images.idx,labels.idx --set data.mean=0.5 --set data.std=0.3 --set model.img_size=16
  --set model.name=mae_vit_32d2b2h_patch4_dec16d1b2h --set model.in_chans=1 --set train.batch_size=16
  --set train.epochs="$epochs" --set train.warmup_epochs=1 --set train.save_every_steps="$save_every" --set visualize.num_images=0
  --set log.progress=none --set log.every=1 --set data.num_workers=1 --set train.precision=fp32)
(cd "$work/straight" && "$mae" pretrain "${settings[@]}" > log 2>&1) || { echo "soak: the uninterrupted run failed:"; tail "$work/straight/log"; exit 1; }

last_step() { grep -o '"step":[0-9]*' "$work/soaked/run/metrics.jsonl" 2>/dev/null | tail -1 | cut -d: -f2 || true; }
killed=0 termed=0 attempts=0 lost=()
while :; do
  attempts=$((attempts + 1))
  [ "$attempts" -le $((kills + terms + 50)) ] || { echo "soak: no end after $attempts attempts" >&2; exit 1; }
  (cd "$work/soaked" && exec "$mae" pretrain "${settings[@]}" --resume auto >> log 2>&1) &
  pid=$!
  if [ $((killed + termed)) -lt $((kills + terms)) ]; then
    if [ $killed -lt $kills ] && { [ $termed -ge $terms ] || [ $((RANDOM % 5)) -ne 0 ]; }; then signal=KILL; else signal=TERM; fi
    start=$(last_step)
    if [ $signal = KILL ] && [ $((RANDOM % 6)) -eq 0 ]; then
      sleep "$((RANDOM % 10))e-1"  # during start-up or the first steps
    else
      # After 1-20 more steps (so that the run advances whatever the machine's speed), then 0-9 ms
      # later: inside a step or a checkpoint write (one per step).
      target=$(( ${start:-0} + RANDOM % 20 + 1 ))
      while kill -0 "$pid" 2>/dev/null; do
        now=$(last_step)
        [ "${now:-0}" -ge "$target" ] && break
        sleep 0.01
      done
      sleep "$((RANDOM % 10))e-3"
    fi
    before=$(last_step)
    kill -s $signal "$pid" 2>/dev/null || true
  else
    signal=""
  fi
  code=0; wait "$pid" 2>/dev/null || code=$?
  [ -n "${SOAK_DEBUG:-}" ] && echo "attempt $attempts: SIG${signal:-none} -> exit $code"
  if [ "$signal" = KILL ] && [ $code -eq 137 ]; then killed=$((killed + 1));
  elif [ "$signal" = TERM ] && [ $code -eq 75 ]; then termed=$((termed + 1));
  elif [ $code -eq 0 ]; then
    break  # finished (before the signal, if one was sent)
  else echo "soak: attempt $attempts exited $code after SIG$signal:"; tail -5 "$work/soaked/log"; exit 1; fi
  # Steps lost: trained before the signal, minus where the next attempt resumes (the newest checkpoint).
  resumed=$(head -c 4096 "$work/soaked/run/checkpoint-last.state.safetensors" | strings | sed -n 's/.*iteration[^0-9]*\([0-9]*\).*/\1/p' | head -1)
  [ -n "${before:-}" ] && [ -n "$resumed" ] && lost+=($(( before > resumed ? before - resumed : 0 )))
done

same=yes
for f in checkpoint-last.safetensors checkpoint-last.state.safetensors "checkpoint-$(printf %04d "$epochs").safetensors"; do
  cmp -s "$work/straight/run/$f" "$work/soaked/run/$f" || { same=no; echo "soak: $f differs from the uninterrupted run"; }
done
max_lost=0 sum_lost=0
for l in "${lost[@]:-0}"; do sum_lost=$((sum_lost + l)); [ "$l" -gt "$max_lost" ] && max_lost=$l; done
echo "soak: $killed SIGKILL and $termed SIGTERM survived in $attempts attempts; steps lost per kill: max $max_lost," \
     "mean $(awk "BEGIN {printf \"%.2f\", $sum_lost / (${#lost[@]} > 0 ? ${#lost[@]} : 1)}") (train.save_every_steps=$save_every);" \
     "final weights and optimizer state bitwise equal to the uninterrupted run: $same"
[ "$same" = yes ] || exit 1
[ $killed -ge "$kills" ] && [ $termed -ge "$terms" ] || { echo "soak: the run ended before every planned signal; raise --epochs"; exit 1; }
