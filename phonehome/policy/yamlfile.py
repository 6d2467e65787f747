"""YAML files a lab edits (identities, manifests), read so that every error names file, line and key.

ruamel.yaml keeps the line of every key, which pydantic's error locations are
mapped back to; duplicate keys are errors (STYLE.md: a repeated key is a typo
that silently wins otherwise).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

Model = TypeVar("Model", bound=BaseModel)
Loc = tuple[str | int, ...]


class PolicyInputError(ValueError):
    """An identity or manifest file that cannot be used; the message says file:line, key and what to do."""

    def __init__(self, path: Path | str, line: int | None, key: str | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.key = key
        where = f"{self.path}:{line}" if line else self.path
        what = f"{key}: " if key else ""
        super().__init__(f"{where}: {what}{message}")


def _plain(node: Any, loc: Loc, lines: dict[Loc, int]) -> Any:
    """ruamel's commented nodes to plain dicts and lists, recording the line of each key and item."""
    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for key, value in node.items():
            line, _col = node.lc.key(key)
            lines[(*loc, str(key))] = line + 1
            out[key] = _plain(value, (*loc, str(key)), lines)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for index, value in enumerate(node):
            line, _col = node.lc.item(index)
            lines[(*loc, index)] = line + 1
            items.append(_plain(value, (*loc, index), lines))
        return items
    return node


def read_yaml(path: Path) -> tuple[Any, dict[Loc, int]]:
    """The file's data as plain Python values, and the line (1-based) of each key path."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyInputError(path, None, None, f"cannot read it ({exc})") from exc
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        data = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = (exc.problem or str(exc)).strip()
        raise PolicyInputError(path, line, None, f"not valid YAML: {problem}") from exc
    except YAMLError as exc:
        raise PolicyInputError(path, None, None, f"not valid YAML: {exc}") from exc
    lines: dict[Loc, int] = {}
    return _plain(data, (), lines), lines


def dotted(loc: Sequence[str | int]) -> str:
    """``("endpoints", 2, "hosts")`` -> ``endpoints[2].hosts``, as a lab reads it in the YAML."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _line_of(loc: Loc, lines: Mapping[Loc, int]) -> int | None:
    for cut in range(len(loc), 0, -1):
        if loc[:cut] in lines:
            return lines[loc[:cut]]
    return None


def load_model(path: Path, model: type[Model], what: str) -> Model:
    """Reads ``path`` into ``model``; the first validation error becomes a PolicyInputError at its line."""
    data, lines = read_yaml(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PolicyInputError(
            path, 1, None, f"a {what} file holds a mapping of keys, not {type(data).__name__}"
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        # pydantic adds the union member's name or a validator tag to loc; keep keys that exist in the file.
        loc = tuple(
            part for part in error["loc"] if isinstance(part, int) or not str(part).startswith("function-")
        )
        known: Loc = ()
        for part in loc:
            if isinstance(part, int) and (*known, part) not in lines:
                continue  # a scalar the model wrapped into a list: the file has no index there
            if isinstance(part, str) and part[:1].isupper():
                continue  # a union member's type name, not a key
            known = (*known, part)
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = f"unknown key (see the {what} JSON Schema for the keys it takes)"
        more = len(exc.errors()) - 1
        if more:
            message += f" (and {more} more error{'s' if more > 1 else ''})"
        raise PolicyInputError(path, _line_of(known, lines), dotted(known) or None, message) from exc
