"""Bodies and payloads as bytes: templates filled, serialised, then encoded as the profile declares.

Pure functions, so the exact bytes a profile produces are tested without a
network (the 2019 self-registration body is base64 of compact JSON, wrapped
at 76 characters the way Android's ``Base64.DEFAULT`` does).
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import struct
import time
import zlib
from collections.abc import Mapping
from urllib.parse import quote, urlencode

import pydantic

from phonehome.virtual.firmware import template
from phonehome.virtual.firmware.model import Body, Encoding

NTP_EPOCH_OFFSET = 2_208_988_800
"""Seconds from 1900-01-01 (NTP's era 0) to 1970-01-01 (RFC 5905 6)."""


def android_base64(data: bytes) -> bytes:
    """``android.util.Base64.encode(data, DEFAULT)``: standard alphabet, padded, ``\\n`` after every
    76 characters and after the last line (AOSP frameworks/base core/java/android/util/Base64.java)."""
    # binascii's MIME encoder (what base64.encodebytes uses) has exactly this line discipline.
    return base64.encodebytes(data)


def apply_encoding(data: bytes, encoding: Encoding) -> bytes:
    if encoding == "gzip":
        return gzip.compress(data, mtime=0)
    if encoding == "deflate":
        return zlib.compress(data)
    if encoding == "base64":
        return android_base64(data)
    if encoding == "base64-nowrap":
        return base64.b64encode(data)
    if encoding == "base64-url":
        return base64.urlsafe_b64encode(data)
    if encoding == "url":
        return quote(data, safe="").encode()
    if encoding == "hex":
        return binascii.hexlify(data)
    raise ValueError(f"unknown encoding {encoding!r}")


def render_json(value: pydantic.JsonValue, values: Mapping[str, object]) -> pydantic.JsonValue:
    """``value`` with every string rendered as a template (keys stay literal)."""
    if isinstance(value, str):
        return template.render(value, values)
    if isinstance(value, dict):
        return {key: render_json(item, values) for key, item in value.items()}
    if isinstance(value, list):
        return [render_json(item, values) for item in value]
    return value


def sntp_request(now: float | None = None) -> bytes:
    """48 bytes: LI 0, version 3, mode 3 (client), transmit timestamp = now (RFC 4330 5)."""
    now = time.time() if now is None else now
    seconds = int(now) + NTP_EPOCH_OFFSET
    fraction = int((now % 1) * (1 << 32)) & 0xFFFFFFFF
    return bytes([0x1B]) + bytes(39) + struct.pack("!II", seconds & 0xFFFFFFFF, fraction)


def content_type(body: Body) -> str | None:
    if body.content_type:
        return body.content_type
    if body.json_value is not None and not body.encode:
        return "application/json; charset=utf-8"
    if body.form is not None and not body.encode:
        return "application/x-www-form-urlencoded"
    if body.text is not None and not body.encode:
        return "text/plain; charset=utf-8"
    return None


def build(body: Body, values: Mapping[str, object]) -> bytes:
    """The bytes of ``body`` for a handset whose template values are ``values``."""
    data: bytes
    if body.text is not None:
        data = template.render(body.text, values).encode()
    elif body.json_value is not None:
        rendered = render_json(body.json_value, values)
        data = json.dumps(rendered, separators=(",", ":"), ensure_ascii=False).encode()
    elif body.form is not None:
        data = urlencode([(k, template.render(v, values)) for k, v in body.form.items()]).encode()
    elif body.hex is not None:
        data = bytes.fromhex(body.hex)
    else:
        data = sntp_request()
    for encoding in body.encode:
        data = apply_encoding(data, encoding)
    return data
