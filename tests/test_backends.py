"""The backend registry, found through real entry points, and the CLI's lazy imports."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from codesign.artifact import Artifact
from codesign.backends import Backend, backend_for, get_backend, installed_backends
from codesign.cards import Card
from codesign.errors import BackendError
from codesign.estimate import Estimate

FAKE_MODULE = "fake_backend_mod"

FAKE_BACKEND_SOURCE = '''
from pathlib import Path

from codesign.artifact import Artifact, atomic_directory
from codesign.backends.base import BackendBase
from codesign.estimate import Estimate
from codesign.options import Option, OptionSchema


class FakeBackend(BackendBase):
    name = "fake"
    family = "fpga"
    default_card = "pynq-z2"
    options = OptionSchema((Option("reuse_factor", "int", 1, "reuse", low=1),))

    def lower(self, graph, card, out_dir, *, overwrite=False, **options):
        options = self.resolve(options, "export")
        with atomic_directory(out_dir, overwrite=overwrite) as staging:
            (staging / "design.txt").write_text(f"card={card.name} options={sorted(options)}\\n")
        return Artifact.from_directory(self.name, Path(out_dir), {"options": options})

    def estimate(self, graph, card, **options):
        return Estimate(target=self.name, card=card.name, card_hash=card.content_hash,
                        method="analytical", latency_s=1e-6, energy_j=2e-9, area_mm2=0.5,
                        power_w=2e-3, assumptions=("fake",))


class NotABackend:
    name = "incomplete"
'''

ENTRY_POINTS = """\
[codesign.backends]
fake = fake_backend_mod:FakeBackend
broken = fake_backend_missing:Nope
incomplete = fake_backend_mod:NotABackend
"""


def make_card(family: str, name: str = "test-card") -> Card:
    """A Card with only what the registry looks at (family, name, hash)."""
    return Card(name=name, family=family, description="", params=None, path=f"<{name}>",
                content_hash="0" * 64)


@pytest.fixture
def fake_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An installed-looking distribution 'fakebackend' on sys.path that declares backends."""
    site = tmp_path / "site"
    dist_info = site / "fakebackend-0.1.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakebackend\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(ENTRY_POINTS)
    (site / f"{FAKE_MODULE}.py").write_text(FAKE_BACKEND_SOURCE)
    sys.modules.pop(FAKE_MODULE, None)
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    yield site
    sys.modules.pop(FAKE_MODULE, None)
    importlib.invalidate_caches()


class TestRegistry:
    def test_discovery_does_not_import_backends(self, fake_distribution: Path) -> None:
        found = installed_backends()
        assert {"fake", "broken", "incomplete"} <= set(found)
        assert found["fake"].value == "fake_backend_mod:FakeBackend"
        assert list(found) == sorted(found)
        assert FAKE_MODULE not in sys.modules

    def test_get_backend_loads_the_class(self, fake_distribution: Path) -> None:
        backend = get_backend("fake")
        assert type(backend).__name__ == "FakeBackend"
        assert isinstance(backend, Backend)
        assert (backend.name, backend.family) == ("fake", "fpga")
        assert FAKE_MODULE in sys.modules

    def test_broken_backend(self, fake_distribution: Path) -> None:
        with pytest.raises(BackendError) as info:
            get_backend("broken")
        message = str(info.value)
        assert "backend 'broken' cannot be imported" in message
        assert "fake_backend_missing" in message

    def test_backend_without_the_interface(self, fake_distribution: Path) -> None:
        with pytest.raises(BackendError, match=r"backend 'incomplete' \(fake_backend_mod:NotABackend\) "
                                               r"does not provide family, default_card, options, sweep_knobs, "
                                               r"accepts, lower, estimate, evaluate"):
            get_backend("incomplete")

    def test_unknown_backend_lists_installed_names(self, fake_distribution: Path) -> None:
        with pytest.raises(BackendError) as info:
            get_backend("nope")
        message = str(info.value)
        assert "no backend named 'nope' is installed" in message
        installed = message.split("(installed: ", 1)[1].split(")", 1)[0].split(", ")
        assert {"fake", "broken", "incomplete"} <= set(installed)

    def test_fake_backend_is_not_found_without_its_distribution(self) -> None:
        assert "fake" not in installed_backends()

    def test_backend_for_rejects_a_card_of_the_wrong_family(self, fake_distribution: Path) -> None:
        with pytest.raises(BackendError) as info:
            backend_for("fake", make_card("crossbar", "test-xbar"))
        message = str(info.value)
        assert "target 'fake' needs a fpga card, 'test-xbar' is a crossbar card" in message
        assert "--family fpga" in message

    def test_backend_for_lowers_and_estimates(self, fake_distribution: Path, tmp_path: Path) -> None:
        card = make_card("fpga", "test-fpga")
        backend = backend_for("fake", card)
        artifact = backend.lower(None, card, tmp_path / "out", reuse_factor=4)
        assert isinstance(artifact, Artifact)
        assert artifact.files == ("design.txt",)
        assert (tmp_path / "out" / "design.txt").read_text() == "card=test-fpga options=['reuse_factor']\n"
        with pytest.raises(BackendError, match="already exists"):
            backend.lower(None, card, tmp_path / "out")
        estimate = backend.estimate(None, card)
        assert isinstance(estimate, Estimate)
        assert (estimate.target, estimate.card, estimate.card_hash) == ("fake", "test-fpga", "0" * 64)


# ---------------------------------------------------------------------------------------------
# The CLI must not pay for heavy imports it does not use
# ---------------------------------------------------------------------------------------------
HEAVY = ("torch", "hls4ml", "brevitas")

LAZY_PROBE = textwrap.dedent(f"""
    import json, sys
    from codesign.cli import main
    try:
        main(["--help"])
    except SystemExit as exc:
        help_code = exc.code
    else:
        help_code = "no SystemExit"
    rc = main(["backends"])
    heavy = sorted(name for name in {HEAVY!r} if name in sys.modules)
    print("PROBE " + json.dumps({{"help": help_code, "backends": rc, "heavy": heavy}}))
""")


def run_python(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=60)


def test_cli_does_not_import_heavy_dependencies() -> None:
    result = run_python("-c", LAZY_PROBE)
    assert result.returncode == 0, result.stderr
    probe = [line for line in result.stdout.splitlines() if line.startswith("PROBE ")]
    assert probe, result.stdout
    assert json.loads(probe[-1][len("PROBE "):]) == {"help": 0, "backends": 0, "heavy": []}


def test_module_help_exits_zero() -> None:
    result = run_python("-m", "codesign.cli", "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: codesign")
    for command in ("inspect", "verify", "cards", "backends", "export", "estimate"):
        assert command in result.stdout
    assert result.stderr == ""
