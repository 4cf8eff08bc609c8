"""One exception hierarchy for everything a user can get wrong.

Every error carries a one-line message that names the offending thing (file, node, key) and
what to do about it; the CLI prints that line and exits with ``exit_code`` instead of a
traceback.
"""

from __future__ import annotations


class CodesignError(Exception):
    """Base class: a problem with the user's input, not a bug in codesign."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = " ".join(message.split())
        self.hint = " ".join(hint.split()) if hint else None
        super().__init__(self.one_line())

    def one_line(self) -> str:
        return f"{self.message}; {self.hint}" if self.hint else self.message


class ModelFormatError(CodesignError):
    """The file is not a readable ONNX model."""


class UnsupportedOpError(CodesignError):
    """The graph uses an operator codesign cannot lower."""


class TopologyError(CodesignError):
    """The graph is not a feed-forward chain of dense layers (an MLP)."""


class FloatGraphError(CodesignError):
    """A weight or activation that must be quantised is plain floating point."""


class MissingShapeError(CodesignError):
    """A tensor shape needed for lowering is unknown even after shape inference."""


class NonFiniteError(CodesignError):
    """Weights or quantiser parameters contain NaN or Inf."""


class BitWidthError(CodesignError):
    """A quantiser bit width is outside what the hardware targets support (1..32)."""


class CardError(CodesignError):
    """A target card is missing, malformed, or has an invalid value."""


class BackendError(CodesignError):
    """A backend is not installed, or failed in a way the user can act on."""


class DataError(CodesignError):
    """A data set file or array is unusable."""


class ParameterError(CodesignError):
    """A numeric option is out of its valid range (negative rate, rate > 1, unknown name)."""


class OutputError(BackendError):
    """An output path is unsafe or already taken: writing there would lose or replace a user's file."""
