"""The paper's two claims on the mini benchmark, at budgets two CPU cores allow.

    python tools/analysis_tools/mini_benchmark_claims.py   # ~2 h on 2 cores, docs/mini_benchmark.md

(b) **Stage length at an equal budget**: for each total budget (``--budgets``, epochs), dBOT in
    1, 2 and 3 stages (``--stage-counts``) and mmpretrain's MAE at the same budget; k-NN and linear
    probe of the final encoders, and the watched k-NN (``KNNWatchHook``) of the teacher at every
    stage start and of the student every 5 epochs, stage ends included.
(a) **Teachers of different kinds**: one stage of ``--distill-epochs`` from each teacher, into the
    same fresh student: the random init (dBOT's stage 1, the 1-stage run of (b)), the MAE encoder,
    a dBOT student (the 1-stage run's), and a ViT trained with the labels (the fine-tune recipe
    from scratch); then one more stage from each student. Students are compared by k-NN, linear
    probe and the property analysis (attention distance, singular values), against the seed
    spread. (A timm-pretrained ViT: no package on PyPI or Debian ships ViT weights, and runs may
    not download, so it is left out.)

Every run is a config of ``configs/mini_benchmark/`` run by ``tools/train.py`` in its own work dir
under ``--work-dir`` (finished runs skipped, interrupted ones resumed); jobs start as soon as
the runs they read have finished, two at a time. ``report.md`` and ``claims.json`` are written
from the runs' own files (``frozen_eval.json``, ``vis_data/scalars.json``,
``representations.json``).
"""
import argparse
import json
import os
import os.path as osp
import signal
import sys
import time
from typing import Dict, List

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path[:0] = [REPO, osp.join(REPO, 'tools'), osp.dirname(osp.abspath(__file__))]

import mini_benchmark as mb  # noqa: E402
from job_runner import Job, log, run_jobs, train_job  # noqa: E402

DBOT = mb.METHODS['dbot'][0]
MAE = mb.METHODS['mae'][0]
TEACHERS = {  # kind -> label; the run that made each teacher is teacher_run()
    'random': 'random init (dBOT stage 1)',
    'mae': 'MAE encoder',
    'dbot': 'dBOT student',
    'sup': 'supervised ViT (labels)',
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--work-dir', default='work_dirs/mini_benchmark_claims')
    p.add_argument('--data-root', default='data/fashion_mnist')
    p.add_argument('--num-train', type=int, default=2500)
    p.add_argument('--num-val', type=int, default=2000)
    p.add_argument('--budgets', type=int, nargs='+', default=[30, 60], help='total epochs')
    p.add_argument('--stage-counts', type=int, nargs='+', default=[1, 2, 3])
    p.add_argument('--distill-epochs', type=int, default=30, help='one stage of claim (a)')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--watch-interval', type=int, default=5, help='epochs between watched k-NN')
    p.add_argument('--jobs', type=int, default=2, help='runs at once (one core each)')
    p.add_argument('--report-only', action='store_true', help='write the report from the runs')
    args = p.parse_args(argv)
    for e in args.budgets:
        for k in args.stage_counts:
            if e % k:
                p.error(f'--budgets {e} is not a multiple of --stage-counts {k}')
    if args.distill_epochs not in args.budgets:
        p.error(f'--distill-epochs {args.distill_epochs} must be one of --budgets (its 1-stage '
                'run is the random-teacher row)')
    return args


def dbot_run(stages: int, epochs: int, seed: int) -> str:
    return f'dbot-{stages}x{epochs // stages}e_seed{seed}'


def distill_run(teacher: str, stage: int, seed: int) -> str:
    """Stage 1 from ``teacher``, or stage 2 from that stage-1 student."""
    if teacher == 'random':
        return None  # stage 1 = the 1-stage dBOT run, stage 2 = distillation from it ('dbot')
    return f'distill{stage}-{teacher}_seed{seed}'


def _stages(epochs: int, stages: int) -> str:
    return str([epochs // stages * k for k in range(stages + 1)]).replace(' ', '')


def dbot_options(args, data: str, seed: int, epochs: int, stages: int, interval: int) -> dict:
    return {
        'train_dataloader.dataset.dataset.data_root': data,
        'randomness.seed': seed,
        'train_cfg.max_epochs': epochs,
        'param_scheduler.0.stage_epochs': _stages(epochs, stages),
        'custom_hooks.0.stage_epochs': _stages(epochs, stages),
        'custom_hooks.2.interval': interval,
        'default_hooks.checkpoint.interval': epochs // stages,
    }


class Plan:
    """The jobs of both claims and where their results land."""

    def __init__(self, args, out: str, data: str):
        self.args, self.out, self.data = args, out, data
        self.jobs: List[Job] = []
        self.models: Dict[str, str] = {}  # run -> backbone checkpoint (prefix 'backbone.')

    def wd(self, name: str) -> str:
        return osp.join(self.out, name)

    def add_dbot(self, name, epochs, stages, seed, teacher=None, needs=()):
        opts = dbot_options(self.args, self.data, seed, epochs, stages,
                            min(self.args.watch_interval, epochs // stages))
        if teacher:
            opts.update({
                'model.teacher.init_cfg.type': 'Pretrained',
                'model.teacher.init_cfg.checkpoint': teacher,
                'model.teacher.init_cfg.prefix': 'backbone.',
            })
        self.jobs.append(train_job(name, REPO, DBOT, self.wd(name), opts, needs=tuple(needs)))
        self.models[name] = osp.join(self.wd(name), f'epoch_{epochs}.pth')

    def add_mae(self, epochs, seed):
        name = f'mae-{epochs}e_seed{seed}'
        opts = {
            'train_dataloader.dataset.dataset.data_root': self.data,
            'randomness.seed': seed,
            'train_cfg.max_epochs': epochs,
            'param_scheduler.0.stage_epochs': f'[0,{epochs}]',
            'default_hooks.checkpoint.interval': epochs,
        }
        self.jobs.append(train_job(name, REPO, MAE, self.wd(name), opts))
        converted = osp.join(self.wd(name), 'backbone_dbot_mm.pth')
        cmd = [
            sys.executable,
            osp.join(REPO, 'tools/model_converters/mmpretrain_vit_to_dbot_mm.py'),
            osp.join(self.wd(name), f'epoch_{epochs}.pth'), converted
        ]
        self.jobs.append(
            Job(f'{name}_convert', cmd, osp.join(self.wd(name), 'convert'), REPO, needs=(name, )))
        self.models[name] = converted
        return f'{name}_convert'

    def add_supervised(self, epochs, seed):
        name = f'sup-{epochs}e_seed{seed}'
        data = {
            k: self.data
            for k in ('train_dataloader.dataset.data_root', 'val_dataloader.dataset.data_root',
                      'test_dataloader.dataset.data_root')
        }
        opts = dict(
            data,
            **{
                'randomness.seed': seed,
                'model.backbone.init_cfg': None,
                'optim_wrapper.paramwise_cfg.layer_decay_rate': 1.0,  # from scratch: no decay
                'train_cfg.max_epochs': epochs,
                'train_cfg.val_interval': epochs,
                'param_scheduler.1.T_max': epochs - 1,
                'param_scheduler.1.end': epochs,
                'default_hooks.checkpoint.interval': epochs,
            })
        self.jobs.append(train_job(name, REPO, mb.FINETUNE, self.wd(name), opts))
        self.models[name] = osp.join(self.wd(name), f'epoch_{epochs}.pth')
        return name

    def add_eval(self, run: str, seed: int, needs):
        job = mb.frozen_job(f'frozen_{run}', self.out, self.data,
                            ['--checkpoint', self.models[run], '--prefix', 'backbone.'], seed)
        job.needs = tuple(needs)
        self.jobs.append(job)


def build_plan(args, out: str, data: str) -> Plan:
    """Seed by seed (a shortened session still has whole seeds): claim (a)'s teachers first, as
    their students wait on them, then claim (b)'s runs, long ones first, then the evaluations."""
    plan = Plan(args, out, data)
    e1 = args.distill_epochs
    for seed in args.seeds:
        first_job = len(plan.jobs)
        plan.add_dbot(dbot_run(1, e1, seed), e1, 1, seed)
        mae_teacher = plan.add_mae(e1, seed)
        sup = plan.add_supervised(e1, seed)
        teachers = {
            'mae': (plan.models[f'mae-{e1}e_seed{seed}'], mae_teacher),
            'dbot': (plan.models[dbot_run(1, e1, seed)], dbot_run(1, e1, seed)),
            'sup': (plan.models[sup], sup),
        }
        for kind, (ckpt, job) in teachers.items():
            first = distill_run(kind, 1, seed)
            plan.add_dbot(first, e1, 1, seed, teacher=ckpt, needs=[job])
            plan.add_dbot(
                distill_run(kind, 2, seed), e1, 1, seed, teacher=plan.models[first], needs=[first])
        for epochs in sorted(args.budgets, reverse=True):
            for stages in args.stage_counts:
                name = dbot_run(stages, epochs, seed)
                if name not in plan.models:
                    plan.add_dbot(name, epochs, stages, seed)
            if f'mae-{epochs}e_seed{seed}' not in plan.models:
                plan.add_mae(epochs, seed)
        trained = {j.name for j in plan.jobs[first_job:]}
        for run in [r for r in plan.models if r.endswith(f'_seed{seed}')]:
            plan.add_eval(run, seed, [f'{run}_convert' if f'{run}_convert' in trained else run])
        random = mb.write_random_init(osp.join(out, f'random_init_seed{seed}.pth'), seed)
        plan.models[f'random-init_seed{seed}'] = random
        plan.add_eval(f'random-init_seed{seed}', seed, [])
        plan.jobs.append(analysis_job(plan, seed))
    plan.jobs.append(mb.frozen_job('frozen_raw-pixels', out, data, ['--raw-pixels'], 0))
    return plan


def students(args, seed: int, stage: int) -> Dict[str, str]:
    """teacher kind -> the run of the student distilled from it in ``stage`` (1 or 2)."""
    e1 = args.distill_epochs
    out = {}
    for kind in TEACHERS:
        if kind == 'random':
            out[kind] = dbot_run(1, e1, seed) if stage == 1 else distill_run('dbot', 1, seed)
        else:
            out[kind] = distill_run(kind, stage, seed)
    return out


def analysis_job(plan: Plan, seed: int) -> Job:
    runs = [r for stage in (1, 2) for r in students(plan.args, seed, stage).values()]
    runs = list(dict.fromkeys(runs))  # 'random' stage 2 = 'dbot' stage 1
    wd = osp.join(plan.out, f'representations_seed{seed}')
    cmd = [
        sys.executable,
        osp.join(REPO, 'tools/analysis_tools/analyze_representations.py'),
        *[plan.models[r] for r in runs], '--labels', *runs, '--data',
        osp.join(plan.data, 'val'), '--img-size', '32', '--num-heads', '4', '--num-images', '500',
        '--num-workers', '0', '--out-dir', wd
    ]
    return Job(f'representations_seed{seed}', cmd, wd, cwd=REPO, needs=tuple(runs))


def main(argv=None):
    signal.signal(signal.SIGTERM, lambda *_: sys.exit('mini_benchmark_claims: terminated'))
    args = parse_args(argv)
    out = osp.abspath(osp.join(args.work_dir, f'n{args.num_train}'))
    os.makedirs(out, exist_ok=True)
    setting = mb.Setting(args.num_train, args.num_val, max(args.budgets), 1, tuple(args.seeds))
    data = mb.prepare_data(setting, osp.abspath(args.data_root))
    plan = build_plan(args, out, data)
    if not args.report_only:
        t0, load = time.time(), mb.LoadSampler()
        load.start()
        log(f'{len(plan.jobs)} jobs in {out}', 'claims')
        run_jobs(plan.jobs, slots=args.jobs, tag='claims')
        timing = dict(minutes=round((time.time() - t0) / 60, 1), load=load.stop(), argv=sys.argv)
        with open(osp.join(out, 'timing.json'), 'w') as f:
            json.dump(timing, f)
    from dbot_mm.reporting.claims_report import claims_report, plot_curves
    text, results = claims_report(args, out, plan.models, TEACHERS, students)
    if plot_curves(args, out, osp.join(out, 'stage_curves.png')):
        text += '\n![watched k-NN per stage](stage_curves.png)\n'
    with open(osp.join(out, 'claims.json'), 'w') as f:
        json.dump(results, f, indent=1)
    with open(osp.join(out, 'report.md'), 'w') as f:
        f.write(text)
    print(text)


if __name__ == '__main__':
    main()
