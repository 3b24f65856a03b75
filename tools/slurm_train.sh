#!/usr/bin/env bash
# Training on a slurm cluster, one task per GPU.
#   [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#   tools/slurm_train.sh [--requeue] PARTITION JOB_NAME CONFIG WORK_DIR [train.py args]
#
# --requeue: for preemptible partitions and runs longer than the time limit. train.py always
# resumes from the newest complete checkpoint in WORK_DIR (--resume), and when it was stopped by
# SIGTERM (it saved WORK_DIR/preempt_iter_N.pth and exited with code 75, see dbot_mm/engine/hooks/
# preemption_hook.py; srun may report another code once it has killed the other tasks) the job
# is requeued (scontrol requeue, inside an sbatch job; have slurm send the signal ahead of the
# limit, e.g. sbatch --signal=TERM@120) or, outside one, srun is started again. Do not pass
# --resume yourself with --requeue.
set -euo pipefail

PREEMPTED=75  # PREEMPTED_EXIT_CODE in dbot_mm/engine/hooks/preemption_hook.py
REQUEUE=0
if [ "${1:-}" = "--requeue" ]; then
  REQUEUE=1
  shift
fi
if [ $# -lt 4 ]; then
  echo "usage: $0 [--requeue] PARTITION JOB_NAME CONFIG WORK_DIR [train.py args]" >&2
  exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
TOOLS=$(cd "$(dirname "$0")" && pwd)
EXTRA=("${@:5}")
if [ "$REQUEUE" = 1 ]; then
  EXTRA+=(--resume)
fi

train() {
  # SRUN_ARGS is split on spaces on purpose (several srun options).
  # shellcheck disable=SC2086
  PYTHONPATH="$TOOLS/..${PYTHONPATH:+:$PYTHONPATH}" \
  srun -p "$PARTITION" \
      --job-name="$JOB_NAME" \
      --gres=gpu:"$GPUS_PER_NODE" \
      --ntasks="$GPUS" \
      --ntasks-per-node="$GPUS_PER_NODE" \
      --cpus-per-task="$CPUS_PER_TASK" \
      --kill-on-bad-exit=1 \
      $SRUN_ARGS \
      "${PYTHON:-python}" -u "$TOOLS/train.py" "$CONFIG" --work-dir="$WORK_DIR" \
      --launcher=slurm ${EXTRA[@]+"${EXTRA[@]}"}
}

set -x
if [ "$REQUEUE" = 0 ]; then
  train
  exit
fi
# a handler (not "ignore", which srun and python would inherit): wait for train.py to save
trap 'echo "$0: SIGTERM, waiting for train.py to save" >&2' TERM
STAMP=$(mktemp)
trap 'rm -f "$STAMP"' EXIT
while true; do
  touch "$STAMP"
  rc=0
  train || rc=$?
  saved=$(find "$WORK_DIR" -maxdepth 1 -name 'preempt_iter_*.pth' -newer "$STAMP" 2>/dev/null)
  if [ "$rc" -ne "$PREEMPTED" ] && { [ "$rc" -eq 0 ] || [ -z "$saved" ]; }; then
    exit "$rc"
  fi
  if [ -n "${SLURM_JOB_ID:-}" ]; then
    scontrol requeue "$SLURM_JOB_ID" || true  # slurm may be requeueing it already
    exit 0
  fi
  echo "$0: preempted (exit $rc; saved $saved); starting again with --resume" >&2
done
