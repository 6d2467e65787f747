"""Just enough of Android's binary XML (AAPT's ResXMLTree) to read a manifest's package name.

``pm install`` must know which package an APK holds. The format is chunks
(AOSP frameworks/base/libs/androidfw/include/androidfw/ResourceTypes.h): a
string pool, then element chunks whose attributes point into it. Hostile
input: every offset is checked, nothing is read past the buffer.
"""

from __future__ import annotations

import struct

RES_XML_TYPE = 0x0003
RES_STRING_POOL_TYPE = 0x0001
RES_XML_START_ELEMENT_TYPE = 0x0102
UTF8_FLAG = 1 << 8
TYPE_STRING = 0x03
MAX_STRINGS = 100_000


def manifest_package(data: bytes) -> str | None:
    """The ``package`` attribute of the root ``manifest`` element, or None when it cannot be read."""
    try:
        return _manifest_package(data)
    except (struct.error, IndexError, UnicodeDecodeError, ValueError):
        return None


def _manifest_package(data: bytes) -> str | None:
    kind, header_size, _ = struct.unpack_from("<HHI", data, 0)
    if kind != RES_XML_TYPE:
        return None
    pos = header_size
    strings: list[str] = []
    while pos + 8 <= len(data):
        kind, header_size, size = struct.unpack_from("<HHI", data, pos)
        if size < 8 or pos + size > len(data):
            return None
        if kind == RES_STRING_POOL_TYPE:
            strings = _string_pool(data[pos : pos + size])
        elif kind == RES_XML_START_ELEMENT_TYPE:
            ext = pos + header_size
            _ns, name, attr_start, attr_size, attr_count = struct.unpack_from("<IIHHH", data, ext)
            if _lookup(strings, name) != "manifest":
                return None
            for i in range(attr_count):
                at = ext + attr_start + i * attr_size
                _ans, aname, raw, _vsize, _res0, vtype, vdata = struct.unpack_from("<IIIHBBI", data, at)
                if _lookup(strings, aname) == "package":
                    value = _lookup(strings, raw) if raw != 0xFFFFFFFF else None
                    if value is None and vtype == TYPE_STRING:
                        value = _lookup(strings, vdata)
                    return value
            return None
        pos += size
    return None


def _lookup(strings: list[str], index: int) -> str | None:
    return strings[index] if 0 <= index < len(strings) else None


def _string_pool(chunk: bytes) -> list[str]:
    _, header_size, _, count, _styles, flags, strings_start, _ = struct.unpack_from("<HHIIIIII", chunk, 0)
    if count > MAX_STRINGS:
        raise ValueError("too many strings")
    offsets = struct.unpack_from(f"<{count}I", chunk, header_size)
    utf8 = bool(flags & UTF8_FLAG)
    out = []
    for offset in offsets:
        at = strings_start + offset
        if utf8:
            _, at = _length8(chunk, at)  # UTF-16 length, unused
            length, at = _length8(chunk, at)
            out.append(chunk[at : at + length].decode("utf-8"))
        else:
            length, at = _length16(chunk, at)
            out.append(chunk[at : at + 2 * length].decode("utf-16-le"))
    return out


def _length8(chunk: bytes, at: int) -> tuple[int, int]:
    first = chunk[at]
    if first & 0x80:
        return ((first & 0x7F) << 8) | chunk[at + 1], at + 2
    return first, at + 1


def _length16(chunk: bytes, at: int) -> tuple[int, int]:
    (first,) = struct.unpack_from("<H", chunk, at)
    if first & 0x8000:
        (second,) = struct.unpack_from("<H", chunk, at + 2)
        return ((first & 0x7FFF) << 16) | second, at + 4
    return first, at + 2
