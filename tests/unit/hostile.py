"""Hostile definition files and timelines, generated: the classes a fuzzing review found, per loader.

Each loader gets its seed (a real file of its kind) and every class below,
either as a whole document or spliced into the seed where a value goes, so
the hostile part is reached by the loader's own validation too. Kept as code,
not committed blobs: a class is a line here.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from phonehome import yamlconf
from phonehome.bench.definition import load_bench
from phonehome.device.inventory import load_inventory
from phonehome.policy import load_identity, load_manifest
from phonehome.traffic.timeline import TimelineError, load_timeline
from phonehome.virtual.profile import load_profile

REPO = Path(__file__).resolve().parents[2]

IDENTITY_SEED = """\
imei: ["353867091234562", 353867091234570]
iccid: "8947010000001234568"
wifi_mac: AA:BB:CC:DD:EE:0F
serial: PNX7B1234567
location: {lat: 59.913868, lon: 10.752245}
cell: {mcc: 242, mnc: 1, cid: 0x0d197413}
sources: {imei: inventory}
"""
TIMELINE_SEED = b'{"ts": 1000.5, "phase": "boot"}\n{"ts": 1010, "phase": "consent", "accepted": true}\n'


@dataclass(frozen=True)
class Loader:
    """One loader under test: how to call it on a file, what it raises on bad input, and its seed."""

    name: str
    load: Callable[[Path], object]
    error: type[Exception]
    seed: bytes
    suffix: str = ".yaml"


LOADERS = [
    Loader("identity", load_identity, yamlconf.ConfigError, IDENTITY_SEED.encode()),
    Loader(
        "manifest",
        load_manifest,
        yamlconf.ConfigError,
        (REPO / "manifests" / "nokia-7-plus-global-2019.yaml").read_bytes(),
    ),
    Loader(
        "inventory",
        load_inventory,
        yamlconf.ConfigError,
        (REPO / "devices" / "inventory.example.yaml").read_bytes(),
    ),
    Loader("bench", load_bench, yamlconf.ConfigError, (REPO / "benches" / "lab-example.yaml").read_bytes()),
    Loader(
        "profile",
        load_profile,
        yamlconf.ConfigError,
        (REPO / "devices" / "virtual" / "oem-pre-consent-telemetry.yaml").read_bytes(),
    ),
    Loader("timeline", load_timeline, TimelineError, TIMELINE_SEED, ".jsonl"),
]
YAML_LOADERS = [loader for loader in LOADERS if loader.suffix == ".yaml"]


def _laughs(levels: int = 9, width: int = 9) -> str:
    names = [f"l{i}" for i in range(levels + 1)]
    lines = [f"{names[0]}: &{names[0]} [{', '.join(['lol'] * width)}]"]
    for prev, name in itertools.pairwise(names):
        lines.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * width)}]")
    return "\n".join(lines) + "\n"


def _alias_tower(levels: int = 40, depth: int = 20) -> str:
    lines = [f"a0: &a0 {'[' * depth}1{']' * depth}"]
    lines += [f"a{i}: &a{i} {'[' * depth}*a{i - 1}{']' * depth}" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


DOCUMENTS: dict[str, bytes] = {
    "billion-laughs": _laughs().encode(),
    "quadratic-laughs": ("a: &a " + "x" * 60_000 + "\nb: [" + ", ".join(["*a"] * 9_000) + "]\n").encode(),
    "alias-tower": _alias_tower().encode(),
    "recursive-alias": b"a: &a [1, *a]\n",
    "recursive-merge": b"a: &a\n  <<: *a\n",
    "deep-flow": b"[" * 50_000 + b"]" * 50_000,
    "deep-flow-map": b"{a: " * 5_000 + b"1" + b"}" * 5_000,
    "deep-block": "".join(" " * i + "- \n" for i in range(200)).encode(),
    "deep-mapping-block": "".join(" " * i + "a:\n" for i in range(0, 400, 2)).encode(),
    "over-size": b"a: " + b"x" * (yamlconf.MAX_BYTES + 1),
    "over-lines": b"#\n" * (yamlconf.MAX_LINES + 1),
    "cr-lines": b"#\r" * (yamlconf.MAX_LINES + 1),
    "u2028-lines": "#\u2028".encode() * (yamlconf.MAX_LINES + 1),
    "multi-document": b"a: 1\n---\nb: 2\n",
    "empty": b"",
    "only-comment": b"# nothing\n",
    "only-null": b"~\n",
    "top-scalar": b"just text\n",
    "top-list": b"- a\n- b\n",
    "top-int": b"9" * 5000,
    "bom": b"\xef\xbb\xbfa: 1\n",
    "utf16": "a: 1\n".encode("utf-16"),
    "utf32": "a: 1\n".encode("utf-32"),
    "latin1": "navn: bl\u00e5b\u00e6r\n".encode("latin-1"),
    "surrogate": b"a: \xed\xa0\x80\n",
    "overlong": b"a: \xc0\xaf\n",
    "nul": b"a: x\x00y\n",
    "raw-escape": b"a: x\x1b[2Jy\n",
    "raw-del": b"a: x\x7fy\n",
    "tabs": b"a:\n\t- 1\n",
    "yaml11-directive": b"%YAML 1.1\n---\na: 190:20:30:15:11:12:13:14\nb: 0b1010\nc: 012\n",
    "tag-directive": b"%TAG !e! tag:example.com,2000:\n---\na: !e!x 1\n",
    "unknown-directive": b"%FOO bar\n---\na: 1\n",
    "dup-keys": b"a: 1\nb: 2\na: 3\n",
    "dup-merge": b"x: &x {a: 1}\ny:\n  <<: *x\n  <<: *x\n",
    "complex-key": b"? [a, b]\n: c\n",
    "alias-key": b"x: &x {a: 1}\n*x : c\n",
    "null-key": b"~: 1\n? \n: 2\n",
    "long-implicit-key": b"k" * 2000 + b": 1\n",
    "long-explicit-key": b"? " + b"k" * 200_000 + b"\n: 1\n",
    "control-keys": b'"\\e[31m\\u202e\\0": "\\e]0;title\\a"\n',
    "undefined-alias": b"a: *nope\n",
    "anchor-twice": b"a: &x 1\nb: &x 2\nc: *x\n",
    "many-anchors": "".join(f"k{i}: &a{i} {i}\n" for i in range(3000)).encode(),
    "unclosed-flow": b"a: [1, 2\n",
    "unclosed-quote": b'a: "abc\n',
    "bad-escape": b'a: "\\q"\n',
    "bad-unicode-escape": b'a: "\\uD800"\n',
    "huge-unicode-escape": b'a: "\\U0011FFFF"\n',
    "many-values": ("a: [" + "1," * (yamlconf.MAX_VALUES + 10) + "1]\n").encode(),
}
"""Whole documents: each replaces the seed."""


def _laughs_value(levels: int = 9, width: int = 9) -> str:
    """An alias bomb as one flow value, so it reaches a field's validator (the identity's formatted it)."""
    parts = [f"&v0 [{', '.join(['lol'] * width)}]"]
    parts += [f"&v{i} [{', '.join([f'*v{i - 1}'] * width)}]" for i in range(1, levels + 1)]
    return f"[{', '.join(parts)}]"


VALUES: dict[str, str] = {
    "alias-bomb": _laughs_value(),
    "alias-bomb-last-only": _laughs_value(levels=3),
    "big-int": "9" * 5000,
    "big-negative-int": "-" + "9" * 5000,
    "big-hex": "0x" + "f" * 5000,
    "big-octal": "0o" + "7" * 5000,
    "big-binary": "0b" + "1" * 50_000,
    "big-float": "9" * 5000 + ".5e99999",
    "nan": ".nan",
    "inf": "-.inf",
    "int-40": "9" * 40,
    "int-41": "9" * 41,
    "python-apply": "!!python/object/apply:os.system ['true']",
    "python-name": "!!python/name:os.system",
    "python-new": "!!python/object/new:builtins.dict {}",
    "custom-tag": "!custom x",
    "binary": "!!binary aGVsbG8=",
    "set": "!!set {a, b}",
    "omap": "!!omap [a: 1]",
    "str-tag": "!!str 10",
    "bare-tag": "! 10",
    "timestamp": "2001-12-14t21:59:43.10-05:00",
    "date": "2019-02-30",
    "merge-scalar": "{<<: 3}",
    "merge-list-of-scalars": "{<<: [1, 2]}",
    "long-text": "x" * 500_000,
    "long-quoted": '"' + "\\x41" * 100_000 + '"',
    "control-escapes": '"\\0\\a\\b\\e\\x7f\\x85\\u2028\\u202e\\uFEFF"',
    "bidi": "\u202eevil\u202c",
    "zero-width": "\u200b",
    "emoji": "\U0001f4a9",
    "empty-list": "[]",
    "empty-map": "{}",
    "nested-list": "[[[[[[1]]]]]]",
    "nested-map": "{a: {b: {c: {d: 1}}}}",
    "null": "~",
    "bool": "yes",
    "wide-list": "[" + ", ".join(["1"] * 3000) + "]",
    "folded-block": ">\n" + "  x\n" * 2000,
}
"""Single values: each is spliced in where the seed has its first and its last value."""

JSONL: dict[str, bytes] = {
    "nan": b'{"ts": NaN, "phase": "consent"}\n',
    "infinity": b'{"ts": Infinity, "phase": "consent"}\n',
    "overflow-float": b'{"ts": 1e400, "phase": "consent"}\n',
    "big-int": b'{"ts": ' + b"1" * 5000 + b', "phase": "x"}\n',
    "big-int-in-detail": b'{"ts": 1, "phase": "x", "n": -' + b"1" * 5000 + b"}\n",
    "ts-string": b'{"ts": "1", "phase": "x"}\n',
    "ts-bool": b'{"ts": true, "phase": "x"}\n',
    "ts-null": b'{"ts": null, "phase": "x"}\n',
    "ts-missing": b'{"phase": "x"}\n',
    "phase-missing": b'{"ts": 1}\n',
    "phase-object": b'{"ts": 1, "phase": {"a": [1]}}\n',
    "phase-empty": b'{"ts": 1, "phase": ""}\n',
    "phase-control": b'{"ts": 1, "phase": "x\\u001b[2J"}\n',
    "phase-long": b'{"ts": 1, "phase": "' + b"x" * 10_000 + b'"}\n',
    "repeated-ts": b'{"ts": 1, "phase": "x", "ts": 2}\n',
    "repeated-nested": b'{"ts": 1, "phase": "x", "d": {"a": 1, "a": 2}}\n',
    "deep": b"[" * 30_000 + b"]" * 30_000 + b"\n",
    "deep-objects": b'{"a":' * 10_000 + b"1" + b"}" * 10_000 + b"\n",
    "deep-detail": b'{"ts": 1, "phase": "x", "d": ' + b"[" * 20 + b"]" * 20 + b"}\n",
    "long-line": b'{"ts": 1, "phase": "x", "d": "' + b"x" * 100_000 + b'"}\n',
    "over-size": b'{"ts": 1, "phase": "boot"}\n' * ((17 << 20) // 27),
    "not-utf8": b'{"ts": 1, "phase": "\xff"}\n',
    "utf16": '{"ts": 1, "phase": "x"}\n'.encode("utf-16"),
    "bom": b'\xef\xbb\xbf{"ts": 1, "phase": "x"}\n',
    "array": b"[1, 2]\n",
    "string": b'"ts"\n',
    "truncated": b'{"ts": 1, "pha',
    "raw-control": b'{"ts": 1, "phase": "\x1b"}\n',
    "nul": b"\x00\n",
    "u2028-inside": '{"ts": 1, "phase": "x", "n": "a\u2028b"}\n'.encode(),
    "cr-lines": b'{"ts": 1, "phase": "a"}\r{"ts": 2, "phase": "b"}\r',
    "blank-lines": b"\n\n   \n\t\n",
    "empty": b"",
}
"""Whole timelines."""

_SCALAR_LINE = re.compile(
    rb"^(\s*(?:- )?[A-Za-z_][\w-]*: )([^\s#&*!\[{|>][^#\n]*?)(\s*(?:#.*)?)$", re.MULTILINE
)


def splice(seed: bytes, value: str) -> Iterator[bytes]:
    """``seed`` with its first, then its last plain scalar value replaced by ``value``."""
    matches = list(_SCALAR_LINE.finditer(seed))
    encoded = value.encode("utf-8")
    if "\n" in value:  # a block scalar continues on the lines below: indent them under the key
        indent = b"\n" + b" " * 12
        encoded = encoded.replace(b"\n", indent)
    for match in {id(m): m for m in (matches[0], matches[-1])}.values():
        yield seed[: match.start(2)] + encoded + seed[match.end(2) :]


def corpus(loader: Loader) -> Iterator[tuple[str, bytes]]:
    """Every hostile input for ``loader``: (a name for the test id, the file's bytes)."""
    if loader.suffix == ".jsonl":
        yield from JSONL.items()
        for name, line in JSONL.items():
            if len(line) < 1 << 20:
                yield f"seed+{name}", loader.seed + line
        return
    yield from DOCUMENTS.items()
    for name, value in VALUES.items():
        for i, text in enumerate(splice(loader.seed, value)):
            yield f"{name}@{'first' if i == 0 else 'last'}", text
