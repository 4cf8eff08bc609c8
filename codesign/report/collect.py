"""Reading a run directory: which files are estimates, verification reports, Pareto fronts, sweeps.

Nothing here knows a target by name: an estimate is recognised by its fields, its target is
whatever its ``target`` field says, and an artifact's verification is the ``verification.json``
written next to its ``estimate.json``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codesign.outputs import MANIFEST_NAME
from codesign.report.formatting import is_number

ESTIMATE_KEYS = {"target", "card", "method", "latency_s", "energy_j", "area_mm2", "power_w"}
MAX_JSON_BYTES = 2_000_000  # larger JSON files (netlists) are listed, not parsed
MAX_OTHER_JSON_BYTES = 200_000  # other JSON results rendered generically up to this size
NAMED_JSON = ("comparison.json", "estimate.json", "verification.json", "pareto.json")


@dataclass
class EstimateEntry:
    source: str  # relative path (and row) it came from
    data: dict[str, Any]
    verification: str | None = None  # relative path of the verification.json of its artifact

    @property
    def identity(self) -> tuple[str, ...]:
        """Model, target, card and card hash: what makes two estimates describe the same design point."""
        return tuple(str(self.data.get(k) or "") for k in ("model", "target", "card", "card_hash"))

    @property
    def content(self) -> str:
        """The estimate without its tool versions (an export adds the versions of the tools it ran)."""
        return json.dumps({k: v for k, v in self.data.items() if k != "tool_versions"}, sort_keys=True, default=str)


@dataclass
class Sweep:
    """A directory written by ``codesign sweep``: its pareto.json and what its trials wrote."""

    folder: str  # relative to the run directory ('' for the run directory itself)
    pareto: dict[str, Any]
    config: dict[str, Any] | None = None
    trials: list[dict[str, Any]] | None = None
    trial_estimates: dict[str, dict[str, Any]] = field(default_factory=dict)  # trial dir (relative) -> document
    images: list[Path] = field(default_factory=list)

    def path(self, name: str) -> str:
        return f"{self.folder}/{name}" if self.folder else name


@dataclass
class RunContents:
    root: Path
    files: list[Path] = field(default_factory=list)
    comparison: list[tuple[str, dict]] = field(default_factory=list)  # (path, document)
    estimates: list[EstimateEntry] = field(default_factory=list)  # from estimate files
    verifications: list[tuple[str, Any]] = field(default_factory=list)
    paretos: list[tuple[str, Any]] = field(default_factory=list)  # Pareto fronts other than sweeps'
    sweeps: list[Sweep] = field(default_factory=list)
    images: list[Path] = field(default_factory=list)
    other_json: list[tuple[str, Any]] = field(default_factory=list)
    markdown: list[tuple[str, str]] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    @property
    def has_content(self) -> bool:
        return bool(self.comparison or self.estimates or self.verifications or self.paretos or self.sweeps
                    or self.images or self.other_json or self.markdown)

    def verification(self, rel: str) -> Any:
        return next((data for path, data in self.verifications if path == rel), None)


def _walk(root: Path, skip: Path | None) -> list[Path]:
    """Every regular file under root, sorted; hidden files and folders (staging dirs) skipped."""
    skip = skip.resolve() if skip is not None else None
    found = []
    for directory, folders, files in os.walk(root):
        folders[:] = sorted(f for f in folders if not f.startswith("."))
        for name in sorted(files):
            path = Path(directory) / name
            if name.startswith(".") or name == MANIFEST_NAME or not path.is_file() or \
                    (skip is not None and path.resolve() == skip):
                continue
            found.append(path)
    return found


def is_estimate(data: Any) -> bool:
    return isinstance(data, dict) and set(data) >= ESTIMATE_KEYS


def refusals(contents: RunContents) -> list[tuple[str, dict[str, Any]]]:
    """Targets that could not take the model (``refused`` of comparison.json): (source, {target, card, reason})."""
    found = []
    for rel, document in contents.comparison:
        refused = document.get("refused")
        for index, row in enumerate(refused if isinstance(refused, list) else []):
            if isinstance(row, dict) and row.get("target") and row.get("reason"):
                found.append((f"{rel} refused {index + 1}", row))
    return found


def normalised(data: dict[str, Any]) -> dict[str, Any]:
    """An estimate document whose nested fields have the record's shapes (a damaged or foreign
    file renders with what it has instead of failing)."""
    data = dict(data)
    for key in ("breakdown", "resources", "tool_versions"):
        if not isinstance(data.get(key), dict):
            data[key] = {}
    assumptions = data.get("assumptions")
    if isinstance(assumptions, str):
        data["assumptions"] = [assumptions]
    elif not isinstance(assumptions, list):
        data["assumptions"] = []
    return data


def is_sweep_pareto(data: Any) -> bool:
    """The pareto.json of ``codesign sweep``: objectives with directions and the Pareto trials."""
    return (isinstance(data, dict) and isinstance(data.get("pareto"), list) and isinstance(data.get("objectives"), list)
            and all(isinstance(o, dict) and "name" in o for o in data["objectives"]))


def _is_trial_estimates(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("targets"), dict) and isinstance(data.get("metrics"), dict)


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def collect(run_dir: str | os.PathLike, skip: Path | None = None) -> RunContents:
    """Sort every file of ``run_dir`` (except ``skip``, the report itself) into what it holds."""
    root = Path(run_dir)
    contents = RunContents(root=root)
    contents.files = _walk(root, skip)
    documents: list[tuple[Path, str, Any]] = []
    for path in contents.files:
        rel = contents.rel(path)
        suffix = path.suffix.lower()
        if suffix == ".png":
            contents.images.append(path)
        elif suffix == ".md" and path.stat().st_size <= MAX_OTHER_JSON_BYTES:
            try:
                contents.markdown.append((rel, path.read_text(encoding="utf-8", errors="replace")))
            except OSError as exc:
                contents.unreadable.append((rel, str(exc).splitlines()[0]))
        elif suffix == ".json":
            if path.stat().st_size > MAX_JSON_BYTES and path.name not in NAMED_JSON:
                continue
            try:
                documents.append((path, rel, _read_json(path)))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                contents.unreadable.append((rel, str(exc).splitlines()[0]))
    sweeps = {_folder(rel): Sweep(_folder(rel), data) for path, rel, data in documents
              if path.name == "pareto.json" and is_sweep_pareto(data)}
    contents.sweeps = [sweeps[folder] for folder in sorted(sweeps)]
    for image in list(contents.images):  # a sweep's own plots are shown with its fronts
        rel = contents.rel(image)
        if _folder(rel) in sweeps:
            sweeps[_folder(rel)].images.append(image)
            contents.images.remove(image)
    for path, rel, data in documents:
        sweep = _sweep_of(rel, sweeps)
        if sweep is not None and _sweep_file(sweep, path, rel, data):
            continue
        if path.name == "comparison.json" and isinstance(data, dict) and isinstance(data.get("rows"), list):
            contents.comparison.append((rel, data))
        elif is_estimate(data):
            contents.estimates.append(EstimateEntry(rel, normalised(data)))
        elif path.name == "verification.json" or path.name.endswith(".verification.json"):
            contents.verifications.append((rel, data))
        elif path.name.endswith("pareto.json"):
            contents.paretos.append((rel, data))
        elif path.stat().st_size <= MAX_OTHER_JSON_BYTES:
            contents.other_json.append((rel, data))
    folders = {str(Path(rel).parent): rel for rel, _ in contents.verifications}
    for entry in contents.estimates:
        entry.verification = folders.get(str(Path(entry.source).parent))
    return contents


def _folder(rel: str) -> str:
    """The folder of a relative path, '' for the run directory itself."""
    parent = Path(rel).parent.as_posix()
    return "" if parent == "." else parent


def _sweep_of(rel: str, sweeps: dict[str, Sweep]) -> Sweep | None:
    """The innermost sweep whose folder holds ``rel``."""
    for parent in Path(rel).parents:
        folder = "" if parent.as_posix() == "." else parent.as_posix()
        if folder in sweeps:
            return sweeps[folder]
    return None


def _sweep_file(sweep: Sweep, path: Path, rel: str, data: Any) -> bool:
    """Take a file a sweep wrote (its pareto.json, config, trial list, trial estimates); False: not one."""
    inside = rel[len(sweep.folder) + 1:] if sweep.folder else rel
    if inside == "pareto.json":
        return True
    if inside == "config.json" and isinstance(data, dict):
        sweep.config = data
        return True
    if inside == "trials.json" and isinstance(data, list):
        sweep.trials = [t for t in data if isinstance(t, dict)]
        return True
    if path.name == "estimates.json" and _is_trial_estimates(data):
        sweep.trial_estimates[_folder(inside)] = data
        return True
    return False


def estimate_rows(contents: RunContents) -> list[EstimateEntry]:
    """Every distinct estimate: comparison rows first, then estimate files, each once.

    Two estimates equal but for their tool versions (a comparison row and the export of the same
    design) are one row; it keeps the verification of whichever artifact has one.
    """
    entries = [EstimateEntry(f"{rel} row {index + 1}", normalised(row)) for rel, document in contents.comparison
               for index, row in enumerate(document["rows"]) if is_estimate(row)]
    seen: dict[str, EstimateEntry] = {}
    for entry in [*entries, *contents.estimates]:
        found = seen.setdefault(entry.content, entry)
        if found is not entry and entry.verification and not found.verification:
            found.verification = entry.verification
    rows = list(seen.values())
    by_identity: dict[tuple[str, ...], set[str]] = {}
    for entry in rows:
        if entry.verification:
            by_identity.setdefault(entry.identity, set()).add(entry.verification)
    for entry in rows:  # a comparison row of a design that was also exported and verified
        if not entry.verification and len(by_identity.get(entry.identity, ())) == 1:
            entry.verification = next(iter(by_identity[entry.identity]))
    return rows


def verdict(data: Any) -> tuple[bool | None, dict[str, Any], dict[str, Any]]:
    """(passed?, scalar numbers, nested details) of a verification document."""
    if not isinstance(data, dict):
        return None, {"value": data}, {}
    flat = {k: v for k, v in data.items() if k != "verification"}
    if isinstance(data.get("verification"), dict):
        flat.update(data["verification"])
    scalars = {k: v for k, v in flat.items() if not isinstance(v, dict | list)}
    nested = {k: v for k, v in flat.items() if isinstance(v, dict | list)}
    passed: bool | None = None
    if isinstance(flat.get("passed"), bool):
        passed = flat["passed"]
    elif isinstance(flat.get("agrees"), bool):
        passed = flat["agrees"]
    else:
        counts = [v for k, v in flat.items() if k.endswith("mismatches") and is_number(v)]
        if counts:
            passed = all(v == 0 for v in counts)
    return passed, scalars, nested


def verification_summary(data: Any) -> str:
    """The headline number of a verification report: exact-match rate, else mismatches of samples."""
    _, scalars, _ = verdict(data)
    samples = scalars.get("samples")
    of = f" of {samples:g}" if is_number(samples) else ""
    if is_number(scalars.get("exact_match_rate")):
        return f"{float(scalars['exact_match_rate']):.2%} exact{of}"
    mismatches = [v for k, v in scalars.items() if k.endswith("mismatches") and is_number(v)]
    if mismatches:
        return f"{max(mismatches):g} mismatches{of}"
    return ""
