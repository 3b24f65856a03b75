#!/usr/bin/env bash
# Distributed training on one or more nodes with torchrun.
#   tools/dist_train.sh CONFIG GPUS [train.py args]
# Several nodes: set NNODES, NODE_RANK, MASTER_ADDR and PORT on each node.
# Without CUDA the processes use the gloo backend (see dbot_mm/utils/launch.py).
# SIGTERM to torchrun reaches every training process (torchrun kills them 30 s later): they save
# a checkpoint after the current iteration, and this script exits with code 75 on rank 0's node
# (torchrun itself reports 1; PreemptionHook names the checkpoint in DBOT_MM_PREEMPTED_FILE);
# continue with --resume.
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 CONFIG GPUS [train.py args]" >&2
  exit 2
fi
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
TOOLS=$(cd "$(dirname "$0")" && pwd)

PREEMPTED=75  # PREEMPTED_EXIT_CODE in dbot_mm/engine/hooks/preemption_hook.py
PREEMPTED_FILE=$(mktemp)
trap 'rm -f "$PREEMPTED_FILE"' EXIT
# a handler (not the default, which would end this script at once): wait for the processes to save
trap 'echo "$0: SIGTERM, waiting for the training processes to save" >&2' TERM

rc=0
DBOT_MM_PREEMPTED_FILE=$PREEMPTED_FILE \
PYTHONPATH="$TOOLS/..${PYTHONPATH:+:$PYTHONPATH}" \
"${PYTHON:-python}" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    "$TOOLS/train.py" \
    "$CONFIG" \
    --launcher pytorch "${@:3}" || rc=$?
if [ -s "$PREEMPTED_FILE" ]; then
  echo "$0: preempted, saved $(cat "$PREEMPTED_FILE"); exit code $PREEMPTED (continue with --resume)" >&2
  exit "$PREEMPTED"
fi
exit "$rc"
