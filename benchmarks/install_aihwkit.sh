#!/usr/bin/env bash
# Build and install IBM aihwkit 1.2.0 (CPU only) from source into a virtualenv.
#
# Usage: benchmarks/install_aihwkit.sh [VENV]   (default: .venv)
#
# Idempotent: exits at once if aihwkit 1.2.0 already imports in VENV.
# Keeps the venv's torch (2.13.0, CPU) untouched via a constraint file, and
# installs aihwkit with --no-deps: its declared torchvision dependency would
# pull a CUDA build and is not needed by aihwkit's simulator core.
# The source build takes about 3 minutes on 2 cores.
set -euo pipefail

AIHWKIT_VERSION="1.2.0"
TORCH_VERSION="2.13.0"
VENV="${1:-.venv}"
PY="$VENV/bin/python"

if [[ ! -x "$PY" ]]; then
    echo "install_aihwkit: no python at $PY (pass the venv path as \$1)" >&2
    exit 1
fi
VENV_BIN="$(cd "$VENV/bin" && pwd)"

aihwkit_ok() {
    "$PY" - "$AIHWKIT_VERSION" <<'EOF' >/dev/null 2>&1
import sys

import aihwkit
from aihwkit.nn import AnalogLinear  # noqa: F401
from aihwkit.simulator.tiles import InferenceTile  # noqa: F401

sys.exit(0 if aihwkit.__version__ == sys.argv[1] else 1)
EOF
}

if aihwkit_ok; then
    echo "install_aihwkit: aihwkit $AIHWKIT_VERSION already installed in $VENV"
    exit 0
fi

# --- system BLAS --------------------------------------------------------------
if ! dpkg-query -W -f='${Status}' libopenblas-dev 2>/dev/null | grep -q "install ok installed"; then
    if [[ "$(id -u)" -ne 0 ]]; then
        echo "install_aihwkit: libopenblas-dev is missing; run 'sudo apt-get install -y libopenblas-dev' and retry" >&2
        exit 1
    fi
    echo "install_aihwkit: installing libopenblas-dev"
    export DEBIAN_FRONTEND=noninteractive
    # another apt/dpkg run on a shared machine holds the lock for a while: wait for it
    apt_get() { apt-get -o DPkg::Lock::Timeout=600 "$@"; }
    if ! apt_get install -y -q libopenblas-dev; then
        apt_get update -q
        apt_get install -y -q libopenblas-dev
    fi
fi

# --- python build tools and aihwkit -----------------------------------------
TMPDIR_AIHW="$(mktemp -d)"
trap 'rm -rf "$TMPDIR_AIHW"' EXIT
CONSTRAINTS="$TMPDIR_AIHW/constraints.txt"
echo "torch==$TORCH_VERSION" >"$CONSTRAINTS"

# The build runs `stubgen` (from mypy) as a bare command: the venv's bin must be on PATH.
export PATH="$VENV_BIN:$PATH"
export USE_CUDA=OFF

pip_install() {
    "$PY" -m pip install --disable-pip-version-check -c "$CONSTRAINTS" "$@"
}

echo "install_aihwkit: installing build tools"
pip_install setuptools wheel "scikit-build>=0.18.1" "pybind11>=3.0.1" ninja "cmake>=3.18" mypy

echo "install_aihwkit: installing aihwkit's runtime dependencies (without torchvision)"
pip_install scipy "requests>=2.25,<3" "numpy>=1.22" "protobuf>=4.21.6" tqdm scikit-learn

echo "install_aihwkit: building aihwkit $AIHWKIT_VERSION from source (a few minutes)"
pip_install --no-build-isolation --no-deps --no-binary aihwkit "aihwkit==$AIHWKIT_VERSION"

if ! aihwkit_ok; then
    echo "install_aihwkit: aihwkit $AIHWKIT_VERSION was installed but does not import:" >&2
    "$PY" -c "import aihwkit; from aihwkit.simulator.tiles import InferenceTile" >&2 || true
    exit 1
fi
"$PY" -c "import aihwkit, torch; print(f'install_aihwkit: aihwkit {aihwkit.__version__} OK (torch {torch.__version__})')"
