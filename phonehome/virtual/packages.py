"""Installed packages: what ``pm``, ``dumpsys package`` and ``monkey``/``am start`` see."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace

from phonehome.virtual.profile import PackageSpec

FIRST_APP_UID = 10000


@dataclass(frozen=True, slots=True)
class Package:
    name: str
    path: str
    version_name: str
    version_code: int
    system: bool
    enabled: bool
    launcher_activity: str | None
    uid: int
    first_install: float
    last_update: float

    @property
    def launcher_component(self) -> str | None:
        """``pkg/.Activity`` or ``pkg/full.Activity`` for ``am start -n``."""
        if not self.launcher_activity:
            return None
        return f"{self.name}/{self.launcher_activity}"


class PackageTable:
    """Thread-safe map of installed packages; system packages come from the profile."""

    def __init__(self, specs: list[PackageSpec], build_time: float) -> None:
        self._lock = threading.Lock()
        self._packages: dict[str, Package] = {}
        self._next_uid = FIRST_APP_UID
        for spec in specs:
            leaf = spec.name.rsplit(".", 1)[-1]
            self._add(
                Package(
                    name=spec.name,
                    path=spec.path or f"/system/app/{leaf}/{leaf}.apk",
                    version_name=spec.version_name,
                    version_code=spec.version_code,
                    system=spec.system,
                    enabled=spec.enabled,
                    launcher_activity=spec.launcher_activity,
                    uid=0,
                    first_install=build_time,
                    last_update=build_time,
                )
            )

    def _add(self, package: Package) -> Package:
        uid = package.uid or self._next_uid
        if not package.uid:
            self._next_uid += 1
        package = replace(package, uid=uid)
        self._packages[package.name] = package
        return package

    def get(self, name: str) -> Package | None:
        with self._lock:
            return self._packages.get(name)

    def all(self) -> list[Package]:
        with self._lock:
            return sorted(self._packages.values(), key=lambda p: p.name)

    def install(self, name: str, path: str, version_name: str = "1.0", version_code: int = 1) -> Package:
        now = time.time()
        with self._lock:
            old = self._packages.get(name)
            if old is not None:
                new = replace(
                    old, path=path, version_name=version_name, version_code=version_code, last_update=now
                )
                self._packages[name] = new
                return new
            return self._add(Package(name, path, version_name, version_code, False, True, None, 0, now, now))

    def uninstall(self, name: str) -> bool:
        """Removes a user package; system packages cannot be removed (DELETE_FAILED_INTERNAL_ERROR)."""
        with self._lock:
            package = self._packages.get(name)
            if package is None or package.system:
                return False
            del self._packages[name]
            return True

    def set_enabled(self, name: str, enabled: bool) -> bool:
        with self._lock:
            package = self._packages.get(name)
            if package is None:
                return False
            self._packages[name] = replace(package, enabled=enabled)
            return True
