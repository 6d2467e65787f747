"""Everything a running virtual handset knows, in one place the shell's commands share.

The handset (`phonehome.virtual.handset`) builds one `HandsetState` when it
is first powered on and hands it to the shell commands, the sync service and
the ADB services. It survives reboots; a factory reset wipes what lives in
user data (settings, files, installed apps, the identifiers kept there) in
place, so every holder of the state sees the wiped handset.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from phonehome.virtual.broadcasts import BroadcastLog
from phonehome.virtual.fs import DeviceFs
from phonehome.virtual.identity import HandsetIdentity
from phonehome.virtual.logs import LogBuffer
from phonehome.virtual.net.procnet import SocketTable
from phonehome.virtual.packages import PackageTable
from phonehome.virtual.profile import Profile
from phonehome.virtual.properties import PropertyStore, SettingsStore
from phonehome.virtual.screen import Screen
from phonehome.virtual.services import LocalServices
from phonehome.virtual.ui.display import Display


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
    display: Display
    """The panel (power, keyguard) over the UI; what the shell and uiautomator2 drive."""
    services: LocalServices
    logs: LogBuffer
    netns: str | None = None
    wifi: WifiState = field(default_factory=WifiState)
    booted_at: float = field(default_factory=time.monotonic)
    reboot: Callable[[str], None] = lambda reason: None
    factory_reset: Callable[[], None] = lambda: None
    """Reboots into recovery, which wipes user data (``recovery --wipe_data``, FACTORY_RESET)."""
    test_harness: Callable[[], None] = lambda: None
    """``cmd testharness enable``: a wipe that keeps ADB and skips setup at the next boot."""
    wifi_networks: dict[str, str] = field(default_factory=dict)
    """Networks saved by ``cmd wifi connect-network``: SSID -> security (user data: wiped)."""
    broadcast: Callable[[str, dict[str, str]], None] = lambda action, extras: None
    """Sends a system broadcast (recorded in ``broadcasts``, heard by firmware behaviour)."""
    broadcasts: BroadcastLog = field(default_factory=BroadcastLog)
    spawn: Callable[[Coroutine[Any, Any, Any]], asyncio.Task[Any]] = asyncio.ensure_future
    stopped_packages: set[str] = field(default_factory=set)
    sockets: SocketTable = field(default_factory=SocketTable)
    """The sockets the firmware's apps opened: ``/proc/net/tcp``... (`phonehome.virtual.net.procnet`)."""

    @property
    def screen(self) -> Screen:
        """What ADB and uiautomator2 see and touch: the display."""
        return self.display

    @property
    def root(self) -> bool:
        """Whether adbd runs as root (``adb root`` on a userdebug or eng build)."""
        return self.props.get("service.adb.root") == "1"

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
