from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from phonehome.virtual.axml import manifest_package


def _pool(strings: list[str]) -> bytes:
    offsets, data = [], b""
    for s in strings:
        offsets.append(len(data))
        data += struct.pack("<H", len(s)) + s.encode("utf-16-le") + b"\0\0"
    data += bytes(-len(data) % 4)
    header_size = 28
    start = header_size + 4 * len(strings)
    body = struct.pack(f"<{len(strings)}I", *offsets) + data
    return (
        struct.pack("<HHIIIIII", 0x0001, header_size, header_size + len(body), len(strings), 0, 0, start, 0)
        + body
    )


def _manifest(package: str) -> bytes:
    strings = ["manifest", "package", package]
    attr = struct.pack("<IIIHBBI", 0xFFFFFFFF, 1, 2, 8, 0, 0x03, 2)
    ext = struct.pack("<IIHHHHHH", 0xFFFFFFFF, 0, 20, 20, 1, 0, 0, 0)
    node = struct.pack("<II", 1, 0xFFFFFFFF)
    element_body = node + ext + attr
    element = struct.pack("<HHI", 0x0102, 16, 8 + len(element_body)) + element_body
    pool = _pool(strings)
    body = pool + element
    return struct.pack("<HHI", 0x0003, 8, 8 + len(body)) + body


def test_reads_the_package_of_a_binary_manifest() -> None:
    assert manifest_package(_manifest("com.example.app")) == "com.example.app"


def test_text_xml_is_not_a_binary_manifest() -> None:
    assert manifest_package(b'<manifest package="com.example"/>') is None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_garbage_never_raises(data: bytes) -> None:
    manifest_package(data)
    manifest_package(_manifest("a.b")[: len(data) % 120] + data)
