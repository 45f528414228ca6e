#!/usr/bin/env bash
# Download, here, the wheels that bench/gpu_check.sh installs on the GPU machine (which reaches no
# package index). They go to .whl/ (git-ignored; the device tool carries it: carry [".whl"]).
# The GPU machine already has numpy 2.5, torch (CUDA 13), scipy, matplotlib, sympy, jinja2,
# pyparsing, numba, h5py, pandas and scikit-learn; these are what brainsim needs beyond that, at the
# versions of constraints-modern.txt (Cython too: Brian2 2.10.1 wants Cython < 3.1.4).
set -euo pipefail
cd "$(dirname "$0")/.."
pin() { grep -i -E "^$1==" constraints-modern.txt | head -1; }
packages=(Brian2 Brian2Cuda Cython progressbar2 python-utils nir mlxtend)
specs=()
for p in "${packages[@]}"; do specs+=("$(pin "$p")"); done
rm -rf .whl && mkdir -p .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any -d .whl "${specs[@]}"
ls -la .whl
du -sh .whl
