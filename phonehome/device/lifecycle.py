"""A handset's way back to its first boot, by the method the lab's inventory names, and ADB after it.

One class per reset method (``fastboot-wipe``, ``fastboot-update``,
``recovery``, ``test-harness``, ``manual``), registered in `METHODS`; an
inventory cannot name another (`phonehome.device.inventory.ResetPlan`).
`Lifecycle` gives them what they share: the handset over ADB when it is
there, the fastboot client, and a person for the acts only hands can do
(``ask``). After the reset ADB is re-acquired (over USB the serial stays; a
``HOST:PORT`` serial is connected again) and the boot waited for, unless the
handset's ADB exists only after setup (a retail build): then the record
says ADB is not back, and the scenario's first boot is a person's.

It speaks only ADB and fastboot, so it cannot tell a virtual handset from a phone.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar, Protocol

from phonehome.device.errors import DeviceError
from phonehome.device.fastboot import Fastboot, FastbootError
from phonehome.device.handset import Handset, is_network_serial
from phonehome.device.inventory import AdbMode, ResetPlan

Ask = Callable[[str, str], str]
"""``ask(act, instruction)``: a person does the act (or the run's stand-in does); returns what they typed."""
BOOTLOADER_ACT = "power.bootloader"
"""Boot the handset into its bootloader (fastboot mode) by hand: off, then Volume Down + Power."""
FACTORY_RESET_ACT = "factory-reset"
STEP = "reset to first boot"
FASTBOOT_WAIT_S = 120.0
ROOT_WAIT_S = 30.0
ONLINE_S = 5.0
TEST_HARNESS_DOUBT = (
    "the handset was reset with Test Harness Mode: it skips the Setup Wizard and its consent screens and turns "
    "off auto-sync, auto-updates and package verification, so this was not a faithful first boot"
)


class ResetRefused(DeviceError):
    """The reset could not begin (another unit in fastboot mode, no ADB for a method that needs it, no build
    to flash): nothing was erased. A locked bootloader is `BootloaderLockedError`, also before any erase."""


@dataclass
class ResetRecord:
    """What a reset did, for the scenario's record and the lab's report."""

    method: str
    done: list[str] = field(default_factory=list)
    """Each act and command, in order."""
    bootloader: dict[str, str] = field(default_factory=dict)
    """What ``fastboot getvar`` reported before anything was erased."""
    build: str | None = None
    build_sha256: str | None = None
    adb: str = ""
    """How ADB came back (or that it did not, on a build whose ADB runs only after setup)."""
    first_boot: bool = True
    """False when the method skips setup (Test Harness Mode)."""
    doubts: list[str] = field(default_factory=list)

    def detail(self) -> dict[str, object]:
        """The step's detail: the marker takes its scalars, ``scenario.json`` all of it."""
        return {f"reset_{k}" if k in ("build", "adb") else k: v for k, v in asdict(self).items()}


class Method(Protocol):
    name: ClassVar[str]

    def run(self, lc: Lifecycle) -> ResetRecord: ...


class Lifecycle:
    """Resets one handset to its first boot (``plan``) and brings ADB back.

    ``serial`` is the adb serial, ``hardware_serial`` the inventory's (what ``fastboot getvar serialno``
    must say). ``online`` and ``connect`` reach the handset over ADB (the run's own); ``ask`` is a person.
    """

    def __init__(
        self,
        plan: ResetPlan,
        *,
        serial: str,
        hardware_serial: str,
        adb: AdbMode,
        online: Callable[[], bool],
        connect: Callable[[float], Handset],
        ask: Ask,
        fastboot: Fastboot | None = None,
    ) -> None:
        self.plan = plan
        self.serial = serial
        self.hardware_serial = hardware_serial
        self.adb = adb
        self.online = online
        self.connect = connect
        self.ask = ask
        self.fastboot = fastboot or Fastboot(plan.fastboot_serial or hardware_serial)

    def __repr__(self) -> str:
        return f"<Lifecycle {self.serial} {self.plan.method}>"

    def reset(self) -> ResetRecord:
        """Back to the first boot by the plan's method; a `DeviceError` names the step and what to do."""
        return METHODS[self.plan.method]().run(self)

    def failed(self, message: str, hint: str = "") -> ResetRefused:
        return ResetRefused(self.serial, f"{STEP} ({self.plan.method})", message, hint)

    # -- what the methods share -----------------------------------------------------------------------
    def handset(self) -> Handset | None:
        """The handset over ADB if it answers now (its transport re-pinned: it may have rebooted since)."""
        if not self.online():
            return None
        handset = self.connect(self.plan.timeout)
        try:
            handset.wait_for_device(ONLINE_S, step=STEP)
        except DeviceError:
            return None
        return handset

    @contextlib.contextmanager
    def around_reboot(self, record: ResetRecord, adb: AdbMode | None = None) -> Iterator[Handset | None]:
        """Around what takes the handset out of Android and back: afterwards ADB is re-acquired and the new
        boot completed, unless ADB exists only after setup."""
        mode = adb or self.adb
        handset = self.handset()
        if handset is not None and mode == "at-boot":
            with handset.handle_reboot(self.plan.timeout):
                yield handset
        else:
            yield handset
            if mode == "at-boot":
                handset = self.connect(self.plan.timeout)
                handset.wait_for_device(self.plan.timeout, step=STEP)
                handset.wait_boot_completed(self.plan.timeout, step=STEP)
        if mode == "after-setup":
            record.adb = "not yet: this build's ADB runs only once setup is done and USB debugging enabled"
        elif is_network_serial(self.serial):
            record.adb = f"re-acquired: adb connect {self.serial} after the boot"
        else:
            record.adb = f"re-acquired: {self.serial} came back over USB"

    def into_bootloader(self, record: ResetRecord, handset: Handset | None) -> None:
        if handset is not None:
            handset.reboot_into("bootloader", step=STEP)
            record.done.append("adb reboot bootloader")
            return
        self.ask(
            BOOTLOADER_ACT,
            "Boot the handset into its bootloader (fastboot mode): switch it off, then hold Volume Down and "
            "Power until the bootloader screen shows. It must be cabled to this host (USB) or reachable at "
            f"{self.fastboot.serial}.",
        )
        record.done.append("the operator booted it into the bootloader")

    def fastboot_ready(self, record: ResetRecord, *, unlocked: bool = True) -> None:
        """Waits for fastboot mode, reads the bootloader, checks it is this handset (and unlocked)."""
        step = f"{STEP} ({self.plan.method})"
        self.fastboot.wait(FASTBOOT_WAIT_S, step=step)
        record.bootloader = self.fastboot.identify(step=step)
        serial = record.bootloader.get("serialno")
        if serial and serial != self.hardware_serial:
            raise self.failed(
                f"the device in fastboot mode at {self.fastboot.serial} is {serial}, not {self.hardware_serial}: "
                "nothing was erased",
                "check which handset is cabled to this fastboot serial (reset: fastboot_serial: in the inventory)",
            )
        if unlocked:
            self.fastboot.require_unlocked(record.bootloader, step=step)


class FastbootWipe:
    """``adb reboot bootloader`` (or the operator), ``fastboot -w``, ``fastboot reboot``."""

    name: ClassVar[str] = "fastboot-wipe"

    def run(self, lc: Lifecycle) -> ResetRecord:
        record = ResetRecord(self.name)
        with lc.around_reboot(record) as handset:
            lc.into_bootloader(record, handset)
            lc.fastboot_ready(record)
            self.write(lc, record)
        return record

    def write(self, lc: Lifecycle, record: ResetRecord) -> None:
        step = f"{STEP} ({self.name})"
        lc.fastboot.wipe(step=step)
        lc.fastboot.reboot(step=step)
        record.done += ["fastboot -w", "fastboot reboot"]


class FastbootUpdate(FastbootWipe):
    """The batch's build flashed and user data wiped (``fastboot -w update BUILD.zip``), then it reboots."""

    name: ClassVar[str] = "fastboot-update"

    def write(self, lc: Lifecycle, record: ResetRecord) -> None:
        build = lc.plan.build
        if build is None or not build.is_file():
            raise lc.failed(
                f"the build zip {build} does not exist", "reset: build: in the inventory names it"
            )
        record.build, record.build_sha256 = str(build), _sha256(build)
        lc.fastboot.update(build, wipe=True, step=f"{STEP} ({self.name})")
        record.done.append(f"fastboot -w update {build.name}")


class RecoveryWipe:
    """``adb root`` and ``recovery --wipe_data`` (a userdebug or eng build)."""

    name: ClassVar[str] = "recovery"

    def run(self, lc: Lifecycle) -> ResetRecord:
        record = ResetRecord(self.name)
        handset = lc.handset()
        if handset is None:
            raise lc.failed(
                "the handset does not answer over ADB, and recovery --wipe_data needs ADB as root",
                "switch it on with USB debugging enabled, or name another reset method in the inventory",
            )
        answer = handset.root(step=STEP)
        record.done.append(f"adb root: {answer}")
        if "cannot run as root" in answer:
            raise lc.failed(
                f"adb root refused ({answer}): a user build has no root",
                "name another reset method in the inventory (fastboot-wipe, manual)",
            )
        _wait_root(handset)
        with lc.around_reboot(record) as again:
            assert again is not None
            again.shell(["recovery", "--wipe_data"], step=STEP)
            record.done.append("recovery --wipe_data")
        return record


class TestHarnessReset:
    """``cmd testharness enable``: a wipe that keeps ADB and skips setup (for post-setup scenarios)."""

    name: ClassVar[str] = "test-harness"

    def run(self, lc: Lifecycle) -> ResetRecord:
        record = ResetRecord(self.name, first_boot=False, doubts=[TEST_HARNESS_DOUBT])
        if lc.handset() is None:
            raise lc.failed(
                "the handset does not answer over ADB, and Test Harness Mode is enabled over ADB",
                "switch it on with USB debugging enabled, or name another reset method in the inventory",
            )
        # Test Harness Mode keeps the workstation's ADB keys and ADB itself, whatever the build.
        with lc.around_reboot(record, adb="at-boot") as handset:
            assert handset is not None
            handset.shell(["cmd", "testharness", "enable"], step=STEP)
            record.done.append("cmd testharness enable")
        return record


class ManualReset:
    """A person resets the handset (Settings > System > Reset, or the lab's own way), prompted."""

    name: ClassVar[str] = "manual"

    def run(self, lc: Lifecycle) -> ResetRecord:
        record = ResetRecord(self.name)
        with lc.around_reboot(record):
            lc.ask(
                FACTORY_RESET_ACT,
                "Factory-reset the handset (Settings > System > Reset options > Erase all data), and let it "
                "restart. Press Enter once it shows the first screen of its Setup Wizard.",
            )
            record.done.append("the operator erased it")
        return record


METHODS: dict[str, type[Method]] = {
    m.name: m for m in (FastbootWipe, FastbootUpdate, RecoveryWipe, TestHarnessReset, ManualReset)
}


def _wait_root(handset: Handset) -> None:
    """adbd restarts as root and drops the transport: until a shell says uid 0."""
    import time  # noqa: PLC0415

    deadline = time.monotonic() + ROOT_WAIT_S
    while True:
        with contextlib.suppress(DeviceError):
            handset.wait_for_device(max(deadline - time.monotonic(), 1.0), step=STEP)
            if handset.shell(["id", "-u"], step=STEP, check=False).stdout.strip() == "0":
                return
        if time.monotonic() > deadline:
            raise DeviceError(handset.serial, STEP, f"adbd is not running as root after {ROOT_WAIT_S:g} s")
        time.sleep(0.3)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


__all__ = [
    "BOOTLOADER_ACT",
    "FACTORY_RESET_ACT",
    "METHODS",
    "TEST_HARNESS_DOUBT",
    "FastbootError",
    "Lifecycle",
    "ResetRecord",
    "ResetRefused",
]
