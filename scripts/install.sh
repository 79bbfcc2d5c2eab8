#!/usr/bin/env bash
# Installs what mae needs on Debian 12 (idempotent; fast when everything is present):
#   1. the Debian packages in scripts/apt-packages.txt (apt-get, as root or through sudo);
#   2. LibTorch: $MAE_TORCH_PREFIX if set (a pytorch.org LibTorch zip or any folder with
#      share/cmake/Torch), else an importable python3 `torch` >= 2.4 built with the C++11 ABI (the
#      oldest mae builds with; PyPI wheels have that ABI from 2.7 on), else the PyPI `torch` wheel
#      in a venv shared by every clone: ${MAE_VENV:-$HOME/.cache/mae/venv};
#   3. the Python packages the fixture scripts, the Python tests and the benchmarks use (numpy,
#      safetensors, tensorboard, tifffile) in that venv; a Python test whose packages are missing is skipped.
# MAE_TORCH_VERSION=2.4.1 installs that torch wheel alone into a venv of its own
# (${MAE_VENV:-$HOME/.cache/mae/venv-torch2.4.1}); scripts/compat.sh builds against it.
# Writes the LibTorch CMake prefix to ${MAE_BUILD_DIR:-build}/.torch-prefix for scripts/build.sh and
# prints the LibTorch version, CUDA, BLAS and thread settings.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "[install] $*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
  echo "[install] error: need root (or sudo) to run: $*" >&2; exit 1; fi; }

# 1. Debian packages
mapfile -t wanted < <(grep -v '^\s*#' scripts/apt-packages.txt | awk 'NF {print $1}')
missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  log "Debian packages: all ${#wanted[@]} present"
fi

# 2. LibTorch
pinned="${MAE_TORCH_VERSION:-}"
build_dir="${MAE_BUILD_DIR:-build}"
python_pkgs=(numpy safetensors tensorboard tifffile PIL:pillow webdataset transformers timm)  # module[:PyPI name]; webdataset: the WebDataset interop test; transformers, timm: the parity and export tests against them
if [ -n "$pinned" ]; then
  venv="${MAE_VENV:-$HOME/.cache/mae/venv-torch$pinned}"
  python_pkgs=(numpy)  # only the C++ build and its unit tests use this torch (numpy: quiets its import)
else
  venv="${MAE_VENV:-$HOME/.cache/mae/venv}"
fi
# An installed torch is reused when it is >= 2.4 and built with the C++11 string ABI (PyPI wheels
# from 2.7 on), which Debian's C++ libraries need; a pinned version must match exactly.
torch_ok() { MAE_PINNED="$pinned" "$1" - <<'PY' 2>/dev/null
import os, sys, torch
version = torch.__version__.split("+")[0]
pinned = os.environ["MAE_PINNED"]
major, minor = (int(x) for x in version.split(".")[:2])
sys.exit(0 if (version == pinned if pinned else (major, minor) >= (2, 4) and torch.compiled_with_cxx11_abi()) else 1)
PY
}
if [ -n "${MAE_TORCH_PREFIX:-}" ]; then
  prefix="$MAE_TORCH_PREFIX"
  [ -d "$prefix/share/cmake/Torch" ] || { echo "[install] error: MAE_TORCH_PREFIX=$prefix has no share/cmake/Torch; point it at an unpacked LibTorch" >&2; exit 1; }
  python=""
  log "LibTorch from MAE_TORCH_PREFIX=$prefix"
else
  if [ -x "$venv/bin/python" ] && torch_ok "$venv/bin/python"; then
    python="$venv/bin/python"
  elif [ -z "$pinned" ] && command -v python3 >/dev/null && torch_ok python3 && [ -z "${MAE_FORCE_VENV:-}" ]; then
    python="$(command -v python3)"
    log "reusing the torch of $python"
  else
    log "creating $venv and installing torch${pinned:+==$pinned} from PyPI (a few GiB, once per machine)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip
    "$venv/bin/pip" install -q "torch${pinned:+==$pinned}"
    python="$venv/bin/python"
  fi
  prefix="$(cd "$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)')/../.." && pwd)"
  need=()
  for p in ${python_pkgs[@]+"${python_pkgs[@]}"}; do "$python" -c "import ${p%%:*}" 2>/dev/null || need+=("${p#*:}"); done
  if [ ${#need[@]} -gt 0 ]; then
    if [ "$python" = "$venv/bin/python" ]; then "$python" -m pip install -q "${need[@]}";
    else log "note: $python lacks ${need[*]} (only the fixture scripts, the Python tests and benchmarks need them)"; fi
  fi
  "$python" - <<'PY'
import torch
cfg = torch.__config__.show()
blas = next((l.split("BLAS_INFO=")[1].split(",")[0] for l in cfg.splitlines() if "BLAS_INFO=" in l), "?")
print(f"[install] LibTorch {torch.__version__}, CUDA {torch.version.cuda or 'none'}, BLAS {blas}, "
      f"default threads {torch.get_num_threads()} (mae sets one per core; --threads overrides)")
PY
fi
mkdir -p "$build_dir"
echo "$prefix" > "$build_dir/.torch-prefix"
log "LibTorch CMake prefix: $prefix (saved in $build_dir/.torch-prefix)"
