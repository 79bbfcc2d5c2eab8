"""What the Python tests share: the skip convention and running the `mae` binary.

A test whose packages are missing prints "SKIPPED: <reason>" and exits 77, the SKIP_RETURN_CODE
that tests/CMakeLists.txt gives every Python test, so ctest lists it as skipped instead of failing
it or leaving it out:

    from harness import require_modules
    require_modules("torch", "safetensors")   # before importing them
"""
import importlib.util
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
