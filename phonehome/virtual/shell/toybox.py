"""The toybox commands adb clients use on files and text, with toybox's output formats."""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import stat
import time

from phonehome.virtual.fs import FsError
from phonehome.virtual.shell.args import err_text, parse_flags
from phonehome.virtual.shell.interpreter import CommandFn, Invocation

TOYBOX_COMMANDS = frozenset(
    {"ls", "cat", "rm", "mkdir", "touch", "cp", "mv", "chmod", "md5sum", "sha1sum", "sha256sum", "grep",
     "head", "tail", "wc", "date", "id", "whoami", "env", "sleep", "echo", "printf", "true", "false",
     "which", "ps", "kill", "uname", "ifconfig", "test", "sh", "pwd", "uptime", "seq", "sort", "uniq", "cut",
     "tr"}
)  # fmt: skip


def _mode_string(mode: int) -> str:
    return stat.filemode(mode)


def _owner_name(uid: int) -> str:
    return {0: "root", 2000: "shell", 1000: "system"}.get(uid, str(uid))


async def ls(inv: Invocation) -> int:
    flags, paths = parse_flags(inv.args, "laAd1RhtrsFn")
    fs, cwd = inv.session.fs, inv.session.cwd
    status = 0
    targets = paths or ["."]
    for i, target in enumerate(targets):
        device_path = fs.normalize(target, cwd)
        try:
            host = fs.host_path(device_path)
            st = host.lstat()
        except (FsError, OSError):
            await inv.err(f"ls: {target}: No such file or directory\n")
            status = 1
            continue
        if stat.S_ISDIR(st.st_mode) and "d" not in flags:
            names = sorted(os.listdir(host))
            if "a" in flags:
                names = [".", "..", *names]
            elif "A" not in flags:
                names = [n for n in names if not n.startswith(".")]
            if len(targets) > 1:
                await inv.out(("\n" if i else "") + f"{target}:\n")
            entries = [(n, host / n if n not in (".", "..") else host) for n in names]
        else:
            entries = [(target, host)]
        for name, path in entries:
            if "l" in flags or "n" in flags:
                try:
                    est = path.lstat()
                except OSError:
                    continue
                owner = _owner_name(fs.owner(fs.normalize(name, device_path)))
                stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(est.st_mtime))
                await inv.out(
                    f"{_mode_string(est.st_mode)} 1 {owner} {owner} {est.st_size:>8} {stamp} {name}\n"
                )
            else:
                await inv.out(name + "\n")
    return status


async def cat(inv: Invocation) -> int:
    if not inv.args or inv.args == ["-"]:
        await inv.out(await inv.stdin())
        return 0
    status = 0
    for name in inv.args:
        if name == "-":
            await inv.out(await inv.stdin())
            continue
        try:
            await inv.out(inv.session.fs.read_bytes(name, inv.session.cwd))
        except FsError as exc:
            await inv.err(f"cat: {name}: {err_text(exc)}\n")
            status = 1
    return status


async def rm(inv: Invocation) -> int:
    flags, paths = parse_flags(inv.args, "rRfv")
    fs, status = inv.session.fs, 0
    if not paths and "f" not in flags:
        return await inv.fail("Needs 1 argument")
    for name in paths:
        try:
            host = fs.writable_path(name, inv.session.cwd)
            if host.is_dir() and not host.is_symlink():
                if not flags & {"r", "R"}:
                    raise FsError(errno.EISDIR, name)
                shutil.rmtree(host)
            else:
                host.unlink()
        except FileNotFoundError:
            if "f" not in flags:
                await inv.err(f"rm: {name}: No such file or directory\n")
                status = 1
        except FsError as exc:
            if not ("f" in flags and exc.errno == errno.ENOENT):
                await inv.err(f"rm: {name}: {err_text(exc)}\n")
                status = 1
    return status


async def mkdir(inv: Invocation) -> int:
    flags, paths = parse_flags(inv.args, "pv")
    status = 0
    for name in paths:
        try:
            host = inv.session.fs.writable_path(name, inv.session.cwd)
            host.mkdir(parents="p" in flags, exist_ok="p" in flags)
        except FileExistsError:
            await inv.err(f"mkdir: '{name}': File exists\n")
            status = 1
        except (FsError, OSError) as exc:
            await inv.err(f"mkdir: '{name}': {err_text(exc)}\n")
            status = 1
    return status


async def touch(inv: Invocation) -> int:
    status = 0
    for name in [a for a in inv.args if not a.startswith("-")]:
        try:
            inv.session.fs.writable_path(name, inv.session.cwd).touch()
        except (FsError, OSError) as exc:
            await inv.err(f"touch: '{name}': {err_text(exc)}\n")
            status = 1
    return status


async def cp_mv(inv: Invocation) -> int:
    _, paths = parse_flags(inv.args, "rRfpa")
    if len(paths) < 2:
        return await inv.fail("Needs 2 arguments")
    fs, cwd = inv.session.fs, inv.session.cwd
    *sources, dest = paths
    try:
        dest_host = fs.writable_path(dest, cwd)
        for source in sources:
            src_host = fs.host_path(source, cwd)
            target = dest_host / src_host.name if dest_host.is_dir() else dest_host
            if inv.name == "mv":
                fs.writable_path(source, cwd)
                os.replace(src_host, target)
            elif src_host.is_dir():
                shutil.copytree(src_host, target, dirs_exist_ok=True)
            else:
                shutil.copyfile(src_host, target)
    except (FsError, OSError) as exc:
        return await inv.fail(f"{err_text(exc)}")
    return 0


async def chmod(inv: Invocation) -> int:
    _, args = parse_flags(inv.args, "R")
    if len(args) < 2:
        return await inv.fail("Needs 2 arguments")
    try:
        mode = int(args[0], 8)
    except ValueError:
        return await inv.fail(f"bad mode '{args[0]}'")
    for name in args[1:]:
        try:
            inv.session.fs.writable_path(name, inv.session.cwd).chmod(mode)
        except (FsError, OSError) as exc:
            return await inv.fail(f"{name}: {err_text(exc)}")
    return 0


def _digest(algorithm: str) -> CommandFn:
    async def run(inv: Invocation) -> int:
        _, names = parse_flags(inv.args, "bcs")
        if not names:
            digest = hashlib.new(algorithm, await inv.stdin()).hexdigest()
            await inv.out(f"{digest}  -\n")
            return 0
        status = 0
        for name in names:
            try:
                host = inv.session.fs.host_path(name, inv.session.cwd)
                h = hashlib.new(algorithm)
                with host.open("rb") as f:
                    while block := f.read(1 << 20):
                        h.update(block)
                await inv.out(f"{h.hexdigest()}  {name}\n")
            except IsADirectoryError:
                await inv.err(f"{inv.name}: {name}: Is a directory\n")
                status = 1
            except (FsError, OSError) as exc:
                await inv.err(f"{inv.name}: {name}: {err_text(exc)}\n")
                status = 1
        return status

    return run


async def toybox(inv: Invocation) -> int:
    if not inv.args:
        names = sorted(n for n in inv.session.commands if n in TOYBOX_COMMANDS)
        await inv.out(" ".join(names) + "\n")
        return 0
    if inv.args[0] not in TOYBOX_COMMANDS or inv.args[0] not in inv.session.commands:
        await inv.err(f"toybox: Unknown command {inv.args[0]}\n")
        return 1
    return await inv.session.call(inv.args, inv.io, inv.env)


# -- text -------------------------------------------------------------------------------------
async def input_text(inv: Invocation, names: list[str]) -> tuple[str, int]:
    if not names:
        return (await inv.stdin()).decode("utf-8", "replace"), 0
    chunks, status = [], 0
    for name in names:
        try:
            chunks.append(inv.session.fs.read_bytes(name, inv.session.cwd).decode("utf-8", "replace"))
        except FsError as exc:
            await inv.err(f"{inv.name}: {name}: {err_text(exc)}\n")
            status = 2
    return "".join(chunks), status


async def grep(inv: Invocation) -> int:
    args = list(inv.args)
    flags: set[str] = set()
    patterns: list[str] = []
    operands: list[str] = []
    while args:
        arg = args.pop(0)
        if arg == "-e" and args:
            patterns.append(args.pop(0))
        elif arg.startswith("-") and len(arg) > 1 and not operands:
            flags.update(arg[1:])
        else:
            operands.append(arg)
    if not patterns:
        if not operands:
            return await inv.fail("no pattern", 2)
        patterns.append(operands.pop(0))
    text, status = await input_text(inv, operands)
    re_flags = re.IGNORECASE if "i" in flags else 0
    try:
        regexes = [re.compile(re.escape(p) if "F" in flags else p, re_flags) for p in patterns]
    except re.error:
        regexes = [re.compile(re.escape(p), re_flags) for p in patterns]
    matched = [line for line in text.splitlines() if any(r.search(line) for r in regexes) != ("v" in flags)]
    if "c" in flags:
        await inv.out(f"{len(matched)}\n")
    elif "q" not in flags:
        for line in matched:
            await inv.out(line + "\n")
    if status:
        return status
    return 0 if matched else 1


def _count_option(args: list[str], default: int) -> tuple[int, list[str]]:
    rest, count = [], default
    it = iter(args)
    for arg in it:
        if arg == "-n":
            count = int(next(it, str(default)))
        elif re.fullmatch(r"-n?\d+", arg):
            count = int(arg.lstrip("-n"))
        else:
            rest.append(arg)
    return count, rest


async def head_tail(inv: Invocation) -> int:
    try:
        count, names = _count_option(inv.args, 10)
    except ValueError:
        return await inv.fail("bad count")
    text, status = await input_text(inv, names)
    lines = text.splitlines(keepends=True)
    chosen = lines[:count] if inv.name == "head" else lines[-count:] if count else []
    await inv.out("".join(chosen))
    return status


async def wc(inv: Invocation) -> int:
    flags, names = parse_flags(inv.args, "lwc")
    text, status = await input_text(inv, names)
    counts = {"l": text.count("\n"), "w": len(text.split()), "c": len(text.encode())}
    shown = [str(counts[f]) for f in "lwc" if f in flags] or [str(counts[f]) for f in "lwc"]
    await inv.out(" ".join(shown) + "\n")
    return status


async def date(inv: Invocation) -> int:
    fmt = next((a[1:] for a in inv.args if a.startswith("+")), "%a %b %d %H:%M:%S %Z %Y")
    await inv.out(time.strftime(fmt, time.localtime()) + "\n")
    return 0


async def log_(inv: Invocation) -> int:
    return 0


def register(table: dict[str, CommandFn]) -> None:
    """Adds the toybox file and text commands to a command table."""
    table.update(
        {
            "ls": ls,
            "cat": cat,
            "rm": rm,
            "mkdir": mkdir,
            "touch": touch,
            "cp": cp_mv,
            "mv": cp_mv,
            "chmod": chmod,
            "md5sum": _digest("md5"),
            "md5": _digest("md5"),
            "sha1sum": _digest("sha1"),
            "sha256sum": _digest("sha256"),
            "toybox": toybox,
            "grep": grep,
            "head": head_tail,
            "tail": head_tail,
            "wc": wc,
            "date": date,
        }
    )
