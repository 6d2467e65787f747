"""The syntax tree of the handset's shell: words, simple and compound commands, lists.

The parser (`parser.py`, `words.py`) builds it; the interpreter
(`interpreter.py`, `flow.py`) runs it. Expansion happens at run time, so a
tree holds which parts of a word were quoted, not what they expand to.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class ShellSyntaxError(ValueError):
    """Worded as mksh reports it on Android (``/system/bin/sh: ...``)."""


# -- words ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Lit:
    text: str
    quoted: bool


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    quoted: bool
    default: Word | None = None  # ${NAME:-default}


@dataclass(frozen=True, slots=True)
class CmdSub:
    body: Script
    quoted: bool


@dataclass(frozen=True, slots=True)
class Arith:
    """``$(( expression ))``: the expression's parts are expanded first, then evaluated (`arith.py`)."""

    parts: tuple[Part, ...]
    quoted: bool


Part = Lit | Param | CmdSub | Arith


@dataclass(frozen=True, slots=True)
class Word:
    parts: tuple[Part, ...]

    @property
    def literal(self) -> str | None:
        """The text when the word has no expansion at all (keywords, assignment names)."""
        if all(isinstance(p, Lit) for p in self.parts):
            return "".join(p.text for p in self.parts if isinstance(p, Lit))
        return None

    @property
    def has_quotes(self) -> bool:
        return any(getattr(p, "quoted", False) for p in self.parts)


# -- commands ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Redirect:
    fd: int  # the descriptor redirected (1 for '>', 0 for '<'); -1 for '&>' (both 1 and 2)
    op: str  # '>', '>>', '<', '>&', '<&'
    target: Word


@dataclass(frozen=True, slots=True)
class Simple:
    assigns: tuple[tuple[str, Word], ...]
    words: tuple[Word, ...]
    redirects: tuple[Redirect, ...]


@dataclass(frozen=True, slots=True)
class Group:
    body: Script
    subshell: bool
    redirects: tuple[Redirect, ...]


@dataclass(frozen=True, slots=True)
class If:
    """``if A; then B; elif C; then D; else E; fi``: (condition, body) pairs, then the else body."""

    branches: tuple[tuple[Script, Script], ...]
    otherwise: Script | None
    redirects: tuple[Redirect, ...] = ()


@dataclass(frozen=True, slots=True)
class Loop:
    """``while A; do B; done`` (``until``: runs while A fails)."""

    condition: Script
    body: Script
    until: bool = False
    redirects: tuple[Redirect, ...] = ()


@dataclass(frozen=True, slots=True)
class For:
    """``for NAME in WORDS; do BODY; done``; without ``in``, the positional parameters (none here)."""

    name: str
    words: tuple[Word, ...]
    body: Script
    redirects: tuple[Redirect, ...] = ()


@dataclass(frozen=True, slots=True)
class CaseItem:
    patterns: tuple[Word, ...]
    body: Script


@dataclass(frozen=True, slots=True)
class Case:
    """``case WORD in PATTERN|PATTERN) BODY ;; ... esac``: the first item whose pattern matches runs."""

    subject: Word
    items: tuple[CaseItem, ...]
    redirects: tuple[Redirect, ...] = ()


Compound = If | Loop | For | Case
Command = Simple | Group | Compound


@dataclass(frozen=True, slots=True)
class Pipeline:
    commands: tuple[Command, ...]
    negate: bool = False


@dataclass(frozen=True, slots=True)
class AndOr:
    first: Pipeline
    rest: tuple[tuple[str, Pipeline], ...] = ()


@dataclass(frozen=True, slots=True)
class Script:
    items: tuple[tuple[AndOr, bool], ...] = field(default_factory=tuple)  # (and-or list, background)
