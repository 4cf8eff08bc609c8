"""The report in a real browser: headless Chromium lays the page out at 1400 px and the wide tables
must fit (no horizontal scrolling); a screenshot must show text and plots, and an empty right margin.

Needs a Chromium or Chrome binary (Debian: ``apt-get install chromium``; or set
``CODESIGN_CHROMIUM`` to one); skipped without it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from report_dirs import BASELINE_ESTIMATES, plot, sweep_dir

from codesign.report import write_report

WIDTH = 1400
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# measured after layout: the page width, and every table of the estimate and sweep sections that
# would need a horizontal scroll bar
MEASURE = """<script>
addEventListener('load', () => {
  const root = document.documentElement;
  const scrolled = [...document.querySelectorAll('.scroll')]
    .filter(d => d.scrollWidth > d.clientWidth + 1)
    .map(d => ({section: d.closest('section').id, needs: d.scrollWidth, has: d.clientWidth}));
  const tables = [...document.querySelectorAll('section[id="estimates"] table, section[id^="sweep"] table')]
    .map(t => ({section: t.closest('section').id, right: Math.ceil(t.getBoundingClientRect().right)}));
  const pre = document.createElement('pre');
  pre.id = 'measured';
  pre.textContent = JSON.stringify({viewport: root.clientWidth, page: root.scrollWidth, scrolled, tables});
  document.body.appendChild(pre);
});
</script>"""


def _browser() -> str | None:
    configured = os.environ.get("CODESIGN_CHROMIUM")
    if configured:
        return configured
    return next((path for name in ("chromium", "chromium-browser", "google-chrome", "chrome")
                 if (path := shutil.which(name))), None)


pytestmark = pytest.mark.skipif(_browser() is None, reason="no Chromium/Chrome found (apt-get install chromium, "
                                "or set CODESIGN_CHROMIUM): the 1400 px layout check needs a real browser")


def _chromium(profile: Path, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
         f"--user-data-dir={profile}", f"--window-size={WIDTH},1000", *arguments],
        check=True, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def wide_report(tmp_path_factory) -> Path:
    """The widest realistic page: every reference estimate (three targets), a third-party target,
    long model, card and file names, a verified export, and a sweep."""
    run = tmp_path_factory.mktemp("wide")
    rows = [json.loads(p.read_text()) for p in sorted(BASELINE_ESTIMATES.rglob("*.json"))]
    long_name = {**rows[0], "model": "jet_tagger_qkeras_hls4ml_lhc_trigger_w6a6_16_64_32_32_5",
                 "target": "third-party-fpga-backend", "card": "xilinx-alveo-u250-vitis-2024-custom-clock-250mhz"}
    rows.append(long_name)
    (run / "comparison.json").write_text(json.dumps({"model": "reference baselines", "rows": rows}))
    export = run / "exports" / "a_rather_long_folder_name_for_one_export_of_the_model_on_the_fpga_target"
    export.mkdir(parents=True)
    (export / "estimate.json").write_text(json.dumps(rows[1]))
    (export / "verification.json").write_text(json.dumps(
        {"verification": {"exact_match_rate": 1.0, "samples": 2000, "passed": True}}))
    plot(run / "comparison.png")
    sweep_dir(run / "sweep")
    return write_report(run)


def test_wide_tables_fit_a_1400px_page(wide_report: Path, tmp_path: Path) -> None:
    page = tmp_path / "measure.html"
    page.write_text(wide_report.read_text(encoding="utf-8").replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    dom = _chromium(tmp_path / "profile", "--dump-dom", page.as_uri()).stdout
    found = re.search(r'<pre id="measured">(.*?)</pre>', dom)
    assert found, dom[-2000:]
    measured = json.loads(found.group(1).replace("&quot;", '"'))
    assert measured["viewport"] == WIDTH
    assert measured["page"] <= WIDTH, measured
    assert not measured["scrolled"], measured["scrolled"]  # no table needs a horizontal scroll bar
    sections = {t["section"] for t in measured["tables"]}
    assert {"estimates", "sweep-sweep"} <= sections
    assert all(t["right"] <= WIDTH for t in measured["tables"]), measured["tables"]


def test_screenshot_shows_the_page_within_its_margins(wide_report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    _chromium(tmp_path / "profile", f"--screenshot={shot}", wide_report.as_uri())
    assert shot.read_bytes().startswith(PNG_MAGIC)
    Image = pytest.importorskip("PIL.Image")
    with Image.open(shot) as image:
        assert image.size == (WIDTH, 1000)
        rgb = image.convert("RGB")
        colours = rgb.resize((70, 50)).getcolors(maxcolors=100_000)
        margin = rgb.crop((WIDTH - 16, 0, WIDTH, 1000)).getcolors(maxcolors=100_000)
    assert colours is not None and len(colours) > 20  # text, tables and the plot, not a blank page
    assert [colour for _, colour in margin] == [(246, 247, 249)]  # the right margin holds only the background
