"""multipart/form-data and multipart/mixed bodies (RFC 7578, RFC 2046 5.1): each part's name and content.

Hand-written because the stdlib's email parser wants headers first and
rejects what firmware sends: no Content-Type boundary (the first line is
taken), bare LF line breaks, parts in base64 or quoted-printable.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import re

from phonehome.policy.encodings import MIME_BREAKS

_BOUNDARY = re.compile(r'boundary="?([^";,\s]{1,200})"?', re.IGNORECASE)
_NAME = re.compile(r'name="([^"]{0,200})"')


def parts(data: bytes, content_type: str = "") -> list[tuple[str, bytes]] | None:
    """(name, decoded content) of each part, or None when ``data`` is not multipart."""
    match = _BOUNDARY.search(content_type)
    first_line = data.split(b"\n", 1)[0].strip()
    boundary = ("--" + match.group(1)).encode() if match else first_line
    if not boundary.startswith(b"--") or len(boundary) < 3 or not data.lstrip().startswith(boundary):
        return None
    out = []
    for index, part in enumerate(data.split(boundary)[1:]):
        if part.startswith(b"--"):
            break
        head, _sep, body = part.lstrip(b"\r\n").partition(b"\r\n\r\n")
        if not _sep:
            head, _sep, body = part.lstrip(b"\n").partition(b"\n\n")
        headers = head.decode("latin-1").lower()
        name_match = _NAME.search(head.decode("latin-1"))
        name = name_match.group(1) if name_match else str(index)
        body = body[:-2] if body.endswith(b"\r\n") else body.rstrip(b"\n")
        if "content-transfer-encoding: base64" in headers:
            with contextlib.suppress(binascii.Error, ValueError):
                body = base64.b64decode(MIME_BREAKS.sub(b"", body) + b"==", validate=False)
        elif "content-transfer-encoding: quoted-printable" in headers:
            body = binascii.a2b_qp(body)
        out.append((name, body))
    return out or None  # a boundary and nothing after it: a first line that starts with "--"
