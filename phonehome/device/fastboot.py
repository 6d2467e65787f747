"""A handset in its bootloader, through the ``fastboot`` client (Debian's package) with argv lists and deadlines.

One `Fastboot` per device: ``serial`` is what ``fastboot devices`` lists over
USB (the hardware serial) or ``tcp:HOST[:PORT]`` over the network. Every call
has a deadline (the client waits forever for a device that is not there),
and every failure is a `FastbootError` naming the device, the step, the
command, and the device's own ``FAILED (remote: '...')`` text. A locked
bootloader is `BootloaderLockedError`, with what a lab can do about it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

from phonehome.device.errors import DeviceError, DeviceNotFoundError

BINARY = "fastboot"
CALL_TIMEOUT_S = 30.0
PROBE_TIMEOUT_S = 3.0
FLASH_TIMEOUT_S = 600.0
POLL_S = 0.5
INSTALL_HINT = "install the fastboot client: phonehome doctor --install (Debian package fastboot)"
_REMOTE = re.compile(r"FAILED \(remote: '(?P<text>[^']*)'\)")


class FastbootError(DeviceError):
    """A fastboot command that failed; keeps its argv, exit status and output."""

    def __init__(
        self,
        serial: str,
        step: str,
        message: str,
        hint: str = "",
        *,
        argv: list[str] | None = None,
        exit_code: int | None = None,
        output: str = "",
    ) -> None:
        self.argv = list(argv or [])
        self.exit_code = exit_code
        self.output = output
        super().__init__(serial, step, message, hint)


class BootloaderLockedError(FastbootError):
    """The bootloader refuses to erase or flash: it is locked."""


LOCKED_HINT = (
    "unlock the bootloader (fastboot flashing unlock: it wipes the handset, and needs OEM unlocking in "
    "Developer options), or name a reset the handset allows in the inventory (reset: method: recovery | "
    "test-harness | manual)"
)


class Fastboot:
    """The client for one device in fastboot mode."""

    def __init__(self, serial: str, *, binary: str | None = None, timeout: float = CALL_TIMEOUT_S) -> None:
        self.serial = serial
        self.binary = binary
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"<Fastboot {self.serial}>"

    def _binary(self, step: str) -> str:
        found = self.binary or shutil.which(BINARY)
        if found is None:
            raise FastbootError(self.serial, step, "no fastboot client on this host", INSTALL_HINT)
        return found

    def run(self, *args: str, step: str, timeout: float | None = None, check: bool = True) -> str:
        """``fastboot -s SERIAL ARGS``; its output (the client writes to stderr). `FastbootError` on failure."""
        argv = [self._binary(step), "-s", self.serial, *args]
        seconds = timeout or self.timeout
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds, check=False)
        except subprocess.TimeoutExpired as exc:
            raise FastbootError(
                self.serial,
                step,
                f"{' '.join(args)} timed out after {seconds:g} s",
                "is the handset in fastboot mode? (fastboot devices; over TCP: is HOST:PORT right?)",
                argv=argv,
            ) from exc
        except OSError as exc:
            raise FastbootError(
                self.serial, step, f"cannot run {argv[0]}: {exc}", INSTALL_HINT, argv=argv
            ) from exc
        output = (done.stdout or "") + (done.stderr or "")
        if check and done.returncode != 0:
            raise self._failure(step, args, argv, done.returncode, output)
        return output

    def _failure(
        self, step: str, args: tuple[str, ...], argv: list[str], code: int, output: str
    ) -> FastbootError:
        remote = _REMOTE.search(output)
        said = remote.group("text") if remote else _last_line(output)
        message = f"fastboot {' '.join(args)} failed: {said}"
        if remote and "lock" in said.lower():
            return BootloaderLockedError(
                self.serial, step, message, LOCKED_HINT, argv=argv, exit_code=code, output=output
            )
        return FastbootError(self.serial, step, message, argv=argv, exit_code=code, output=output)

    def getvar(self, name: str, *, step: str = "fastboot getvar", timeout: float | None = None) -> str:
        """A bootloader variable (``product``, ``version-bootloader``, ``unlocked``...)."""
        output = self.run("getvar", name, step=step, timeout=timeout)
        for line in output.splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip() == name:
                return value.strip()
        raise FastbootError(self.serial, step, f"getvar {name}: no value in the output: {_last_line(output)}")

    def wait(self, timeout: float, *, step: str = "wait for fastboot") -> None:
        """Until the device answers in fastboot mode (``getvar product``), or `DeviceNotFoundError`."""
        deadline = time.monotonic() + timeout
        last = ""
        while True:
            left = deadline - time.monotonic()
            try:
                self.getvar("product", step=step, timeout=max(min(PROBE_TIMEOUT_S, left), 0.5))
                return
            except FastbootError as exc:
                if exc.argv == [] or (exc.argv and not Path(exc.argv[0]).exists()):
                    raise
                last = exc.message
            if deadline - time.monotonic() <= 0:
                raise DeviceNotFoundError(
                    self.serial,
                    step,
                    f"no device in fastboot mode after {timeout:g} s ({last})",
                    "is it in its bootloader? (hold Volume Down while powering on; fastboot devices lists USB "
                    "ones; over TCP check HOST:PORT)",
                )
            time.sleep(POLL_S)

    def identify(self, *, step: str = "fastboot identify") -> dict[str, str]:
        """``product``, ``version-bootloader``, ``unlocked`` and ``serialno`` as the bootloader reports them."""
        found = {}
        for name in ("product", "version-bootloader", "unlocked", "serialno"):
            try:
                found[name] = self.getvar(name, step=step)
            except FastbootError:
                if name in ("product", "unlocked"):
                    raise
        return found

    def require_unlocked(self, variables: dict[str, str], *, step: str) -> None:
        if variables.get("unlocked", "").lower() not in ("yes", "true"):
            raise BootloaderLockedError(
                self.serial,
                step,
                f"the bootloader is locked (getvar unlocked: {variables.get('unlocked') or 'no answer'}): it "
                "refuses to erase or flash",
                LOCKED_HINT,
            )

    def wipe(self, *, step: str = "fastboot -w") -> str:
        """Erases userdata, cache and metadata (``fastboot -w``); the device stays in fastboot mode."""
        return self.run("-w", step=step, timeout=FLASH_TIMEOUT_S)

    def update(self, build: Path, *, wipe: bool = True, step: str = "fastboot update") -> str:
        """Flashes a build zip (``android-info.txt`` and images), wiping user data too; then it reboots."""
        args = ["-w", "update", str(build)] if wipe else ["update", str(build)]
        return self.run(*args, step=step, timeout=FLASH_TIMEOUT_S)

    def reboot(self, target: str = "", *, step: str = "fastboot reboot") -> str:
        return self.run(*(["reboot", target] if target else ["reboot"]), step=step)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"
