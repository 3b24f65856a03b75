"""Under DDP (2 CPU processes, gloo) the bootstrapped teacher and the re-initialised student are
identical on every rank (the official code diverges here), also under autocast where the teacher
holds bf16 matmul weights."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).resolve().parent


def _env(port):  # ddp_bootstrap_main.py imports tests.helpers
    path = os.pathsep.join(filter(None, [str(HERE.parents[1]), os.environ.get('PYTHONPATH')]))
    return dict(os.environ, OMP_NUM_THREADS='1', MASTER_PORT=str(port), PYTHONPATH=path)


@pytest.mark.parametrize('precision,port', [('fp32', 29531), ('bf16', 29532)])
def test_ranks_identical_after_boundary(tmp_path, imagenet_root, precision, port):
    env = _env(port)
    cmd = [
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
        f'--master_port={port}',
        str(HERE / 'ddp_bootstrap_main.py'),
        str(tmp_path),
        str(imagenet_root), precision
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    r0 = torch.load(tmp_path / 'rank0.pth', weights_only=True)
    r1 = torch.load(tmp_path / 'rank1.pth', weights_only=True)
    assert r0.keys() == r1.keys()
    assert any(k.startswith('teacher.blocks.') for k in r0)  # the boundary was crossed
    for k in r0:
        assert torch.equal(r0[k], r1[k]), k
    teacher_dtype = torch.bfloat16 if precision == 'bf16' else torch.float32
    assert r0['teacher.blocks.0.attn.qkv.weight'].dtype == teacher_dtype
    assert r0['teacher.blocks.0.norm1.weight'].dtype == torch.float32
    assert r0['backbone.blocks.0.attn.qkv.weight'].dtype == torch.float32
    assert torch.isfinite(r0['backbone.blocks.0.attn.qkv.weight']).all()


def test_sigterm_on_one_rank_stops_both_after_one_save(tmp_path, imagenet_root):
    """Only rank 1 is signalled: the ranks agree at the end of the iteration, rank 0 writes the
    checkpoint, and both exit with the requeue code."""
    port = 29533
    env = _env(port)
    cmd = [
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
        f'--master_port={port}',
        str(HERE / 'ddp_bootstrap_main.py'),
        str(tmp_path),
        str(imagenet_root), 'preempt'
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert (f'a signal on another rank received: saved {tmp_path}/preempt_iter_3.pth at '
            'iteration 3; exiting with code 75') in output, output[-3000:]
    # torchrun's report names the first rank to exit: 75, whichever of the two saw it first (the
    # other one is killed by torchrun on its way out); rank 0's save message is asserted above
    assert re.search(r'rank      : [01] \(local_rank: [01]\)\n  exitcode  : 75\b', output), \
        output[-3000:]
    meta = torch.load(tmp_path / 'preempt_iter_3.pth', weights_only=True)['meta']
    assert (meta['epoch'], meta['iter'], meta['iters_per_epoch']) == (0, 3, 4)
