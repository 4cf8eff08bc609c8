"""``codesign report``: a self-contained HTML page of a run directory."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from graphs import brevitas_mlp, save

from codesign.cards import load_card
from codesign.cli import main
from codesign.report import format_si, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class Page(HTMLParser):
    """What the tests look at: table rows as cell texts, attributes, badges, visible text."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.attributes: list[tuple[str, str, str]] = []  # (tag, name, value)
        self.badges: list[tuple[str, str]] = []  # (pass|fail|unknown, text)
        self.text: list[str] = []
        self.tags: set[str] = set()
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._badge: tuple[str, list[str]] | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        attrs = dict(attrs)
        for name, value in attrs.items():
            self.attributes.append((tag, name, value or ""))
        if tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "span" and "badge" in (attrs.get("class") or "").split():
            kind = next(c for c in attrs["class"].split() if c != "badge")
            self._badge = (kind, [])

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None
        elif tag == "span" and self._badge is not None:
            self.badges.append((self._badge[0], "".join(self._badge[1]).strip()))
            self._badge = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)
        if self._badge is not None:
            self._badge[1].append(data)


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


def plot(path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([1, 2, 3], [3, 1, 2], "o-")
    fig.savefig(path, dpi=60)
    plt.close(fig)
    return path


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A run directory with real FPGA and crossbar estimates, a plot, verification and a Pareto front."""
    root = tmp_path_factory.mktemp("run")
    model = save(brevitas_mlp(), root / "model.onnx")
    (root / "fpga").mkdir()
    (root / "crossbar").mkdir()
    assert main(["estimate", str(model), "--target", "fpga", "--card", "pynq-z2", "--json",
                 "--out", str(root / "fpga" / "estimate.json")]) == 0
    assert main(["estimate", str(model), "--target", "crossbar", "--card", "rram-40nm",
                 "--out", str(root / "crossbar" / "estimate.json")]) == 0
    plot(root / "plots" / "energy_vs_latency.png")
    (root / "fpga" / "verification.json").write_text(json.dumps(
        {"model": "model", "card": "pynq-z2", "layer_types": {"dense0": "ap_fixed<10,6>"},
         "verification": {"exact_match_rate": 1.0, "prediction_match_rate": 1.0, "samples": 200,
                          "max_abs_error": 0.0, "passed": True}}))
    printed = root / "printed"
    printed.mkdir()
    (printed / "verification.json").write_text(json.dumps(
        {"gate_vs_design_mismatches": 3, "gate_vs_reference_mismatches": 0, "passed": False,
         "samples": 171, "test_accuracy": 0.9415}))
    (printed / "pareto.json").write_text(json.dumps(
        {"card": "egfet-1v", "design": "model", "trials": 43,
         "exact": {"area_cm2": 108.4, "power_mw": 312.3, "test_accuracy": 0.9415, "latency_s": 0.3224},
         "budgets": [{"accuracy_loss": 0.01, "area_cm2": 69.02, "power_mw": 202.6, "test_accuracy": 0.9474,
                      "approximation": {"neurons": [[{"truncation": 2}]]}}],
         "front": [{"search_accuracy": 0.6281, "proxy": 419, "trial": 32},
                   {"search_accuracy": 0.9950, "proxy": 2902, "trial": 0, "area_cm2": 108.4}]}))
    return root


@pytest.fixture(scope="module")
def report(run_dir: Path) -> tuple[Path, Page]:
    path = write_report(run_dir)
    return path, parse(path)


def test_default_output_and_atomic_write(run_dir: Path, report) -> None:
    path, _ = report
    assert path == run_dir / "report.html"
    assert not [p for p in run_dir.iterdir() if p.name.endswith(".partial")]
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_cross_target_rows(report) -> None:
    _, page = report
    header = next(row for row in page.rows if row[:4] == ["model", "target", "card", "method"])
    rows = [row for row in page.rows if len(row) == len(header) and row[1] in ("fpga", "crossbar")]
    by_target = {row[1]: dict(zip(header, row)) for row in rows}
    assert set(by_target) == {"fpga", "crossbar"}
    fpga, crossbar = by_target["fpga"], by_target["crossbar"]
    assert fpga["card"] == "pynq-z2" and crossbar["card"] == "rram-40nm"
    assert fpga["method"] == crossbar["method"] == "analytical"
    assert fpga["latency"].endswith(" ns") and fpga["power"].endswith(" mW")  # SI prefixes
    assert crossbar["energy"].endswith(" pJ") and crossbar["area"].endswith(" mm²")
    assert fpga["verified"] == "PASS"
    assert "hls4ml" in fpga["key assumptions"]
    assert fpga["source"] == "fpga/estimate.json"


def test_breakdown_tables(report) -> None:
    _, page = report
    first_cells = {row[0] for row in page.rows if row}
    for part in ("layer.dense0", "layer.dense1", "layer.dense2", "energy_j", "power_w", "area_mm2"):
        assert part in first_cells
    adc = next(row for row in page.rows if row and row[0] == "area_mm2" and len(row) == 5)
    assert all(cell.endswith(("mm²", "µm²")) for cell in adc[1:])


def test_images_are_embedded_and_nothing_is_remote(report) -> None:
    path, page = report
    sources = [value for tag, name, value in page.attributes if tag == "img" and name == "src"]
    assert len(sources) == 1
    prefix = "data:image/png;base64,"
    assert sources[0].startswith(prefix)
    assert base64.b64decode(sources[0][len(prefix):]).startswith(PNG_MAGIC)
    assert "Energy vs latency" in " ".join(page.text)  # caption from the file name
    for tag, name, value in page.attributes:
        if name in ("src", "href", "srcset", "action", "data"):
            assert not value.lower().startswith(("http:", "https:", "//", "file:")), (tag, name, value)
            if name == "href":
                assert value.startswith("#"), value
    assert not page.tags & {"script", "link", "iframe", "object", "embed"}
    assert "@import" not in path.read_text(encoding="utf-8")


def test_cards_with_sources(report) -> None:
    _, page = report
    text = " ".join(page.text)
    for name in ("pynq-z2", "rram-40nm"):
        constants = load_card(name).constants()
        for constant in constants.values():
            assert " ".join(constant.source.split()) in " ".join(text.split())
    rows = {row[0]: row for row in page.rows if row}
    assert rows["clock.period"][1] == "10 ns" and rows["clock.period"][2] == "10 ns"
    assert ("pass", "MATCHES") in page.badges


def test_verification_badges(report) -> None:
    _, page = report
    assert ("pass", "PASS") in page.badges
    assert ("fail", "FAIL") in page.badges
    rows = {row[0]: row[1] for row in page.rows if len(row) == 2}
    assert rows["gate_vs_design_mismatches"] == "3"
    assert rows["exact_match_rate"] == "100.00%"


def test_pareto_tables(report) -> None:
    _, page = report
    header = next(row for row in page.rows if row and row[0] == "search_accuracy")
    assert header == ["search_accuracy", "proxy", "trial", "area_cm2"]
    assert ["62.81%", "419", "32", "–"] in page.rows
    budgets = next(row for row in page.rows if row and row[0] == "accuracy_loss")
    assert "approximation" in budgets


def test_comparison_json_drives_the_table(run_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "cmp"
    shutil.copytree(run_dir, run, ignore=shutil.ignore_patterns("report.html"))
    rows = [json.loads((run / target / "estimate.json").read_text()) for target in ("fpga", "crossbar")]
    (run / "comparison.json").write_text(json.dumps({"model": "tiny-mlp", "rows": rows}))
    out = tmp_path / "elsewhere" / "page.html"
    assert main(["report", str(run), "--out", str(out)]) == 0
    page = parse(out)
    assert "tiny-mlp" in " ".join(page.text)
    sources = [row[-1] for row in page.rows if row and row[-1].startswith("comparison.json row")]
    assert sources == ["comparison.json row 1", "comparison.json row 2"]
    assert not (run / "report.html").exists()


def test_card_from_the_run_directory(tmp_path: Path) -> None:
    run = tmp_path / "custom"
    run.mkdir()
    shipped = Path(load_card("pynq-z2").path).read_text(encoding="utf-8")
    (run / "my-board.toml").write_text(shipped.replace('name = "pynq-z2"', 'name = "my-board"'))
    model = save(brevitas_mlp(), tmp_path / "model.onnx")
    assert main(["estimate", str(model), "--card", str(run / "my-board.toml"), "--out",
                 str(run / "estimate.json")]) == 0
    page = parse(write_report(run))
    assert ("pass", "MATCHES") in page.badges
    assert "my-board.toml" in " ".join(page.text)
    assert not [b for b in page.badges if b[1] == "NOT FOUND"]


def test_report_is_deterministic(run_dir: Path, tmp_path: Path) -> None:
    a, b = write_report(run_dir, tmp_path / "a.html"), write_report(run_dir, tmp_path / "b.html")
    assert a.read_bytes() == b.read_bytes()


def test_missing_and_empty_run_dir(tmp_path: Path, capsys) -> None:
    assert main(["report", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such run directory" in err
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nothing to report" in err
    assert not (tmp_path / "empty" / "report.html").exists()


def test_si_prefixes() -> None:
    assert format_si(50e-9, "s") == "50 ns"
    assert format_si(6.30804e-9, "J") == "6.308 nJ"
    assert format_si(0.1261608, "W") == "126.2 mW"
    assert format_si(0.99999e-6, "s") == "1 µs"
    assert format_si(0, "J") == "0 J"
    assert format_si(2.5e8, "inf/s") == "250 Minf/s"


def _browser() -> str | None:
    return next((path for name in ("chromium", "chromium-browser", "google-chrome")
                 if (path := shutil.which(name))), None)


@pytest.mark.skipif(_browser() is None, reason="no Chromium/Chrome on PATH")
def test_renders_in_a_headless_browser(report, tmp_path: Path) -> None:
    path, _ = report
    shot = tmp_path / "shot.png"
    subprocess.run([_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--screenshot={shot}", "--window-size=1200,2000", path.resolve().as_uri()],
                   check=True, capture_output=True, timeout=120)
    data = shot.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 20_000
    Image = pytest.importorskip("PIL.Image")
    with Image.open(shot) as image:
        assert image.size == (1200, 2000)
        colours = image.convert("RGB").resize((60, 100)).getcolors(maxcolors=100_000)
    assert colours is not None and len(colours) > 20  # text, tables and the plot, not a blank page
