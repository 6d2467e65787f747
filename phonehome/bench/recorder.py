"""Capture on a bench port with dumpcap or tcpdump, and what they said they lost.

The tool runs in the router namespace on the port's router-side interface,
so it sees the handset's frames with their original destinations, before any
TPROXY or NAT. Its statistics at exit are the only honest drop count there
is; a tool that died before printing them leaves ``None`` counters, which the
policy reads as a capture of unknown completeness.

Neither tool runs as root once capturing (``phonehome.bench.privilege``): each
writes into a folder ``nobody`` owns, by names relative to its working
directory (the bench's own folder stays 0700).
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from phonehome.bench import privilege
from phonehome.bench.definition import CaptureDef
from phonehome.bench.netops import BenchError, tool
from phonehome.bench.tools import find_tool
from phonehome.traffic.capture import CaptureDrops, CaptureFormat

TOOLS = ("dumpcap", "tcpdump")
"""In the order ``auto`` prefers them: dumpcap writes pcapng and reports its drops per interface."""
NATIVE_FORMAT: dict[str, CaptureFormat] = {"dumpcap": "pcapng", "tcpdump": "pcap"}


@dataclass(frozen=True, slots=True)
class CaptureTool:
    """The capture tool a bench runs: which, where it is installed, and the file format it writes."""

    name: str
    path: str
    format: CaptureFormat

    @property
    def suffix(self) -> str:
        return f".{self.format}"


def choose_tool(spec: CaptureDef, search_path: str | None = None) -> CaptureTool:
    """The tool ``spec`` asks for (``auto``: dumpcap if installed, else tcpdump) and its format."""
    wanted = TOOLS if spec.tool == "auto" else (spec.tool,)
    for name in wanted:
        path = find_tool(name, search_path)
        if path is None:
            continue
        fmt = spec.format or NATIVE_FORMAT[name]
        if name == "tcpdump" and fmt == "pcapng":
            raise BenchError(
                "capture: only tcpdump is installed and it writes pcap only: set `format: pcap` "
                "or install dumpcap (apt-get install -y tshark)"
            )
        return CaptureTool(name, path, fmt)
    raise BenchError(f"capture: {' or '.join(wanted)} is not installed (phonehome doctor --install)")


MB = 1 << 20
DISK_FULL_BYTES = 1 << 20
"""Less free space than this where the capture is written: the disk filled up (the tool's own error
may not have fit in its log, on the same disk)."""
CAP_REACHED = 0.98
"""A capture this close to its cap stopped at it (dumpcap checks the size per packet, in kB of 1000)."""
SETTLE_S = {"dumpcap": 0.35, "tcpdump": 1.1}
"""How long a tool may sit on frames the kernel already gave it: libpcap hands them over in blocks,
after its read timeout (dumpcap 250 ms, tcpdump 1000 ms). Stopping sooner loses the last block
without the tool counting it as dropped."""


def capture_argv(
    spec: CaptureDef,
    chosen: CaptureTool,
    interface: str,
    name: str,
    *,
    user: privilege.ServiceUser,
    setpriv: str,
) -> list[str]:
    """The capture command writing ``name`` (relative to its working directory; rotation numbered),
    stopping at ``spec.max_mb`` (dumpcap: autostop; tcpdump: the file size limit, which ends it).

    dumpcap starts as ``user`` with CAP_NET_RAW alone, which it drops itself once its
    socket is open. tcpdump starts as root with only CAP_NET_RAW, CAP_SETUID, CAP_SETGID,
    CAP_DAC_OVERRIDE and CAP_CHOWN (it creates its first file, in ``user``'s folder, and
    hands it to ``user`` before it switches) and becomes ``user`` with ``-Z``, keeping
    no capability.
    """
    if chosen.name == "dumpcap":
        argv = [chosen.path, "-i", interface, "-w", name, "-B", str(spec.buffer_mb), "-q"]
        if chosen.format == "pcap":
            argv.append("-P")
        return privilege.setpriv_argv(setpriv, user, ("net_raw",), argv + _dumpcap_limits(spec))
    argv = [
        chosen.path,
        "-i",
        interface,
        "-w",
        name,
        "-n",
        "-U",  # write each packet as it comes: a killed tcpdump leaves a usable partial file
        "--immediate-mode",  # hand packets over at once: a stop never strands frames in the kernel's ring
        "-s",
        "0",
        "-B",
        str(spec.buffer_mb * 1024),
        "-Z",
        user.name,  # it opens the device as root, then every file (rotated ones too) as this user
    ]
    if spec.rotate_mb:
        argv += ["-C", str(spec.rotate_mb)]
    if spec.rotate_seconds:
        # -G names files by strftime; a counter keeps their order when -C also applies.
        stem, suffix = os.path.splitext(name)
        argv[argv.index(name)] = f"{stem}-%Y%m%d%H%M%S{suffix}"
        argv += ["-G", str(spec.rotate_seconds)]
    if spec.max_mb:  # no rotation here (the definition refuses it): one file, at most max_mb
        argv = [tool("prlimit"), f"--fsize={spec.max_mb * MB}", "--", *argv]
    return privilege.setpriv_argv(
        setpriv, None, ("net_raw", "setuid", "setgid", "dac_override", "chown"), argv
    )


def _dumpcap_limits(spec: CaptureDef) -> list[str]:
    """Rotation and the cap: one file stopped at ``max_mb``, or files of a size and a count that
    together hold ``max_mb``."""
    rotating = bool(spec.rotate_mb or spec.rotate_seconds)
    if not rotating:
        return ["-a", f"filesize:{_kb(spec.max_mb)}"] if spec.max_mb else []
    args = []
    size = spec.rotate_mb or (max(1, spec.max_mb // 16) if spec.max_mb else 0)
    if size:
        args += ["-b", f"filesize:{_kb(size)}"]
    if spec.rotate_seconds:
        args += ["-b", f"duration:{spec.rotate_seconds}"]
    if spec.max_mb:
        args += ["-a", f"files:{max(1, -(-spec.max_mb // size))}"]
    return args


def _free_bytes(folder: Path) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return DISK_FULL_BYTES


def _kb(mb: int) -> int:
    """``mb`` MiB in dumpcap's kB (1000 bytes)."""
    return -(-mb * MB // 1000)


def cap_problems(spec: CaptureDef, port: str, files: list[Path], log_text: str) -> list[str]:
    """Why a capture stopped short on the disk side: its cap reached, or the disk full."""
    found = []
    total = sum(path.stat().st_size for path in files if path.exists())
    if spec.max_mb and total >= spec.max_mb * MB * CAP_REACHED:
        found.append(
            f"the capture of port {port} reached its cap (capture.max_mb: {spec.max_mb} MB) and stopped "
            f"at {total} bytes: later traffic is missing from it (raise capture.max_mb)"
        )
    folder = files[0].parent if files else None
    full = folder is not None and _free_bytes(folder) < DISK_FULL_BYTES
    if full or "No space left on device" in log_text:
        found.append(
            f"the disk of the results folder filled up during the capture of port {port} (No space left "
            f"on device): the capture stopped at {total} bytes and later traffic is missing"
        )
    return found


def capture_files(base: Path) -> list[Path]:
    """The files a capture into ``base`` wrote, in capture order."""
    stem, suffix = base.stem, base.suffix
    found = [p for p in base.parent.glob(f"{stem}*{suffix}*") if p.is_file() and p.name != base.name + ".log"]
    found += [base] if base.is_file() and base not in found else []

    def order(path: Path) -> tuple[int, str]:
        # dumpcap: stem_00001_DATE.ext; tcpdump -C: base, base1, base2...; tcpdump -G: stem-DATE.ext
        rest = path.name[len(stem) :]
        if match := re.match(r"^_(\d+)_", rest):
            return int(match[1]), path.name
        if match := re.match(rf"^{re.escape(suffix)}(\d+)$", rest):
            return int(match[1]), path.name
        return 0, path.name

    return sorted(set(found), key=order)


def listening(pid: int, ifindex: int) -> bool:
    """``pid`` holds a packet socket that receives every protocol (ETH_P_ALL) on interface ``ifindex``.

    dumpcap prints "Capturing on" about 10 ms before libpcap rebinds its socket
    from protocol 0 (nothing) to ETH_P_ALL; frames sent in between are lost
    without being counted as dropped. This asks the kernel instead.
    """
    try:
        rows = Path(f"/proc/{pid}/net/packet").read_text().splitlines()[1:]
        fds = Path(f"/proc/{pid}/fd")
        sockets = set()
        for fd in fds.iterdir():
            try:
                sockets.add(os.readlink(fd))
            except OSError:
                continue
    except OSError:
        return False
    for row in rows:
        cols = row.split()
        # sk RefCnt Type Proto Iface R Rmem User Inode
        if (
            len(cols) >= 9
            and cols[3] == "0003"
            and int(cols[4]) == ifindex
            and f"socket:[{cols[8]}]" in sockets
        ):
            return True
    return False


_DUMPCAP = re.compile(
    r"Packets received/dropped on interface '[^']*': (\d+)/(\d+) \(pcap:(\d+)/dumpcap:(\d+)/flushed:(\d+)/ps_ifdrop:(\d+)\)"
)
_DUMPCAP_CAPTURED = re.compile(r"^Packets captured: (\d+)", re.M)
_TCPDUMP = {
    "captured": re.compile(r"^(\d+) packets? captured", re.M),
    "received": re.compile(r"^(\d+) packets? received by filter", re.M),
    "dropped": re.compile(r"^(\d+) packets? dropped by kernel", re.M),
    "if_dropped": re.compile(r"^(\d+) packets? dropped by interface", re.M),
}


def parse_drops(tool_name: str, interface: str, log_text: str) -> CaptureDrops:
    """The tool's exit statistics; counters it did not print stay None."""
    if tool_name == "dumpcap":
        captured = _DUMPCAP_CAPTURED.search(log_text)
        stats = _DUMPCAP.search(log_text)
        if not stats:
            return CaptureDrops(tool_name, interface, _int(captured), None, None)
        received, dropped, _pcap, _dumpcap, _flushed, ifdrop = (int(x) for x in stats.groups())
        return CaptureDrops(tool_name, interface, _int(captured), received, dropped, ifdrop)
    found = {key: _int(rx.search(log_text)) for key, rx in _TCPDUMP.items()}
    return CaptureDrops(
        tool_name, interface, found["captured"], found["received"], found["dropped"], found["if_dropped"]
    )


def tool_drops(
    tool_name: str, interface: str, log_text: str, link_packets: int | None
) -> tuple[CaptureDrops, list[str]]:
    """The tool's counters with the interface's own frame count beside them, and what they say was lost."""
    drops = parse_drops(tool_name, interface, log_text)
    if link_packets is not None:
        drops = dataclasses.replace(drops, link_packets=link_packets)
    problems = []
    if not drops.counted:
        problems.append(f"{tool_name} on {interface} printed no drop statistics: completeness unknown")
    if drops.missed:
        problems.append(
            f"{interface} counted {drops.link_packets} frames while {tool_name} captured "
            f"{drops.captured}: {drops.missed} are missing from the files"
        )
    return drops, problems


def _int(match: re.Match[str] | None) -> int | None:
    return int(match[1]) if match else None
