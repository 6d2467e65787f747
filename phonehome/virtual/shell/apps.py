"""Package and activity commands: pm, am, monkey, cmd (routing to them)."""

from __future__ import annotations

import io
import zipfile

from phonehome.virtual.broadcasts import FACTORY_RESET, MASTER_CLEAR, protected
from phonehome.virtual.shell.interpreter import CommandFn, Invocation
from phonehome.virtual.state import HandsetState

MAX_MANIFEST = 4 * 1024 * 1024


class AppCommands:
    def __init__(self, state: HandsetState, table: dict[str, CommandFn]) -> None:
        self.state = state
        self.table = table

    # -- pm ---------------------------------------------------------------------------------
    async def pm(self, inv: Invocation) -> int:
        args = inv.args
        verb = args[0] if args else ""
        rest = args[1:]
        if verb == "list" and rest[:1] == ["packages"]:
            return await self._list_packages(inv, rest[1:])
        if verb == "list" and rest[:1] == ["features"]:
            for feature in ("android.hardware.telephony", "android.hardware.wifi", "android.hardware.touchscreen",
                            "android.hardware.location.gps", "android.software.device_admin"):  # fmt: skip
                await inv.out(f"feature:{feature}\n")
            return 0
        if verb == "list" and rest[:1] == ["users"]:
            await inv.out("Users:\n\tUserInfo{0:Owner:c13} running\n")
            return 0
        if verb == "path" and rest:
            package = self.state.packages.get(rest[-1])
            if package is None:
                return 1
            await inv.out(f"package:{package.path}\n")
            return 0
        if verb == "install" and rest:
            return await self._install(inv, rest[-1])
        if verb == "uninstall" and rest:
            name = rest[-1]
            if self.state.packages.uninstall(name):
                await inv.out("Success\n")
                return 0
            await inv.out("Failure [DELETE_FAILED_INTERNAL_ERROR]\n")
            return 1
        if verb == "clear" and rest:
            if self.state.packages.get(rest[-1]) is None:
                await inv.out("Failed\n")
                return 1
            self.state.stopped_packages.add(rest[-1])
            await inv.out("Success\n")
            return 0
        if verb in ("enable", "disable", "disable-user") and rest:
            name = rest[-1]
            if not self.state.packages.set_enabled(name, verb == "enable"):
                await inv.err(f"Error: Unknown package: {name}\n")
                return 255
            state = (
                "enabled" if verb == "enable" else ("disabled-user" if verb == "disable-user" else "disabled")
            )
            await inv.out(f"Package {name} new state: {state}\n")
            return 0
        if verb in ("grant", "revoke", "set-permission-enforced", "trim-caches"):
            return 0
        if verb == "dump" and rest:
            return await inv.session.call(["dumpsys", "package", rest[0]], inv.io, inv.env)
        await inv.err(f"Unknown command: {verb}\n")
        return 255

    async def _list_packages(self, inv: Invocation, args: list[str]) -> int:
        flags = {a for a in args if a.startswith("-")}
        words = [a for a in args if not a.startswith("-") and not a.isdigit()]
        needle = words[0] if words else ""
        for p in self.state.packages.all():
            if ("-3" in flags and p.system) or ("-s" in flags and not p.system):
                continue
            if ("-d" in flags and p.enabled) or ("-e" in flags and not p.enabled):
                continue
            if needle and needle not in p.name:
                continue
            line = f"package:{p.path}={p.name}" if "-f" in flags else f"package:{p.name}"
            if "-U" in flags:
                line += f" uid:{p.uid or 1000}"
            if "-i" in flags:
                line += " installer=null" if p.system else " installer=com.android.shell"
            await inv.out(line + "\n")
        return 0

    async def _install(self, inv: Invocation, path: str) -> int:
        try:
            data = self.state.fs.read_bytes(path, inv.session.cwd)
        except OSError:
            await inv.out(f"Failure [INSTALL_FAILED_INVALID_URI: Can't access {path}]\n")
            return 1
        name = apk_package_name(data)
        if name is None:
            await inv.out("Failure [INSTALL_PARSE_FAILED_NOT_APK: Failed to parse the package]\n")
            return 1
        self.state.packages.install(name, f"/data/app/{name}-1/base.apk")
        await inv.out("Success\n")
        return 0

    # -- am / monkey ------------------------------------------------------------------------
    async def am(self, inv: Invocation) -> int:
        args = inv.args
        verb = args[0] if args else ""
        if verb in ("start", "start-activity"):
            return await self._start(inv, args[1:])
        if verb == "force-stop" and len(args) > 1:
            self.state.stopped_packages.add(args[-1])
            return 0
        if verb == "kill" and len(args) > 1:
            return 0
        if verb == "broadcast":
            return await self._broadcast(inv, args[1:])
        if verb in ("start-service", "startservice", "start-foreground-service"):
            component = _option(args, "-n") or ""
            await inv.out(f"Starting service: Intent {{ cmp={component} }}\n")
            return 0
        if verb == "get-current-user":
            await inv.out("0\n")
            return 0
        if verb in {"stack", "instrument"}:
            return 0
        await inv.err(f"Error: Unknown command: {verb}\n")
        return 255

    async def _broadcast(self, inv: Invocation, args: list[str]) -> int:
        """``am broadcast -a ACTION [-p PKG] [--es KEY VALUE]...``: protected actions need root, as on
        Android; FACTORY_RESET (or MASTER_CLEAR) to package ``android`` wipes the handset."""
        action = _option(args, "-a") or ""
        target = _option(args, "-p") or (_option(args, "-n") or "").split("/")[0]
        shown = f"act={action} flg=0x400000" + (f" pkg={target}" if target else "")
        await inv.out(f"Broadcasting: Intent {{ {shown} }}\n")
        if protected(action) and not self.state.root:
            await inv.err(
                "Exception occurred while executing 'broadcast':\njava.lang.SecurityException: Permission "
                f"Denial: not allowed to send broadcast {action} from pid={inv.session.pid}, uid=2000\n"
                "\tat com.android.server.am.ActivityManagerService.broadcastIntentLocked(ActivityManagerService.java)\n"
            )
            return 255
        await inv.out("Broadcast completed: result=0\n")
        if action in (FACTORY_RESET, MASTER_CLEAR):
            if target == "android":  # MasterClearReceiver is in package android; implicit ones reach no one
                self.state.factory_reset()
            return 0
        extras = {args[i + 1]: args[i + 2] for i in range(len(args) - 2) if args[i] in ("--es", "-e", "--ei")}
        self.state.broadcast(action, extras)
        return 0

    async def _start(self, inv: Invocation, args: list[str]) -> int:
        component = _option(args, "-n")
        action = _option(args, "-a")
        data = _option(args, "-d")
        target = component
        if target is None and args and not args[-1].startswith("-") and "/" in args[-1]:
            target = args[-1]
        intent = " ".join(
            part for part in (f"act={action}" if action else "", f"dat={data}" if data else "",
                              f"cmp={component}" if component else "") if part
        )  # fmt: skip
        await inv.out(f"Starting: Intent {{ {intent} }}\n")
        if target is None:
            return 0
        package, _, activity = target.partition("/")
        if activity.startswith("."):
            activity = package + activity
        if self.state.packages.get(package) is None or not self.state.screen.start_activity(target):
            await inv.err(f"Error type 3\nError: Activity class {{{package}/{activity}}} does not exist.\n")
            return 1
        self.state.stopped_packages.discard(package)
        if "-W" in args:
            await inv.out(f"Status: ok\nLaunchState: COLD\nActivity: {package}/{activity}\n"
                          "TotalTime: 412\nWaitTime: 415\nComplete\n")  # fmt: skip
        return 0

    async def monkey(self, inv: Invocation) -> int:
        package = _option(inv.args, "-p")
        found = self.state.packages.get(package) if package else None
        for arg in inv.args:
            await inv.out(f"  bash arg: {arg}\n")
        if found is None or found.launcher_component is None:
            await inv.out("** No activities found to run, monkey aborted.\n")
            return 251
        self.state.screen.start_activity(found.launcher_component)
        self.state.stopped_packages.discard(found.name)
        await inv.out(
            "Events injected: 1\n## Network stats: elapsed time=13ms (0ms mobile, 0ms wifi, 13ms not connected)\n"
        )
        return 0

    async def cmd(self, inv: Invocation) -> int:
        if not inv.args:
            await inv.err("cmd: No service specified; use -l to list all running services.\n")
            return 20
        routes = {"package": "pm", "activity": "am", "window": "wm", "input": "input", "settings": "settings"}
        target = routes.get(inv.args[0]) or f"cmd:{inv.args[0]}"
        if inv.args[0] == "-l":
            services = [*routes, *(n[4:] for n in self.table if n.startswith("cmd:"))]
            await inv.out("Currently running services:\n" + "".join(f"  {n}\n" for n in services))
            return 0
        if target is None or target not in self.table:
            await inv.err(f"cmd: Can't find service: {inv.args[0]}\n")
            return 20
        return await inv.session.call([target, *inv.args[1:]], inv.io, inv.env)

    def register(self) -> None:
        self.table.update(pm=self.pm, am=self.am, monkey=self.monkey, cmd=self.cmd)


def _option(args: list[str], name: str) -> str | None:
    for i, arg in enumerate(args[:-1]):
        if arg == name:
            return args[i + 1]
    return None


def apk_package_name(data: bytes) -> str | None:
    """The ``package`` attribute of an APK's binary AndroidManifest.xml, or None if it is not an APK."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as apk:
            info = apk.getinfo("AndroidManifest.xml")
            if info.file_size > MAX_MANIFEST:
                return None
            manifest = apk.read(info)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError):
        return None
    from phonehome.virtual.axml import manifest_package  # noqa: PLC0415

    return manifest_package(manifest)
