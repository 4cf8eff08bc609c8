"""Liberty ``function`` strings parsed into Boolean expression trees.

Liberty writes NOT as a prefix ``!`` or a postfix ``'``, AND as ``&``, ``*`` or plain
juxtaposition (``A B``), OR as ``|`` or ``+``, XOR as ``^``, and the constants ``0`` and ``1``.
Precedence, highest first: NOT, XOR, AND, OR (as in OpenSTA's and yosys' Liberty readers).
A string that is not such an expression is an error, never a guess: the gate-level simulator
must compute exactly what the synthesis tool mapped.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np

from codesign.errors import CardError

_TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_\[\]]*)|(?P<const>[01])|(?P<op>[!'&*|+^()]))")


@dataclass(frozen=True)
class Expr:
    """One node: ``op`` is "pin" (``name``), "const" (``value``), "not", "and", "or" or "xor"."""

    op: str
    args: tuple[Expr, ...] = ()
    name: str = ""
    value: int = 0


_BINARY = ("&", "*", "|", "+", "^")


def _ends_operand(token: str) -> bool:
    return token not in _BINARY and token not in ("!", "(")


def _tokens(text: str) -> list[str]:
    tokens, position = [], 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise CardError(f"cell function {text!r}: unexpected {text[position:].strip()[:10]!r}",
                            hint="use Liberty syntax: pins, 0/1, ! ' & * | + ^ and parentheses")
        token = match.group("name") or match.group("const") or match.group("op")
        starts_operand = token not in _BINARY and token not in (")", "'")
        if starts_operand and tokens and _ends_operand(tokens[-1]):
            tokens.append("&")  # juxtaposition is an implicit AND (Liberty allows "A B")
        tokens.append(token)
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokens(text)
        self.position = 0

    def error(self, what: str) -> CardError:
        return CardError(f"cell function {self.text!r}: {what}",
                         hint="use Liberty syntax: pins, 0/1, ! ' & * | + ^ and parentheses")

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise self.error("ends too early")
        self.position += 1
        return token

    def parse(self) -> Expr:
        if not self.tokens:
            raise self.error("is empty")
        expr = self.binary(0)
        if self.peek() is not None:
            raise self.error(f"unexpected {self.peek()!r}")
        return expr

    _LEVELS = ((("|", "+"), "or"), (("&", "*"), "and"), (("^",), "xor"))

    def binary(self, level: int) -> Expr:
        if level == len(self._LEVELS):
            return self.unary()
        symbols, op = self._LEVELS[level]
        args = [self.binary(level + 1)]
        while self.peek() in symbols:
            self.take()
            args.append(self.binary(level + 1))
        return args[0] if len(args) == 1 else Expr(op, tuple(args))

    def unary(self) -> Expr:
        token = self.take()
        if token == "!":
            expr = Expr("not", (self.unary(),))
        elif token == "(":
            expr = self.binary(0)
            if self.take() != ")":
                raise self.error("has an unbalanced '('")
        elif token in ("0", "1"):
            expr = Expr("const", value=int(token))
        elif re.fullmatch(r"[A-Za-z_]\S*", token):
            expr = Expr("pin", name=token)
        else:
            raise self.error(f"unexpected {token!r}")
        while self.peek() == "'":
            self.take()
            expr = Expr("not", (expr,))
        return expr


@functools.lru_cache(maxsize=256)
def parse(text: str) -> Expr:
    """The expression tree of a Liberty function string (one-line CardError if malformed)."""
    return _Parser(text).parse()


def pins(expr: Expr) -> list[str]:
    """Input pin names used by ``expr``, sorted."""
    if expr.op == "pin":
        return [expr.name]
    return sorted({name for arg in expr.args for name in pins(arg)})


def evaluate(expr: Expr, values: dict[str, np.ndarray], ones: np.ndarray) -> np.ndarray:
    """Evaluate on packed bit vectors (uint8, one bit per sample); ``ones`` is the all-ones vector."""
    if expr.op == "pin":
        return values[expr.name]
    if expr.op == "const":
        return ones.copy() if expr.value else np.zeros_like(ones)
    args = [evaluate(arg, values, ones) for arg in expr.args]
    if expr.op == "not":
        return args[0] ^ ones
    combine = {"and": np.bitwise_and, "or": np.bitwise_or, "xor": np.bitwise_xor}[expr.op]
    return functools.reduce(combine, args)


def truth_table(expr: Expr) -> dict[tuple[int, ...], int]:
    """Output for every assignment of the pins (in ``pins`` order): for tests and reports."""
    names = pins(expr)
    table = {}
    for index in range(2 ** len(names)):
        bits = tuple((index >> k) & 1 for k in range(len(names)))
        values = {n: np.array([0xFF if b else 0], dtype=np.uint8) for n, b in zip(names, bits)}
        table[bits] = int(evaluate(expr, values, np.array([0xFF], dtype=np.uint8))[0] & 1)
    return table
