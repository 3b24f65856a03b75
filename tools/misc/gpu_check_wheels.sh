#!/usr/bin/env bash
# Gather, here, the wheels that tools/misc/gpu_check.sh installs on a GPU machine that has torch,
# torchvision, timm, numpy, opencv, pillow and matplotlib but no OpenMMLab and no network
# (docs/performance.md): mmengine, mmpretrain, mmcv-lite (mmcv's Python code without the compiled
# ops, all the pretraining uses) and what they import that such a machine lacks.
#
#   bash tools/misc/gpu_check_wheels.sh [DIR]     # DIR: work_dirs/gpu_wheels (git-ignored)
#   PY_VERSION=3.11 bash tools/misc/gpu_check_wheels.sh DIR   # for another Python
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DIR=${1:-$ROOT/work_dirs/gpu_wheels}
PY_VERSION=${PY_VERSION:-3.12}
# mmengine, mmpretrain, simplejpeg, yapf and setuptools (< 81: mmengine's `pkg::` config bases
# import pkg_resources) at the versions of tools/constraints.txt (-c below); mmcv-lite at
# setup_env.sh's mmcv version; importlib-metadata < 9 needs only zipp.
WHEELS=(mmengine mmpretrain simplejpeg yapf setuptools mmcv-lite==2.1.0 addict==2.4.0 platformdirs==4.14.9
  termcolor==3.3.0 importlib-metadata==8.9.0 mat4py==0.6.0 model-index==0.1.11 ordered-set==4.1.0)

rm -rf "$DIR" && mkdir -p "$DIR"  # one version of each: two would stop the install there
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$PY_VERSION" \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -c "$ROOT/tools/constraints.txt" -d "$DIR" "${WHEELS[@]}"
cd "$DIR" && ls -l -- *.whl | awk '{s += $5; printf "%9d  %s\n", $5, $NF} END {printf "%9d  bytes in %d wheels\n", s, NR}'
