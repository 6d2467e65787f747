"""`phonehome analyze` (and the statuses `run` and `judge` share): output, distinct exit statuses, one clear line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from phonehome.cli import EXIT_BAD_INPUT, EXIT_INTERNAL_ERROR, EXIT_NO_VERDICT, EXIT_OK, EXIT_USAGE, main
from phonehome.traffic import dns, factory, http, tls
from phonehome.traffic.factory import TcpConversation, UdpConversation

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    lookup = UdpConversation(("10.0.0.2", 33000), ("10.0.0.1", 53)).send(dns.build_query("zzhc.vnet.cn"))
    web = TcpConversation(("10.0.0.2", 41000), ("198.51.100.9", 80), ts=lookup.ts).handshake()
    web.send(http.build_request("POST", "/register", {"Host": "zzhc.vnet.cn\x1b[2J"}, b"imei=1"))
    secure = TcpConversation(("10.0.0.2", 41001), ("198.51.100.10", 443), ts=web.ts).handshake()
    secure.send(tls.build_client_hello("play.example.com"))
    path = tmp_path / "handset.pcapng"
    path.write_bytes(factory.pcapng_bytes(lookup.packets + web.packets + secure.packets))
    return path


def test_table_lists_endpoints_with_escaped_names(capture: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(capture)]) == EXIT_OK
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "9 packets in 1 file, 3 flows, 3 endpoints"
    assert lines[1].split() == ["NAME", "ADDRESSES", "PORTS", "TRANSPORT", "FLOWS", "BYTES", "FIRST", "SEEN"]
    assert {"play.example.com", "tcp/443", "tls"} <= set(out.split())
    assert "zzhc.vnet.cn\\x1b[2j" in out  # the escape sequence is shown, not sent to the terminal
    assert "\x1b" not in out
    assert "(10.0.0.1)" in out


def test_json_to_a_file(capture: Path, tmp_path: Path) -> None:
    out = tmp_path / "a.json"
    assert main(["analyze", "--format", "json", "-o", str(out), str(capture)]) == EXIT_OK
    data = json.loads(out.read_text())
    assert data["flows"][0]["dns_queries"] == ["zzhc.vnet.cn"]
    assert data["flows"][2]["sni"] == "play.example.com"


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"", "is empty"),
        (b"../../default/pcap/ookla.pcap", "not a pcap or pcapng capture"),
        (None, "no such file"),
    ],
)
def test_bad_input_is_one_line_naming_the_file_and_exit_4(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, says: str
) -> None:
    path = tmp_path / "bad.pcap"
    if content is not None:
        path.write_bytes(content)
    assert main(["analyze", str(path)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert str(path) in err
    assert says in err


def test_a_bad_file_among_good_ones_fails_before_any_analysis(
    capture: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["analyze", str(capture), str(tmp_path / "missing.pcap")]) == EXIT_BAD_INPUT
    assert capsys.readouterr().out == ""


def test_truncated_capture_is_analyzed_with_a_warning_and_exit_0(
    capture: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = capture.read_bytes()
    capture.write_bytes(data[:-20])
    assert main(["analyze", str(capture)]) == EXIT_OK
    captured = capsys.readouterr()
    assert "(capture truncated)" in captured.out
    assert "warning:" in captured.err
    assert "ends inside a block" in captured.err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["analyze"])
    assert info.value.code == EXIT_USAGE
    with pytest.raises(SystemExit) as info:
        main(["analyze", "--format", "xml", "x.pcap"])
    assert info.value.code == EXIT_USAGE


@pytest.mark.parametrize("command", ["analyze", "run", "judge"])
def test_help_documents_every_exit_status(command: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "phonehome.cli", command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    text = " ".join(result.stdout.split())
    if command == "judge":
        says = ["0, 1 or 3 as the reproduced verdicts", "2 usage", "4 bad input", "6 the verdicts differ"]
    else:
        says = ["0 every verdict PASS", "1 a verdict is FAIL", "2 usage error", "3 no FAIL but a verdict is "
                "INCONCLUSIVE", "4 bad input", "5 no verdict", "6 internal error", "A crash never exits 1"]  # fmt: skip
    for status in says:
        assert status in text, status


def test_a_crash_exits_internal_error_never_fail(
    capture: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug in the analyzer")

    monkeypatch.setattr("phonehome.traffic.analyze", crash)
    assert main(["analyze", str(capture)]) == EXIT_INTERNAL_ERROR
    assert "phonehome analyze: internal error: RuntimeError: a bug in the analyzer" in capsys.readouterr().err


def test_an_interrupted_command_gives_no_verdict(capture: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("phonehome.traffic.analyze", interrupted)
    assert main(["analyze", str(capture)]) == EXIT_NO_VERDICT


def test_a_full_disk_is_an_internal_error_from_the_console_script(capture: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("/dev/full is absent: no way to fill a disk here")
    done = subprocess.run(
        [sys.executable, "-m", "phonehome.cli", "analyze", "--format", "json", "-o", "/dev/full", str(capture)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == EXIT_INTERNAL_ERROR, done.stderr
    assert "No space left on device" in done.stderr


def test_a_run_that_crashes_exits_internal_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def crash(*args: object, **kwargs: object) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("phonehome.run.run", crash)
    assert main(["run", "--device", "virtual:aosp-clean", "--suite", str(REPO / "tests/compliance")]) == 6
    assert "internal error" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--device", "virtual:"], "expected virtual:PROFILE or adb:SERIAL"),
        (["--device", "virtual:nokia-7-plus-2091"], "no virtual handset profile 'nokia-7-plus-2091'"),
        (
            ["--device", "virtual:aosp-clean", "--manifest", "manifests/no-such.yaml"],
            "manifests/no-such.yaml",
        ),
        (
            ["--device", "virtual:aosp-clean", "--inventory", "devices/inventory.yaml.typo"],
            "inventory.yaml.typo",
        ),
    ],
)
def test_run_with_bad_input_exits_4_before_any_bench(
    args: list[str],
    says: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(REPO)
    assert main(["run", *args, "--results", str(tmp_path)]) == EXIT_BAD_INPUT
    assert says in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []


def test_run_usage_errors_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LG_PLACE", raising=False)  # a labgrid place would lend the handset (--lg-place)
    assert main(["run"]) == EXIT_USAGE
    assert "--device is required" in capsys.readouterr().err
    assert main(["run", "--device", "virtual:aosp-clean", "--suite", str(tmp_path / "none")]) == EXIT_USAGE


def test_an_output_file_that_cannot_be_written_is_a_usage_error(
    capture: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "no-such-dir" / "out.json"
    assert main(["analyze", "--format", "json", "-o", str(target), str(capture)]) == EXIT_USAGE
    assert f"cannot write {target}" in capsys.readouterr().err


def test_run_with_a_results_folder_it_cannot_create_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(REPO)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    status = main(["run", "--device", "virtual:aosp-clean", "--results", str(blocker / "results")])
    assert status == EXIT_USAGE
    assert "cannot create a results folder" in capsys.readouterr().out
