#!/usr/bin/env bash
# rule4ml (an ML predictor of hls4ml resources/latency) in its own venv: it pulls TensorFlow and
# torch, which must not enter codesign's environment. torch==2.13.0 first (the local CPU build;
# any other torch pulls CUDA wheels). Usage: bash benchmarks/install_rule4ml.sh [VENV]
set -euo pipefail
VENV="${1:-.venv-rule4ml}"
PYTHON="${PYTHON:-python3}"
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import rule4ml" 2>/dev/null; then
  echo "rule4ml already installed in $VENV"; exit 0
fi
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet torch==2.13.0
"$VENV/bin/python" -m pip install --quiet "rule4ml==0.2.0" numpy rich
"$VENV/bin/python" -c "import rule4ml; print('rule4ml', rule4ml.__version__ if hasattr(rule4ml, '__version__') else 'installed')"
