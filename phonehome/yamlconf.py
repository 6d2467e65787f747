"""Definition files (benches, manifests, identities, profiles): YAML in, validated models out.

Labs edit these by hand, so a mistake must say exactly where it is: every
error names the file, the line and the key path, and what was expected.
Duplicate keys and unknown keys are errors (the models forbid extras), never
silently ignored: a typo in a manifest must not widen what it allows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import pydantic
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

M = TypeVar("M", bound=pydantic.BaseModel)


class ConfigError(ValueError):
    """A definition file that cannot be used; ``str()`` is one line per problem, each ``file:line: key: what``."""

    def __init__(self, path: Path | str, problems: list[str]) -> None:
        self.path = str(path)
        self.problems = problems
        super().__init__("\n".join(problems))


class StrictModel(pydantic.BaseModel):
    """Base for definition-file models: unknown keys are errors, instances are immutable."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


def read_yaml(path: Path | str) -> Any:
    """Parses YAML keeping line numbers; duplicate keys raise `ConfigError`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, [f"{path}: cannot read: {exc}"]) from exc
    return parse_yaml(text, path)


def parse_yaml(text: str, path: Path | str = "<string>") -> Any:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        return yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f"{mark.line + 1}" if mark else "?"
        problem = (exc.problem or str(exc)).strip().splitlines()[0]
        raise ConfigError(path, [f"{path}:{line}: {problem}"]) from exc
    except YAMLError as exc:
        raise ConfigError(path, [f"{path}: not valid YAML: {exc}"]) from exc


def load_model(model: type[M], path: Path | str) -> M:
    """Reads ``path`` and validates it as ``model``; all problems are reported at once."""
    return validate(model, read_yaml(path), path)


def validate(model: type[M], data: Any, path: Path | str = "<string>") -> M:
    try:
        return model.model_validate(data if data is not None else {})
    except pydantic.ValidationError as exc:
        problems = [_describe(err, data, path) for err in exc.errors()]
        raise ConfigError(path, problems) from exc


def _describe(err: Any, data: Any, path: Path | str) -> str:
    loc = tuple(err["loc"])
    line = _line_of(data, loc)
    key = ".".join(str(p) for p in loc) or "(top level)"
    message = err["msg"]
    if err["type"] == "extra_forbidden":
        message = "unknown key (check the spelling; see the schema for the keys allowed here)"
    elif err["type"] == "missing":
        message = "required key is missing"
    where = f"{path}:{line}" if line else str(path)
    return f"{where}: {key}: {message}"


def _line_of(data: Any, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the deepest node of ``loc`` that exists in the parsed YAML."""
    node, line = data, None
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            line = node.lc.key(part)[0] + 1
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            line = node.lc.item(part)[0] + 1
            node = node[part]
        else:
            break
    if line is None and isinstance(data, CommentedMap | CommentedSeq):
        line = data.lc.line + 1
    return line
