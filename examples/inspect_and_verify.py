"""Load any quantised MLP in QONNX, print its layers, and check the integer reference.

    python examples/inspect_and_verify.py MODEL.onnx
"""

import sys

from codesign.ir import execute, load
from codesign.ir.crosscheck import crosscheck, random_inputs
from codesign.ir.describe import summary

graph = load(sys.argv[1])
for row in summary(graph)["layers"]:
    print(f"{row['layer']:8s} {row['shape']:>10s}  in {row['input']:7s} w {row['weight']:7s} "
          f"out {row['output']:7s} {row['activation']:10s} {row['macs']:>8d} MACs")

x = random_inputs(graph, 256, seed=0)
run = execute(graph, x)
print("predictions of the first ten inputs:", run.predictions[:10].tolist())
print(crosscheck(graph, x).describe())
