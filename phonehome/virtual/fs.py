"""The handset's file system: Android paths mapped into one private host folder.

Every path the shell or sync touches is resolved here, so nothing outside the
folder can be read or written whatever the host sends (``..``, absolute
paths, symlinks pointing out). Partitions that are read-only on a user build
(/system, /vendor, /product...) refuse writes with EROFS as a phone does.
"""

from __future__ import annotations

import errno
import os
import posixpath
import shutil
from collections.abc import Callable
from pathlib import Path

READ_ONLY = ("/system", "/vendor", "/product", "/system_ext", "/odm", "/apex")
ALIASES = {
    "/storage/emulated/0": "/sdcard",
    "/storage/self/primary": "/sdcard",
    "/mnt/sdcard": "/sdcard",
}
USER_DATA = ("/data", "/sdcard", "/cache", "/storage")
SHELL_UID = 2000
DEFAULT_DIRS = (
    "/data/local/tmp",
    "/data/data",
    "/data/misc/adb",
    "/sdcard/Download",
    "/sdcard/DCIM",
    "/system/bin",
    "/system/app",
    "/system/priv-app",
    "/system/etc",
    "/vendor",
    "/product",
    "/proc",
    "/sys/class/net",
    "/dev",
    "/cache",
)


class FsError(OSError):
    """An errno with the device path, worded as toybox prints it."""

    def __init__(self, code: int, path: str) -> None:
        super().__init__(code, os.strerror(code), path)
        self.path = path

    def __str__(self) -> str:
        return f"{self.path}: {os.strerror(self.errno or 0)}"


class DeviceFs:
    """Android paths under ``root`` (a folder the handset owns and removes)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.remounted = False
        """``adb remount`` as root on a debuggable build: the system partitions take writes (an overlay
        on a real phone, kept across reboots); the APEXes never do."""
        self.generated: dict[str, Callable[[], bytes]] = {}
        """Files the kernel makes up at each read (``/proc/net/tcp``...): device path -> content."""
        for d in DEFAULT_DIRS:
            (self.root / d.lstrip("/")).mkdir(parents=True, exist_ok=True)

    def wipe_user_data(self) -> None:
        """What recovery's ``--wipe_data`` erases: /data (apps, settings, /data/local/tmp), the
        emulated /sdcard and /cache; the read-only partitions stay."""
        for top in USER_DATA:
            host = self.root / top.lstrip("/")
            if host.is_symlink() or host.is_file():
                host.unlink()
            elif host.is_dir():
                shutil.rmtree(host)
        for d in DEFAULT_DIRS:
            (self.root / d.lstrip("/")).mkdir(parents=True, exist_ok=True)

    @staticmethod
    def normalize(path: str, cwd: str = "/") -> str:
        """Absolute, ``..``-free Android path; aliases (``/storage/emulated/0``) folded to one name."""
        joined = posixpath.normpath(posixpath.join(cwd or "/", path or "."))
        if joined.startswith("//"):
            joined = "/" + joined.lstrip("/")
        for alias, target in ALIASES.items():
            if joined == alias or joined.startswith(alias + "/"):
                joined = target + joined[len(alias) :]
        return joined

    def host_path(self, path: str, cwd: str = "/") -> Path:
        """The host file behind an Android path; never outside ``root``."""
        device_path = self.normalize(path, cwd)
        host = self.root / device_path.lstrip("/")
        real = Path(os.path.realpath(host))
        if real != self.root and self.root not in real.parents:
            raise FsError(errno.EACCES, device_path)
        return host

    @staticmethod
    def read_only(device_path: str) -> bool:
        return any(device_path == p or device_path.startswith(p + "/") for p in READ_ONLY)

    def writable_path(self, path: str, cwd: str = "/") -> Path:
        device_path = self.normalize(path, cwd)
        if self.read_only(device_path) and not (self.remounted and not device_path.startswith("/apex")):
            raise FsError(errno.EROFS, device_path)
        return self.host_path(device_path)

    def owner(self, device_path: str) -> int:
        """uid shown for a path: shell owns /data/local/tmp and /sdcard, root the rest."""
        shell_owned = ("/data/local/tmp", "/sdcard")
        if any(device_path == p or device_path.startswith(p + "/") for p in shell_owned):
            return SHELL_UID
        return 0

    # -- conveniences for the handset's own files (not subject to read-only partitions) ------
    def install_file(self, device_path: str, data: bytes | str, mode: int = 0o644) -> None:
        host = self.host_path(device_path)
        host.parent.mkdir(parents=True, exist_ok=True)
        host.write_bytes(data.encode() if isinstance(data, str) else data)
        host.chmod(mode)

    def read_bytes(self, path: str, cwd: str = "/") -> bytes:
        generate = self.generated.get(self.normalize(path, cwd))
        if generate is not None:
            return generate()
        host = self.host_path(path, cwd)
        try:
            return host.read_bytes()
        except IsADirectoryError as exc:
            raise FsError(errno.EISDIR, self.normalize(path, cwd)) from exc
        except FileNotFoundError as exc:
            raise FsError(errno.ENOENT, self.normalize(path, cwd)) from exc
        except PermissionError as exc:
            raise FsError(errno.EACCES, self.normalize(path, cwd)) from exc
