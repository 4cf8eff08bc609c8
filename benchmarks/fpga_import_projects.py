"""Turn published hls4ml projects (with their C-synthesis reports) into ground-truth points.

A published hls4ml project directory holds everything a calibration point needs: the layer
types (``firmware/defines.h``), reuse factor and strategy (``firmware/parameters.h``), the
trained weights (``firmware/weights/w*.txt``), the HLS tool's version, part and clock
(``*_csynth.xml``), and the per-function C-synthesis results. This script reads such projects
from a directory tree or a bare git repository and writes points in the format of
``benchmarks/data/hls4ml_synthesis_points.json``.

The weights themselves are not stored: each layer keeps only the statistics the estimator
reads (non-zero products per output, and per output the count of products by the number of
canonical-signed-digit digits of the weight), which is enough to rebuild an equivalent layer.

    python benchmarks/fpga_import_projects.py REPO_OR_DIR --source-url URL --commit SHA \
        --prefix NAME --out new_points.json [--multiplier-impl-from-tcl]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codesign.backends.fpga.layerstats import digit_rows  # noqa: E402

TYPE = re.compile(r"typedef\s+ap_(u?)(fixed|int)<\s*(\d+)\s*(?:,\s*(-?\d+))?[^>]*>\s+(\w+)\s*;")


class Tree:
    """Read files from a plain directory or a bare git repository (HEAD)."""

    def __init__(self, path: Path):
        self.path = path
        self.git = (path / "HEAD").is_file() and (path / "objects").is_dir()
        if self.git:
            out = subprocess.run(["git", "-C", str(path), "ls-tree", "-r", "--name-only", "HEAD"],
                                 capture_output=True, text=True, check=True).stdout
            self.files = out.splitlines()
        else:
            self.files = [str(p.relative_to(path)) for p in path.rglob("*") if p.is_file()]

    def read(self, name: str) -> str:
        if self.git:
            return subprocess.run(["git", "-C", str(self.path), "show", f"HEAD:{name}"],
                                  capture_output=True, text=True, check=True).stdout
        return (self.path / name).read_text()


def parse_types(text: str) -> dict[str, tuple[int, int, bool]]:
    """typedef name -> (width, integer bits, signed)."""
    types = {}
    for unsigned, kind, width, integer, name in TYPE.findall(text):
        width = int(width)
        types[name] = (width, width if kind == "int" else int(integer), not unsigned)
    return types


def parse_configs(text: str) -> list[dict]:
    """Each ``struct configN : nnet::...`` block as a dict of its static constants."""
    blocks = []
    for match in re.finditer(r"struct\s+(\w+)\s*:\s*nnet::(\w+)\s*\{(.*?)\n\};", text, re.S):
        name, kind, body = match.groups()
        entry = {"name": name, "kind": kind}
        for key, value in re.findall(r"static const \w+ (\w+) = ([^;]+);", body):
            entry[key] = value.strip()
        for key, value in re.findall(r"typedef (\w+) (\w+_t);", body):
            entry[value] = key
        blocks.append(entry)
    return blocks


def csynth(tree: Tree, path: str) -> dict:
    root = ET.fromstring(tree.read(path))

    def find(tag):
        node = root.find(f".//{tag}")
        return node.text if node is not None else None

    resources = root.find(".//AreaEstimates/Resources")
    values = {child.tag: child.text for child in resources} if resources is not None else {}
    return {"version": find("Version"), "part": find("Part"), "clock_ns": float(find("TargetClockPeriod")),
            "uncertainty_ns": float(find("ClockUncertainty") or 0), "top": find("TopModelName"),
            "latency_cycles": int(find("Worst-caseLatency") or 0), "ii": int(find("Interval-max") or 1),
            "lut": int(values.get("LUT", 0)), "ff": int(values.get("FF", 0)),
            "dsp": int(values.get("DSP", values.get("DSP48E", 0))), "bram_18k": int(values.get("BRAM_18K", 0)),
            "est_clock_ns": float(find("EstimatedClockPeriod") or 0)}


def hls_tool(tree: Tree, project: str, version: str | None) -> dict:
    """The HLS tool that wrote the reports: Vivado HLS up to 2019.2, Vitis HLS from 2020.1 (its first
    release); the project's hls4ml backend where its configuration says."""
    year = int(re.match(r"\d{4}", version or "2020").group(0))
    tool = "Vivado HLS" if year <= 2019 else "Vitis HLS"
    config = f"{project}/hls4ml_config.yml"
    backend = re.search(r"^Backend:\s*(\w+)", tree.read(config), re.M) if config in tree.files else None
    return {"backend": backend.group(1) if backend else tool.split()[0], "tool": tool}


def layer_statistics(codes: np.ndarray) -> dict:
    """Per output the non-zero products by CSD digit count (1, 2, 3, >= 4), and the largest code."""
    return {"digit_rows": digit_rows(codes).tolist(), "max_code": int(np.abs(codes).max(initial=0))}


def project_layers(tree: Tree, project: str) -> tuple[list, list, list, set, set]:
    """The project's Dense layers: shapes, per-layer statistics, activations, reuse factors, strategies."""
    defines = parse_types(tree.read(f"{project}/firmware/defines.h"))
    configs = parse_configs(tree.read(f"{project}/firmware/parameters.h"))
    layers, stats, activations = [], [], []
    dense = [c for c in configs if c["kind"] == "dense_config"]
    relus = {int(re.sub(r"\D", "", c["name"])): c for c in configs
             if c["kind"] == "activ_config" and "relu" in c["name"].lower()}
    reuse = {int(c.get("reuse_factor", 1)) for c in dense}
    strategy = {c.get("strategy", "nnet::latency").split("::")[-1] for c in dense}
    previous = defines["input_t"]
    for config in dense:
        index = int(re.sub(r"\D", "", config["name"]))
        weight_type = defines[config["weight_t"]]
        accum = defines[config["accum_t"]]
        text = tree.read(f"{project}/firmware/weights/w{index}.txt")
        values = np.array([float(v) for v in text.replace("\n", ",").split(",") if v.strip()])
        n_in, n_out = int(config["n_in"]), int(config["n_out"])
        codes = np.round(values * 2.0 ** (weight_type[0] - weight_type[1])).astype(np.int64).reshape(n_in, n_out).T
        relu = next((i for i in sorted(relus) if index < i <= index + 2), None)
        output = defines[f"layer{relu}_t"] if relu is not None else defines.get(f"layer{index}_t", accum)
        layers.append([n_in, n_out])
        stats.append({"weight_bits": weight_type[0], "weight_int_bits": weight_type[1], "input_bits": previous[0],
                      "accum_bits": accum[0], "output_bits": output[0], "relu": relu is not None,
                      **layer_statistics(codes)})
        activations.append("relu" if relu is not None else "linear")
        previous = output
    return layers, stats, activations, reuse, strategy


def import_project(tree: Tree, project: str, report_dir: str) -> dict:
    layers, stats, activations, reuse, strategy = project_layers(tree, project)
    reports = [f for f in tree.files if f.startswith(f"{project}/{report_dir}") and f.endswith("_csynth.xml")]
    top = csynth(tree, next(f for f in reports if f.endswith("/myproject_csynth.xml")))
    per_layer = []
    for path in sorted(reports):
        if path.endswith("/myproject_csynth.xml"):
            continue
        entry = csynth(tree, path)
        per_layer.append({"layer": entry["top"], "lut": entry["lut"], "ff": entry["ff"], "dsp": entry["dsp"],
                          "latency": entry["latency_cycles"], "bram_18k": entry["bram_18k"]})
    tcl = tree.read(f"{project}/build_prj.tcl") if f"{project}/build_prj.tcl" in tree.files else ""
    impl = re.search(r"config_op\s+mul\s+-impl\s+(\w+)", tcl)
    return {
        "model": {"layers": layers, "layer_stats": stats, "activation": activations + ["softmax"],
                  "weight_bits": stats[0]["weight_bits"], "input_bits": stats[0]["input_bits"],
                  "act_bits": stats[0]["output_bits"], "trained_weights_public": True},
        "config": {**hls_tool(tree, project, top["version"]), "tool_version": top["version"], "part": top["part"],
                   "clock_ns": top["clock_ns"], "clock_uncertainty_ns": top["uncertainty_ns"],
                   "io_type": "io_parallel", "reuse_factor": max(reuse), "strategy": strategy.pop().capitalize(),
                   "multiplier_impl": impl.group(1) if impl else "auto"},
        "results": {"stage": "post-HLS C-synthesis estimate", "lut": top["lut"], "ff": top["ff"], "dsp": top["dsp"],
                    "bram_18k": top["bram_18k"], "latency_cycles": top["latency_cycles"], "ii": top["ii"],
                    "est_clock_ns": top["est_clock_ns"], "per_layer": per_layer},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tree", type=Path)
    parser.add_argument("--source-url", required=True)
    parser.add_argument("--commit", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--weights-only", action="append", default=[], metavar="PROJECT",
                        help="also write the layer statistics of this project (no reports needed): a trained-weight "
                             "stand-in for published syntheses of the same recipe whose own weights are not public")
    args = parser.parse_args(argv)
    tree = Tree(args.tree)
    if args.weights_only:
        records = {}
        for project in args.weights_only:
            layers, stats, _, _, _ = project_layers(tree, project)
            records[f"{args.prefix}/{project}"] = {
                "layers": layers, "layer_stats": stats,
                "source": {"url": args.source_url, "commit": args.commit, "path": project,
                           "kind": "trained weights of a published hls4ml project (firmware/weights)"}}
            print(f"{args.prefix}/{project}: {layers} weights {stats[0]['weight_bits']} bits")
        args.out.write_text(json.dumps(records, indent=1, sort_keys=True) + "\n")
        return 0
    report = "myproject_prj/solution1/syn/report/"
    projects = sorted({f.split("/myproject_prj/")[0] for f in tree.files if f.endswith("/myproject_csynth.xml")})
    short = {project: f"{project.split('/')[1]}/{project.split('/')[-1]}" if project.count("/") >= 2 else project
             for project in projects}
    if len(set(short.values())) < len(short):  # short names must not collide: use the whole path
        short = {project: project for project in projects}
    points = []
    for project in projects:
        point = import_project(tree, project, report)
        point["name"] = f"{args.prefix}/{short[project]}"
        point["source"] = {"url": args.source_url, "commit": args.commit, "path": project,
                           "kind": f"published hls4ml project with {point['config']['tool']} C-synthesis reports and trained weights"}
        points.append(point)
        print(f"{point['name']}: {point['model']['layers']} RF {point['config']['reuse_factor']} "
              f"{point['config']['multiplier_impl']} LUT {point['results']['lut']}")
    args.out.write_text(json.dumps(points, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
