"""The compiled CPU kernels of ``_kernels.c``: built once per machine with the system C compiler.

The fused read (Philox noise, ADC rounding and clipping, shift-and-add) is one pass over memory
instead of about forty torch element-wise passes.  The library is compiled on first use into
the user's cache directory (``$CODESIGN_CACHE`` or ``~/.cache/codesign``), keyed by the source,
the flags and the CPU, and loaded with ctypes (calls release the GIL).  Without a C compiler,
``load()`` returns None and callers use the torch implementation in ``philox``, which gives
the same bits.  Threads come from OpenMP, linked to the libgomp that torch has already loaded,
so the kernels run on torch's intra-op thread pool instead of competing with it.  ``CODESIGN_KERNELS=0`` disables the compiled path.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

SOURCE = Path(__file__).with_name("_kernels.c")
FLAGS = ("-O3", "-march=native", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=off", "-fPIC", "-shared")
OPENMP = "-fopenmp"  # links libgomp.so.1: torch's own OpenMP runtime (already loaded), so both share one pool


def _cpu_signature() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
        flags = next((line for line in text.splitlines() if line.startswith("flags")), "")
    except OSError:
        flags = ""
    return f"{platform.machine()}/{flags}"


def _cache_dir() -> Path:
    root = os.environ.get("CODESIGN_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "codesign")
    return Path(root) / "kernels"


def _compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return name
    return None


def _build(compiler: str) -> Path:
    source = SOURCE.read_bytes()
    digest = hashlib.sha256(source + " ".join((compiler, *FLAGS, OPENMP, _cpu_signature())).encode()).hexdigest()[:16]
    target = _cache_dir() / f"codesign_kernels_{digest}.so"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        built = Path(tmp) / target.name
        try:
            subprocess.run([compiler, *FLAGS, OPENMP, str(SOURCE), "-o", str(built), "-lm"], check=True,
                           capture_output=True, timeout=120)
        except subprocess.CalledProcessError:  # no OpenMP: the same kernels on one thread
            subprocess.run([compiler, *FLAGS, str(SOURCE), "-o", str(built), "-lm"], check=True,
                           capture_output=True, timeout=120)
        os.replace(built, target)  # atomic: concurrent builders leave one complete file
    return target


@functools.cache
def load() -> ctypes.CDLL | None:
    """The kernel library, or None when disabled or no compiler is available."""
    if os.environ.get("CODESIGN_KERNELS", "1") == "0":
        return None
    compiler = _compiler()
    if compiler is None:
        return None
    try:
        lib = ctypes.CDLL(str(_build(compiler)))
    except (OSError, subprocess.SubprocessError):
        return None
    i64, u32, f32, ptr = ctypes.c_int64, ctypes.c_uint32, ctypes.c_float, ctypes.c_void_p
    lib.cs_normals.argtypes = [ptr, i64, i64, u32, u32, u32, u32]
    lib.cs_normals.restype = None
    lib.cs_read_adc.argtypes = [ptr, ptr, ptr, ptr, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64,
                                u32, u32, u32, f32, f32, f32, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.cs_read_adc.restype = ctypes.c_int
    lib.cs_requant.argtypes = [ptr, ptr, ptr, ptr, ptr, ptr, i64, i64, i64, f32, f32, f32, ctypes.c_int]
    lib.cs_requant.restype = None
    return lib
