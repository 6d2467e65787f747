"""A handset over ADB (adbutils): connection, identity with provenance, build identity, lifecycle.

    handset = Handset.connect("0123ABC")                  # or "127.0.0.1:40123" (adb connect)
    report = handset.read_identity(load_inventory(Path("devices/inventory.yaml")))
    report.identity        # phonehome.policy.Identity for leak detection
    print(report.table())  # every value with its source; report.conflicts, report.unread
    build = handset.read_build()                          # fingerprint, patch, region props, packages
    with handset.reboot():                                # back with sys.boot_completed=1
        ...
    with handset.uiautomator2() as d:                     # uiautomator2.Device, TCP_NODELAY on
        d(text="Skip").click()

It speaks only ADB, so it cannot tell the virtual handset from a phone.
"""

from phonehome.device.adb import AdbServer, DeviceEntry, adb_binary, bundled_adb, pin_adb_binary
from phonehome.device.build import BuildIdentity, build_from, read_build
from phonehome.device.errors import (
    AdbCommandError,
    AdbServerError,
    AdbTimeoutError,
    DeviceError,
    DeviceNotFoundError,
    DeviceStateError,
)
from phonehome.device.handset import Handset
from phonehome.device.identity import (
    BENCH,
    DUMPSYS,
    GETPROP,
    INVENTORY,
    IP_LINK,
    SERVICE_CALL,
    SETTINGS,
    Conflict,
    IdentityReport,
    Reading,
    Unread,
    merge,
)
from phonehome.device.inventory import Inventory, InventoryEntry, load_inventory
from phonehome.device.reader import Shell, read_identity
from phonehome.device.transport import ShellResult
from phonehome.device.uiauto import UiSession

__all__ = [
    "BENCH",
    "DUMPSYS",
    "GETPROP",
    "INVENTORY",
    "IP_LINK",
    "SERVICE_CALL",
    "SETTINGS",
    "AdbCommandError",
    "AdbServer",
    "AdbServerError",
    "AdbTimeoutError",
    "BuildIdentity",
    "Conflict",
    "DeviceEntry",
    "DeviceError",
    "DeviceNotFoundError",
    "DeviceStateError",
    "Handset",
    "IdentityReport",
    "Inventory",
    "InventoryEntry",
    "Reading",
    "Shell",
    "ShellResult",
    "UiSession",
    "Unread",
    "adb_binary",
    "build_from",
    "bundled_adb",
    "load_inventory",
    "merge",
    "pin_adb_binary",
    "read_build",
    "read_identity",
]
