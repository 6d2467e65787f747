"""The virtual handset's logcat: buffers, formats, start times, a boot's empty logd, and bugreportz."""

from __future__ import annotations

import calendar
import io
import re
import time
import zipfile
from collections.abc import Callable

import pytest

from phonehome.virtual import VirtualHandset
from phonehome.virtual.logs import LogEntry
from phonehome.virtual.shell.logcat import UsageError, format_entry, parse, parse_time

Sh = Callable[..., tuple[int, str, str]]
UTC_YEAR = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} +\d+ +\d+ [VDIWEF] ")


def test_the_default_buffers_leave_out_radio_and_all_takes_it(sh: Sh, nokia: VirtualHandset) -> None:
    nokia.state.logs.log("I", "RILJ", "radio says hello", pid=1530)
    nokia.state.logs.log("I", "chatty", "main says hello", pid=2000)
    default = sh("logcat -d")[1]
    assert "main says hello" in default
    assert "radio says hello" not in default
    everything = sh("logcat -d -b all")[1]
    assert "radio says hello" in everything
    assert "--------- beginning of radio" in everything
    only = sh("logcat -d -b radio,events")[1]
    assert "radio says hello" in only
    assert "main says hello" not in only


def test_utc_and_year_print_the_full_utc_time(sh: Sh, nokia: VirtualHandset) -> None:
    nokia.state.logs.log("W", "phonehome", "stamp me", pid=2000)
    out = sh("logcat -d -b all -v threadtime -v UTC -v year")[1]
    stamped = next(entry for entry in out.splitlines() if entry.endswith("stamp me"))
    assert UTC_YEAR.match(stamped)
    when = calendar.timegm(time.strptime(stamped[:19], "%Y-%m-%d %H:%M:%S"))
    assert abs(when - time.time()) < 5
    comma = sh("logcat -d -v threadtime,UTC,year,zone")[1]
    assert any(entry.endswith("stamp me") and " +0000 " in entry for entry in comma.splitlines())


def test_dash_capital_t_starts_at_a_time_and_includes_it(sh: Sh, nokia: VirtualHandset) -> None:
    nokia.state.logs.log("I", "phonehome", "old line", pid=2000)
    time.sleep(0.01)
    nokia.state.logs.log("I", "phonehome", "new line", pid=2000)
    entries, _ = nokia.state.logs.entries(0)
    at = next(e.when for e in entries if e.message == "new line")
    out = sh(f"logcat -d -b all -v UTC -v year -T {int(at * 1000) / 1000:.3f}")[1]
    assert "new line" in out
    assert "old line" not in out
    assert sh("logcat -b all -t 1")[1].rstrip().endswith("new line")  # -t implies -d: it returns


def test_a_reboot_leaves_logd_empty_but_for_the_new_boot(nokia: VirtualHandset, sh: Sh) -> None:
    nokia.state.logs.log("I", "phonehome", "from the old boot", pid=2000)
    nokia.reboot("test", wait=True, timeout=10)
    out = sh("logcat -d -b all")[1]
    assert "from the old boot" not in out
    assert "init first stage started!" in out


def test_unknown_options_fail_as_logcat_does(sh: Sh) -> None:
    assert sh("logcat -d -b nonsense")[0] == 1
    assert sh("logcat -d -v nonsense")[0] == 1
    assert sh("logcat -d -T yesterday")[0] == 1
    with pytest.raises(UsageError):
        parse(["-b"])


def test_formats_follow_logprint() -> None:
    entry = LogEntry(1, 1796554800.25, 42, 43, "E", "Tag", "msg", "main")
    assert format_entry(entry, "brief", set()) == "E/Tag(   42): msg"
    assert (
        format_entry(entry, "threadtime", {"UTC", "year"}) == "2026-12-06 11:00:00.250    42    43 E Tag: msg"
    )
    assert format_entry(entry, "time", {"UTC", "epoch"}) == "1796554800.250 E/Tag(   42): msg"
    assert format_entry(entry, "raw", set()) == "msg"


def test_times_parse_in_every_documented_form() -> None:
    assert parse_time("1796554800.250", utc=True) == pytest.approx(1796554800.25)
    assert parse_time("2026-12-06 11:00:00.250", utc=True) == pytest.approx(1796554800.25)
    assert parse_time("12-06 11:00:00.250", utc=True, now=1796554800) == pytest.approx(1796554800.25)
    assert parse(["-T", "5"]).count == 5


def test_bugreportz_makes_a_zip_with_properties_and_logs(sh: Sh, nokia: VirtualHandset) -> None:
    nokia.state.logs.log("I", "phonehome", "in the report", pid=2000)
    status, out, _ = sh("bugreportz -p")
    assert status == 0
    assert out.startswith("BEGIN:/data/user_de/0/com.android.shell/files/bugreports/bugreport-")
    assert "PROGRESS:100/100" in out
    path = out.strip().splitlines()[-1].removeprefix("OK:")
    assert path.endswith(".zip")
    with zipfile.ZipFile(io.BytesIO(nokia.state.fs.read_bytes(path))) as zf:
        name = zf.read("main_entry.txt").decode()
        text = zf.read(name).decode()
    assert name.startswith("bugreport-")
    assert name.endswith(".txt")
    assert f"[ro.serialno]: [{nokia.identity.serial}]" in text
    assert "in the report" in text
    assert sh("bugreportz -x")[0] == 1
