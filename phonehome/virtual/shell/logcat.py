"""``logcat`` of the virtual handset: buffers (``-b``), formats (``-v``), start times (``-t``/``-T``).

Follows Android's logcat usage text: several ``-b``/``-v`` options or comma
lists, ``-b all``/``default``, format verbs (brief, long, process, raw, tag,
thread, threadtime, time) and adverbs (UTC, year, zone, epoch, usec; the
others are accepted and change nothing here). ``-T``/``-t`` take a count, or a
time as ``sssss.mmm`` (epoch seconds), ``MM-DD hh:mm:ss.mmm`` or ``YYYY-MM-DD
hh:mm:ss.mmm`` (read in UTC under ``-v UTC``), and include lines at that time.
"""

from __future__ import annotations

import calendar
import re
import time
from dataclasses import dataclass, field

from phonehome.virtual.logs import BUFFERS, DEFAULT_BUFFERS, LogBuffer, LogEntry
from phonehome.virtual.shell.interpreter import Invocation

VERBS = ("brief", "long", "process", "raw", "tag", "thread", "threadtime", "time")
ADVERBS = ("color", "descriptive", "epoch", "monotonic", "printable", "uid", "usec", "UTC", "year", "zone")
_STAMP = re.compile(r"(?:(\d{4})-)?(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?")
_EPOCH = re.compile(r"(\d+)\.(\d{1,9})")
FOLLOW_WAIT_S = 5.0


class UsageError(ValueError):
    """An option logcat refuses; the message is what it prints."""


@dataclass
class Options:
    buffers: set[str] = field(default_factory=lambda: set(DEFAULT_BUFFERS))
    verb: str = "threadtime"
    adverbs: set[str] = field(default_factory=set)
    dump: bool = False
    clear: bool = False
    count: int | None = None
    start: float | None = None


def parse(args: list[str], now: float | None = None) -> Options:
    """logcat's options; raises `UsageError` on one it does not know or cannot read."""
    opts = Options()
    chosen: set[str] = set()
    starts: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        name, value = arg, None
        if arg.startswith("--") and "=" in arg:
            name, value = arg.split("=", 1)
        elif len(arg) > 2 and arg[:2] in ("-b", "-v", "-t", "-T"):
            name, value = arg[:2], arg[2:]
        if name in ("-b", "--buffer", "-v", "--format", "-t", "-T"):
            if value is None:
                i += 1
                if i >= len(args):
                    raise UsageError(f"option requires an argument -- '{name.lstrip('-')[:1]}'")
                value = args[i]
            if name in ("-b", "--buffer"):
                chosen |= _buffers(value)
            elif name in ("-v", "--format"):
                _format(opts, value)
            else:
                opts.dump = opts.dump or name == "-t"
                starts.append(value)
        elif arg in ("-d",):
            opts.dump = True
        elif arg in ("-c", "--clear"):
            opts.clear = True
        elif arg in ("-D", "--dividers", "-s") or not arg.startswith("-"):
            pass  # dividers, and filter specs (TAG:PRIORITY): every line passes here
        else:
            raise UsageError(f"unknown option -- '{arg}'")
        i += 1
    if chosen:
        opts.buffers = chosen
    for value in starts:
        if value.isdigit():
            opts.count = int(value)
        else:
            opts.start = parse_time(value, utc="UTC" in opts.adverbs, now=now)
    return opts


def _buffers(value: str) -> set[str]:
    out: set[str] = set()
    for name in filter(None, re.split(r"[,\s]+", value)):
        if name == "all":
            out |= set(BUFFERS)
        elif name == "default":
            out |= set(DEFAULT_BUFFERS)
        elif name in BUFFERS:
            out.add(name)
        else:
            raise UsageError(f"unknown buffer '{name}'")
    return out


def _format(opts: Options, value: str) -> None:
    for word in filter(None, re.split(r"[,\s]+", value)):
        if word in VERBS:
            opts.verb = word
        elif word in ADVERBS:
            opts.adverbs.add(word)
        else:
            raise UsageError(f"Invalid parameter '{word}' to -v")


def parse_time(text: str, *, utc: bool, now: float | None = None) -> float:
    """A ``-t``/``-T`` time as epoch seconds (a date without a year is in the current one)."""
    epoch = _EPOCH.fullmatch(text.strip())
    if epoch:
        return int(epoch.group(1)) + int(epoch.group(2).ljust(9, "0")) / 1e9
    m = _STAMP.fullmatch(text.strip())
    if not m:
        raise UsageError(
            f"-T '{text}' is not a time: 'MM-DD hh:mm:ss.mmm', 'YYYY-MM-DD hh:mm:ss.mmm' or 'sssss.mmm'"
        )
    year = int(m.group(1)) if m.group(1) else time.gmtime(now).tm_year
    fields = (year, int(m.group(2)), int(m.group(3)), int(m.group(4)), int(m.group(5)), int(m.group(6)))
    fraction = int((m.group(7) or "0").ljust(9, "0")) / 1e9
    whole = calendar.timegm((*fields, 0, 0, 0)) if utc else time.mktime((*fields, 0, 0, -1))
    return whole + fraction


def format_entry(entry: LogEntry, verb: str, adverbs: set[str]) -> str:
    """One entry as logcat prints it in ``verb`` with ``adverbs`` (AOSP liblog's logprint)."""
    p, tag, msg, pid, tid = entry.priority, entry.tag, entry.message, entry.pid, entry.tid
    if verb == "raw":
        return msg
    if verb == "brief":
        return f"{p}/{tag}({pid:5d}): {msg}"
    if verb == "tag":
        return f"{p}/{tag}: {msg}"
    if verb == "process":
        return f"{p}({pid:5d}) {msg}  ({tag})"
    if verb == "thread":
        return f"{p}({pid:5d}:{tid:5d}) {msg}"
    stamp = _stamp(entry.when, adverbs)
    if verb == "time":
        return f"{stamp} {p}/{tag}({pid:5d}): {msg}"
    if verb == "long":
        return f"[ {stamp} {pid:5d}:{tid:5d} {p}/{tag} ]\n{msg}\n"
    return f"{stamp} {pid:5d} {tid:5d} {p} {tag}: {msg}"


def _stamp(when: float, adverbs: set[str]) -> str:
    digits = 6 if "usec" in adverbs else 3
    fraction = f"{int(when * 10**digits) % 10**digits:0{digits}d}"
    if "epoch" in adverbs:
        return f"{int(when):>5d}.{fraction}"
    tm = time.gmtime(when) if "UTC" in adverbs else time.localtime(when)
    text = time.strftime("%Y-%m-%d %H:%M:%S" if "year" in adverbs else "%m-%d %H:%M:%S", tm) + "." + fraction
    if "zone" in adverbs:
        text += " " + ("+0000" if "UTC" in adverbs else time.strftime("%z", tm))
    return text


class _Printer:
    """Writes entries of the chosen buffers, with a ``beginning of`` line for each buffer's first."""

    def __init__(self, inv: Invocation, opts: Options) -> None:
        self.inv, self.opts = inv, opts
        self.begun: set[str] = set()

    async def write(self, entries: list[LogEntry]) -> None:
        for entry in entries:
            if entry.buffer not in self.begun:
                self.begun.add(entry.buffer)
                await self.inv.out(f"--------- beginning of {entry.buffer}\n")
            await self.inv.out(format_entry(entry, self.opts.verb, self.opts.adverbs) + "\n")


async def logcat(logs: LogBuffer, inv: Invocation) -> int:
    """Prints the buffers as asked; without ``-d``/``-t`` follows until the stream is closed."""
    try:
        opts = parse(list(inv.args))
    except UsageError as exc:
        return await inv.fail(str(exc))
    if opts.clear:
        logs.clear()
        return 0
    entries, seq = logs.entries(0)
    entries = [e for e in entries if e.buffer in opts.buffers]
    if opts.start is not None:
        entries = [e for e in entries if e.when >= opts.start]
    if opts.count is not None:
        entries = entries[-opts.count :] if opts.count else []
    printer = _Printer(inv, opts)
    await printer.write(entries)
    if opts.dump:
        return 0
    while True:  # follows until the stream is closed (the service task is cancelled)
        await logs.wait(seq, timeout=FOLLOW_WAIT_S)
        fresh, seq = logs.entries(seq)
        await printer.write([e for e in fresh if e.buffer in opts.buffers])
