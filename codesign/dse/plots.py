"""Pareto plots of a sweep: per target, accuracy against energy, area and latency."""

from __future__ import annotations

from pathlib import Path

from codesign.dse.config import SweepConfig
from codesign.outputs import write_file

PANELS = (("energy_j", "energy per inference (J)"), ("area_mm2", "area (mm²)"), ("latency_s", "latency (s)"))


def front_2d(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points not dominated in (lower cost, higher accuracy), by cost."""
    front, best = [], float("-inf")
    for cost, accuracy in sorted(points, key=lambda p: (p[0], -p[1])):
        if accuracy > best:
            front.append((cost, accuracy))
            best = accuracy
    return front


def pareto_plots(config: SweepConfig, trials, pareto, out_dir: Path) -> list[Path]:
    """``out_dir/pareto_<target>.png`` for every target; grey: all trials, red: the sweep's Pareto
    set (all objectives), line: the two-objective front of each panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    on_front = {t.number for t in pareto}
    paths = []
    for target in config.targets:
        accuracy_key = f"{target.name}.accuracy"
        figure, axes = plt.subplots(1, len(PANELS), figsize=(4.2 * len(PANELS), 3.6), constrained_layout=True)
        for axis, (metric, label) in zip(axes, PANELS):
            key = f"{target.name}.{metric}"
            points = [(t.metrics[key], t.metrics[accuracy_key], t.number in on_front) for t in trials
                      if key in t.metrics and accuracy_key in t.metrics and t.duplicate_of is None]
            if not points:
                axis.set_visible(False)
                continue
            others = [(c, a) for c, a, p in points if not p]
            best = [(c, a) for c, a, p in points if p]
            if others:
                axis.scatter(*zip(*others), s=14, color="0.65", label="trial")
            if best:
                axis.scatter(*zip(*best), s=28, color="tab:red", label="Pareto (all objectives)", zorder=3)
            line = front_2d([(c, a) for c, a, _ in points])
            axis.step(*zip(*line), where="post", color="tab:blue", linewidth=1, label="front (this panel)")
            low, high = min(c for c, _, _ in points), max(c for c, _, _ in points)
            if low > 0 and high / low > 20:
                axis.set_xscale("log")
                axis.xaxis.set_minor_formatter(NullFormatter())
            else:
                axis.ticklabel_format(axis="x", style="sci", scilimits=(-2, 3))
            axis.set_xlabel(label)
            axis.set_ylabel(f"{target.name} accuracy (test split)")
            axis.grid(alpha=0.3)
        axes[0].legend(fontsize=7, loc="lower right")
        figure.suptitle(f"{target.name} ({target.card}): {len(trials)} trials, {len(pareto)} Pareto-optimal")
        path = out_dir / f"pareto_{target.name}.png"
        write_file(path, lambda temporary, figure=figure: figure.savefig(temporary, dpi=110), replace="own")
        plt.close(figure)
        paths.append(path)
    return paths
