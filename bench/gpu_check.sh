#!/usr/bin/env bash
# The GPU check on a machine with an NVIDIA GPU, CUDA 13 and Python 3.12, nothing fetched there:
# installs the modern set's missing packages from the wheels in .whl/ (made here by
# bench/gpu_wheels.sh), then runs bench/gpu_check.py (jeffress, compare cuba/coba, Diehl & Cook at
# 400 and 6400 neurons on cuda_standalone and cpp_standalone). Figures go to $OUT (or runs/gpu_check).
#
#   device tool:  run(command="bash bench/gpu_check.sh", carry=[".whl"], timeout_s=600)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d .whl ] || ! ls .whl/*.whl >/dev/null 2>&1; then
    echo "gpu_check: no wheels in .whl/: run bench/gpu_wheels.sh first (on a machine with pip access)" >&2
    exit 2
fi
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/brainsim-site .whl/*.whl
export PYTHONPATH="/tmp/brainsim-site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
python3 bench/gpu_check.py "$@"
