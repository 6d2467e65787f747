"""Everything a running virtual handset knows, in one place the shell's commands share.

The handset (`phonehome.virtual.handset`) builds one `HandsetState` per boot
of its storage (it survives reboots; a factory reset would make a new one) and
hands it to the shell commands, the sync service and the ADB services.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from phonehome.virtual.fs import DeviceFs
from phonehome.virtual.identity import HandsetIdentity
from phonehome.virtual.logs import LogBuffer
from phonehome.virtual.packages import PackageTable
from phonehome.virtual.profile import Profile
from phonehome.virtual.properties import PropertyStore, SettingsStore
from phonehome.virtual.screen import Screen
from phonehome.virtual.services import LocalServices


@dataclass
class WifiState:
    """The Wi-Fi association as ``dumpsys wifi`` reports it (the bench's AP sets it)."""

    enabled: bool = True
    ssid: str | None = None
    bssid: str | None = None
    frequency_mhz: int = 2437
    rssi: int = -55


@dataclass
class HandsetState:
    profile: Profile
    identity: HandsetIdentity
    props: PropertyStore
    settings: SettingsStore
    fs: DeviceFs
    packages: PackageTable
    screen: Screen
    services: LocalServices
    logs: LogBuffer
    netns: str | None = None
    wifi: WifiState = field(default_factory=WifiState)
    booted_at: float = field(default_factory=time.monotonic)
    reboot: Callable[[str], None] = lambda reason: None
    spawn: Callable[[Coroutine[Any, Any, Any]], asyncio.Task[Any]] = asyncio.ensure_future
    stopped_packages: set[str] = field(default_factory=set)

    @property
    def wifi_mac(self) -> str:
        """The MAC the Wi-Fi interface uses: per-network randomized on Android 10+ when enabled."""
        if self.profile.uses_randomized_mac:
            return self.identity.wifi_mac_randomized
        return self.identity.wifi_mac

    @property
    def sdk(self) -> int:
        return self.profile.build.sdk

    def uptime(self) -> float:
        return time.monotonic() - self.booted_at
