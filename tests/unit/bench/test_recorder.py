"""Capture commands and the tools' exit statistics, as dumpcap 4.0 and tcpdump 4.99 print them."""

from __future__ import annotations

import os
from pathlib import Path

from phonehome.bench.definition import CaptureDef
from phonehome.bench.recorder import MB, cap_problems, capture_argv, capture_files, listening, parse_drops

DUMPCAP = """Capturing on 'ph3ddedf-wlan'
File: /tmp/bench0/wlan.pcapng
Packets captured: 40634
Packets received/dropped on interface 'ph3ddedf-wlan': 40640/6 (pcap:0/dumpcap:6/flushed:0/ps_ifdrop:2) (99.9%)
"""
TCPDUMP = """tcpdump: listening on ph1-wlan, link-type EN10MB (Ethernet), snapshot length 262144 bytes
2500 packets captured
2510 packets received by filter
10 packets dropped by kernel
"""


def test_dumpcap_statistics_give_captured_received_dropped_and_interface_drops() -> None:
    drops = parse_drops("dumpcap", "ph3ddedf-wlan", DUMPCAP)
    assert (drops.captured, drops.received, drops.dropped, drops.if_dropped) == (40634, 40640, 6, 2)
    assert drops.counted
    assert not drops.lossless


def test_tcpdump_statistics_are_read_too() -> None:
    drops = parse_drops("tcpdump", "ph1-wlan", TCPDUMP)
    assert (drops.captured, drops.received, drops.dropped) == (2500, 2510, 10)


def test_a_tool_killed_before_its_statistics_counts_nothing() -> None:
    drops = parse_drops("dumpcap", "x", "Capturing on 'x'\nFile: /tmp/x.pcapng\n")
    assert not drops.counted
    assert drops.dropped is None
    assert not drops.lossless


def test_frames_the_link_saw_but_the_files_lack_are_missed() -> None:
    clean = parse_drops(
        "dumpcap", "x", DUMPCAP.replace("40640/6", "40634/0").replace("ps_ifdrop:2", "ps_ifdrop:0")
    )
    from dataclasses import replace

    assert replace(clean, link_packets=40634).lossless
    assert replace(clean, link_packets=40700).missed == 66
    assert not replace(clean, link_packets=40700).lossless
    assert replace(clean, link_packets=None).missed is None


def test_dumpcap_argv_rotates_by_size_and_time_and_writes_pcap_when_asked(tmp_path: Path) -> None:
    argv = capture_argv(
        CaptureDef(format="pcap", rotate_mb=5, rotate_seconds=60), "ph1-wlan", tmp_path / "w.pcap"
    )
    assert argv[1:5] == ["-i", "ph1-wlan", "-w", str(tmp_path / "w.pcap")]
    assert "-P" in argv
    assert argv[argv.index("filesize:5243") - 1 : argv.index("filesize:5243") + 1] == ["-b", "filesize:5243"]
    assert "duration:60" in argv
    assert argv[-2:] == ["-a", "files:410"]  # 410 files of 5 MiB: the default cap of 2048 MiB


def test_by_default_one_dumpcap_file_stops_at_the_cap(tmp_path: Path) -> None:
    argv = capture_argv(CaptureDef(), "ph1-wlan", tmp_path / "w.pcapng")
    assert argv[-2:] == ["-a", f"filesize:{2048 * MB // 1000 + 1}"]
    assert "-b" not in argv
    assert "-a" not in capture_argv(CaptureDef(max_mb=0), "ph1-wlan", tmp_path / "w.pcapng")


def test_tcpdump_stops_at_the_cap_through_the_file_size_limit(tmp_path: Path) -> None:
    argv = capture_argv(CaptureDef(tool="tcpdump", format="pcap", max_mb=3), "ph1-wlan", tmp_path / "w.pcap")
    assert Path(argv[0]).name == "prlimit"
    assert argv[1:3] == [f"--fsize={3 * MB}", "--"]
    assert Path(argv[3]).name == "tcpdump"


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


def test_tcpdump_argv_stays_root_for_rotated_files(tmp_path: Path) -> None:
    argv = capture_argv(
        CaptureDef(tool="tcpdump", format="pcap", rotate_mb=5, max_mb=0), "ph1-wlan", tmp_path / "w.pcap"
    )
    assert argv[argv.index("-Z") + 1] == "root"
    assert argv[argv.index("-C") + 1] == "5"
    assert "-U" in argv


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
