"""fastboot on the virtual handset: the TCP protocol, the bootloader's state, the listener.

``adb reboot bootloader`` (or ``VirtualHandset.reboot_bootloader``) takes the
handset into fastboot mode, where the real ``fastboot -s tcp:127.0.0.1:PORT``
client erases, flashes and reboots it, as it does a phone over USB.
"""

from phonehome.virtual.fastboot.bootloader import Bootloader, parse_build_prop
from phonehome.virtual.fastboot.protocol import FastbootConnection, FastbootFailure, Reboot
from phonehome.virtual.fastboot.server import FastbootServer, free_port

__all__ = [
    "Bootloader",
    "FastbootConnection",
    "FastbootFailure",
    "FastbootServer",
    "Reboot",
    "free_port",
    "parse_build_prop",
]
