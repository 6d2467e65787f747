"""Capture commands and the tools' exit statistics, as dumpcap 4.0 and tcpdump 4.99 print them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from phonehome.bench.definition import CaptureDef
from phonehome.bench.netops import BenchError
from phonehome.bench.privilege import ServiceUser
from phonehome.bench.recorder import (
    MB,
    CaptureTool,
    cap_problems,
    capture_argv,
    capture_files,
    choose_tool,
    listening,
    parse_drops,
)

NOBODY = ServiceUser("nobody", 65534, 65534, "nogroup")
DUMPCAP = CaptureTool("dumpcap", "/usr/bin/dumpcap", "pcapng")
TCPDUMP = CaptureTool("tcpdump", "/usr/bin/tcpdump", "pcap")

DUMPCAP_STATS = """Capturing on 'ph3ddedf-wlan'
File: /tmp/bench0/wlan.pcapng
Packets captured: 40634
Packets received/dropped on interface 'ph3ddedf-wlan': 40640/6 (pcap:0/dumpcap:6/flushed:0/ps_ifdrop:2) (99.9%)
"""
TCPDUMP_STATS = """tcpdump: listening on ph1-wlan, link-type EN10MB (Ethernet), snapshot length 262144 bytes
2500 packets captured
2510 packets received by filter
10 packets dropped by kernel
"""


def test_dumpcap_statistics_give_captured_received_dropped_and_interface_drops() -> None:
    drops = parse_drops("dumpcap", "ph3ddedf-wlan", DUMPCAP_STATS)
    assert (drops.captured, drops.received, drops.dropped, drops.if_dropped) == (40634, 40640, 6, 2)
    assert drops.counted
    assert not drops.lossless


def test_tcpdump_statistics_are_read_too() -> None:
    drops = parse_drops("tcpdump", "ph1-wlan", TCPDUMP_STATS)
    assert (drops.captured, drops.received, drops.dropped) == (2500, 2510, 10)


def test_a_tool_killed_before_its_statistics_counts_nothing() -> None:
    drops = parse_drops("dumpcap", "x", "Capturing on 'x'\nFile: /tmp/x.pcapng\n")
    assert not drops.counted
    assert drops.dropped is None
    assert not drops.lossless


def test_frames_the_link_saw_but_the_files_lack_are_missed() -> None:
    clean = parse_drops(
        "dumpcap", "x", DUMPCAP_STATS.replace("40640/6", "40634/0").replace("ps_ifdrop:2", "ps_ifdrop:0")
    )
    from dataclasses import replace

    assert replace(clean, link_packets=40634).lossless
    assert replace(clean, link_packets=40700).missed == 66
    assert not replace(clean, link_packets=40700).lossless
    assert replace(clean, link_packets=None).missed is None


def test_dumpcap_argv_rotates_by_size_and_time_and_writes_pcap_when_asked() -> None:
    pcap = CaptureTool("dumpcap", "/usr/bin/dumpcap", "pcap")
    spec = CaptureDef(format="pcap", rotate_mb=5, rotate_seconds=60)
    argv = capture_argv(spec, pcap, "ph1-wlan", "w.pcap", user=NOBODY, setpriv="/usr/bin/setpriv")
    tool = argv.index("/usr/bin/dumpcap")
    assert argv[tool + 1 : tool + 5] == ["-i", "ph1-wlan", "-w", "w.pcap"]
    assert "-P" in argv
    assert argv[argv.index("filesize:5243") - 1 : argv.index("filesize:5243") + 1] == ["-b", "filesize:5243"]
    assert "duration:60" in argv
    assert argv[-2:] == ["-a", "files:410"]  # 410 files of 5 MiB: the default cap of 2048 MiB


def test_by_default_one_dumpcap_file_stops_at_the_cap() -> None:
    argv = capture_argv(
        CaptureDef(), DUMPCAP, "ph1-wlan", "w.pcapng", user=NOBODY, setpriv="/usr/bin/setpriv"
    )
    assert argv[-2:] == ["-a", f"filesize:{2048 * MB // 1000 + 1}"]
    assert "-b" not in argv
    uncapped = capture_argv(CaptureDef(max_mb=0), DUMPCAP, "ph1-wlan", "w.pcapng", user=NOBODY, setpriv="s")
    assert "-a" not in uncapped


def test_tcpdump_stops_at_the_cap_through_the_file_size_limit() -> None:
    spec = CaptureDef(tool="tcpdump", format="pcap", max_mb=3)
    argv = capture_argv(spec, TCPDUMP, "ph1-wlan", "w.pcap", user=NOBODY, setpriv="/usr/bin/setpriv")
    inner = argv[argv.index("--") + 1 :]
    assert Path(inner[0]).name == "prlimit"
    assert inner[1:3] == [f"--fsize={3 * MB}", "--"]
    assert inner[3] == "/usr/bin/tcpdump"


def test_a_capture_at_its_cap_and_a_full_disk_are_named(tmp_path: Path) -> None:
    spec = CaptureDef(max_mb=1)
    small, full = tmp_path / "small.pcapng", tmp_path / "full.pcapng"
    small.write_bytes(b"x" * 1000)
    full.write_bytes(b"x" * MB)
    assert cap_problems(spec, "wlan", [small], "") == []
    (reached,) = cap_problems(spec, "wlan", [full], "")
    assert "reached its cap (capture.max_mb: 1 MB)" in reached
    log = "dumpcap: Error while writing to the capture file: No space left on device\n"
    (disk,) = cap_problems(spec, "wlan", [small], log)
    assert "filled up" in disk


def test_dumpcap_runs_as_nobody_with_only_cap_net_raw() -> None:
    argv = capture_argv(
        CaptureDef(), DUMPCAP, "ph1-wlan", "w.pcapng", user=NOBODY, setpriv="/usr/bin/setpriv"
    )
    wrapper = argv[: argv.index("--")]
    assert wrapper[0] == "/usr/bin/setpriv"
    assert {"--reuid=65534", "--regid=65534", "--clear-groups", "--no-new-privs"} <= set(wrapper)
    assert "--bounding-set=-all,+net_raw" in wrapper
    assert "--ambient-caps=+net_raw" in wrapper
    assert argv[argv.index("--") + 1] == "/usr/bin/dumpcap"


def test_tcpdump_switches_to_nobody_itself_and_starts_with_five_capabilities_only() -> None:
    spec = CaptureDef(tool="tcpdump", rotate_mb=5, max_mb=0)
    argv = capture_argv(spec, TCPDUMP, "ph1-wlan", "w.pcap", user=NOBODY, setpriv="/usr/bin/setpriv")
    assert argv[argv.index("-Z") + 1] == "nobody"
    assert "root" not in argv
    assert "--bounding-set=-all,+net_raw,+setuid,+setgid,+dac_override,+chown" in argv
    assert not any(a.startswith("--reuid") for a in argv)  # -Z needs it to start as root
    assert argv[argv.index("-C") + 1] == "5"
    assert "-U" in argv
    assert argv[argv.index("-w") + 1] == "w.pcap"  # relative: opened in the folder nobody owns


def test_tcpdump_time_rotation_names_files_by_date_in_capture_order() -> None:
    spec = CaptureDef(tool="tcpdump", rotate_seconds=30, max_mb=0)
    argv = capture_argv(spec, TCPDUMP, "ph1-wlan", "w.pcap", user=NOBODY, setpriv="/s")
    assert argv[argv.index("-w") + 1] == "w-%Y%m%d%H%M%S.pcap"
    assert argv[argv.index("-G") + 1] == "30"


def _bin(tmp_path: Path, *names: str) -> str:
    folder = tmp_path / "-".join(names or ("none",))
    folder.mkdir()
    for name in names:
        (folder / name).write_text("#!/bin/sh\n")
        (folder / name).chmod(0o755)
    return str(folder)


@pytest.mark.parametrize(
    ("installed", "tool", "fmt"),
    [
        (("dumpcap", "tcpdump"), "dumpcap", "pcapng"),
        (("dumpcap",), "dumpcap", "pcapng"),
        (("tcpdump",), "tcpdump", "pcap"),
    ],
)
def test_auto_takes_dumpcap_when_installed_else_tcpdump_each_in_its_own_format(
    tmp_path: Path, installed: tuple[str, ...], tool: str, fmt: str
) -> None:
    chosen = choose_tool(CaptureDef(), _bin(tmp_path, *installed))
    assert (chosen.name, chosen.format, chosen.suffix) == (tool, fmt, f".{fmt}")
    assert chosen.path.endswith(f"/{tool}")


def test_a_named_tool_is_taken_even_when_the_other_is_installed(tmp_path: Path) -> None:
    chosen = choose_tool(CaptureDef(tool="tcpdump"), _bin(tmp_path, "dumpcap", "tcpdump"))
    assert (chosen.name, chosen.format) == ("tcpdump", "pcap")
    assert choose_tool(CaptureDef(format="pcap"), _bin(tmp_path, "dumpcap")).format == "pcap"


def test_pcapng_asked_of_a_host_with_only_tcpdump_is_refused_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="format: pcap"):
        choose_tool(CaptureDef(format="pcapng"), _bin(tmp_path, "tcpdump"))


def test_no_capture_tool_installed_says_how_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="dumpcap or tcpdump is not installed"):
        choose_tool(CaptureDef(), _bin(tmp_path))
    with pytest.raises(BenchError, match="dumpcap is not installed"):
        choose_tool(CaptureDef(tool="dumpcap"), _bin(tmp_path, "tcpdump"))


def test_rotated_files_come_back_in_capture_order(tmp_path: Path) -> None:
    for name in ["wlan_00002_20261128.pcapng", "wlan_00010_20261128.pcapng", "wlan_00001_20261128.pcapng"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "capture-wlan.log").write_text("")
    assert [p.name for p in capture_files(tmp_path / "wlan.pcapng")] == [
        "wlan_00001_20261128.pcapng",
        "wlan_00002_20261128.pcapng",
        "wlan_00010_20261128.pcapng",
    ]


def test_tcpdump_size_rotation_numbers_follow_the_first_file(tmp_path: Path) -> None:
    for name in ["w.pcap2", "w.pcap", "w.pcap10", "w.pcap1"]:
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in capture_files(tmp_path / "w.pcap")] == [
        "w.pcap",
        "w.pcap1",
        "w.pcap2",
        "w.pcap10",
    ]


def test_a_process_without_a_packet_socket_is_not_listening() -> None:
    assert not listening(os.getpid(), 1)
    assert not listening(2**22 + 17, 1)  # no such process


def test_the_links_own_count_beside_the_tools_names_what_the_files_lack() -> None:
    from phonehome.bench.recorder import tool_drops

    clean = DUMPCAP_STATS.replace("40640/6", "40634/0").replace("ps_ifdrop:2", "ps_ifdrop:0")
    drops, problems = tool_drops("dumpcap", "x", clean, 40634)
    assert (drops.lossless, problems) == (True, [])
    drops, problems = tool_drops("dumpcap", "x", clean, 40700)
    assert drops.missed == 66
    assert problems == ["x counted 40700 frames while dumpcap captured 40634: 66 are missing from the files"]
    _drops, problems = tool_drops("tcpdump", "x", "", None)
    assert problems == ["tcpdump on x printed no drop statistics: completeness unknown"]
