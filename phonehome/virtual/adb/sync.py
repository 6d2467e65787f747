"""The ``sync:`` service: stat, list, push and pull (AOSP adb/SYNC.TXT, file_sync_protocol.h).

Requests are ``ID`` + u32 length + path; replies are little-endian structs.
adb 29+ uses the v2 forms STA2/LST2/LIS2 whose replies are exactly 72 bytes
(one byte more and the client reports "unknown reason" and truncates a pull).
Everything goes through `DeviceFs`, so a hostile path cannot leave the
handset's folder; paths, chunk sizes and file sizes are bounded.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import struct
import tempfile
from pathlib import Path

from phonehome.virtual.adb.stream import AdbStream
from phonehome.virtual.fs import DeviceFs, FsError

SYNC_DATA_MAX = 64 * 1024
PATH_MAX = 1024
MAX_PUSH_BYTES = 2 * 1024**3  # a phone's /data is large; the host folder is not unlimited

STAT_V1 = struct.Struct("<4sIII")  # id, mode, size, mtime
STAT_V2 = struct.Struct("<4sIQQIIIIQqqq")  # id, error, dev, ino, mode, nlink, uid, gid, size, a/m/ctime
DENT_V1 = struct.Struct("<4sIIII")  # id, mode, size, mtime, namelen
DENT_V2 = struct.Struct("<4sIQQIIIIQqqqI")  # stat v2 + namelen
assert STAT_V2.size == 72  # the wire sizes are the contract
assert DENT_V2.size == 76


class SyncProtocolError(ValueError):
    pass


def _stat_v1(st: os.stat_result | None) -> bytes:
    if st is None:
        return STAT_V1.pack(b"STAT", 0, 0, 0)
    return STAT_V1.pack(b"STAT", st.st_mode & 0xFFFFFFFF, st.st_size & 0xFFFFFFFF, int(st.st_mtime))


def _stat_v2(ident: bytes, st: os.stat_result | None, error: int, uid: int) -> bytes:
    if st is None:
        return STAT_V2.pack(ident, error, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    return STAT_V2.pack(
        ident,
        0,
        st.st_dev,
        st.st_ino,
        st.st_mode,
        st.st_nlink,
        uid,
        uid,
        st.st_size,
        int(st.st_atime),
        int(st.st_mtime),
        int(st.st_ctime),
    )


def _fail(message: str) -> bytes:
    data = message.encode()
    return b"FAIL" + struct.pack("<I", len(data)) + data


class SyncService:
    """One ``sync:`` session on one stream."""

    def __init__(self, fs: DeviceFs, stream: AdbStream) -> None:
        self.fs = fs
        self.stream = stream

    async def run(self) -> None:
        while True:
            header = await self._read_header()
            if header is None:
                return
            ident, length = header
            if ident == b"QUIT":
                return
            if length > PATH_MAX:
                await self.stream.write(_fail(f"path too long: {length}"))
                return
            path = (await self.stream.readexactly(length)).decode("utf-8", "surrogateescape")
            if ident == b"STAT":
                await self._stat_v1(path)
            elif ident in (b"STA2", b"LST2"):
                await self._stat_v2(path, follow=ident == b"STA2")
            elif ident == b"LIST":
                await self._list(path, v2=False)
            elif ident == b"LIS2":
                await self._list(path, v2=True)
            elif ident == b"SEND":
                await self._send(path)
            elif ident == b"RECV":
                await self._recv(path)
            else:
                # adbd aborts the session on an unknown request (file_sync_service.cpp).
                await self.stream.write(_fail(f"unknown command {ident!r}"))
                return

    async def _read_header(self) -> tuple[bytes, int] | None:
        first = await self.stream.read(8)
        if not first:
            return None
        data = first + (await self.stream.readexactly(8 - len(first)) if len(first) < 8 else b"")
        ident, length = struct.unpack("<4sI", data)
        return ident, length

    def _lookup(self, path: str, follow: bool = True) -> tuple[os.stat_result | None, int, str]:
        device_path = self.fs.normalize(path)
        try:
            host = self.fs.host_path(device_path)
            st = host.stat() if follow else host.lstat()
        except FsError as exc:
            return None, exc.errno or errno.EACCES, device_path
        except FileNotFoundError:
            return None, errno.ENOENT, device_path
        except OSError as exc:
            return None, exc.errno or errno.EIO, device_path
        return st, 0, device_path

    async def _stat_v1(self, path: str) -> None:
        st, _, _ = self._lookup(path)
        await self.stream.write(_stat_v1(st))

    async def _stat_v2(self, path: str, follow: bool) -> None:
        st, err, device_path = self._lookup(path, follow)
        await self.stream.write(_stat_v2(b"STA2" if follow else b"LST2", st, err, self.fs.owner(device_path)))

    async def _list(self, path: str, v2: bool) -> None:
        st, _, device_path = self._lookup(path)
        if st is not None and stat.S_ISDIR(st.st_mode):
            host = self.fs.host_path(device_path)
            names = [".", "..", *sorted(os.listdir(host))]
            uid = self.fs.owner(device_path)
            for name in names:
                try:
                    est = (host / name).lstat() if name not in (".", "..") else host.stat()
                except OSError:
                    continue
                raw = name.encode("utf-8", "surrogateescape")
                if v2:
                    fields = _stat_v2(b"DNT2", est, 0, uid)
                    await self.stream.write(fields + struct.pack("<I", len(raw)) + raw)
                else:
                    await self.stream.write(
                        DENT_V1.pack(
                            b"DENT", est.st_mode, est.st_size & 0xFFFFFFFF, int(est.st_mtime), len(raw)
                        )
                        + raw
                    )
        done = b"DONE" + bytes((DENT_V2.size if v2 else DENT_V1.size) - 4)
        await self.stream.write(done)

    async def _send(self, spec: str) -> None:
        path, _, mode_text = spec.rpartition(",")
        if not path:
            path, mode_text = spec, str(stat.S_IFREG | 0o644)
        try:
            mode = int(mode_text)
        except ValueError:
            mode = stat.S_IFREG | 0o644
        target: Path | None = None
        error = ""
        try:
            target = self.fs.writable_path(path)
            if stat.S_ISLNK(mode):
                error = "symlinks are not supported on this device"
            elif target.is_dir():
                error = f"couldn't create file: {os.strerror(errno.EISDIR)}"
            else:
                target.parent.mkdir(parents=True, exist_ok=True)  # fixed_push_mkdir
        except FsError as exc:
            error = f"couldn't create file: {os.strerror(exc.errno or errno.EACCES)}"
        except OSError as exc:
            error = f"couldn't create file: {os.strerror(exc.errno or errno.EIO)}"
        await self._receive_file(target if not error else None, mode, error)

    async def _receive_file(self, target: Path | None, mode: int, error: str) -> None:
        """Reads DATA... DONE even after an error, so the reply arrives where the host expects it."""
        tmp = None
        handle = None
        if target is not None:
            fd, name = tempfile.mkstemp(dir=target.parent, prefix=".push-")
            tmp = Path(name)
            handle = os.fdopen(fd, "wb")
        total = 0
        try:
            while True:
                ident, length = struct.unpack("<4sI", await self.stream.readexactly(8))
                if ident == b"DONE":
                    mtime = length
                    break
                if ident != b"DATA" or length > SYNC_DATA_MAX:
                    error = error or f"invalid data message {ident!r} of {length} bytes"
                    await self.stream.write(_fail(error))
                    raise SyncProtocolError(error)
                chunk = await self.stream.readexactly(length)
                total += length
                if total > MAX_PUSH_BYTES and not error:
                    error = f"file too large for this device ({MAX_PUSH_BYTES} bytes at most)"
                if handle is not None and not error:
                    handle.write(chunk)
            if handle is not None:
                handle.close()
                handle = None
            if error or target is None or tmp is None:
                await self.stream.write(_fail(error or "couldn't create file"))
                return
            os.chmod(tmp, mode & 0o7777)
            os.utime(tmp, (mtime, mtime))
            os.replace(tmp, target)
            tmp = None
            await self.stream.write(b"OKAY" + bytes(4))
        finally:
            if handle is not None:
                handle.close()
            if tmp is not None:
                with contextlib.suppress(OSError):
                    tmp.unlink()

    async def _recv(self, path: str) -> None:
        try:
            host = self.fs.host_path(path)
            f = host.open("rb")
        except FsError as exc:
            await self.stream.write(_fail(os.strerror(exc.errno or errno.EACCES)))
            return
        except OSError as exc:
            await self.stream.write(_fail(os.strerror(exc.errno or errno.EIO)))
            return
        with f:
            while True:
                chunk = f.read(SYNC_DATA_MAX)
                if not chunk:
                    break
                await self.stream.write(b"DATA" + struct.pack("<I", len(chunk)) + chunk)
        await self.stream.write(b"DONE" + bytes(4))


async def serve_sync(fs: DeviceFs, stream: AdbStream) -> None:
    try:
        await SyncService(fs, stream).run()
    except SyncProtocolError:
        return
