"""`phonehome analyze`: table and JSON output, exit statuses, one clear line for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from phonehome.cli import EXIT_BAD_INPUT, EXIT_OK, EXIT_USAGE, main
from phonehome.traffic import dns, factory, http, tls
from phonehome.traffic.factory import TcpConversation, UdpConversation


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


def test_help_documents_the_exit_statuses() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "phonehome.cli", "analyze", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    text = " ".join(result.stdout.split())
    for status in ("0 analyzed", "2 usage error", "4 bad input"):
        assert status in text
