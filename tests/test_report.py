"""``codesign report``: a self-contained HTML page of a run directory."""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path

import pytest
from graphs import brevitas_mlp, save
from report_dirs import BASELINE_ESTIMATES, plot, sweep_dir
from report_page import area_units_per_line, header_rows, parse

from codesign.cards import load_card
from codesign.cli import main
from codesign.estimate import Estimate
from codesign.outputs import MANIFEST_NAME
from codesign.report import format_si, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """Real FPGA and crossbar estimates, a real printed export (verified netlist), a plot, a
    passing FPGA verification, a failing verification and the Pareto front of an approximation."""
    root = tmp_path_factory.mktemp("run")
    model = save(brevitas_mlp(), root / "model.onnx")
    (root / "fpga").mkdir()
    (root / "crossbar").mkdir()
    assert main(["estimate", str(model), "--target", "fpga", "--card", "pynq-z2", "--json",
                 "--out", str(root / "fpga" / "estimate.json")]) == 0
    assert main(["estimate", str(model), "--target", "crossbar", "--card", "rram-40nm",
                 "--out", str(root / "crossbar" / "estimate.json")]) == 0
    assert main(["export", str(model), "--card", "egfet-1v", "--out", str(root / "printed")]) == 0
    plot(root / "plots" / "energy_vs_latency.png")
    (root / "fpga" / "verification.json").write_text(json.dumps(  # as the FPGA export writes it
        {"model": "model", "card": "pynq-z2", "layer_types": {"dense0": "ap_fixed<10,6>"},
         "verification": {"exact_match_rate": 1.0, "prediction_match_rate": 1.0, "samples": 200,
                          "max_abs_error": 0.0, "passed": True}}))
    approx = root / "printed-approx"
    approx.mkdir()
    (approx / "verification.json").write_text(json.dumps(
        {"gate_vs_design_mismatches": 3, "gate_vs_reference_mismatches": 0, "passed": False,
         "samples": 171, "test_accuracy": 0.9415}))
    (approx / "pareto.json").write_text(json.dumps(
        {"card": "egfet-1v", "design": "model", "trials": 43,
         "exact": {"area_cm2": 108.4, "power_mw": 312.3, "test_accuracy": 0.9415, "latency_s": 0.3224},
         "budgets": [{"accuracy_loss": 0.01, "area_cm2": 69.02, "power_mw": 202.6, "test_accuracy": 0.9474,
                      "approximation": {"neurons": [[{"truncation": 2}]]}}],
         "front": [{"search_accuracy": 0.6281, "proxy": 419, "trial": 32},
                   {"search_accuracy": 0.9950, "proxy": 2902, "trial": 0, "area_cm2": 108.4}]}))
    return root


@pytest.fixture(scope="module")
def report(run_dir: Path):
    path = write_report(run_dir)
    return path, parse(path)


def test_default_output_and_atomic_write(run_dir: Path, report) -> None:
    path, _ = report
    assert path == run_dir / "report.html"
    assert not [p for p in run_dir.iterdir() if p.name.endswith(".partial")]
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_cross_target_rows(report) -> None:
    _, page = report
    rows = {row["target"]: row for row in header_rows(page, "estimates", "model")}
    assert set(rows) == {"fpga", "crossbar", "printed"}
    fpga, crossbar, printed = rows["fpga"], rows["crossbar"], rows["printed"]
    assert fpga["card"] == "pynq-z2" and crossbar["card"] == "rram-40nm" and printed["card"] == "egfet-1v"
    assert fpga["method"] == crossbar["method"] == "analytical" and printed["method"] == "synthesis"
    assert fpga["latency"].endswith(" ns") and fpga["power"].endswith(" mW")  # SI prefixes
    assert crossbar["energy"].endswith(" pJ") and printed["latency"].endswith(" ms")
    assert "hls4ml" in fpga["key assumptions"]
    assert fpga["source"] == "fpga/estimate.json"


def test_verified_column_reads_each_artifacts_verification(report) -> None:
    _, page = report
    rows = {row["target"]: row for row in header_rows(page, "estimates", "model")}
    assert rows["fpga"]["verified"] == "PASS 100.00% exact of 200"
    printed = json.loads((report[0].parent / "printed" / "verification.json").read_text())
    assert printed["passed"] is True  # the real export's gate-level check
    assert rows["printed"]["verified"] == f"PASS 0 mismatches of {printed['samples']}"
    assert rows["crossbar"]["verified"] == "–"  # an estimate only: nothing was exported or verified


def test_comparison_rows_take_the_verification_of_the_exported_design(run_dir: Path, tmp_path: Path) -> None:
    """A comparison table next to the exports: each row shows its export's verification, once."""
    run = tmp_path / "cmp"
    shutil.copytree(run_dir, run, ignore=shutil.ignore_patterns("report.html"))
    rows = []
    for target in ("fpga", "crossbar", "printed"):
        data = json.loads((run / target / "estimate.json").read_text())
        rows.append({**data, "tool_versions": {"codesign": "0.1.0"}})  # `estimate` records fewer tools
    refused = {"target": "toy-analog", "card": "toy-card",
               "reason": "the toy-analog backend cannot take float inputs (layer dense0)"}
    (run / "comparison.json").write_text(json.dumps({"model": "tiny-mlp", "rows": rows, "refused": [refused]}))
    out = tmp_path / "elsewhere" / "page.html"
    assert main(["report", str(run), "--out", str(out)]) == 0
    page = parse(out)
    table = header_rows(page, "estimates", "model")
    [refusal] = [row for row in page.section_tables("estimates")[0] if row[1] == "toy-analog"]
    assert refusal[4] == f"NOT ESTIMATED {refused['reason']}" and refusal[-1] == "comparison.json refused 1"
    table = [row for row in table if row["target"] != "toy-analog"]
    assert [row["source"] for row in table] == [f"comparison.json row {i}" for i in (1, 2, 3)]
    verified = {row["target"]: row["verified"].split()[0] for row in table}
    assert verified == {"fpga": "PASS", "crossbar": "–", "printed": "PASS"}
    assert "tiny-mlp" in " ".join(page.text)
    assert page.headings["estimates"] == "Cross-target comparison (3 estimates, 1 not estimated)"
    assert not (run / "report.html").exists()


def test_headings_count_what_is_shown(report) -> None:
    _, page = report
    estimates = header_rows(page, "estimates", "model")
    assert page.headings["estimates"] == f"Cross-target comparison ({len(estimates)} estimates)"
    cards = [v for t, n, v in page.attributes if n == "id" and v.startswith("estimate-")]
    assert page.headings["breakdowns"] == f"Breakdowns per estimate ({len(cards)} estimates)" == \
        f"Breakdowns per estimate ({len(estimates)} estimates)"
    reports = [v for t, n, v in page.attributes if n == "id" and v.startswith("verification-")]
    assert page.headings["verification"] == f"Verification ({len(reports)} reports)" == "Verification (3 reports)"
    assert ("pass", "2 passed") in page.badges and ("fail", "1 failed") in page.badges
    images = [v for t, n, v in page.attributes if t == "img" and n == "src"]
    assert page.headings["plots"] == f"Plots ({len(images)} plot)" == "Plots (1 plot)"
    shown_cards = [v for t, n, v in page.attributes if n == "id" and v.startswith("card-")]
    assert page.headings["cards"] == f"Target cards ({len(shown_cards)} cards)" == "Target cards (3 cards)"
    summary = re.search(r"</h1><p class=\"muted\">(.*?) · codesign", report[0].read_text(encoding="utf-8")).group(1)
    files = len([p for p in report[0].parent.rglob("*") if p.is_file() and p.name not in ("report.html", MANIFEST_NAME)])
    assert summary == (f"{len(estimates)} estimates, 1 plot, 3 verification reports, 1 other Pareto front, "
                       f"{files} files")


def test_one_area_unit_per_column(report) -> None:
    _, page = report
    lines = area_units_per_line(page)
    assert any(units for units in lines)
    assert all(len(units) <= 1 for units in lines), [u for u in lines if len(u) > 1]
    areas = [row["area"] for row in header_rows(page, "estimates", "model")]
    assert len({a.split()[-1] for a in areas}) == 1, areas  # printed cm²-sized, crossbar µm²-sized: one unit


def test_efficiency_is_not_labelled_in_watts(report) -> None:
    _, page = report
    values = {row[0]: row[1] for row in page.rows if len(row) == 2}
    assert re.fullmatch(r"[0-9.]+ TOPS/W", values["efficiency_tops_per_w"]), values["efficiency_tops_per_w"]
    assert re.fullmatch(r"[0-9.e-]+ TOPS", values["throughput_tops"])
    assert values["power_mw"].endswith(" mW") and values["area_cm2"].endswith(" cm²")


def test_breakdown_tables(report) -> None:
    _, page = report
    first_cells = {row[0] for row in page.rows if row}
    for part in ("layer.dense0", "layer.dense1", "layer.dense2", "energy_j", "power_w", "area_mm2"):
        assert part in first_cells


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
    ids = {value for _, name, value in page.attributes if name == "id"}
    assert {value[1:] for _, name, value in page.attributes if name == "href"} <= ids  # no dead links
    assert not page.tags & {"script", "link", "iframe", "object", "embed"}
    assert "@import" not in path.read_text(encoding="utf-8")


def test_cards_with_sources(report) -> None:
    _, page = report
    text = " ".join(" ".join(page.text).split())
    for name in ("pynq-z2", "rram-40nm", "egfet-1v"):
        for constant in load_card(name).constants().values():
            assert " ".join(constant.source.split()) in text
    rows = {row[0]: row for row in page.rows if row}
    assert rows["clock.period"][1] == "10 ns" and rows["clock.period"][2] == "10 ns"
    assert ("pass", "MATCHES") in page.badges


def test_verification_badges(report) -> None:
    _, page = report
    assert ("pass", "PASS") in page.badges
    assert ("fail", "FAIL") in page.badges
    rows = {row[0]: row[1] for row in page.rows if len(row) == 2}
    assert rows["gate_vs_design_mismatches"] in ("0", "3")
    assert rows["exact_match_rate"] == "100.00%"


def test_pareto_tables(report) -> None:
    _, page = report
    header = next(row for row in page.rows if row and row[0] == "search_accuracy")
    assert header == ["search_accuracy", "proxy", "trial", "area_cm2"]
    assert ["62.81%", "419", "32", "–"] in page.rows
    budgets = next(row for row in page.rows if row and row[0] == "accuracy_loss")
    assert "approximation" in budgets


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


def test_third_party_estimate_renders_like_a_built_in_one(tmp_path: Path, monkeypatch) -> None:
    from plugin_backend import install

    install(tmp_path / "site", monkeypatch)  # the toy backend of examples/custom_backend.py, as a plugin
    model = save(brevitas_mlp(), tmp_path / "model.onnx")
    run = tmp_path / "run"
    run.mkdir()
    assert main(["estimate", str(model), "--target", "toy-fpga", "--card", "pynq-z2", "-O", "cycles_per_layer=2",
                 "--out", str(run / "estimate.json")]) == 0
    data = json.loads((run / "estimate.json").read_text())
    data["breakdown"]["sram"] = {"energy_j": 2.5e-12, "area_um2": 1250.0, "read_s": 3e-9}  # a backend's own keys:
    data["resources"]["efficiency_gops_per_w"] = 812.5  # their names carry the units
    Estimate.from_dict(data).save(run / "estimate.json", overwrite=True)
    page = parse(write_report(run))
    [row] = header_rows(page, "estimates", "model")
    assert row["target"] == "toy-fpga" and row["card"] == "pynq-z2"
    assert row["latency"] == format_si(data["latency_s"], "s")
    assert row["area"].endswith(" mm²") and row["power"].endswith(" mW")
    [sram] = [dict(zip(rows[0], row)) for rows in page.section_tables("breakdowns") for row in rows if row[0] == "sram"]
    assert sram == {"": "sram", "energy_j": "2.5 pJ", "area_um2": "0.00125 mm²", "read_s": "3 ns"}
    values = {r[0]: r[1] for r in page.rows if len(r) == 2}
    assert values["efficiency_gops_per_w"] == "812.5 GOPS/W"
    assert "card-pynq-z2" in {value for _, name, value in page.attributes if name == "id"}


def test_estimate_of_a_backend_not_installed_here(report, tmp_path: Path) -> None:
    assert not [b for b in report[1].badges if b[0] == "warn"]  # every built-in target is installed
    data = json.loads((BASELINE_ESTIMATES / "mlp_w4" / "crossbar-rram-40nm.json").read_text())
    run = tmp_path / "run"
    run.mkdir()
    (run / "estimate.json").write_text(json.dumps({**data, "target": "retired-crossbar"}))
    page = parse(write_report(run))
    assert ("warn", "backend retired-crossbar not installed here") in page.badges
    [row] = header_rows(page, "estimates", "model")
    assert row["target"] == "retired-crossbar" and row["energy"] == "75.41 pJ"  # shown as recorded


def test_terminal_estimate_table_reads_units_from_the_keys() -> None:
    from rich.console import Console

    from codesign.report_tables import estimate_table

    console = Console(width=200, record=True)
    console.print(estimate_table(Estimate.load(BASELINE_ESTIMATES / "mlp_w4" / "crossbar-rram-40nm.json")))
    lines = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in console.export_text().splitlines()
             if line.count("│") == 3}
    assert lines["latency"] == "90.91 ns" and lines["area"] == "0.04159 mm²" and lines["power"] == "829.5 µW"
    assert lines["efficiency_tops_per_w"] == "2.97 TOPS/W" and lines["adc_energy_share"] == "37.05%"


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
    (tmp_path / "file").write_text("x")
    for args, expected in (([str(tmp_path / "file")], "is a file, not a run directory"),
                           ([str(tmp_path), "--out", str(tmp_path / "file" / "page.html")], "cannot be written"),
                           ([str(tmp_path), "--out", str(tmp_path)], "is a directory")):
        (tmp_path / "empty" / "estimate.json").write_text("{}")  # something to report
        assert main(["report", *args]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and expected in err and "Traceback" not in err
    assert (tmp_path / "file").read_text() == "x"


def test_sweep_directory_reports_its_pareto_fronts(tmp_path: Path) -> None:
    run = sweep_dir(tmp_path / "sweep")
    assert main(["report", str(run)]) == 0
    page = parse(run / "report.html")
    assert "estimates" not in page.headings and "No estimates" not in " ".join(page.text)
    assert page.headings["sweep-run"] == "Design-space sweep (2 Pareto-optimal of 3 trials)"
    front = header_rows(page, "sweep-run", "trial")
    assert [row["trial"] for row in front] == ["0", "1"]
    assert front[0]["accuracy ↑"] == "91.00%" and front[0]["fpga.energy_j ↓"].endswith(" nJ")
    assert len({row["xbar.area_mm2 ↓"].split()[-1] for row in front}) == 1
    per_target = [rows for rows in page.section_tables("sweep-run") if rows[0][:2] == ["trial", "accuracy"]]
    assert len(per_target) == 2 and all(len(rows) == 3 for rows in per_target)
    fpga = [dict(zip(per_target[0][0], row)) for row in per_target[0][1:]]
    assert [row["verified"] for row in fpga] == ["PASS 0 mismatches of 30"] * 2
    assert "verified" not in per_target[1][0]  # the other target checks nothing per trial
    ids = {value for _, name, value in page.attributes if name == "id"}
    assert {"sweep-run-fpga", "sweep-run-xbar", "plot-pareto-fpga-png", "plot-pareto-xbar-png"} <= ids
    cards = {value for value in ids if value.startswith("card-")}
    assert cards == {"card-pynq-z2", "card-rram-40nm"}  # the cards the Pareto points' estimates used
    assert "other" not in page.headings  # the trials' own files belong to the sweep section


@pytest.mark.parametrize(("key", "value", "shown"), [
    ("efficiency_tops_per_w", 4.271, "4.271 TOPS/W"), ("throughput_tops", 0.01126, "0.01126 TOPS"),
    ("throughput_inf_per_s", 2.5e8, "250 Minf/s"), ("power_mw", 25.6, "25.6 mW"), ("static_power_mw", 0.5, "500 µW"),
    ("area_cm2", 8.3955, "8.396 cm²"), ("area_um2", 1250.0, "0.00125 mm²"), ("area_mm2", 0.000134, "134 µm²"),
    ("clock_mhz", 100, "100 MHz"), ("cycle_s", 1.0909e-08, "10.91 ns"), ("delay_ns", 3.2, "3.2 ns"),
    ("energy_pj", 5, "5 pJ"), ("fpga.energy_j", 6.3e-9, "6.3 nJ"), ("crossbar.accuracy", 0.875, "87.50%"),
    ("utilisation_lut", 0.0437, "4.37%"), ("lut", 2326.0, "2326"), ("ff", 0, "0"), ("cells", 155.0, "155"),
    ("ops_per_inference", 224.0, "224"), ("steps", 1000, "1000"), ("bram_18k", 2, "2"), ("vdd_v", 1.0, "1 V"),
])
def test_units_come_from_the_key(key: str, value, shown: str) -> None:
    from codesign.report.formatting import format_value

    assert format_value(value, key) == shown


def test_si_prefixes() -> None:
    assert format_si(50e-9, "s") == "50 ns"
    assert format_si(6.30804e-9, "J") == "6.308 nJ"
    assert format_si(0.1261608, "W") == "126.2 mW"
    assert format_si(0.99999e-6, "s") == "1 µs"
    assert format_si(0, "J") == "0 J"
    assert format_si(2.5e8, "inf/s") == "250 Minf/s"


def test_an_existing_file_is_replaced_only_if_it_is_a_report(run_dir: Path, tmp_path: Path, capsys) -> None:
    mine = tmp_path / "notes.html"
    mine.write_text("<p>my notes</p>")
    assert main(["report", str(run_dir), "--out", str(mine)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a page codesign report wrote" in err
    assert mine.read_text() == "<p>my notes</p>"
    page = tmp_path / "page.html"
    assert main(["report", str(run_dir), "--out", str(page)]) == 0
    first = page.read_bytes()
    (run_dir / "extra.json").write_text('{"note": 1}')
    try:
        assert main(["report", str(run_dir), "--out", str(page)]) == 0  # its own page is brought up to date
    finally:
        (run_dir / "extra.json").unlink()
    assert page.read_bytes() != first and b"extra.json" in page.read_bytes()


MUTANTS = ("text", 7, -1.5, None, [], {}, [1, "a"], {"x": {"y": []}}, True, float("nan"), 1e308)


def _paths(value, path=()):
    """Every place in a JSON document (the first items of lists only)."""
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:3]):
            yield from _paths(item, (*path, index))


def _replaced(document, path, new):
    if not path:
        return new
    copy = json.loads(json.dumps(document))
    holder = copy
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = new
    return copy


def test_damaged_result_files_never_crash_the_report(tmp_path: Path, capsys) -> None:
    """Result files with wrong types anywhere: the page is written (or a one-line error), never a traceback."""
    import random

    run = sweep_dir(tmp_path / "run")
    rows = [json.loads((BASELINE_ESTIMATES / name).read_text())
            for name in ("mlp_w4/crossbar-rram-40nm.json", "tiny_w4/printed-egfet-1v-ab5ffd4d.json")]
    (run / "comparison.json").write_text(json.dumps({"model": "m", "rows": rows}))
    (run / "export").mkdir()
    (run / "export" / "estimate.json").write_text(json.dumps(rows[0]))
    (run / "export" / "verification.json").write_text(json.dumps({"verification": {"passed": True, "samples": 9}}))
    files = sorted(run.rglob("*.json"))
    rng = random.Random(0)
    for _ in range(60):
        file = rng.choice(files)
        original = file.read_text()
        document = json.loads(original)
        path = rng.choice(list(_paths(document)))
        file.write_text(json.dumps(_replaced(document, path, rng.choice(MUTANTS))))
        try:
            code = main(["report", str(run), "--out", str(tmp_path / "page.html")])
        finally:
            file.write_text(original)
        captured = capsys.readouterr()
        assert code in (0, 2), (file, path)
        assert "Traceback" not in captured.err and captured.err.count("\n") <= 1, captured.err
