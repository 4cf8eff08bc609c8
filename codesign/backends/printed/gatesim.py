"""Gate-level simulation of a mapped yosys netlist, vectorised over the whole test set.

Every net holds one bit per sample, packed eight samples to a byte, so one numpy bitwise
operation evaluates a cell for all samples at once.  The same pass counts output transitions
between consecutive samples (switching activity for dynamic power) and the arrival time of
every net (critical path).
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np

from codesign.backends.printed.liberty import cell_pins
from codesign.backends.printed.libfunc import evaluate, parse
from codesign.errors import BackendError


@dataclass(frozen=True)
class NetlistCell:
    name: str
    kind: str
    inputs: tuple  # net ids or "0"/"1" constants, in pin order A, B, ...
    output: int


@dataclass(frozen=True)
class Netlist:
    """A combinational mapped netlist in evaluation order."""

    inputs: dict[str, list]  # port -> bits (LSB first)
    outputs: dict[str, list]
    cells: tuple[NetlistCell, ...]

    @classmethod
    def from_yosys(cls, module: dict, functions: dict[str, str]) -> Netlist:
        inputs, outputs = {}, {}
        for port, info in module["ports"].items():
            (inputs if info["direction"] == "input" else outputs)[port] = info["bits"]
        cells, driver = [], {}
        for name, cell in module["cells"].items():
            kind = cell["type"]
            if kind not in functions:
                raise BackendError(f"mapped netlist uses cell {kind!r}, which the card does not define",
                                   hint="the cell library and the card are out of sync; regenerate both")
            pins = cell_pins(functions[kind])
            (output,) = cell["connections"]["Y"]
            built = NetlistCell(name, kind, tuple(cell["connections"][p][0] for p in pins), output)
            driver[output] = built
            cells.append(built)
        graph = nx.DiGraph()
        graph.add_nodes_from(c.name for c in cells)
        for cell in cells:
            for net in cell.inputs:
                if net in driver:
                    graph.add_edge(driver[net].name, cell.name)
        try:
            order = {name: position for position, name in enumerate(nx.topological_sort(graph))}
        except nx.NetworkXUnfeasible:
            raise BackendError("mapped netlist has a combinational loop", hint="report a bug with the Verilog") from None
        return cls(inputs, outputs, tuple(sorted(cells, key=lambda c: order[c.name])))


@dataclass(frozen=True)
class GateSimulation:
    outputs: dict[str, np.ndarray]  # port -> unsigned integer per sample
    toggles: dict[str, int]  # cell name -> output transitions over the sample sequence
    samples: int


def _net(nets: dict, net, where: str) -> np.ndarray:
    """A driven net's value; an undriven net or an undefined constant is an error, never a 0."""
    if net in nets:
        return nets[net]
    if net in ("x", "z"):
        raise BackendError(f"mapped netlist: {where} is tied to an undefined value ({net!r})",
                           hint="the design leaves a signal undefined; report a bug with the Verilog")
    raise BackendError(f"mapped netlist: {where} reads net {net}, which nothing drives",
                       hint="the netlist is incomplete or not in evaluation order; report a bug with the Verilog")


def simulate(netlist: Netlist, functions: dict[str, str], port_values: dict[str, np.ndarray]) -> GateSimulation:
    """Drive the input ports with integer values per sample (two's complement bits) and read the
    output ports back as unsigned integers."""
    count = len(next(iter(port_values.values())))
    nbytes = (count + 7) // 8
    ones = np.full(nbytes, 0xFF, dtype=np.uint8)
    nets: dict = {"0": np.zeros(nbytes, dtype=np.uint8), "1": ones}
    missing = sorted(set(netlist.inputs) - set(port_values))
    if missing:
        raise BackendError(f"gate-level simulation: no values for input port {missing[0]!r}",
                           hint="drive every input port of the netlist")
    for port, bits in netlist.inputs.items():
        values = np.asarray(port_values[port], dtype=np.int64)
        for position, net in enumerate(bits):
            if isinstance(net, int):
                nets[net] = np.packbits(((values >> position) & 1).astype(np.uint8))
    expressions = {kind: parse(function) for kind, function in functions.items()}
    pins_of = {kind: cell_pins(function) for kind, function in functions.items()}
    toggles = {}
    for cell in netlist.cells:
        values = {p: _net(nets, n, f"pin {p} of {cell.name} ({cell.kind})")
                  for p, n in zip(pins_of[cell.kind], cell.inputs, strict=True)}
        value = evaluate(expressions[cell.kind], values, ones)
        nets[cell.output] = value.astype(np.uint8)
        bits = np.unpackbits(nets[cell.output])[:count]
        toggles[cell.name] = int(np.count_nonzero(bits[1:] != bits[:-1]))
    outputs = {}
    for port, bits in netlist.outputs.items():
        value = np.zeros(count, dtype=np.int64)
        for position, net in enumerate(bits):
            bit = _net(nets, net, f"output {port}[{position}]")
            value |= np.unpackbits(bit)[:count].astype(np.int64) << position
        outputs[port] = value
    return GateSimulation(outputs, toggles, count)


def critical_path(netlist: Netlist, delays: dict[str, float]) -> tuple[float, list[str]]:
    """Longest input-to-output delay (seconds) and the cells on that path."""
    arrival: dict = {}
    through: dict = {}
    for cell in netlist.cells:
        start, previous = 0.0, None
        for net in cell.inputs:
            if net in arrival and arrival[net] > start:
                start, previous = arrival[net], net
        arrival[cell.output] = start + delays[cell.kind]
        through[cell.output] = (cell, previous)
    ends = [net for bits in netlist.outputs.values() for net in bits if net in arrival]
    if not ends:
        return 0.0, []
    net = max(ends, key=lambda n: arrival[n])
    total, path = arrival[net], []
    while net is not None:
        cell, net = through[net]
        path.append(cell.kind)
    return total, path[::-1]
