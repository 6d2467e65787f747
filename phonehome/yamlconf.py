"""Definition files (benches, manifests, identities, profiles): YAML in, validated models out.

Labs edit these by hand, so a mistake must say exactly where it is: every
error names the file, the line and the key path, and what was expected.
Duplicate keys and unknown keys are errors (the models forbid extras), never
silently ignored: a typo in a manifest must not widen what it allows.

A definition file can also come from anywhere (a lab, a vendor, a handset's
firmware bundle), so it is read as hostile: its size, nesting, number of
values (aliases counted expanded, so an alias bomb stops at once), integer
sizes and encoding are bounded before anything is built from it; tags are
refused; every value shown in an error is escaped and cut short. Anchors,
aliases and merge keys (``<<: *name``) stay allowed: the shipped profiles use them.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any, TypeVar

import pydantic
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import Composer
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent, CollectionStartEvent, ScalarEvent
from ruamel.yaml.nodes import MappingNode, ScalarNode
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.scanner import RoundTripScanner

from phonehome.cache import cached

M = TypeVar("M", bound=pydantic.BaseModel)

MAX_BYTES = 512 << 10
"""Largest definition file read, and most text its aliases may expand to. The shipped files are under
10 KiB, 300 lines and 700 values; ruamel's round-trip parser is pure Python (on one idle core: about
2 MB of long lines, 200,000 short lines or 15,000 values a second), so these limits keep any file
under a second."""
MAX_LINES = 20_000
"""Most lines in one file, counting every YAML line break (CR, NEL, U+2028 too)."""
MAX_VALUES = 10_000
"""Most values (scalars, lists, mappings) in one file, counting each alias as the values it stands for."""
MAX_DEPTH = 32
"""Deepest nesting of lists and mappings, aliases expanded (the shipped files go 8 deep)."""
MAX_INT_DIGITS = 40
"""Longest integer literal (2**128 has 39 digits; identifiers have at most 20)."""
MAX_PROBLEMS = 20
"""Problems listed per file; the rest are counted."""
_INT_TAG = "tag:yaml.org,2002:int"
_STR_TAG = "tag:yaml.org,2002:str"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_SURROGATE = re.compile("[\ud800-\udfff]")
_LINE_BREAKS = ("\n", "\r", "\x85", "\u2028", "\u2029")
"""What YAML 1.1 counts as a line break (ruamel reads 1.1 breaks in 1.2 files too)."""


class ConfigError(ValueError):
    """A definition file that cannot be used; ``str()`` is one line per problem, each ``file:line: key: what``."""

    def __init__(self, path: Path | str, problems: list[str]) -> None:
        self.path = str(path)
        if len(problems) > MAX_PROBLEMS:
            problems = [
                *problems[:MAX_PROBLEMS],
                f"{_printable(self.path)}: and {len(problems) - MAX_PROBLEMS} more",
            ]
        self.problems = problems
        super().__init__("\n".join(problems))

    def one_line(self, most: int = 3) -> str:
        """The first ``most`` problems on one line, for a command's stderr."""
        more = len(self.problems) - most
        return " / ".join(self.problems[:most]) + (f" (and {more} more)" if more > 0 else "")


class StrictModel(pydantic.BaseModel):
    """Base for definition-file models: unknown keys are errors, instances are immutable."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


def shown(value: Any, limit: int = 60) -> str:
    """``value`` for an error message: text quoted, escaped and cut to ``limit`` characters; others summed up.

    Never formats more than ``limit`` characters of anything, so a huge or deeply nested value
    (an alias bomb, a 4,300-digit integer) costs nothing to mention.
    """
    if isinstance(value, str):
        return repr(str(value[:limit])) + ("…" if len(value) > limit else "")
    if isinstance(value, bool | float | None):
        return repr(value)
    if isinstance(value, int):
        return repr(value) if value.bit_length() < 4 * limit else f"an integer of {value.bit_length()} bits"
    if isinstance(value, dict):
        return f"a mapping of {len(value)} keys"
    if isinstance(value, list | tuple | set | frozenset):
        return f"a list of {len(value)} items"
    return f"a {type(value).__name__}"


def _printable(text: str, limit: int = 300) -> str:
    """``text`` cut to ``limit`` characters, each non-printable one (controls, bidi overrides) escaped."""
    cut = text[:limit]
    out = cut if cut.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in cut)
    return out + ("…" if len(text) > limit else "")


def read_yaml(path: Path | str) -> Any:
    """Parses a YAML file keeping line numbers; any problem (size, encoding, syntax, limits) is a `ConfigError`."""
    path = Path(path)
    return _parse_bytes(_read_bytes(path), path)


def _read_bytes(path: Path) -> bytes:
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(path, [f"{_printable(str(path))}: cannot read: {exc.strerror or exc}"]) from None
    if len(data) > MAX_BYTES:
        raise _too_big(path, f"larger than {MAX_BYTES >> 10} KiB")
    return data


def _parse_bytes(data: bytes, path: Path) -> Any:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            path,
            [
                f"{_printable(str(path))}:{line}: not UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start} "
                "(save the file as UTF-8)"
            ],
        ) from None
    return parse_yaml(text.removeprefix("\ufeff"), path)


def _too_big(path: Path | str, what: str) -> ConfigError:
    return ConfigError(
        path, [f"{_printable(str(path))}: {what}, the limit for a definition file (is it the right file?)"]
    )


def parse_yaml(text: str, path: Path | str = "<string>") -> Any:
    """Parses YAML text within the limits above; duplicate keys, tags and limit breaches raise `ConfigError`."""
    where = _printable(str(path))
    if len(text) > MAX_BYTES:
        raise _too_big(path, f"larger than {MAX_BYTES >> 10} KiB")
    if sum(text.count(brk) for brk in _LINE_BREAKS) > MAX_LINES:
        raise _too_big(path, f"more than {MAX_LINES} lines")
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    yaml.Composer = _BoundedComposer
    yaml.Scanner = _BoundedScanner
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # ruamel warns (on stderr) where it should refuse
            return yaml.load(text)
    except _Refused as exc:
        key = _printable(".".join(exc.keys), 120) or "(top level)"
        raise ConfigError(path, [f"{where}:{exc.line}: {key}: {exc.problem}"]) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f"{mark.line + 1}" if mark else "?"
        problem = _printable((exc.problem or str(exc)).strip().splitlines()[0], 200)
        hint = "write each key once" if isinstance(exc, DuplicateKeyError) else "not valid YAML"
        raise ConfigError(path, [f"{where}:{line}: {problem} ({hint})"]) from None
    except ReaderError as exc:
        at = text.count("\n", 0, exc.position) + 1 if isinstance(exc.position, int) else "?"
        problem = _printable(str(exc).splitlines()[0], 200)
        raise ConfigError(
            path, [f"{where}:{at}: {problem} (write it as an escape in a quoted string)"]
        ) from None
    except (YAMLError, Warning) as exc:
        raise ConfigError(path, [f"{where}: not valid YAML: {_printable(str(exc).strip(), 200)}"]) from None
    except Exception as exc:  # ruamel raises plain errors on some hostile input; none may escape
        problem = _printable(f"{type(exc).__name__}: {exc}", 200)
        raise ConfigError(path, [f"{where}: cannot be parsed ({problem})"]) from None


class _Refused(Exception):
    """A limit or a refused construct, found while reading; becomes a `ConfigError` line."""

    def __init__(self, mark: Any, keys: list[str], problem: str) -> None:
        super().__init__(problem)
        self.line = mark.line + 1 if mark is not None else "?"
        self.keys = keys
        self.problem = problem


class _BoundedScanner(RoundTripScanner):
    """ruamel's scanner, refusing flow collections (``[[[...``) nested deeper than `MAX_DEPTH`.

    Each open ``[`` or ``{`` keeps a possible simple key that the scanner re-checks for every token
    of the next 1024 characters: unbounded, a line of brackets costs quadratic time before the
    composer ever sees the depth.
    """

    def fetch_flow_collection_start(self, TokenClass: Any, to_push: str) -> None:
        if self.flow_level >= MAX_DEPTH:
            raise _Refused(self.reader.get_mark(), [], _DEEP)
        super().fetch_flow_collection_start(TokenClass, to_push)


_DEEP = f"nested more than {MAX_DEPTH} levels deep, aliases expanded (flatten it)"


class _BoundedComposer(Composer):
    """ruamel's composer, counting as it goes: values and text (aliases expanded), depth, integer sizes; no tags.

    Checks happen before a node is built, so a file over a limit stops being read where it crosses
    it: time and memory stay proportional to the limits, whatever the file holds.
    """

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader)
        self.values = 0
        self.text = 0
        """Characters of scalars, aliases expanded: the bytes a consumer may copy or format."""
        self.keys: list[str] = []
        self.deepest = 0
        self.sizes: dict[Any, tuple[int, int, int]] = {}
        """Per anchor: the values and text it stands for, and how deep it goes below itself."""
        self.open: set[Any] = set()
        """Anchors whose node is being composed: an alias to one of them would be a cycle."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.parser.peek_event()
        depth = len(self.keys)
        is_key = isinstance(parent, MappingNode) and index is None
        if isinstance(index, ScalarNode):
            self.keys.append(_printable(str(index.value), 60))
        else:
            self.keys.append(str(index) if isinstance(index, int) else "")
        if isinstance(event, AliasEvent):
            self._alias(event, depth, is_key)
            self.keys.pop()
            return super().compose_node(parent, index)
        if event.ctag is not None:
            self._refuse(
                event.start_mark,
                f"tag {shown(str(event.ctag))} is not allowed",
                "definition files hold plain values: remove the tag, quote text",
            )
        if is_key and isinstance(event, CollectionStartEvent):
            self._refuse(event.start_mark, "a key must be a plain value, not a list or mapping", "quote it")
        anchor = event.anchor
        if anchor is not None:
            if anchor in self.anchors:
                self._refuse(event.start_mark, f"anchor &{anchor} is defined twice", "give each its own name")
            self.open.add(anchor)
        values, text, outer = self.values, self.text, self.deepest
        self.deepest = depth
        self._count(event.start_mark, 1, len(event.value) if isinstance(event, ScalarEvent) else 0, depth)
        node = super().compose_node(parent, index)
        if anchor is not None:
            self.open.discard(anchor)
            self.sizes[anchor] = (self.values - values, self.text - text, self.deepest - depth)
        self.deepest = max(outer, self.deepest)
        if isinstance(node, ScalarNode):
            self._check_scalar(node)
        self.keys.pop()
        return node

    def _check_scalar(self, node: ScalarNode) -> None:
        if node.tag == _INT_TAG and len(node.value) > MAX_INT_DIGITS:
            self._refuse(
                node.start_mark,
                f"an integer of {len(node.value)} characters is longer than the {MAX_INT_DIGITS} allowed",
                "quote it if it is text",
            )
        if node.tag == _TIMESTAMP_TAG:  # no model takes a datetime; 2019-02-30 would raise in the constructor
            node.tag = _STR_TAG
        if _SURROGATE.search(node.value):
            self._refuse(
                node.start_mark, "a lone surrogate escape (\\ud800-\\udfff) is not text", "remove it"
            )

    def _alias(self, event: AliasEvent, depth: int, is_key: bool) -> None:
        if event.anchor in self.open:
            self._refuse(
                event.start_mark, f"alias *{event.anchor} is inside its own anchor, a cycle", "remove it"
            )
        if event.anchor in self.sizes:  # else ruamel says the alias is undefined
            values, text, height = self.sizes[event.anchor]
            if is_key and not isinstance(self.anchors[event.anchor], ScalarNode):
                self._refuse(
                    event.start_mark, "a key must be a plain value, not a list or mapping", "quote it"
                )
            self._count(event.start_mark, values, text, depth + height)

    def _count(self, mark: Any, values: int, text: int, reach: int) -> None:
        self.values += values
        self.text += text
        self.deepest = max(self.deepest, reach)
        if self.values > MAX_VALUES:
            self._refuse(
                mark,
                f"more than {MAX_VALUES} values, aliases counted as what they stand for",
                "a definition file is far smaller: is it the right file?",
            )
        if self.text > MAX_BYTES:
            self._refuse(
                mark,
                f"aliases expand to more than {MAX_BYTES >> 10} KiB of text",
                "write fewer, shorter aliases",
            )
        if reach > MAX_DEPTH:
            raise _Refused(mark, [k for k in self.keys if k], _DEEP)

    def _refuse(self, mark: Any, problem: str, hint: str) -> None:
        raise _Refused(mark, [k for k in self.keys if k], f"{problem} ({hint})")


def load_model(model: type[M], path: Path | str) -> M:
    """Reads ``path`` and validates it as ``model``; all problems are reported at once.

    A file that validated before (the same bytes, the same code) is not parsed again: every process of
    a batch reads the same profile, manifest and screen maps (`phonehome.cache`)."""
    path = Path(path)
    data = _read_bytes(path)
    kind = f"definition-{model.__module__}.{model.__qualname__}"
    return cached(kind, data, lambda: validate(model, _parse_bytes(data, path), path))


def validate(model: type[M], data: Any, path: Path | str = "<string>") -> M:
    """Validates parsed YAML as ``model``; every problem becomes one ``file:line: key: what`` line."""
    try:
        return model.model_validate(data if data is not None else {})
    except pydantic.ValidationError as exc:
        problems = [_describe(err, data, path) for err in exc.errors()]
        raise ConfigError(path, problems) from None
    except Exception as exc:  # a validator raising anything else must not become a traceback
        problem = _printable(f"{type(exc).__name__}: {exc}", 200)
        raise ConfigError(path, [f"{_printable(str(path))}: cannot be checked ({problem})"]) from None


def _describe(err: Any, data: Any, path: Path | str) -> str:
    loc = tuple(err["loc"])
    line = _line_of(data, loc)
    key = ".".join(_printable(str(p), 60) for p in loc) or "(top level)"
    message = err["msg"]
    if err["type"] == "extra_forbidden":
        message = "unknown key (check the spelling; see the schema for the keys allowed here)"
    elif err["type"] == "missing":
        message = "required key is missing"
    where = _printable(str(path)) + (f":{line}" if line else "")
    return f"{where}: {key}: {_printable(message)}"


def _line_of(data: Any, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the deepest node of ``loc`` that exists in the parsed YAML."""
    node, line = data, None
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            where = node.lc.data.get(part)
            if where is None:  # a key merged in with ``<<``: its line is the anchor's
                break
            line = where[0] + 1
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            line = node.lc.item(part)[0] + 1
            node = node[part]
        else:
            break
    if line is None and isinstance(data, CommentedMap | CommentedSeq):
        line = data.lc.line + 1
    return line
