"""Silence the warnings that third-party tools emit on every correct run, and only those.

qonnx, hls4ml, Brevitas and torch's ONNX exporter warn about things codesign already handles
(legacy op domains it rewrites, deprecated exporter paths it pins, precision fields it derives);
on a successful command that text only alarms the user. Every other warning still shows.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

# (message regex, category, module regex): each names a warning seen on correct runs, and why it is harmless.
EXPECTED: tuple[tuple[str, type[Warning], str], ...] = (
    # qonnx converts the legacy "finn" / "qonnx" op domains itself
    (r".*domain.*", UserWarning, r"qonnx\..*"),
    (r".*", DeprecationWarning, r"(qonnx|hls4ml|brevitas|onnx|onnxscript|torch\.onnx)(\..*)?"),
    # Brevitas: optional accelerated kernels (not needed on CPU) and deprecation notes of its own API
    (r"fast_hadamard_transform package not found.*", UserWarning, r"brevitas(\..*)?"),
    (r".*(Defining your `__torch_function__`|has been deprecated|is deprecated).*", UserWarning,
     r"(brevitas|qonnx|hls4ml|torch)(\..*)?"),
    # torch's ONNX exporter: the TorchScript path codesign selects on purpose (dynamo=False)
    (r".*(dynamo|TorchScript|legacy|torch\.onnx).*", FutureWarning, r"torch\.onnx.*"),
    # qonnx's GemmToMatMul works on the opset-20 Gemm codesign exports (its result is verified bit-exact)
    (r"The GemmToMatMul transformation only offers explicit support.*", UserWarning, r"qonnx(\..*)?"),
    # hls4ml cannot move a quantiser's bias through an Add; codesign rewrites those graphs exactly
    # before hls4ml and checks the compiled firmware against the integer reference
    (r"Failed to propagate quantization bias down Add node.*", UserWarning, r"hls4ml(\..*)?"),
    # hls4ml: informational notes about config keys codesign fills in from the graph
    (r".*(Unsupported|does not support|will be ignored|not found in the config).*", UserWarning, r"hls4ml(\..*)?"),
)


@contextlib.contextmanager
def expected_warnings_silenced() -> Iterator[None]:
    with warnings.catch_warnings():
        for message, category, module in EXPECTED:
            warnings.filterwarnings("ignore", message=message, category=category, module=module)
        yield
