#!/usr/bin/env bash
# The README's first command: install, build, and run the built-in default job, MAE pretraining
# on Fashion-MNIST, into runs/pretrain (checkpoints, metrics, TensorBoard, reconstruction PNGs). It
# ends with the k-NN accuracy of the encoder before and after pretraining and the time each phase
# took. Arguments go to `mae pretrain`, e.g. scripts/demo.sh --set train.epochs=1.
set -euo pipefail
cd "$(dirname "$0")/.."
elapsed() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }
start=$SECONDS
scripts/install.sh
installed=$SECONDS
MAE_BUILD_TARGETS=mae_cli scripts/build.sh  # the demo's command alone; scripts/test.sh builds the rest
built=$SECONDS
# The demo's run folder is the demo's: a second demo replaces the first (unless it resumes it).
case " $* " in *" --resume "*|*" --output "*) fresh=() ;; *) fresh=(--overwrite) ;; esac
build/bin/mae pretrain ${fresh[@]+"${fresh[@]}"} "$@"
done_at=$SECONDS
last=$(ls runs/pretrain/reconstructions/*.png 2>/dev/null | tail -1 || true)
echo "[demo] install $(elapsed $((installed - start))), build $(elapsed $((built - installed))), pretraining $(elapsed $((done_at - built)))"
[ -n "$last" ] && echo "[demo] reconstructions: $last"
