# Copyright (c) dbot_mm contributors. All rights reserved.
"""Benchmark tables (markdown, CSV, PNG) of pretraining runs (dBOT, dBOT from CLIP, MAE),
downstream runs and frozen-feature evaluations (k-NN, linear probe), with a summary over seeds
(mean ± std (n), ``seed_summary.csv``), from what the runs recorded in their work dirs
(``run_record.json`` of ``RunRecordHook``, mmengine's ``vis_data/scalars.json``,
``frozen_eval.json``).

Example:
    python tools/analysis_tools/benchmark_tables.py work_dirs --out work_dirs/benchmark

Problems (truncated lines, unfinished runs, runs without metrics, work dirs without a record) are
printed once on stderr as ``file:line: message`` and listed in the tables; the markdown goes to
stdout.
"""
import argparse
import sys

from dbot_mm.reporting import build_tables, load_paper_results, render_markdown, write_outputs


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Build benchmark tables from the run records of mmengine work dirs of '
        'pretraining (dBOT, MAE) and downstream (ImageNet / transfer sets / COCO / ADE20K) runs '
        'and from frozen-feature evaluations (frozen_eval.json)')
    parser.add_argument(
        'work_dirs',
        nargs='+',
        help='work dirs, or folders to scan for work dirs (e.g. work_dirs/)')
    parser.add_argument(
        '--out', required=True, help='output folder for tables.md, CSV (seed_summary.csv too), PNG')
    parser.add_argument(
        '--paper-results',
        default=None,
        help='reference numbers (default: dbot_mm/reporting/paper_results.json)')
    parser.add_argument('--no-plots', action='store_true', help='skip the PNG plots')
    parser.add_argument('--quiet', action='store_true', help='do not print the markdown on stdout')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        paper = load_paper_results(args.paper_results) if args.paper_results else None
        tables = build_tables(args.work_dirs, paper=paper, stream=sys.stderr)
    except (FileNotFoundError, ValueError) as e:
        print(f'benchmark_tables: error: {e}', file=sys.stderr)
        return 1
    written = write_outputs(tables, args.out, plots=not args.no_plots)
    if not args.quiet:
        print(render_markdown(tables), end='')
    print(
        f'benchmark_tables: wrote {len(written)} files to {args.out} '
        f'({len(tables.issues)} problem(s), {len(tables.skipped)} work dir(s) left out: above)',
        file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
