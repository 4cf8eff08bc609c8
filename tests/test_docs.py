"""The documentation stays true: the CLI reference matches the parser, links resolve, and the
custom-backend example implements the backend interface."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
from graphs import brevitas_mlp, save

from codesign.backends.base import Backend
from codesign.cards import load_card
from codesign.errors import BackendError, ParameterError
from codesign.estimate import Estimate
from codesign.ir import load

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
UPCOMING = {"sweep.md"}  # linked from the index, written alongside the command it documents


def _module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_is_up_to_date() -> None:
    generated = _module(DOCS / "gen_cli.py", "gen_cli").render()
    current = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert current == generated, "docs/cli.md is out of date: run python docs/gen_cli.py"


def test_cli_reference_lists_every_command() -> None:
    from codesign.cli import _parser

    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    parser = _parser()
    commands = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction").choices
    for name in commands:
        assert f"## codesign {name}\n" in text


@pytest.mark.parametrize("page", sorted(p.name for p in DOCS.glob("*.md")))
def test_relative_links_resolve(page: str) -> None:
    text = (DOCS / page).read_text(encoding="utf-8")
    text = re.sub(r"```.*?```", "", text, flags=re.S)  # links inside code blocks are not links
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if target.startswith(("http:", "https:", "#", "mailto:")):
            continue
        path = target.split("#", 1)[0]
        if Path(path).name in UPCOMING and not (DOCS / path).exists():
            continue
        assert (DOCS / path).exists(), f"{page}: broken link {target}"


def test_custom_backend_example(tmp_path: Path) -> None:
    example = _module(ROOT / "examples" / "custom_backend.py", "custom_backend")
    backend = example.ToyFpgaBackend()
    assert isinstance(backend, Backend)
    graph = load(save(brevitas_mlp(), tmp_path / "m.onnx"))
    card = load_card("pynq-z2")
    estimate = backend.estimate(graph, card, cycles_per_layer=2)
    assert estimate.method == "analytical" and estimate.card_hash == card.content_hash
    assert estimate.latency_s == pytest.approx(len(graph.layers) * 2 * card.clock.period.value)
    assert sum(v["lut"] for k, v in estimate.breakdown.items() if k.startswith("layer.")) == estimate.resources["lut"]
    artifact = backend.lower(graph, card, tmp_path / "toy", cycles_per_layer=2)
    assert set(artifact.files) == {"estimate.json", "weights.json"}
    assert Estimate.load(tmp_path / "toy" / "estimate.json") == estimate
    assert len(json.loads((tmp_path / "toy" / "weights.json").read_text())) == len(graph.layers)
    with pytest.raises(ParameterError, match="unknown toy-fpga option"):
        backend.estimate(graph, card, reuse_factor=2)
    with pytest.raises(BackendError, match="already exists"):
        backend.lower(graph, card, tmp_path / "toy")


def test_readme_python_example_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """The README's Python block, executed unchanged next to a model.onnx trained on the data it loads."""
    from codesign.data import load_dataset
    from codesign.quant import MLPConfig, Topology, TrainConfig, build_mlp, train
    from codesign.quant.export import export_qonnx

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    python = readme.split("## Python", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    data = load_dataset("breast_cancer")
    model = build_mlp(Topology(data.features, data.num_classes, MLPConfig(hidden=(6,))), seed=0)
    trained = train(model, data, TrainConfig(epochs=3), progress=False).model
    export_qonnx(trained, tmp_path / "model.onnx", in_features=data.features)
    monkeypatch.chdir(tmp_path)
    exec(compile(python, "README.md", "exec"), {"__name__": "readme"})
    printed = capsys.readouterr().out
    assert printed.startswith("accuracy ")
    assert float(printed.split()[1]) > 0.8
    assert '"target": "fpga"' in printed and '"target": "printed"' in printed
