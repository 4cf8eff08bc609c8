"""Target backends (FPGA, crossbar, printed) behind one small interface."""

from codesign.backends.base import Backend, backend_for, get_backend, installed_backends

__all__ = ["Backend", "backend_for", "get_backend", "installed_backends"]
