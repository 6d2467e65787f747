"""The logcat recorder: one file across reboots, no gap unsaid, no line twice, bounded, never crashing."""

from __future__ import annotations

import calendar
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phonehome.device.logs import (
    LOGCAT,
    MARK,
    LogcatRecorder,
    LogUnavailable,
    line_time,
    logcat_argv,
)
from phonehome.virtual import VirtualHandset
from phonehome.virtual.testing import RecordingScreen
from tests.unit.device.logsource import ScriptedSource, ScriptedStream, VirtualSource, wait_for

T0 = calendar.timegm((2026, 12, 6, 11, 0, 0, 0, 0, 0))


def line(offset_ms: int, text: str, pid: int = 1000) -> bytes:
    when = T0 + offset_ms / 1000
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(when)) + f".{offset_ms % 1000:03d}"
    return f"{stamp}  {pid:5d} {pid:5d} I Tag: {text}".encode()


def record(source: ScriptedSource, path: Path, **kwargs: object) -> tuple[list[str], list[str]]:
    """Runs a recorder until the script is used up; (log lines, notes)."""
    recorder = LogcatRecorder(source, path, retry_s=0.01, **kwargs).start()  # type: ignore[arg-type]
    wait_for(lambda: not source.script)
    time.sleep(0.1)
    notes = recorder.stop()
    return path.read_text().splitlines(), notes


def log_lines(lines: list[str]) -> list[str]:
    return [entry for entry in lines if not entry.startswith(MARK)]


def test_a_resume_asks_from_the_last_lines_time_and_skips_what_it_already_wrote(tmp_path: Path) -> None:
    first = ScriptedStream([b"--------- beginning of main\n", line(0, "a") + b"\n" + line(5, "b") + b"\n",
                            line(5, "c") + b"\n"])  # fmt: skip
    again = ScriptedStream([line(5, "b") + b"\n" + line(5, "c") + b"\n" + line(5, "c") + b"\n",
                            line(9, "d") + b"\n"])  # fmt: skip
    source = ScriptedSource([first, LogUnavailable("device offline"), again])
    lines, notes = record(source, tmp_path / LOGCAT)
    assert log_lines(lines) == [line(0, "a").decode(), line(5, "b").decode(), line(5, "c").decode(),
                                line(5, "c").decode(), line(9, "d").decode()]  # fmt: skip
    assert source.argvs[0] == logcat_argv(None)
    assert source.argvs[2][-2:] == ["-T", f"{T0 + 0.005:.3f}"]  # the third open: after the absence
    assert any("no ADB: device offline" in entry for entry in lines)
    assert any("ADB is back" in entry for entry in lines)
    assert any("not covered from" in note and "device offline" in note for note in notes)


def test_a_new_boot_is_read_from_its_start_even_when_its_clock_is_behind(tmp_path: Path) -> None:
    before = ScriptedStream([line(5000, "old boot") + b"\n"])
    after = ScriptedStream([line(10, "new boot, clock not set yet") + b"\n"], hold=True)
    source = ScriptedSource([before, LogUnavailable("rebooting"), after], boots=["boot-1", None, "boot-2"])
    lines, notes = record(source, tmp_path / LOGCAT)
    assert "-T" not in source.argvs[2]
    assert log_lines(lines) == [
        line(5000, "old boot").decode(),
        line(10, "new boot, clock not set yet").decode(),
    ]
    assert any("booted again" in entry for entry in lines)
    assert any(
        note.startswith("logcat: the handset rebooted between 2026-12-06 11:00:05.000Z") for note in notes
    )


def test_a_logcat_that_dies_is_restarted_from_its_last_line(tmp_path: Path) -> None:
    source = ScriptedSource([ScriptedStream([line(1, "x") + b"\n"]), ScriptedStream([line(1, "x") + b"\n",
                             line(2, "y") + b"\n"]), ScriptedStream([], hold=True)])  # fmt: skip
    lines, notes = record(source, tmp_path / LOGCAT)
    assert log_lines(lines) == [line(1, "x").decode(), line(2, "y").decode()]
    assert sum("restarted from" in entry for entry in lines) == 2
    assert notes == []


def test_a_stream_that_raises_is_reopened_not_the_runs_crash(tmp_path: Path) -> None:
    class Broken(ScriptedStream):
        def read(self, timeout: float) -> bytes | None:
            raise RuntimeError("socket went mad")

    source = ScriptedSource(
        [Broken([]), RuntimeError("odd"), ScriptedStream([line(1, "ok") + b"\n"], hold=True)]
    )
    lines, _ = record(source, tmp_path / LOGCAT)
    assert log_lines(lines) == [line(1, "ok").decode()]
    assert any("stream failed: RuntimeError: socket went mad" in entry for entry in lines)


def test_a_flood_stops_at_the_cap_and_says_so(tmp_path: Path) -> None:
    flood = [b"".join(line(i, "spam" * 10) + b"\n" for i in range(j, j + 100)) for j in range(0, 5000, 100)]
    source = ScriptedSource([ScriptedStream(flood)])
    lines, notes = record(source, tmp_path / LOGCAT, cap_bytes=20_000)
    assert (tmp_path / LOGCAT).stat().st_size < 20_000 + 1000
    assert any("reached its cap of 20000 bytes" in entry for entry in lines)
    assert any("cap of 20000 bytes" in note for note in notes)


def test_a_handset_never_on_adb_is_a_note_and_a_marker(tmp_path: Path) -> None:
    source = ScriptedSource([LogUnavailable("device 'X' not found")])
    recorder = LogcatRecorder(source, tmp_path / LOGCAT, retry_s=0.01).start()
    time.sleep(0.1)
    notes = recorder.stop()
    text = (tmp_path / LOGCAT).read_text()
    assert "no ADB: device 'X' not found" in text
    assert "recording ends without ADB" in text
    assert any("never reachable" in note for note in notes)


def test_adb_that_comes_only_later_is_read_from_the_buffers_start(tmp_path: Path) -> None:
    source = ScriptedSource(
        [LogUnavailable("no ADB before setup"), ScriptedStream([line(1, "boot") + b"\n"], hold=True)]
    )
    lines, notes = record(source, tmp_path / LOGCAT)
    assert source.argvs[1] == logcat_argv(None)
    assert log_lines(lines) == [line(1, "boot").decode()]
    assert len(notes) == 1
    assert "no ADB from" in notes[0]
    assert "from their start" in notes[0]


def test_a_line_without_an_end_is_cut_not_grown(tmp_path: Path) -> None:
    source = ScriptedSource([ScriptedStream([b"x" * 40_000] * 5)])
    lines, _ = record(source, tmp_path / LOGCAT)
    assert max(len(entry) for entry in lines) <= 64 * 1024


def test_line_time_reads_utc_threadtime_lines_with_or_without_a_zone() -> None:
    assert line_time(line(123, "m")) == pytest.approx(T0 + 0.123)
    assert line_time(b"2026-12-06 11:00:00.123456 +0000  1 1 I t: m") == pytest.approx(T0 + 0.123456)
    assert line_time(b"12-06 11:00:00.123  1 1 I t: m") is None


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_line_time_never_raises_on_hostile_bytes(data: bytes) -> None:
    line_time(data)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=20))
def test_the_recorder_keeps_within_its_cap_whatever_the_stream_says(chunks: list[bytes]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / LOGCAT
        source = ScriptedSource([ScriptedStream(chunks)])
        recorder = LogcatRecorder(source, path, retry_s=0.001, cap_bytes=1000).start()
        wait_for(lambda: not source.script)
        recorder.stop()
        assert path.stat().st_size <= 1000 + 600  # the cap, and its markers


# -- against the virtual handset's own logcat, across a real reboot ------------------------------


@pytest.fixture
def nokia(tmp_path: Path) -> Iterator[VirtualHandset]:
    handset = VirtualHandset(
        "nokia-7-plus-2019",
        seed="logcat",
        screen=RecordingScreen(),
        time_scale=0,
        workdir=tmp_path / "device",
    ).start()
    handset.wait_boot_completed(5)
    yield handset
    handset.stop()


def test_logcat_spans_a_reboot_without_a_lost_or_doubled_line(nokia: VirtualHandset, tmp_path: Path) -> None:
    path = tmp_path / LOGCAT
    recorder = LogcatRecorder(VirtualSource(nokia), path, retry_s=0.02).start()
    nokia.state.logs.log("I", "phonehome-test", "before the reboot")
    wait_for(lambda: "before the reboot" in path.read_text())
    nokia.reboot("test", wait=True, timeout=10)
    nokia.state.logs.log("I", "phonehome-test", "after the reboot")
    wait_for(lambda: "after the reboot" in path.read_text())
    notes = recorder.stop()
    lines = log_lines(path.read_text().splitlines())
    assert len(lines) == len(set(lines)), "a line was written twice"
    texts = [entry.split(": ", 1)[-1] for entry in lines]
    assert texts.count("init first stage started!") == 2  # both boots, each once
    assert texts.count("System now ready") == 2
    assert texts.index("before the reboot") < texts.index("after the reboot")
    stamps = [line_time(entry.encode()) for entry in lines]
    assert all(s is not None and abs(s - time.time()) < 60 for s in stamps), "times are UTC with the year"
    assert any(note.startswith("logcat: the handset rebooted between") for note in notes), notes
