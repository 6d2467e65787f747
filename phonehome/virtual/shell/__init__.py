"""The handset's Android shell: a small mksh (parser, interpreter) and the commands adb clients use."""

from __future__ import annotations

from phonehome.virtual.shell import builtins, text, toybox
from phonehome.virtual.shell.apps import AppCommands
from phonehome.virtual.shell.bugreport import BugreportCommands
from phonehome.virtual.shell.cmd_services import CmdServices
from phonehome.virtual.shell.dumpsys import Dumpsys
from phonehome.virtual.shell.interpreter import CommandFn, Invocation, Io, ShellSession
from phonehome.virtual.shell.net import NetCommands
from phonehome.virtual.shell.system import SystemCommands
from phonehome.virtual.shell.ui import UiCommands
from phonehome.virtual.state import HandsetState

SHELL_ENV = {
    "PATH": "/product/bin:/apex/com.android.runtime/bin:/apex/com.android.art/bin:/system_ext/bin:"
    "/system/bin:/system/xbin:/odm/bin:/vendor/bin:/vendor/xbin",
    "HOME": "/",
    "TMPDIR": "/data/local/tmp",
    "ANDROID_DATA": "/data",
    "ANDROID_ROOT": "/system",
    "EXTERNAL_STORAGE": "/sdcard",
    "ANDROID_STORAGE": "/storage",
    "HOSTNAME": "localhost",
    "USER": "shell",
    "LOGNAME": "shell",
    "SHELL": "/bin/sh",
}


def build_commands(state: HandsetState) -> dict[str, CommandFn]:
    """The command table of one handset (shared by all its shell sessions)."""
    table: dict[str, CommandFn] = {}
    builtins.register(table)
    toybox.register(table)
    text.register(table)
    SystemCommands(state).register(table)
    table["dumpsys"] = Dumpsys(state)
    AppCommands(state, table).register()
    UiCommands(state).register(table)
    NetCommands(state).register(table)
    CmdServices(state).register(table)
    BugreportCommands(state).register(table)
    return table


def new_session(state: HandsetState, commands: dict[str, CommandFn]) -> ShellSession:
    env = dict(SHELL_ENV)
    env["HOSTNAME"] = state.profile.build.device
    if state.root:
        env["USER"] = env["LOGNAME"] = "root"
    return ShellSession(state.fs, commands, env=env, spawn=state.spawn)


__all__ = ["CommandFn", "Invocation", "Io", "ShellSession", "build_commands", "new_session"]
