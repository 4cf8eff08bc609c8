"""Checks of a printed implementation that share no code with the flow that built it.

* **RTL simulation**: ``design.v`` runs in Verilator or Icarus (``rtlsim``) on the test inputs; the
  classes must equal the integer reference's (exact designs) and the bit-true design model's.
* **Equivalence**: the mapped netlist is proven equal to ``design.v`` for every input with yosys'
  miter and SAT commands (``equivalence``), within the proof time limit (``PROOF_TIME_LIMIT_S`` by
  default, the export option ``proof_timeout``; never longer than the synthesis time limit); otherwise the netlist is recorded as "simulated only" (by the
  gate-level simulator, on the test inputs). Small designs are proven in seconds; the proof time
  grows steeply with the adder trees (different adder architectures on the two sides), so large
  exact designs are often only simulated.

A disagreement is an error (nothing is written); a missing simulator is recorded with its reason.
"""

from __future__ import annotations

import numpy as np

from codesign.backends.printed.design import Design, evaluate
from codesign.backends.printed.equivalence import prove_equivalent
from codesign.backends.printed.rtlsim import find_simulator, port_widths, simulate_rtl
from codesign.backends.printed.synthesis import SynthesisResult
from codesign.errors import BackendError

PROOF_TIME_LIMIT_S = 10.0


def rtl_check(design: Design, verilog: str, synthesis: SynthesisResult, x_codes: np.ndarray,
              reference: np.ndarray | None, *, timeout_s: float) -> dict:
    """Simulate ``design.v`` on ``x_codes``; the record for verification.json."""
    simulator = find_simulator()
    if isinstance(simulator, str):
        return {"status": "skipped", "reason": simulator}
    inputs, outputs = port_widths(synthesis.module)
    values = {f"x{i}": x_codes[:, i] for i in range(design.in_features)}
    run = simulate_rtl(verilog, synthesis.top, inputs, outputs, values, timeout_s=timeout_s, simulator=simulator)
    produced = run.outputs["class_id"]
    record = {"status": "simulated", "simulator": run.simulator, "samples": int(len(x_codes)),
              "seconds": round(run.seconds, 3),
              "rtl_vs_design_mismatches": int(np.count_nonzero(produced != evaluate(design, x_codes).predictions))}
    if reference is not None:
        record["rtl_vs_reference_mismatches"] = int(np.count_nonzero(produced != reference))
    worst = max(v for k, v in record.items() if k.endswith("mismatches"))
    if worst:
        raise BackendError(f"RTL simulation ({run.simulator}) of {synthesis.top} disagrees with its specification "
                           f"on {worst} of {len(x_codes)} inputs", hint="nothing was written; please report this with the model")
    return record


def independent_checks(design: Design, verilog: str, liberty: str, synthesis: SynthesisResult, x_codes: np.ndarray,
                       reference: np.ndarray | None, *, timeout_s: float, proof_timeout_s: float | None = None) -> dict:
    """RTL simulation and netlist-vs-RTL equivalence, run side by side (two tool processes); keys to
    merge into the verification record."""
    from concurrent.futures import ThreadPoolExecutor

    limit = min(timeout_s, PROOF_TIME_LIMIT_S if proof_timeout_s is None else proof_timeout_s)
    if limit <= 0:
        rtl = rtl_check(design, verilog, synthesis, x_codes, reference, timeout_s=timeout_s)
        return {"rtl_simulation": rtl, "equivalence": {"status": "not attempted", "detail": "proof time limit 0"},
                "netlist_check": "simulated only"}
    with ThreadPoolExecutor(max_workers=2) as pool:
        proving = pool.submit(prove_equivalent, verilog, synthesis.netlist_verilog, liberty, synthesis.top,
                              timeout_s=limit)
        rtl = rtl_check(design, verilog, synthesis, x_codes, reference, timeout_s=timeout_s)
        proof = proving.result()
    if proof.status == "differs":
        raise BackendError(f"the mapped netlist of {synthesis.top} is not equivalent to its RTL ({proof.detail})",
                           hint="nothing was written; please report this with the model")
    return {"rtl_simulation": rtl, "equivalence": proof.as_dict(),
            "netlist_check": "proven" if proof.proven else "simulated only"}
