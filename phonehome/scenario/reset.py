"""The step that takes a handset back to its first boot by the method its lab names (fastboot, recovery...).

The run hands the scenario a way to reset each handset (`Context.lifecycle`,
built from the inventory's ``reset:`` entry, `phonehome.device.lifecycle`);
the step runs it while the capture runs, so the boot after the wipe is the one
the capture sees. The record (method, bootloader variables, the build flashed
and its SHA-256, how ADB came back) goes into the scenario's results.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from phonehome.scenario.context import Context
from phonehome.scenario.model import Detail, StepFailed, StepKind
from phonehome.scenario.steps import BOOT_NOT_CAPTURED

NONE_NAMED = "none: the inventory names no reset method for this handset"


@dataclass
class Reset:
    """Resets by ``method`` (``fastboot-wipe``, ``fastboot-update``, ``recovery``, ``test-harness``,
    ``manual``), or by the inventory's method when ``method`` is None; with no method named anywhere it
    records that it did nothing (the first boot's doubt then stays)."""

    method: str | None = None
    label: str = "reset to first boot"
    kind: StepKind = "automated"

    def __post_init__(self) -> None:
        if self.method == "manual":
            self.kind = "manual"

    def run(self, ctx: Context) -> Detail | None:
        lifecycle = ctx.lifecycle(self.method)
        if lifecycle is None:
            if self.method is None:
                return {"reset": NONE_NAMED}
            raise StepFailed(
                f"reset {self.method}: this run has no way to reset the handset (no inventory entry for it?)"
            )
        record: Any = lifecycle.reset()
        for doubt in record.doubts:
            ctx.doubt(doubt)
        if record.first_boot and BOOT_NOT_CAPTURED in ctx.doubts:
            ctx.doubts.remove(BOOT_NOT_CAPTURED)  # the boot after the wipe is the one the capture saw
        if record.adb.startswith("not yet"):
            ctx.adb_gone = True
        detail: dict[str, object] = record.detail()
        ctx.reports.setdefault("resets", []).append(detail)
        return {
            "reset": record.method,
            "bootloader_unlocked": record.bootloader.get("unlocked"),
            "bootloader_version": record.bootloader.get("version-bootloader"),
            "reset_build": record.build,
            "reset_adb": record.adb,
        }
