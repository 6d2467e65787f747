"""``cmd wifi`` and ``cmd testharness``: joining a bench's access point, and Test Harness Mode.

What Android 11+ answers (AOSP ``WifiShellCommand``): ``connect-network SSID
open|owe|wpa2|wpa3 [PASSPHRASE]`` prints ``Connection initiated`` and the
handset associates (``cmd wifi status`` and ``dumpsys wifi`` then name the
SSID); older releases do not know the command. ``cmd testharness enable``
(Android 10+, ``TestHarnessModeService``) wipes user data keeping the ADB
keys and skips setup at the next boot.
"""

from __future__ import annotations

import hashlib

from phonehome.virtual.shell.interpreter import CommandFn, Invocation
from phonehome.virtual.state import HandsetState

SECURITY = ("open", "owe", "wpa2", "wpa3")
WIFI_CONNECT_SDK = 30
TEST_HARNESS_SDK = 29


def bssid_for(ssid: str) -> str:
    """A stable, locally administered BSSID for an SSID the handset joined (no radio to ask)."""
    digest = hashlib.sha256(ssid.encode("utf-8", "surrogateescape")).digest()
    return "02:" + ":".join(f"{b:02x}" for b in digest[:5])


class CmdServices:
    """The ``cmd`` services beyond the package and activity managers."""

    def __init__(self, state: HandsetState) -> None:
        self.state = state

    async def wifi(self, inv: Invocation) -> int:
        args = inv.args
        verb = args[0] if args else ""
        if verb == "connect-network" and self.state.sdk >= WIFI_CONNECT_SDK:
            return await self._connect(inv, args[1:])
        if verb == "status":
            wifi = self.state.wifi
            if not wifi.enabled:
                await inv.out("Wifi is disabled\n")
            elif wifi.ssid:
                await inv.out(f'Wifi is enabled\nWifi is connected to "{wifi.ssid}"\n')
            else:
                await inv.out("Wifi is enabled\nWifi is not connected\n")
            return 0
        if verb == "list-networks":
            await inv.out("Network Id      SSID                         Security type\n")
            for number, (ssid, security) in enumerate(self.state.wifi_networks.items()):
                await inv.out(f"{number:<16}{ssid:<29}{security}\n")
            return 0
        await inv.err(f"Unknown command: {verb}\n" if verb else "Wi-Fi (wifi) commands: ...\n")
        return 255

    async def _connect(self, inv: Invocation, args: list[str]) -> int:
        if len(args) < 2 or args[1] not in SECURITY:
            await inv.err("Error: connect-network SSID open|owe|wpa2|wpa3 [PASSPHRASE]\n")
            return 255
        ssid, security = args[0], args[1]
        passphrase = args[2] if len(args) > 2 else ""
        if security in ("wpa2", "wpa3") and not 8 <= len(passphrase) <= 63:
            await inv.err("Error: a WPA passphrase is 8 to 63 characters\n")
            return 255
        wifi = self.state.wifi
        if not wifi.enabled or self.state.settings.get("global", "wifi_on") == "0":
            await inv.out("Connection failed\n")
            return 0
        self.state.wifi_networks[ssid] = security
        wifi.ssid, wifi.bssid = ssid, bssid_for(ssid)
        self.state.logs.log(
            "I", "WifiService", f"connect-network {ssid!r} ({security}) from the shell", pid=1024
        )
        await inv.out("Connection initiated \n")
        return 0

    async def testharness(self, inv: Invocation) -> int:
        verb = inv.args[0] if inv.args else ""
        if self.state.sdk < TEST_HARNESS_SDK:
            await inv.err("cmd: Can't find service: testharness\n")
            return 20
        if verb not in ("enable", "restore"):
            await inv.err("Test Harness Mode Commands:\n  enable|restore\n")
            return 255
        self.state.logs.log("I", "TestHarnessModeService", "Test Harness Mode enabled: wiping", pid=1024)
        self.state.test_harness()
        return 0

    def register(self, table: dict[str, CommandFn]) -> None:
        """Registered as ``cmd:NAME``, which ``cmd NAME ...`` routes to (not a command of its own)."""
        table.update({"cmd:wifi": self.wifi, "cmd:testharness": self.testharness})
