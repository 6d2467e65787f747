"""A handset for scenario unit tests: the virtual Setup Wizard on screen, a small shell, no adb.

It answers the ADB commands the scenario steps send (``settings``,
``getprop``, ``input keyevent``, ``dumpsys power|window|telephony.registry``,
``ip -4 addr show``, ``wm dismiss-keyguard``, ``uiautomator dump``) the way
Android 10+ prints them, and its uiautomator2 sessions are real
``uiautomator2.Device`` objects over the wizard (`VirtualU2`). ``gone()``
makes it vanish the way a real phone does when its cable is pulled.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from phonehome.device.errors import DeviceNotFoundError
from phonehome.device.transport import ShellResult, shell_join
from phonehome.virtual.screen import UiEvent
from phonehome.virtual.ui import SetupWizard, WifiNetwork
from tests.unit.scenario.u2_fake import VirtualU2


@dataclass
class FakeSession:
    device: Any
    running: bool = True

    def stop(self) -> None:
        self.running = False


@dataclass
class FakeHandset:
    flavour: str = "aosp"
    carrier: str | None = "Telenor"
    serial: str = "FAKE0001"
    address: str | None = "192.0.2.10"
    sim_states: list[str] = field(default_factory=lambda: ["READY"])
    data_state: int = 2
    commands: list[str] = field(default_factory=list)
    events: list[UiEvent] = field(default_factory=list)
    settings: dict[tuple[str, str], str] = field(default_factory=dict)
    awake: bool = True
    keyguard: bool = False
    keyguard_reported: bool = True
    sessions: list[FakeSession] = field(default_factory=list)
    reboots: int = 0
    _gone: bool = False

    def __post_init__(self) -> None:
        self.wizard = SetupWizard(
            self.flavour, carrier=self.carrier, networks=[WifiNetwork("phonehome-bench")], time_scale=0
        )
        self.wizard.subscribe(self._on_ui)

    def _on_ui(self, event: UiEvent) -> None:
        self.events.append(event)
        if event.kind == "setup-complete":
            self.settings[("secure", "user_setup_complete")] = "1"
            self.settings[("global", "device_provisioned")] = "1"

    def gone(self) -> None:
        """The handset drops off ADB: every command and RPC fails as a pulled cable makes them."""
        self._gone = True
        for session in self.sessions:
            session.device.broken = ConnectionResetError("transport closed")

    # -- the device layer's surface -------------------------------------------------------------
    def shell(
        self, argv: Sequence[str], *, timeout: float | None = None, step: str = "shell", check: bool = True
    ) -> ShellResult:
        cmd = shell_join(list(argv))
        self.commands.append(cmd)
        if self._gone:
            raise DeviceNotFoundError(self.serial, step, f"the connection dropped during {cmd}", "")
        code, out = self._answer(list(argv))
        result = ShellResult(cmd, code, out, "")
        if check and code != 0:
            raise AssertionError(f"fake shell: {cmd} exited {code}")
        return result

    def getprop(self, name: str, *, timeout: float | None = None, step: str = "getprop") -> str:
        return self.shell(["getprop", name], step=step).stdout.strip()

    def wait_boot_completed(self, timeout: float = 1.0, step: str = "boot") -> None:
        if self._gone:
            raise DeviceNotFoundError(self.serial, step, "gone", "")

    @contextlib.contextmanager
    def handle_reboot(self, timeout: float = 1.0) -> Iterator[None]:
        yield
        self.reboots += 1

    def uiautomator2(self, timeout: float = 60.0) -> FakeSession:
        session = FakeSession(VirtualU2(self.wizard))
        self.sessions.append(session)
        return session

    # -- what the shell answers -----------------------------------------------------------------
    def _answer(self, argv: list[str]) -> tuple[int, str]:
        match argv:
            case ["settings", "get", namespace, key]:
                return 0, self.settings.get((namespace, key), "null") + "\n"
            case ["getprop", "gsm.sim.state"]:
                return 0, ",".join(self.sim_states) + "\n"
            case ["getprop", "gsm.sim.operator.numeric"]:
                return 0, "24201\n"
            case ["getprop", "ro.build.type"]:
                return 0, "userdebug\n"
            case ["getprop", _]:
                return 0, "\n"
            case ["input", "keyevent", key]:
                if key == "KEYCODE_SLEEP":
                    self.awake, self.keyguard = False, True
                elif key == "KEYCODE_WAKEUP":
                    self.awake = True
                return 0, ""
            case ["wm", "dismiss-keyguard"]:
                self.keyguard = False
                return 0, ""
            case ["dumpsys", "power"]:
                return 0, f"POWER MANAGER\n  mWakefulness={'Awake' if self.awake else 'Asleep'}\n"
            case ["dumpsys", "window"]:
                if not self.keyguard_reported:
                    return 0, "WINDOW MANAGER WINDOWS\n"
                return 0, f"  KeyguardController:\n    mKeyguardShowing={str(self.keyguard).lower()}\n"
            case ["dumpsys", "telephony.registry"]:
                return 0, f"  Phone Id=0\n  mDataConnectionState={self.data_state}\n"
            case ["ip", "-4", "addr", "show"]:
                lines = ["1: lo: <LOOPBACK,UP>", "    inet 127.0.0.1/8 scope host lo"]
                if self.address:
                    lines += [
                        "3: wlan0: <UP>",
                        f"    inet {self.address}/24 brd 192.0.2.255 scope global wlan0",
                    ]
                return 0, "\n".join(lines) + "\n"
            case ["uiautomator", "dump", "/dev/tty"]:
                return 0, self.wizard.hierarchy_xml() + "UI hierchary dumped to: /dev/tty\n"
            case ["am", "broadcast", *_]:
                return 0, "Broadcast completed: result=0\n"
        return 127, ""
