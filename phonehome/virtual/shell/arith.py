"""``$(( ... ))``: mksh's integer arithmetic (32-bit, wrapping), after parameter expansion.

Hand-written (a tokenizer and precedence climbing) rather than Python's
``ast``/``eval``: the expression comes from whoever holds the ADB link, C
integer semantics (truncating division, wrap-around, shift counts modulo 32)
differ from Python's, and the evaluator must stay bounded in time and size.
Supported: decimal/hex/octal numbers, variable names (their values, empty is
0), unary ``- + ! ~``, ``* / %``, ``+ -``, ``<< >>``, ``< <= > >=``, ``== !=``,
``& ^ |``, ``&& ||``, ``?:`` and parentheses. Assignments (``=``, ``+=``,
``++``) are refused with an error, as a shell without them would.
"""

from __future__ import annotations

import re
from collections.abc import Callable

MAX_EXPRESSION = 4096
MAX_NESTING = 64
_TOKEN = re.compile(
    r"\s*(?:(?P<num>0[xX][0-9a-fA-F]+|\d+)|(?P<name>[A-Za-z_]\w*)"
    r"|(?P<op>\*\*|<<|>>|<=|>=|==|!=|&&|\|\||\+\+|--|[-+*/%<>!~&^|?:()=]))"
)
_BINARY = {
    "||": 1,
    "&&": 2,
    "|": 3,
    "^": 4,
    "&": 5,
    "==": 6,
    "!=": 6,
    "<": 7,
    "<=": 7,
    ">": 7,
    ">=": 7,
    "<<": 8,
    ">>": 8,
    "+": 9,
    "-": 9,
    "*": 10,
    "/": 10,
    "%": 10,
}


class ArithError(ValueError):
    """Worded as mksh reports it: ``/system/bin/sh: 1+: unexpected end of expression``."""


def wrap32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def evaluate(text: str, lookup: Callable[[str], str | None]) -> int:
    """The value of ``text``; ``lookup`` gives a variable's value (its text is read as a number)."""
    if len(text) > MAX_EXPRESSION:
        raise ArithError(f"/system/bin/sh: arithmetic expression too long ({len(text)} characters)")
    tokens = _tokenize(text)
    parser = _Evaluator(text, tokens, lookup)
    value = parser.expression(0)
    if parser.i < len(tokens):
        raise ArithError(f"/system/bin/sh: {text.strip()}: unexpected '{tokens[parser.i]}'")
    return value


def _tokenize(text: str) -> list[str]:
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise ArithError(f"/system/bin/sh: {text.strip()}: unexpected '{text[pos:].strip()[:1]}'")
        tokens.append(match.group(match.lastgroup or "op"))
        pos = match.end()
    return tokens


class _Evaluator:
    def __init__(self, text: str, tokens: list[str], lookup: Callable[[str], str | None]) -> None:
        self.text = text.strip()
        self.tokens = tokens
        self.lookup = lookup
        self.i = 0
        self.depth = 0

    def _peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def _error(self, what: str) -> ArithError:
        return ArithError(f"/system/bin/sh: {self.text}: {what}")

    def expression(self, min_level: int) -> int:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self._error("expression nested too deeply")
        left = self.unary()
        while True:
            op = self._peek()
            if op == "?" and min_level == 0:
                self.i += 1
                then = self.expression(0)
                if self._peek() != ":":
                    raise self._error("missing ':'")
                self.i += 1
                otherwise = self.expression(0)
                left = then if left else otherwise
                continue
            if op in ("=", "++", "--", "**"):
                raise self._error(f"'{op}' is not supported here")
            level = _BINARY.get(op or "")
            if level is None or level < min_level:
                break
            self.i += 1
            right = self.expression(level + 1)
            left = _apply(op or "", left, right, self._error)
        self.depth -= 1
        return left

    def unary(self) -> int:
        item = self._peek()
        if item is None:
            raise self._error("unexpected end of expression")
        self.i += 1
        if item in ("-", "+", "!", "~"):
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise self._error("expression nested too deeply")
            value = self.unary()
            self.depth -= 1
            return {"-": wrap32(-value), "+": value, "!": int(not value), "~": wrap32(~value)}[item]
        if item == "(":
            value = self.expression(0)
            if self._peek() != ")":
                raise self._error("missing ')'")
            self.i += 1
            return value
        if item[0].isdigit():
            return _number(item, self._error)
        if item[0].isalpha() or item[0] == "_":
            raw = (self.lookup(item) or "").strip()
            if not raw:
                return 0
            if not re.fullmatch(r"-?(0[xX][0-9a-fA-F]+|\d+)", raw):
                raise self._error(f"{raw}: bad number")
            sign = -1 if raw.startswith("-") else 1
            return wrap32(sign * _number(raw.lstrip("-"), self._error))
        raise self._error(f"unexpected '{item}'")


def _number(token: str, error: Callable[[str], ArithError]) -> int:
    try:
        if token[:2].lower() == "0x":
            return wrap32(int(token, 16))
        if len(token) > 1 and token.startswith("0"):
            return wrap32(int(token, 8))
        return wrap32(int(token))
    except ValueError as exc:
        raise error(f"{token}: bad number") from exc


def _apply(op: str, a: int, b: int, error: Callable[[str], ArithError]) -> int:
    if op in ("/", "%"):
        if b == 0:
            raise error("divided by zero")
        quotient = abs(a) // abs(b) * (1 if (a >= 0) == (b >= 0) else -1)  # C: truncates toward zero
        return wrap32(quotient if op == "/" else a - quotient * b)
    if op in ("<<", ">>"):
        shift = b & 31
        return wrap32(a << shift) if op == "<<" else a >> shift
    results = {
        "+": lambda: a + b,
        "-": lambda: a - b,
        "*": lambda: a * b,
        "<": lambda: int(a < b),
        "<=": lambda: int(a <= b),
        ">": lambda: int(a > b),
        ">=": lambda: int(a >= b),
        "==": lambda: int(a == b),
        "!=": lambda: int(a != b),
        "&": lambda: a & b,
        "^": lambda: a ^ b,
        "|": lambda: a | b,
        "&&": lambda: int(bool(a) and bool(b)),
        "||": lambda: int(bool(a) or bool(b)),
    }
    return wrap32(results[op]())
