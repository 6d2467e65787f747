"""Commands that drive the `Screen`: input, wm, screencap, uiautomator dump, and the uiautomator2 server.

``CLASSPATH=/data/local/tmp/u2.jar app_process / com.wetest.uia2.Main -p PORT``
(uiautomator2's launch) starts the uiautomator2 server on device port PORT and
runs until its shell stream closes, as the Java server does; a second launch
while one runs fails with the "already registered" message uiautomator2 knows.
"""

from __future__ import annotations

import asyncio
import io
import struct

from phonehome.virtual.screen import Screen
from phonehome.virtual.services import TcpHandler
from phonehome.virtual.shell.interpreter import CommandFn, Invocation
from phonehome.virtual.state import HandsetState

U2_MAIN = "com.wetest.uia2.Main"
U2_OWNER = "uiautomator"
DEFAULT_DUMP = "/sdcard/window_dump.xml"


def key_name(token: str) -> str | int:
    """``KEYCODE_HOME``/``HOME``/``home`` -> ``"home"``; ``3`` -> 3 (Screen.press_key takes either)."""
    if token.isdigit():
        return int(token)
    name = token.upper()
    name = name.removeprefix("KEYCODE_")
    return name.lower()


class UiCommands:
    def __init__(self, state: HandsetState) -> None:
        self.state = state

    @property
    def screen(self) -> Screen:
        return self.state.screen

    async def input(self, inv: Invocation) -> int:
        args = list(inv.args)
        while args and args[0] in ("-d", "--display") and len(args) > 1:
            args = args[2:]
        if args and args[0] in ("touchscreen", "touchpad", "keyboard", "mouse", "dpad", "stylus"):
            args = args[1:]
        verb, rest = (args[0], args[1:]) if args else ("", [])
        try:
            if verb == "tap" and len(rest) >= 2:
                self.screen.tap(int(float(rest[0])), int(float(rest[1])))
            elif verb in ("swipe", "draganddrop") and len(rest) >= 4:
                x1, y1, x2, y2 = (int(float(v)) for v in rest[:4])
                duration = int(rest[4]) if len(rest) > 4 else 300
                self.screen.swipe(x1, y1, x2, y2, duration)
            elif verb == "text" and rest:
                # `input text` turns %s into a space (frameworks/base cmds/input)
                self.screen.input_text(" ".join(rest).replace("%s", " "))
            elif verb == "keyevent" and rest:
                for token in rest:
                    if token.startswith("--"):
                        continue
                    self.screen.press_key(key_name(token))
            elif verb == "press":
                self.screen.press_key("dpad_center")
            else:
                await inv.err(
                    "Usage: input [<source>] [-d DISPLAY_ID] <command> [<arg>...]\n\nThe commands and default"
                    " sources are:\n      text <string> (Default: touchscreen)\n      keyevent [--longpress]"
                    " <key code number or name> ... (Default: keyboard)\n      tap <x> <y> (Default:"
                    " touchscreen)\n      swipe <x1> <y1> <x2> <y2> [duration(ms)] (Default: touchscreen)\n"
                )
                return 1
        except ValueError as exc:
            await inv.err(f"Error: {exc}\n")
            return 1
        return 0

    async def wm(self, inv: Invocation) -> int:
        w, h = self.screen.display_size()
        verb = inv.args[0] if inv.args else ""
        if verb == "size":
            await inv.out(f"Physical size: {w}x{h}\n")
            return 0
        if verb == "density":
            await inv.out(f"Physical density: {self.state.profile.display_density}\n")
            return 0
        if verb == "dismiss-keyguard":  # WindowManagerShellCommand: silent, whatever the state
            self.state.display.dismiss_keyguard()
            return 0
        await inv.err(f"Error: unknown command '{verb}'\n")
        return 255

    async def screencap(self, inv: Invocation) -> int:
        png = "-p" in inv.args
        files = [a for a in inv.args if not a.startswith("-")]
        if files and files[0].endswith(".png"):
            png = True
        image = self.screen.screenshot("png")
        data = image if png else _raw_framebuffer(image)
        if files:
            try:
                self.state.fs.writable_path(files[0], inv.session.cwd).write_bytes(data)
            except OSError as exc:
                return await inv.fail(f"Error opening file: {files[0]} ({exc.strerror})")
            return 0
        await inv.out(data)
        return 0

    async def uiautomator(self, inv: Invocation) -> int:
        args = inv.args
        if args[:1] != ["dump"]:
            await inv.err("Usage: uiautomator <subcommand> [options]\n\nAvailable subcommands:\n\n"
                          "help: displays help message\n\nruntest: executes UI automation tests\n\n"
                          "dump: creates an XML dump of current UI hierarchy\n\nevents: prints out accessibility events\n")  # fmt: skip
            return 1
        targets = [a for a in args[1:] if not a.startswith("--")]
        target = targets[0] if targets else DEFAULT_DUMP
        xml = self.screen.hierarchy_xml()
        if target == "/dev/tty":
            await inv.out(xml)
        else:
            try:
                self.state.fs.writable_path(target, inv.session.cwd).write_text(xml, encoding="utf-8")
            except OSError as exc:
                await inv.err(f"ERROR: could not write {target}: {exc.strerror}\n")
                return 1
        await inv.out(f"UI hierchary dumped to: {target}\n")
        return 0

    async def app_process(self, inv: Invocation) -> int:
        classpath = inv.env.get("CLASSPATH", "")
        args = inv.args
        main = next((a for a in args if "." in a and not a.startswith("-") and a != "/"), "")
        if main != U2_MAIN:
            await inv.err(f"Error: Could not find class '{main}'\n" if main else "Error: no class name or --zygote supplied.\n")  # fmt: skip
            return 1
        jar = classpath.split(":")[0]
        try:
            if not jar or not self.state.fs.host_path(jar).is_file():
                raise FileNotFoundError(jar)
        except OSError:
            await inv.err(f"Error: Could not find class '{main}'\n")
            return 1
        port = 9008
        if "-p" in args:
            try:
                port = int(args[args.index("-p") + 1])
            except (IndexError, ValueError):
                await inv.err("Error: invalid port\n")
                return 1
        if self.state.services.owner(port) is not None:
            await inv.out(
                "[server] INFO: [UiAutomator2Server] Starting Server\n"
                "java.lang.IllegalStateException: UiAutomationService android.accessibilityservice."
                "IAccessibilityServiceClient$Stub$Proxy@5deffd5already registered!\n"
            )
            return 1
        handler = self._uiautomator_handler()
        if handler is None:
            await inv.err(f"Error: Could not find class '{main}' (no uiautomator2 server in this build)\n")
            return 1
        self.state.services.register(port, handler, U2_OWNER)
        try:
            await inv.out("[server] INFO: [UiAutomator2Server] Starting Server\n")
            while True:  # until the shell stream is closed (uiautomator2's stop) or the handset stops
                await asyncio.sleep(3600)
        finally:
            self.state.services.unregister(port, handler)

    def _uiautomator_handler(self) -> TcpHandler | None:
        try:
            from phonehome.virtual.uiautomator import UiAutomatorServer  # noqa: PLC0415
        except ImportError:
            return None
        server = UiAutomatorServer(self.state.screen)
        handler: TcpHandler = server.serve
        return handler

    def register(self, table: dict[str, CommandFn]) -> None:
        table.update(
            input=self.input,
            wm=self.wm,
            screencap=self.screencap,
            uiautomator=self.uiautomator,
            app_process=self.app_process,
        )


def _raw_framebuffer(png: bytes) -> bytes:
    """``screencap`` without -p: width, height, format (1 = RGBA_8888), then pixels."""
    from PIL import Image  # noqa: PLC0415  (Pillow comes with adbutils; only raw captures need it)

    with Image.open(io.BytesIO(png)) as img:
        rgba = img.convert("RGBA")
        return struct.pack("<III", rgba.width, rgba.height, 1) + rgba.tobytes()
