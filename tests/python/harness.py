"""What the Python tests share: the skip convention and running the `mae` binary.

A test whose packages are missing prints "SKIPPED: <reason>" and exits 77, the SKIP_RETURN_CODE
that tests/CMakeLists.txt gives every Python test, so ctest lists it as skipped instead of failing
it or leaving it out:

    from harness import require_modules
    require_modules("torch", "safetensors")   # before importing them
"""
import argparse
import importlib.util
import os
import shutil
import subprocess
import sys

SKIP_RETURN_CODE = 77


def require_modules(*names):
    missing = [n for n in names if importlib.util.find_spec(n) is None]
    if missing:
        print(f"SKIPPED: {sys.executable} lacks the Python package(s) {', '.join(missing)}; "
              f"scripts/install.sh installs them into its venv")
        sys.exit(SKIP_RETURN_CODE)


def run(*args):
    """Runs a command; exits with its output when it fails. Returns its stdout and stderr."""
    result = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        sys.exit(f"FAILED ({result.returncode}): {' '.join(args)}\n{result.stdout}")
    return result.stdout


def mae_and_fresh_workdir():
    """--mae BINARY --work DIR: returns both, with DIR emptied and created."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--mae", required=True)
    parser.add_argument("--work", required=True)
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    return args.mae, args.work
