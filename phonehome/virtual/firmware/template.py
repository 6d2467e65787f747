"""Payload templates: ``{imei1}``, ``{wifi_mac:upper|plain}``, ``{imei1:sha256}``, ``{now:%Y-%m-%d %H:%M:%S}``.

Firmware profiles fill URLs, headers, bodies, DNS names and payloads from the
handset's identity, its build, its lease and the clock. A template is checked
when the profile is loaded (unknown names and transforms are errors with
file:line), so a typo never ships a payload without the identifier it was
meant to carry, which would make a leak test pass for the wrong reason.

Syntax: Python's replacement fields without conversions or attribute access;
``{{`` and ``}}`` are literal braces. After ``:`` comes a chain of transforms
separated by ``|``, applied left to right; for ``now`` it is a strftime format.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote

IDENTITY_NAMES = frozenset(
    {
        "serial", "imei", "imeisv", "svn", "meid", "wifi_mac", "wifi_mac_randomized", "bt_mac",
        "android_id", "advertising_id", "gsf_id", "latitude", "longitude", "mcc", "mnc", "tac", "lac",
        "cell_id", "pci", "iccid", "imsi", "msisdn",
    }
)  # fmt: skip
"""Keys of ``HandsetIdentity.as_dict()`` that every handset has (SIM ones need a SIM)."""
SLOT_NAMES = ("imei", "iccid", "imsi", "msisdn", "carrier")
"""``imei1``, ``iccid2``...: one per modem slot or SIM; which exist depends on the profile."""
BUILD_NAMES = frozenset(
    {
        "brand", "manufacturer", "model", "product", "device", "board", "hardware", "release", "sdk",
        "build_id", "incremental", "fingerprint", "security_patch", "baseband", "locale", "timezone",
    }
)  # fmt: skip
RUNTIME_NAMES = frozenset({"now", "epoch_s", "epoch_ms", "attempt", "ip", "router", "dns", "nonce", "uuid"})
"""Known only when the action runs: the clock, the attempt number (1...), the lease, random values."""

_SLOTTED = re.compile(r"^(" + "|".join(SLOT_NAMES) + r")([12])$")


def _plain(text: str) -> str:
    return text.replace(":", "").replace("-", "")


def _low8(text: str) -> str:
    return str(int(text) & 0xFF)


def _int_hex(text: str) -> str:
    return f"{int(text):x}"


def _hash(algo: str) -> Callable[[str], str]:
    return lambda text: hashlib.new(algo, text.encode()).hexdigest()


def _hash_b64(algo: str) -> Callable[[str], str]:
    return lambda text: base64.b64encode(hashlib.new(algo, text.encode()).digest()).decode()


XOR_KEY = bytes.fromhex("5a17c3e9a4b2d8016e3f9c7b21d4a865")
"""The fixed key of ``xor-hex``: what an OEM's "encryption" of an identifier often is (one key in every
handset's firmware), which no encoding-based leak search can see through."""


def _xor_hex(text: str) -> str:
    data = text.encode()
    return bytes(b ^ XOR_KEY[i % len(XOR_KEY)] for i, b in enumerate(data)).hex()


TRANSFORMS: dict[str, Callable[[str], str]] = {
    "upper": str.upper,
    "lower": str.lower,
    "plain": _plain,  # a MAC without separators: c0eefb123456
    "low8": _low8,  # Qualcomm's autoregistration client sends only the low 8 bits of the cell id
    "int-hex": _int_hex,
    "hex": lambda text: text.encode().hex(),
    "base64": lambda text: base64.b64encode(text.encode()).decode(),
    "url": lambda text: quote(text, safe=""),
    "md5": _hash("md5"),
    "sha1": _hash("sha1"),
    "sha256": _hash("sha256"),
    "md5-base64": _hash_b64("md5"),
    "sha1-base64": _hash_b64("sha1"),
    "sha256-base64": _hash_b64("sha256"),
    "xor-hex": _xor_hex,  # XOR with the fixed XOR_KEY, as hex: obfuscated, not encrypted
}


class TemplateError(ValueError):
    """A template that names something unknown or uses syntax the firmware model does not allow."""


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    transforms: tuple[str, ...]
    strftime: str | None = None


def known_name(name: str) -> bool:
    return (
        name in IDENTITY_NAMES or name in BUILD_NAMES or name in RUNTIME_NAMES or bool(_SLOTTED.match(name))
    )


def parse(template: str) -> list[str | Field]:
    """The literal pieces and fields of ``template``; `TemplateError` says what is wrong and where."""
    parts: list[str | Field] = []
    try:
        pieces = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise TemplateError(f"{template!r}: {exc} (write {{{{ and }}}} for literal braces)") from exc
    for literal, name, raw_spec, conversion in pieces:
        if literal:
            parts.append(literal)
        if name is None:
            continue
        if conversion is not None:
            raise TemplateError(f"{template!r}: conversions like '!{conversion}' are not supported")
        if not name:
            raise TemplateError(f"{template!r}: an empty field {{}} names nothing")
        if not known_name(name):
            raise TemplateError(
                f"{template!r}: unknown name {{{name}}}; use one of: {', '.join(sorted(vocabulary()))}"
            )
        spec = raw_spec or ""
        if "{" in spec or "}" in spec:
            raise TemplateError(f"{template!r}: nested fields are not supported in {{{name}:...}}")
        if name == "now":
            parts.append(Field(name, (), spec or "%Y-%m-%dT%H:%M:%S%z"))
            continue
        chain = tuple(t for t in spec.split("|") if t) if spec else ()
        unknown = [t for t in chain if t not in TRANSFORMS]
        if unknown:
            raise TemplateError(
                f"{template!r}: unknown transform {unknown[0]!r} in {{{name}:{spec}}}; "
                f"use: {', '.join(TRANSFORMS)}"
            )
        parts.append(Field(name, chain))
    return parts


def names(template: str) -> set[str]:
    return {p.name for p in parse(template) if isinstance(p, Field)}


def vocabulary() -> set[str]:
    return set(IDENTITY_NAMES | BUILD_NAMES | RUNTIME_NAMES) | {f"{s}{n}" for s in SLOT_NAMES for n in (1, 2)}


def render(template: str, values: Mapping[str, object]) -> str:
    """``template`` with every field filled from ``values`` (a missing one is a `TemplateError`)."""
    out = []
    for part in parse(template):
        if isinstance(part, str):
            out.append(part)
            continue
        if part.name not in values:
            raise TemplateError(f"{template!r}: {{{part.name}}} has no value on this handset")
        value = values[part.name]
        if part.strftime is not None:
            when = value if isinstance(value, dt.datetime) else dt.datetime.now(dt.UTC)
            out.append(when.strftime(part.strftime))
            continue
        text = str(value)
        for transform in part.transforms:
            try:
                text = TRANSFORMS[transform](text)
            except ValueError as exc:
                raise TemplateError(f"{template!r}: {transform} cannot apply to {part.name}: {exc}") from exc
        out.append(text)
    return "".join(out)


def check_all(templates: Iterable[tuple[str, str]], available: set[str]) -> list[str]:
    """Problems of ``(where, template)`` pairs whose names this handset cannot fill."""
    problems = []
    for where, template in templates:
        missing = sorted(n for n in names(template) if n not in available and n not in RUNTIME_NAMES)
        if missing:
            problems.append(
                f"{where}: {', '.join('{' + m + '}' for m in missing)} does not exist on this profile "
                "(a second IMEI needs identity.imei_slots: 2; a SIM key needs a SIM in region.sims)"
            )
    return problems
