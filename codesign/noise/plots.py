"""Robustness curves: accuracy vs bit-fault rate and vs device variability, per training mode."""

from __future__ import annotations

from pathlib import Path


def robustness_figure(curves: dict, title: str, path: str | Path) -> Path:
    """curves: {"bit_faults" | "variability": {mode: [{"level", "mean", "std", "worst"}, ...]}}."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = {"bit_faults": "bit-fault rate", "variability": "device variability (log-normal sigma)"}
    kinds = [kind for kind in ("bit_faults", "variability") if kind in curves]
    figure, axes = plt.subplots(1, len(kinds), figsize=(5.5 * len(kinds), 4), squeeze=False)
    for axis, kind in zip(axes[0], kinds):
        for mode, points in curves[kind].items():
            levels = [p["level"] * 100 for p in points]
            mean = [p["mean"] * 100 for p in points]
            std = [p["std"] * 100 for p in points]
            line, = axis.plot(levels, mean, marker="o", label=f"{mode} (mean)")
            axis.fill_between(levels, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)],
                              color=line.get_color(), alpha=0.15)
            axis.plot(levels, [p["worst"] * 100 for p in points], linestyle="--", color=line.get_color(),
                      label=f"{mode} (worst chip)")
        axis.set_xlabel(f"{labels[kind]} (%)")
        axis.set_ylabel("test accuracy (%)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
