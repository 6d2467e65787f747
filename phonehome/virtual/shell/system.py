"""Android system commands: getprop, setprop, settings, service, logcat, ps, svc, reboot, uname."""

from __future__ import annotations

import contextlib
import time

from phonehome.virtual import parcel
from phonehome.virtual.properties import SETTINGS_NAMESPACES
from phonehome.virtual.shell import logcat
from phonehome.virtual.shell.interpreter import CommandFn, Invocation
from phonehome.virtual.state import HandsetState

SHELL_SETTABLE = ("persist.", "debug.", "log.", "vendor.debug.", "ctl.", "service.adb.")
SERVICES = {
    "iphonesubinfo": "com.android.internal.telephony.IPhoneSubInfo",
    "phone": "com.android.internal.telephony.ITelephony",
    "package": "android.content.pm.IPackageManager",
    "activity": "android.app.IActivityManager",
    "window": "android.view.IWindowManager",
    "wifi": "android.net.wifi.IWifiManager",
    "location": "android.location.ILocationManager",
    "settings": "",
    "power": "android.os.IPowerManager",
    "battery": "",
    "display": "android.hardware.display.IDisplayManager",
    "input": "android.hardware.input.IInputManager",
    "telephony.registry": "com.android.internal.telephony.ITelephonyRegistry",
    "input_method": "com.android.internal.view.IInputMethodManager",
}


class SystemCommands:
    """Commands that read or change the handset's system state."""

    def __init__(self, state: HandsetState) -> None:
        self.state = state

    async def getprop(self, inv: Invocation) -> int:
        args = [a for a in inv.args if not a.startswith("-")]
        if not args:
            for name, value in self.state.props.items():
                await inv.out(f"[{name}]: [{value}]\n")
            return 0
        default = args[1] if len(args) > 1 else ""
        await inv.out(self.state.props.get(args[0], default) + "\n")
        return 0

    async def setprop(self, inv: Invocation) -> int:
        if len(inv.args) != 2:
            await inv.err("setprop: Need 2 arguments\n")
            return 1
        name, value = inv.args
        if name.startswith("ro.") or not name.startswith(SHELL_SETTABLE):
            await inv.err(f"Failed to set property '{name}' to '{value}'.\nSee dmesg for error reason.\n")
            return 1
        self.state.props.set(name, value)
        return 0

    async def settings(self, inv: Invocation) -> int:
        args = list(inv.args)
        while args and args[0] in ("--user", "--lineage"):
            args = args[2:] if args[0] == "--user" else args[1:]
        if len(args) < 2 or args[1] not in SETTINGS_NAMESPACES:
            await inv.err(
                "usage:  settings [--user <USER_ID> | current] get namespace key\n"
                "        settings [--user <USER_ID> | current] put namespace key value\n"
                "        settings [--user <USER_ID> | current] delete namespace key\n"
                "        settings [--user <USER_ID> | current] list namespace\n"
                "\n'namespace' is one of {system, secure, global}, case-insensitive\n"
            )
            return 255
        verb, namespace, rest = args[0], args[1].lower(), args[2:]
        store = self.state.settings
        if verb == "get" and rest:
            value = store.get(namespace, rest[0])
            await inv.out(("null" if value is None else value) + "\n")
            return 0
        if verb == "put" and len(rest) >= 2:
            store.put(namespace, rest[0], rest[1])
            return 0
        if verb == "delete" and rest:
            await inv.out(f"Deleted {1 if store.delete(namespace, rest[0]) else 0} rows\n")
            return 0
        if verb == "list":
            for key, value in store.items(namespace):
                await inv.out(f"{key}={value}\n")
            return 0
        await inv.err(f"Invalid command: {verb}\n")
        return 255

    async def service(self, inv: Invocation) -> int:
        args = inv.args
        if args[:1] == ["list"]:
            await inv.out(f"Found {len(SERVICES)} services:\n")
            for i, (name, iface) in enumerate(SERVICES.items()):
                await inv.out(f"{i}\t{name}: [{iface}]\n")
            return 0
        if args[:1] == ["check"] and len(args) == 2:
            found = "found" if args[1] in SERVICES else "not found"
            await inv.out(f"Service {args[1]}: {found}\n")
            return 0
        if args[:1] != ["call"] or len(args) < 3:
            await inv.err("Usage: service [-h|-?]\n       service list\n       service check SERVICE\n"
                          "       service call SERVICE CODE [i32 N | i64 N | f N | d N | s16 STR | null | fd f"
                          " | nfd n | afd f ] ...\n")  # fmt: skip
            return 0
        name, code_text = args[1], args[2]
        if name not in SERVICES:
            await inv.err(f"service: Service {name} does not exist\n")
            return 0
        try:
            code = int(code_text, 0)
        except ValueError:
            await inv.err(f"service: Code {code_text} is not an integer\n")
            return 0
        ints = _int_arguments(args[3:])
        if name != "iphonesubinfo":
            await inv.out(parcel.format_parcel(parcel.string_reply(None)[:4]) + "\n")
            return 0
        await inv.out(self._iphonesubinfo(code, ints) + "\n")
        return 0

    def _iphonesubinfo(self, code: int, ints: list[int]) -> str:
        method = parcel.method_for(self.state.sdk, code)
        if method is None or method not in parcel.METHOD_FIELDS:
            return parcel.format_error(parcel.UNKNOWN_TRANSACTION, "Not a data message")
        kind, index = parcel.METHOD_FIELDS[method]
        if kind in parcel.PROTECTED_FIELDS and not self.state.profile.shell_reads_identifiers:
            reason = (
                "getDeviceId"
                if kind == "imei"
                else method.replace("ForSubscriber", "").replace("WithFeature", "")
            )
            message = f"{reason}: The user 2000 does not meet the requirements to access device identifiers."
            return parcel.format_parcel(parcel.exception_reply(parcel.EX_SECURITY, message))
        slot = 0
        if index == "phone" and ints:
            slot = ints[0]
        elif index == "subscription" and ints:
            slot = ints[0] - 1  # subscription ids start at 1 for the first SIM
        return parcel.format_parcel(parcel.string_reply(self._identifier(kind, slot)))

    def _identifier(self, kind: str, slot: int) -> str | None:
        ident = self.state.identity
        if kind == "imei":
            return ident.imeis[slot] if 0 <= slot < len(ident.imeis) else None
        if kind == "svn":
            return ident.svn
        sim = next((s for s in ident.sims if s.slot == slot), None)
        if sim is None:
            return None
        return {
            "imsi": sim.imsi,
            "iccid": sim.iccid,
            "msisdn": sim.msisdn,
            "alpha": None,
            "gid1": None,
            "voicemail": None,
            "nai": None,
        }.get(kind)

    async def logcat(self, inv: Invocation) -> int:
        return await logcat.logcat(self.state.logs, inv)

    async def svc(self, inv: Invocation) -> int:
        args = inv.args
        if len(args) >= 2 and args[0] in ("wifi", "data") and args[1] in ("enable", "disable"):
            key = "wifi_on" if args[0] == "wifi" else "mobile_data"
            on = args[1] == "enable"
            self.state.settings.put("global", key, "1" if on else "0")
            if args[0] == "wifi":
                self.state.wifi.enabled = on
            return 0
        if len(args) >= 2 and args[0] in ("power", "usb", "nfc", "bluetooth"):
            return 0
        await inv.err("Available commands:\n    help     Show information about the subcommands\n"
                      "    power    Control the power manager\n    data     Control mobile data connectivity\n"
                      "    wifi     Control the Wi-Fi manager\n    usb      Control Usb state\n")  # fmt: skip
        return 0

    async def reboot(self, inv: Invocation) -> int:
        reason = inv.args[0] if inv.args else ""
        self.state.reboot(reason)
        return 0

    async def recovery(self, inv: Invocation) -> int:
        """``recovery --wipe_data`` as root (``adb root`` on a userdebug build): a factory reset."""
        if not self.state.root:
            await inv.err(f"/system/bin/sh: {inv.argv[0]}: can't execute: Permission denied\n")
            return 126
        if "--wipe_data" not in inv.args:
            await inv.err("recovery: only --wipe_data is supported here (or: adb reboot recovery)\n")
            return 1
        self.state.logs.log("I", "recovery", "--wipe_data requested over adb", pid=1)
        self.state.factory_reset()
        return 0

    async def ps(self, inv: Invocation) -> int:
        await inv.out(
            "USER           PID  PPID     VSZ    RSS WCHAN            ADDR S NAME                       \n"
        )
        for user, pid, ppid, name in self._processes():
            await inv.out(
                f"{user:<10} {pid:>6} {ppid:>5} {12345678:>8} {45678:>6} 0                   0 S {name}\n"
            )
        return 0

    def _processes(self) -> list[tuple[str, int, int, str]]:
        procs = [
            ("root", 1, 0, "init"),
            ("root", 2, 0, "[kthreadd]"),
            ("logd", 412, 1, "logd"),
            ("root", 560, 1, "zygote64"),
            ("shell", 581, 1, "adbd"),
            ("system", 1024, 560, "system_server"),
            ("radio", 1530, 560, "com.android.phone"),
            ("u0_a40", 1602, 560, "com.google.android.gms.persistent"),
        ]
        pid = 2000
        for package in self.state.packages.all():
            if package.launcher_activity and package.name not in self.state.stopped_packages:
                procs.append((f"u0_a{pid % 100}", pid, 560, package.name))
                pid += 17
        for port, owner in sorted(self.state.services.ports().items()):
            procs.append(("shell", 5000 + port % 1000, 581, owner or f"listener:{port}"))
        procs.append(("shell", 4242, 581, "sh"))
        procs.append(("shell", 4243, 4242, "ps"))
        return procs

    async def kill(self, inv: Invocation) -> int:
        return 0

    async def uname(self, inv: Invocation) -> int:
        kernel = "4.4.153-perf+" if self.state.sdk < 30 else "5.10.157-android13-4"
        if "-a" in inv.args:
            await inv.out(f"Linux localhost {kernel} #1 SMP PREEMPT {time.ctime()} aarch64\n")
        elif "-r" in inv.args:
            await inv.out(kernel + "\n")
        elif "-m" in inv.args:
            await inv.out("aarch64\n")
        else:
            await inv.out("Linux\n")
        return 0

    async def uptime(self, inv: Invocation) -> int:
        up = int(self.state.uptime())
        await inv.out(
            f" {time.strftime('%H:%M:%S')} up {up // 60} min,  0 users,  load average: 0.52, 0.40, 0.33\n"
        )
        return 0

    async def ime(self, inv: Invocation) -> int:
        ime_id = self.state.settings.get("secure", "default_input_method") or ""
        if inv.args[:1] == ["list"]:
            await inv.out(ime_id + "\n")
            return 0
        if inv.args[:1] in (["enable"], ["disable"], ["set"]) and len(inv.args) > 1:
            if inv.args[0] == "set":
                self.state.settings.put("secure", "default_input_method", inv.args[1])
            verb = {"enable": "enabled", "disable": "disabled", "set": "selected"}[inv.args[0]]
            await inv.out(f"Input method {inv.args[1]}: {verb}\n")
            return 0
        return 0

    def register(self, table: dict[str, CommandFn]) -> None:
        table.update(
            getprop=self.getprop,
            setprop=self.setprop,
            settings=self.settings,
            service=self.service,
            logcat=self.logcat,
            svc=self.svc,
            reboot=self.reboot,
            recovery=self.recovery,
            ps=self.ps,
            kill=self.kill,
            uname=self.uname,
            uptime=self.uptime,
            ime=self.ime,
        )


def _int_arguments(args: list[str]) -> list[int]:
    """The ``i32 N`` arguments of ``service call``, in order (strings are skipped)."""
    out, i = [], 0
    while i < len(args):
        if args[i] in ("i32", "i64") and i + 1 < len(args):
            with contextlib.suppress(ValueError):
                out.append(int(args[i + 1], 0))
            i += 2
        elif args[i] in ("s16", "f", "d", "fd", "nfd", "afd") and i + 1 < len(args):
            i += 2
        else:
            i += 1
    return out
