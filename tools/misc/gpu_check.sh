#!/usr/bin/env bash
# The GPU check (tools/misc/gpu_check.py) in one command on a machine with torch but without
# OpenMMLab or a network: installs the wheels of tools/misc/gpu_check_wheels.sh that the machine
# lacks into a folder of its own (nothing shadows what is installed there), then runs the check.
# The JSON goes to $OUT (or work_dirs/gpu_check); arguments go to gpu_check.py.
#
#   bash tools/misc/gpu_check.sh                  # on the GPU machine, work_dirs/gpu_wheels carried
#   PYTHON=... GPU_WHEELS=DIR bash tools/misc/gpu_check.sh --device cpu
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
PY=${PYTHON:-python3}
WHEELS=${GPU_WHEELS:-work_dirs/gpu_wheels}
SITE=${GPU_SITE:-/tmp/dbot_mm_gpu_site}
RESULT=${OUT:-work_dirs/gpu_check}/gpu_check.json

# the wheels whose distribution is not installed (importlib.metadata normalises the names), and
# setuptools where it has no pkg_resources (>= 81)
missing=$("$PY" - "$WHEELS" <<'EOF'
import glob, importlib.metadata as md, importlib.util, os.path as osp, sys
wheels = sorted(glob.glob(osp.join(sys.argv[1], '*.whl')))
if not wheels:
    sys.exit(f'gpu_check.sh: no wheels in {sys.argv[1]} (run tools/misc/gpu_check_wheels.sh here)')
for w in wheels:
    name = osp.basename(w).split('-')[0]
    try:
        md.version(name)
        if name == 'setuptools' and importlib.util.find_spec('pkg_resources') is None:
            print(w)
    except md.PackageNotFoundError:
        print(w)
EOF
) || exit 1
rm -rf "$SITE" && mkdir -p "$SITE" || exit 1
if [ -n "$missing" ]; then
  echo "gpu_check.sh: installing into $SITE:" $(basename -a $missing)
  if "$PY" -m pip --version >/dev/null 2>&1; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --disable-pip-version-check \
      --target "$SITE" $missing || exit 1
  else  # no pip: a wheel is a zip of its site-packages files
    "$PY" -c 'import sys, zipfile; [zipfile.ZipFile(w).extractall(sys.argv[1]) for w in sys.argv[2:]]' \
      "$SITE" $missing || exit 1
  fi
fi
export PYTHONPATH=$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
# the check keeps to its --budget (default 450 s); this stops it if a part hangs in C++ code
timeout -k 10 -s INT "${GPU_CHECK_TIMEOUT:-480}" "$PY" tools/misc/gpu_check.py --out "$RESULT" "$@"
rc=$?
[ $rc -eq 0 ] || [ ! -f "$RESULT" ] || "$PY" tools/misc/gpu_check.py --render "$RESULT"
exit $rc
