"""Resetting a handset to its first boot: the lifecycle drives Debian's real fastboot client against the
virtual handset's bootloader (its ADB side is a stand-in that forwards to the virtual handset)."""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from phonehome.device.errors import DeviceError, DeviceNotFoundError
from phonehome.device.fastboot import BootloaderLockedError, Fastboot, FastbootError
from phonehome.device.inventory import ResetPlan
from phonehome.device.lifecycle import TEST_HARNESS_DOUBT, Lifecycle
from phonehome.device.transport import ShellResult, shell_join
from phonehome.virtual import VirtualHandset
from phonehome.virtual.testing import RecordingScreen
from tests.unit.virtual.helpers import run_shell

pytestmark = pytest.mark.skipif(
    shutil.which("fastboot") is None,
    reason="no fastboot client: phonehome doctor --install (Debian fastboot)",
)
FLASHED = "Nokia/Onyx_00WW/B2N_sprout:9/PPR1.180610.011/00WW_3_39B:user/release-keys"


class ForwardingHandset:
    """The few ADB calls the lifecycle makes, answered by the virtual handset itself (no adb server)."""

    def __init__(self, virtual: VirtualHandset) -> None:
        self.virtual = virtual
        self.serial = virtual.adb_serial

    def wait_for_device(self, timeout: float = 60.0, step: str = "") -> None:
        deadline = time.monotonic() + timeout
        while not self.virtual.adb_online:
            if time.monotonic() > deadline:
                raise DeviceNotFoundError(self.serial, step, "not online")
            time.sleep(0.05)

    def wait_boot_completed(self, timeout: float = 60.0, step: str = "") -> None:
        self.virtual.wait_boot_completed(timeout)

    @contextlib.contextmanager
    def handle_reboot(self, timeout: float = 60.0) -> Iterator[None]:
        yield
        deadline = time.monotonic() + timeout
        while self.virtual.in_bootloader or not self.virtual.boot_completed:
            assert time.monotonic() < deadline, "the handset did not boot back into Android"
            time.sleep(0.05)

    def reboot_into(self, target: str, *, step: str = "") -> None:
        assert target == "bootloader"
        self.virtual.reboot_bootloader()

    def shell(
        self, argv: list[str], *, step: str = "", check: bool = True, timeout: Any = None
    ) -> ShellResult:
        status, out, err = run_shell(self.virtual, shell_join(argv))
        return ShellResult(shell_join(argv), status, out, err)


def start(tmp_path: Path, **kwargs: Any) -> VirtualHandset:
    handset = VirtualHandset(
        "nokia-7-plus-2019", seed="lifecycle", screen=RecordingScreen(), time_scale=0,
        workdir=tmp_path / "device", **kwargs,
    ).start()  # fmt: skip
    handset.wait_boot_completed(5)
    return handset


@pytest.fixture
def nokia(tmp_path: Path) -> Iterator[VirtualHandset]:
    handset = start(tmp_path)
    yield handset
    handset.stop()


def lifecycle(
    virtual: VirtualHandset, plan: dict[str, Any], *, asked: list[str] | None = None, **kwargs: Any
) -> Lifecycle:
    adb = ForwardingHandset(virtual)
    said = asked if asked is not None else []

    def ask(act: str, instruction: str) -> str:
        said.append(act)
        if act == "power.bootloader":
            virtual.reboot_bootloader()
        return ""

    return Lifecycle(
        ResetPlan.model_validate(plan),
        serial=virtual.adb_serial,
        hardware_serial=kwargs.pop("hardware_serial", virtual.serial),
        adb=kwargs.pop("adb", "at-boot"),
        online=lambda: virtual.adb_online,
        connect=lambda timeout: adb,  # type: ignore[arg-type,return-value]
        ask=ask,
        fastboot=Fastboot(virtual.fastboot_serial),
    )


def test_fastboot_wipe_erases_user_data_and_the_handset_boots_to_its_first_boot(
    nokia: VirtualHandset,
) -> None:
    run_shell(nokia, "settings put secure user_setup_complete 1")
    android_id = nokia.identity.android_id
    record = lifecycle(nokia, {"method": "fastboot-wipe", "timeout": 30}).reset()
    assert record.done == ["adb reboot bootloader", "fastboot -w", "fastboot reboot"]
    assert record.bootloader["unlocked"] == "yes"
    assert record.bootloader["serialno"] == nokia.serial
    assert record.first_boot
    assert record.adb.startswith("re-acquired")
    assert nokia.boot_completed
    assert nokia.identity.android_id != android_id
    assert run_shell(nokia, "settings get secure user_setup_complete")[1].strip() == "0"


def test_a_locked_bootloader_fails_the_reset_step_and_nothing_is_erased(tmp_path: Path) -> None:
    handset = start(tmp_path, bootloader_unlocked=False)
    try:
        run_shell(handset, "settings put secure user_setup_complete 1")
        with pytest.raises(BootloaderLockedError) as caught:
            lifecycle(handset, {"method": "fastboot-wipe", "timeout": 30}).reset()
        assert "the bootloader is locked" in str(caught.value)
        assert "reset to first boot (fastboot-wipe)" in str(caught.value)
        assert "fastboot flashing unlock" in caught.value.hint
        assert not handset.bootloader.wipe_pending
    finally:
        handset.stop()


def test_fastboot_update_flashes_the_batchs_build_and_records_its_digest(
    nokia: VirtualHandset, tmp_path: Path
) -> None:
    build = tmp_path / "B2N-00WW-3.39B.zip"
    with zipfile.ZipFile(build, "w") as out:
        out.writestr("android-info.txt", "require product=B2N_sprout\n")
        out.writestr("boot.img", bytes(4096))
        out.writestr("system.img", f"ro.build.fingerprint={FLASHED}\n")
    record = lifecycle(nokia, {"method": "fastboot-update", "build": str(build), "timeout": 30}).reset()
    assert record.build == str(build)
    assert record.build_sha256 == hashlib.sha256(build.read_bytes()).hexdigest()
    assert record.done[-1] == f"fastboot -w update {build.name}"
    assert run_shell(nokia, "getprop ro.build.fingerprint")[1].strip() == FLASHED


def test_another_handset_in_fastboot_mode_is_not_erased(nokia: VirtualHandset) -> None:
    run_shell(nokia, "settings put secure user_setup_complete 1")
    with pytest.raises(DeviceError, match="not PT-OTHER: nothing was erased"):
        lifecycle(nokia, {"method": "fastboot-wipe", "timeout": 30}, hardware_serial="PT-OTHER").reset()
    assert not nokia.bootloader.wipe_pending


def test_without_adb_the_operator_boots_it_into_the_bootloader_and_adb_is_not_back_until_setup(
    tmp_path: Path,
) -> None:
    handset = start(tmp_path, adb="after-setup")
    try:
        asked: list[str] = []
        record = lifecycle(
            handset, {"method": "fastboot-wipe", "timeout": 30}, asked=asked, adb="after-setup"
        ).reset()
        assert asked == ["power.bootloader"]
        assert record.done[0] == "the operator booted it into the bootloader"
        assert record.adb.startswith("not yet")
        handset.wait_boot_completed(10)
        assert not handset.adb_online
    finally:
        handset.stop()


def test_test_harness_mode_keeps_adb_but_is_no_faithful_first_boot(nokia: VirtualHandset) -> None:
    record = lifecycle(nokia, {"method": "test-harness", "timeout": 30}).reset()
    assert record.done == ["cmd testharness enable"]
    assert not record.first_boot
    assert record.doubts == [TEST_HARNESS_DOUBT]
    assert nokia.adb_online


def test_a_missing_fastboot_client_fails_at_once_saying_how_to_install_it() -> None:
    with pytest.raises(FastbootError, match="cannot run /nonexistent/fastboot") as caught:
        Fastboot("tcp:127.0.0.1:9", binary="/nonexistent/fastboot").wait(30.0, step="wait")
    assert "doctor --install" in caught.value.hint


def test_no_device_in_fastboot_mode_is_not_found_within_the_deadline() -> None:
    started = time.monotonic()
    with pytest.raises(DeviceNotFoundError, match="no device in fastboot mode after 1 s"):
        Fastboot("tcp:127.0.0.1:9").wait(1.0, step="wait for fastboot")
    assert time.monotonic() - started < 10
