# Sourced by the bench/run_*.sh scripts (from the repository root) that run a Python reference.
# bench_python: the Python of the references ($MAE_PYTHON, else the install script's venv, else python3).
# require_pillow PY: exits with a message naming what to install when PY cannot import Pillow.
# bench_bin NAME: the path of a built benchmark program, or exits naming the build command.
bench_bin() {
  local bin=${MAE_BUILD_DIR:-build}/bin/$1
  [ -x "$bin" ] || { echo "error: $bin missing; build it: ninja -C ${MAE_BUILD_DIR:-build} $1" >&2; exit 1; }
  echo "$bin"
}
bench_python() {
  local python="${MAE_PYTHON:-$HOME/.cache/mae/venv/bin/python}"
  [ -x "$python" ] || python=python3
  echo "$python"
}
require_pillow() {
  "$1" -c 'import PIL' 2>/dev/null && return 0
  echo "error: the benchmark makes its test images with Pillow, which $1 lacks; install it with" \
    "'$1 -m pip install pillow' (scripts/install.sh does), or give your own JPEGs with --images DIR" >&2
  exit 1
}
