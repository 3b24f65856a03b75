#!/usr/bin/env bash
# Set up the dbot_mm environment: a venv with torch, full mmcv (compiled ops), mmengine, mmpretrain,
# mmdet, mmsegmentation and timm, plus dbot_mm in editable mode.
#
# Idempotent: a second run checks a stamp and the imports and returns in seconds.
# The mmcv wheel (PyPI has only its source for torch 2.x) is built once and cached outside the repo:
#   ${DBOT_MM_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dbot_mm/wheels}/<key>/mmcv-*.whl
# Variables: DBOT_MM_VENV (default <repo>/.venv), PYTHON (default python3), MAX_JOBS (mmcv build;
# default: all cores - plain nproc would obey the OMP_NUM_THREADS=1 that the Makefile exports).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${DBOT_MM_VENV:-$ROOT/.venv}
PYTHON=${PYTHON:-python3}
CACHE=${DBOT_MM_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dbot_mm/wheels}

TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
MMCV_VERSION=2.1.0

say() { echo "[setup_env $(date +%H:%M:%S)] $*"; }
die() { echo "setup_env: error: $*" >&2; exit 1; }

command -v "$PYTHON" >/dev/null || die "python interpreter '$PYTHON' not found (set PYTHON=...)"
PYVER=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
case "$PYVER" in
  3.9|3.10|3.11|3.12) ;;
  *) die "Python $PYVER is not supported (mmcv $MMCV_VERSION / mmdet 3.3 need Python 3.9-3.12)";;
esac

# Real images for the mini benchmark (tools/analysis_tools/mini_benchmark.py, `make demo`):
# Fashion-MNIST, Debian package dataset-fashion-mnist (30 MB). Checked on every run.
FASHION_MNIST=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
if [ ! -f "$FASHION_MNIST" ]; then
  command -v apt-get >/dev/null || die "$FASHION_MNIST missing and no apt-get: install the Debian package dataset-fashion-mnist (or its files from github.com/zalandoresearch/fashion-mnist) there"
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  say "installing the Debian package dataset-fashion-mnist (real images for the mini benchmark)"
  { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null; } \
    || die "apt-get install dataset-fashion-mnist failed (is the Debian archive reachable?)"
fi

STAMP_SRC=$(cat "$ROOT/setup.cfg" "$ROOT/tools/setup_env.sh" "$ROOT/tools/constraints.txt" | sha1sum | cut -c1-16)
STAMP=$VENV/.dbot_mm_setup

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$STAMP_SRC" ] && \
   "$VENV/bin/python" -c 'import torch, mmcv.ops, mmengine, mmpretrain, mmdet, mmseg, timm, dbot_mm' 2>/dev/null; then
  say "environment at $VENV is up to date"
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  say "creating virtual environment at $VENV (Python $PYVER)"
  "$PYTHON" -m venv "$VENV" || die "could not create a venv with '$PYTHON -m venv' (install python3-venv)"
fi
PY=$VENV/bin/python
# Constraints for every pip call: the pinned versions of tools/constraints.txt (setuptools < 81
# among them: mmcv/mmengine import pkg_resources, and torch would otherwise pull the newest).
CONSTRAINTS=$ROOT/tools/constraints.txt
pipi() { "$PY" -m pip install --disable-pip-version-check --progress-bar off -c "$CONSTRAINTS" "$@" \
  || die "pip install $* failed (are the package registries reachable?)"; }

say "installing build tools (pinned in tools/constraints.txt)"
pipi -q setuptools wheel ninja
say "installing torch $TORCH_VERSION and torchvision $TORCHVISION_VERSION (large download on a fresh machine)"
pipi -q "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"

CUDA_TAG=$("$PY" -c 'import torch; print("cu" + torch.version.cuda.replace(".", "") if torch.cuda.is_available() else "cpu")')
KEY=mmcv$MMCV_VERSION-torch$TORCH_VERSION-py$PYVER-$CUDA_TAG-$(uname -m)
WHEEL_DIR=$CACHE/$KEY
WHEEL=$(ls "$WHEEL_DIR"/mmcv-*.whl 2>/dev/null | head -n1 || true)
if [ -z "$WHEEL" ]; then
  command -v "${CXX:-g++}" >/dev/null || die "no C++ compiler (${CXX:-g++}) found: it is needed once to build mmcv $MMCV_VERSION ops (apt-get install g++)"
  BUILD=$(mktemp -d)
  trap 'rm -rf "$BUILD"' EXIT
  say "building mmcv $MMCV_VERSION with compiled ops ($CUDA_TAG) - once per machine, 15-40 min on 2 cores"
  "$PY" -m pip download -q --disable-pip-version-check -c "$CONSTRAINTS" --no-deps --no-binary :all: --no-build-isolation \
    "mmcv==$MMCV_VERSION" -d "$BUILD" || die "could not download the mmcv $MMCV_VERSION source from the package index"
  tar -xzf "$BUILD"/mmcv-$MMCV_VERSION.tar.gz -C "$BUILD"
  SRC=$BUILD/mmcv-$MMCV_VERSION
  # torch >= 2.10 headers need C++20; mmcv's setup.py hard-codes c++14/c++17.
  sed -i -e 's/-std=c++14/-std=c++20/g' -e 's/-std=c++17/-std=c++20/g' "$SRC/setup.py"
  if [ "$CUDA_TAG" != cpu ]; then export FORCE_CUDA=1; fi
  (cd "$SRC" && MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(OMP_NUM_THREADS= nproc)} "$PY" -m pip wheel -v --no-build-isolation --no-deps -c "$CONSTRAINTS" \
      --disable-pip-version-check . -w "$BUILD/dist" 2>&1 | \
      grep --line-buffered -E '\[[0-9]+/[0-9]+\]|error|Error' | sed -u 's/^\(.\{160\}\).*/\1/') \
    || die "building mmcv $MMCV_VERSION failed (see the output above)"
  ls "$BUILD"/dist/mmcv-*.whl >/dev/null 2>&1 || die "building mmcv $MMCV_VERSION produced no wheel"
  mkdir -p "$WHEEL_DIR"
  cp "$BUILD"/dist/mmcv-*.whl "$WHEEL_DIR/"
  WHEEL=$(ls "$WHEEL_DIR"/mmcv-*.whl | head -n1)
  say "cached $WHEEL"
else
  say "using cached mmcv wheel $WHEEL"
fi

say "installing mmcv, mmengine, mmpretrain, mmdet, mmsegmentation, timm and dbot_mm (editable, with test extras)"
pipi -q "$WHEEL" "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"
pipi -q -e "$ROOT[tests]" "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION" "mmcv==$MMCV_VERSION"

say "checking imports"
"$PY" -c 'import torch, mmcv, mmcv.ops, mmengine, mmpretrain, mmdet, mmseg, timm, dbot_mm
print("torch", torch.__version__, "| mmcv", mmcv.__version__, "| mmengine", mmengine.__version__,
      "| mmpretrain", mmpretrain.__version__, "| mmdet", mmdet.__version__, "| mmseg", mmseg.__version__,
      "| timm", timm.__version__)' || die "the installed stack does not import (see the traceback above)"
echo "$STAMP_SRC" > "$STAMP"
say "done: activate with 'source $VENV/bin/activate'"
