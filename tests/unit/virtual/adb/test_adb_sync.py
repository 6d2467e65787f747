"""The sync: service against scripted requests (the real adb clients are in the integration tests)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import struct
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phonehome.virtual.adb.sync import SyncService
from phonehome.virtual.fs import DeviceFs


class FakeStream:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.out = bytearray()

    async def read(self, n: int = -1) -> bytes:
        n = len(self.data) if n < 0 else n
        chunk, self.data = self.data[:n], self.data[n:]
        return chunk

    async def readexactly(self, n: int) -> bytes:
        if len(self.data) < n:
            raise asyncio.IncompleteReadError(self.data, n)
        return await self.read(n)

    async def write(self, data: bytes) -> None:
        self.out += data


def request(ident: bytes, path: str) -> bytes:
    raw = path.encode()
    return ident + struct.pack("<I", len(raw)) + raw


def run(fs: DeviceFs, wire: bytes) -> bytes:
    stream = FakeStream(wire)
    asyncio.run(SyncService(fs, stream).run())  # type: ignore[arg-type]
    return bytes(stream.out)


def test_sta2_reply_is_exactly_72_bytes_and_not_found_is_errno_2(tmp_path: Path) -> None:
    fs = DeviceFs(tmp_path)
    fs.install_file("/data/local/tmp/a", b"12345")
    out = run(fs, request(b"STA2", "/data/local/tmp/a") + request(b"STA2", "/nope") + b"QUIT" + bytes(4))
    assert len(out) == 144
    found, missing = out[:72], out[72:]
    assert found[:4] == b"STA2"
    assert struct.unpack_from("<I", found, 4)[0] == 0
    assert struct.unpack_from("<Q", found, 40)[0] == 5  # size
    assert missing[:4] == b"STA2"
    assert struct.unpack_from("<I", missing, 4)[0] == 2
    assert not any(missing[8:])


def test_send_then_recv_round_trips_with_the_mode(tmp_path: Path) -> None:
    fs = DeviceFs(tmp_path)
    payload = bytes(range(256)) * 700
    send = request(b"SEND", "/data/local/tmp/sub/f.bin,33261")
    for i in range(0, len(payload), 65536):
        chunk = payload[i : i + 65536]
        send += b"DATA" + struct.pack("<I", len(chunk)) + chunk
    send += b"DONE" + struct.pack("<I", 1_700_000_000)
    assert run(fs, send + b"QUIT" + bytes(4)) == b"OKAY" + bytes(4)
    host = fs.host_path("/data/local/tmp/sub/f.bin")
    assert host.stat().st_mode & 0o777 == 0o755
    assert int(host.stat().st_mtime) == 1_700_000_000
    out = run(fs, request(b"RECV", "/data/local/tmp/sub/f.bin"))
    got, pos = b"", 0
    while out[pos : pos + 4] == b"DATA":
        (n,) = struct.unpack_from("<I", out, pos + 4)
        got += out[pos + 8 : pos + 8 + n]
        pos += 8 + n
    assert out[pos:] == b"DONE" + bytes(4)
    assert hashlib.md5(got).digest() == hashlib.md5(payload).digest()


def test_push_to_system_fails_read_only_and_leaves_nothing(tmp_path: Path) -> None:
    fs = DeviceFs(tmp_path)
    send = (
        request(b"SEND", "/system/app/x.apk,33188")
        + b"DATA"
        + struct.pack("<I", 3)
        + b"abc"
        + b"DONE"
        + bytes(4)
    )
    out = run(fs, send)
    assert out.startswith(b"FAIL")
    assert b"Read-only file system" in out
    assert not fs.host_path("/system/app/x.apk").exists()


def test_list_v2_ends_with_done_and_72_zero_bytes(tmp_path: Path) -> None:
    fs = DeviceFs(tmp_path)
    fs.install_file("/sdcard/Download/x.txt", b"x")
    out = run(fs, request(b"LIS2", "/sdcard/Download"))
    assert out.endswith(b"DONE" + bytes(72))
    names = []
    pos = 0
    while out[pos : pos + 4] == b"DNT2":
        (n,) = struct.unpack_from("<I", out, pos + 72)
        names.append(out[pos + 76 : pos + 76 + n].decode())
        pos += 76 + n
    assert names == [".", "..", "x.txt"]


def test_paths_cannot_leave_the_handset_folder(tmp_path: Path) -> None:
    root = tmp_path / "device"
    (tmp_path / "secret").write_text("host file")
    fs = DeviceFs(root)
    out = run(fs, request(b"RECV", "/../secret") + request(b"RECV", "/data/../../secret"))
    assert b"host file" not in out


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=200))
def test_garbage_requests_end_the_session_without_escaping(tmp_path: Path, wire: bytes) -> None:
    fs = DeviceFs(tmp_path / "d")
    with contextlib.suppress(asyncio.IncompleteReadError, ValueError, UnicodeDecodeError):
        run(fs, wire)
    for path in (tmp_path).iterdir():
        assert path.name == "d"
