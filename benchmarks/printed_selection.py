"""Benchmark: which accuracy should choose a printed search's reported front, judged without the test split.

    python benchmarks/printed_selection.py runs/printed_codesign/wine-red runs/printed_codesign/cardio ...

Takes finished ``flows/printed_codesign.py`` runs (``OUT/NAME``). Every non-constant candidate of
every trial is scored on the validation part of the training split, which is then cut in two
halves at random: a key chooses, at each of 40 area budgets (quantiles of the candidates' proxy
areas), the design it ranks best among those within the budget, and the *other* half scores that
choice against the best design within the budget (the regret, in accuracy points). Keys: the
validation half alone, and the validation half pooled with the search part (which the designs
were fitted on; ``codesign.dse.printed_report.selection_accuracy``). 10 random cuts, both halves in
each role. The test split is not read. Writes benchmarks/results/printed_selection.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

RESULTS = Path(__file__).resolve().parent / "results" / "printed_selection.json"
BUDGETS = 40
CUTS = 10


def validation_hits(run: Path, candidates: list[dict], splits) -> None:
    """Per candidate, which validation samples it classifies right (``hits``)."""
    from codesign.backends.printed.design import evaluate
    from codesign.backends.printed.serialize import design_from_dict
    from codesign.ir import load
    from codesign.ir.reference import input_codes

    graphs: dict[Path, object] = {}
    for candidate in tqdm(candidates, desc=f"{run.name}: validation predictions", unit="design"):
        model = run / "trials" / str(candidate["trial"]) / candidate.get("model", "model.onnx")
        if model not in graphs:
            graphs[model] = load(model)
        codes = input_codes(graphs[model], np.repeat(splits.x_val, int(candidate.get("input_copies", 1)), axis=1))
        candidate["hits"] = evaluate(design_from_dict(candidate["design"]), codes).predictions == splits.y_val
        if abs(candidate["hits"].mean() - candidate["validation_accuracy"]) > 1e-9:
            raise SystemExit(f"{model}: validation accuracy differs from the search's record; was the run made by "
                             "another version?")


def regret(candidates: list[dict], budgets: np.ndarray, key: str) -> float:
    """Mean over budgets of (best held-out accuracy within the budget - that of the key's choice)."""
    losses = []
    for budget in budgets:
        inside = [c for c in candidates if c["proxy_mm2"] <= budget]
        pick = max(inside, key=lambda c: (c[key], -c["proxy_mm2"]))
        losses.append(max(c["held_out"] for c in inside) - pick["held_out"])
    return float(np.mean(losses))


def measure(run: Path) -> dict:
    from codesign.dse.printed import make_splits
    from codesign.dse.printed_search import collect

    config = json.loads((run / "search_config.json").read_text())
    splits = make_splits(config["dataset"], seed=config["seed"], validation_fraction=config["validation_fraction"])
    candidates = [c for c in collect(run) if not c["constant"]]
    validation_hits(run, candidates, splits)
    searched = len(splits.y_search)
    budgets = np.unique(np.quantile([c["proxy_mm2"] for c in candidates], np.linspace(0.02, 1, BUDGETS)))
    losses: dict[str, list[float]] = {"validation half": [], "validation half + search part": []}
    for cut in range(CUTS):
        order = np.random.default_rng(cut).permutation(len(splits.y_val))
        halves = order[: len(order) // 2], order[len(order) // 2:]
        for choosing, scoring in (halves, halves[::-1]):
            for c in candidates:
                c["half"] = c["hits"][choosing].mean()
                c["pooled"] = (searched * c["search_accuracy"] + len(choosing) * c["half"]) / (searched + len(choosing))
                c["held_out"] = c["hits"][scoring].mean()
            losses["validation half"].append(regret(candidates, budgets, "half"))
            losses["validation half + search part"].append(regret(candidates, budgets, "pooled"))
    return {"run": str(run), "dataset": config["dataset"], "candidates": len(candidates),
            "search_samples": searched, "validation_samples": len(splits.y_val), "budgets": len(budgets),
            "regret_points": {key: {"mean": 100 * float(np.mean(v)), "min": 100 * float(np.min(v)),
                                    "max": 100 * float(np.max(v)), "cuts": len(v)} for key, v in losses.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="OUT/NAME folders of flows/printed_codesign.py")
    args = parser.parse_args(argv)
    missing = [str(r) for r in args.runs if not (r / "search_config.json").is_file()]
    if missing:
        print(f"error: not a finished printed search: {', '.join(missing)} (run flows/printed_codesign.py first)",
              file=sys.stderr)
        return 2
    rows = [measure(run) for run in args.runs]
    for row in rows:
        cells = "; ".join(f"{key}: {v['mean']:.2f} pt ({v['min']:.2f}-{v['max']:.2f})"
                          for key, v in row["regret_points"].items())
        print(f"{Path(row['dataset']).stem}: {row['candidates']} candidates, regret on the other half: {cells}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"results: {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
