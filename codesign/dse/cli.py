"""``codesign sweep CONFIG.toml``: a resumable multi-objective design-space sweep."""

from __future__ import annotations

import sys
from pathlib import Path


def add_arguments(parser) -> None:
    parser.add_argument("config", help="sweep config (.toml; see examples/sweep_small.toml and docs/sweep.md)")
    parser.add_argument("--out", type=Path, help="output directory (default: the config's `out`, else "
                        "runs/sweep/STUDY_NAME); re-running into it resumes the sweep")
    parser.add_argument("--trials", type=int, help="total trials of the study (overrides the config's `trials`)")
    parser.add_argument("--workers", type=int,
                        help="worker processes on this machine (default 2), or Ray tasks with --ray-address "
                        "(default: one per CPU of the cluster)")
    parser.add_argument("--storage", help="Optuna RDB URL shared by several machines, e.g. "
                        "postgresql://user:pass@host/db (default: sqlite OUT/study.db)")
    parser.add_argument("--ray-address", help="run the workers as Ray tasks: 'auto' (the cluster started "
                        "on this machine), HEAD_IP:6379, ray://HEAD_IP:10001 (Ray Client) or 'local' (start Ray here)")
    parser.add_argument("--heartbeat", type=float, default=10.0, metavar="SECONDS",
                        help="a running trial's worker reports every SECONDS; a trial silent for 4 reports "
                        "(its worker or machine died) is run again (default 10)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    from codesign.dse.config import load_config
    from codesign.dse.sweep import run_sweep

    config = load_config(args.config)
    try:
        result = run_sweep(config, args.out, workers=args.workers, ray_address=args.ray_address,
                           storage=args.storage, progress=not args.no_progress and sys.stderr.isatty(),
                           trials=args.trials, heartbeat_s=args.heartbeat)
    except KeyboardInterrupt:
        print("codesign sweep: interrupted; finished trials are kept, re-run the same command to resume",
              file=sys.stderr)
        return 130
    _print_summary(result)
    return 0


def _print_summary(result) -> None:
    from rich.table import Table

    from codesign.console import console as terminal

    console = terminal()
    table = Table(title=f"Pareto-optimal trials ({len(result.pareto)} of {len(result.trials)})")
    table.add_column("trial", justify="right")
    table.add_column("hidden")
    table.add_column("w/a bits")
    table.add_column("fault-aware")
    for name in result.objectives:
        table.add_column(name, justify="right")
    for record in sorted(result.pareto, key=lambda r: -r.objectives[result.objectives[0]]):
        p = record.params
        table.add_row(str(record.number), str(p.get("hidden")), f"{p.get('weight_bits')}/{p.get('act_bits')}",
                      "yes" if p.get("fault_aware") else "no",
                      *(_fmt(name, record.objectives[name]) for name in result.objectives))
    console.print(table)
    console.print(f"{result.new_trials} new trials, {len(result.trials)} in the study ({result.storage}); "
                  f"{result.seconds:.0f} s")
    console.print(f"outputs: {result.pareto_json}, "
                  f"{', '.join(str(p) for p in result.plots)}, {result.out_dir / 'pareto'}/")


def _fmt(name: str, value: float) -> str:
    return f"{value:.2%}" if name.endswith("accuracy") else f"{value:.3g}"
