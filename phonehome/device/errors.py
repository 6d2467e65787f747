"""Errors of the device layer: each names the handset, the step and what to do next (Mobly-style).

``str(error)`` reads ``<Handset SERIAL> STEP: WHAT (HINT)``, e.g.
``<Handset 0123ABC> read identity: service call iphonesubinfo 1 timed out after 10 s
(is the device still connected? adb devices -l)``. A failed command keeps its
argv, exit code, stdout and stderr so a report can show exactly what ran.
"""

from __future__ import annotations

CHECK_CONNECTED = "is the device still connected? adb devices -l"


class DeviceError(Exception):
    """A handset that did not do what a step needed."""

    def __init__(self, serial: str, step: str, message: str, hint: str = "") -> None:
        self.serial = serial
        self.step = step
        self.message = message
        self.hint = hint
        text = f"<Handset {serial}> {step}: {message}"
        super().__init__(f"{text} ({hint})" if hint else text)


class AdbTimeoutError(DeviceError):
    """An adb call that did not finish before its deadline."""


class AdbServerError(DeviceError):
    """The adb server could not be reached or refused a host request."""


class DeviceNotFoundError(DeviceError):
    """The serial is not (or no longer) listed by the adb server: unplugged, rebooting, or never there."""


class DeviceStateError(DeviceError):
    """The serial is listed but not usable: ``unauthorized``, ``offline``, ``recovery``..."""

    def __init__(self, serial: str, step: str, state: str, hint: str = "") -> None:
        self.state = state
        super().__init__(serial, step, f"the device is '{state}', not 'device'", hint or _state_hint(state))


class AdbCommandError(DeviceError):
    """A shell command that exited non-zero (or a device service that refused)."""

    def __init__(
        self,
        serial: str,
        step: str,
        cmd: str,
        *,
        exit_code: int | None,
        stdout: str,
        stderr: str,
        hint: str = "",
    ) -> None:
        self.cmd = cmd
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr
        code = "an unknown status" if exit_code is None else str(exit_code)
        detail = f"{cmd} exited {code} (stdout: {_excerpt(stdout)}, stderr: {_excerpt(stderr)})"
        super().__init__(serial, step, detail, hint)


def _excerpt(text: str, limit: int = 300) -> str:
    text = text.strip()
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _state_hint(state: str) -> str:
    return {
        "unauthorized": "unlock the handset and accept the 'Allow USB debugging' prompt for this host's key",
        "offline": "adb lost the device; replug it or run adb reconnect (for host:port serials: adb connect)",
        "recovery": "the device is in recovery; boot it to Android",
        "bootloader": "the device is in the bootloader; boot it to Android (fastboot reboot)",
        "sideload": "the device waits for a sideload; boot it to Android",
    }.get(state, "check adb devices -l")
