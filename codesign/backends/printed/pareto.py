"""The approximation Pareto front as JSON and a plot, with synthesised area / power for the
designs that matter: the exact one, the pick for every accuracy-loss budget and a spread of
front points."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from codesign.backends.printed.approximate import apply
from codesign.backends.printed.design import Design, evaluate
from codesign.backends.printed.implement import implement
from codesign.backends.printed.search import Candidate, SearchResult
from codesign.cards import Card


def pareto_report(result: SearchResult, exact: Design, card: Card, x_test: np.ndarray, y_test: np.ndarray,
                  losses: list[float], folder: Path, *, source: str, points: int = 6,
                  timeout_s: float = 600.0, abc_script: str = "fast") -> dict:
    front = result.pareto()
    picks = [result.within(loss) for loss in losses]
    spread = [front[int(i)] for i in np.linspace(0, len(front) - 1, min(points, len(front)))] if front else []
    cache: dict = {}

    def measured(candidate: Candidate | None) -> dict:
        approximation = None if candidate is None else candidate.approximation
        if approximation not in cache:
            design = exact if candidate is None else apply(exact, candidate.approximation)
            estimate = implement(design, card, x_test, activity_source=source, timeout_s=timeout_s,
                                 abc_script=abc_script).estimate
            cache[approximation] = {
                "test_accuracy": float(np.mean(evaluate(design, x_test).predictions == y_test)),
                "area_cm2": estimate.resources["area_cm2"], "power_mw": estimate.resources["power_mw"],
                "latency_s": estimate.latency_s, "energy_j": estimate.energy_j,
                "fits_battery": bool(estimate.resources["fits_battery"]),
            }
        return cache[approximation]

    exact_row = {"search_accuracy": result.exact_accuracy, "proxy": result.exact_proxy, **measured(None)}
    budgets = []
    for loss, pick in zip(losses, picks, strict=True):
        row = {"accuracy_loss": loss, "search_accuracy": pick.accuracy, "proxy": pick.proxy, **measured(pick),
               "approximation": pick.approximation.to_dict()}
        row["area_reduction"] = exact_row["area_cm2"] / row["area_cm2"]
        row["power_reduction"] = exact_row["power_mw"] / row["power_mw"]
        budgets.append(row)
    synthesised = {id(c) for c in spread}
    front_rows = [{"search_accuracy": c.accuracy, "proxy": c.proxy, "trial": c.trial,
                   **(measured(c) if id(c) in synthesised else {})} for c in front]
    report = {"card": card.name, "design": exact.name, "trials": len(result.candidates),
              "search_data": "75 % of the training split (budget picks also hold on the other 25 %)",
              "test_data": source,
              "objectives": ["adder-tree input bits (area proxy), minimised", "accuracy on the search data, maximised"],
              "exact": exact_row, "budgets": budgets, "front": front_rows}
    (folder / "pareto.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    plot_front(report, folder / "pareto.png")
    return report


def plot_front(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in report["front"] if "area_cm2" in r]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for ax, key, unit in ((axes[0], "area_cm2", "area (cm²)"), (axes[1], "power_mw", "power (mW)")):
        ax.plot([r[key] for r in rows], [r["test_accuracy"] for r in rows], "o-", label="Pareto front (synthesised)")
        ax.plot([report["exact"][key]], [report["exact"]["test_accuracy"]], "k*", ms=12, label="exact")
        for row in report["budgets"]:
            ax.plot([row[key]], [row["test_accuracy"]], "s", ms=8, label=f"≤{row['accuracy_loss']:.0%} loss")
        ax.set_xlabel(unit)
        ax.set_ylabel("test accuracy")
        ax.grid(alpha=0.3)
    axes[1].axvline(30, color="r", ls="--", lw=1, label="30 mW printed battery")
    axes[1].legend(fontsize=8)
    fig.suptitle(f"{report['design']} on {report['card']}: approximation Pareto front")
    fig.savefig(path, dpi=120)
    plt.close(fig)
