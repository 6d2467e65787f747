"""Key logs in the NSS format: the secrets they give, the lines they skip, their bounds and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from phonehome.traffic import keylog
from phonehome.traffic.keylog import KeyLog, KeyLogError, load_keylog
from phonehome.traffic.pcapfile import CaptureError

RANDOM = bytes(range(32))
OTHER = bytes(range(1, 33))


def line(label: str, random: bytes = RANDOM, secret: bytes = b"\x11" * 32) -> bytes:
    return f"{label} {random.hex()} {secret.hex()}\n".encode()


def test_each_label_fills_its_secret() -> None:
    log = KeyLog()
    text = (
        line("CLIENT_RANDOM", secret=b"\x01" * 48)
        + line("CLIENT_EARLY_TRAFFIC_SECRET", secret=b"\x02" * 32)
        + line("CLIENT_HANDSHAKE_TRAFFIC_SECRET", secret=b"\x03" * 32)
        + line("SERVER_HANDSHAKE_TRAFFIC_SECRET", secret=b"\x04" * 48)
        + line("CLIENT_TRAFFIC_SECRET_0", secret=b"\x05" * 32)
        + line("SERVER_TRAFFIC_SECRET_0", secret=b"\x06" * 32)
    )
    assert log.add(text) == 6
    secrets = log.get(RANDOM)
    assert secrets is not None
    assert secrets.master == b"\x01" * 48
    assert secrets.client_early == b"\x02" * 32
    assert secrets.client_handshake == b"\x03" * 32
    assert secrets.server_handshake == b"\x04" * 48
    assert secrets.client_traffic == b"\x05" * 32
    assert secrets.server_traffic == b"\x06" * 32
    assert len(log) == 1
    assert log.warnings() == []


def test_connections_are_found_by_their_client_random_only() -> None:
    log = KeyLog()
    log.add(line("CLIENT_RANDOM", RANDOM, b"\x01" * 48) + line("CLIENT_RANDOM", OTHER, b"\x02" * 48))
    first, second = log.get(RANDOM), log.get(OTHER)
    assert first is not None
    assert second is not None
    assert (first.master, second.master) == (b"\x01" * 48, b"\x02" * 48)
    assert log.get(b"\x00" * 32) is None


def test_comments_blank_lines_crlf_and_upper_case_hex_are_read() -> None:
    entry = line("CLIENT_RANDOM", secret=b"\xab" * 48).upper().rstrip(b"\n")
    text = b"# written by an instrumented build\r\n\r\n" + entry + b"\r\n   \n"
    log = KeyLog()
    assert log.add(text) == 1
    secrets = log.get(RANDOM)
    assert secrets is not None
    assert secrets.master == b"\xab" * 48


def test_other_labels_are_ignored_without_complaint() -> None:
    log = KeyLog()
    text = (
        line("EXPORTER_SECRET")
        + b"RSA 0011223344556677 " + b"00" * 48 + b"\n"
        + line("client_random", secret=b"\x01" * 48)  # labels are case-sensitive
    )  # fmt: skip
    assert log.add(text) == 0
    assert (log.malformed, len(log)) == (0, 0)


@pytest.mark.parametrize(
    "bad",
    [
        b"CLIENT_RANDOM " + b"zz" * 32 + b" " + b"00" * 48,  # not hex
        b"CLIENT_RANDOM " + b"00" * 31 + b" " + b"00" * 48,  # a 31-byte random
        b"CLIENT_RANDOM " + b"00" * 32 + b" " + b"00" * 32,  # a TLS 1.2 master secret is 48 bytes
        b"CLIENT_TRAFFIC_SECRET_0 " + b"00" * 32 + b" " + b"00" * 20,  # neither SHA-256 nor SHA-384 long
        b"CLIENT_RANDOM " + b"00" * 32,  # a field missing
        b"CLIENT_RANDOM " + b"00" * 32 + b" " + b"00" * 48 + b" extra",  # a field too many
        b"CLIENT_RANDOM " + b"\xff\xfe" * 32 + b" " + b"00" * 48,  # not ASCII
        b"CLIENT_RANDOM " + b"00" * 32 + b" " + b"0" * 97,  # odd hex
        b"CLIENT_RANDOM " + b"00" * 32 + b" " * 2000 + b"00" * 48,  # a line over the bound
    ],
)
def test_a_malformed_line_is_counted_and_skipped(bad: bytes) -> None:
    log = KeyLog()
    assert log.add(bad + b"\n" + line("CLIENT_RANDOM", OTHER, b"\x01" * 48)) == 1
    assert log.malformed == 1
    assert log.get(RANDOM) is None
    assert log.get(OTHER) is not None
    assert "1 lines with a known label did not parse" in log.warnings()[0]


def test_a_second_value_for_a_secret_keeps_the_first_and_is_counted() -> None:
    log = KeyLog()
    log.add(line("CLIENT_RANDOM", secret=b"\x01" * 48) + line("CLIENT_RANDOM", secret=b"\x02" * 48))
    log.add(line("CLIENT_RANDOM", secret=b"\x01" * 48))  # the same value again is no conflict
    secrets = log.get(RANDOM)
    assert secrets is not None
    assert secrets.master == b"\x01" * 48
    assert log.conflicts == 1
    assert any("different values" in w for w in log.warnings())


def test_connections_past_the_bound_are_dropped_and_said(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keylog, "MAX_CONNECTIONS", 3)
    log = KeyLog()
    log.add(b"".join(line("CLIENT_RANDOM", bytes([i]) * 32, b"\x01" * 48) for i in range(5)))
    assert len(log) == 3
    assert log.dropped == 2
    assert any("more than 3 connections" in w for w in log.warnings())


def test_secrets_that_come_after_their_connection_was_looked_up_are_counted_late() -> None:
    log = KeyLog()
    assert log.get(RANDOM) is None
    log.add(line("CLIENT_RANDOM", secret=b"\x01" * 48) + line("CLIENT_RANDOM", OTHER, b"\x01" * 48))
    assert log.late == 1
    assert any("came after their ClientHello" in w for w in log.warnings())


def test_load_keylog_reads_a_file_and_warns_when_it_holds_nothing(tmp_path: Path) -> None:
    path = tmp_path / "sslkeys.log"
    path.write_bytes(line("CLIENT_RANDOM", secret=b"\x01" * 48))
    log, warnings = load_keylog(path)
    assert (len(log), warnings) == (1, [])
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"# nothing yet\n")
    _log, warnings = load_keylog(empty)
    assert warnings == [f"{empty}: holds no TLS secrets in the NSS key log format"]


def test_load_keylog_reads_only_the_start_of_a_huge_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keylog, "MAX_FILE", 300)
    path = tmp_path / "sslkeys.log"
    path.write_bytes(b"".join(line("CLIENT_RANDOM", bytes([i]) * 32, b"\x01" * 48) for i in range(10)))
    log, warnings = load_keylog(path)
    assert len(log) == 1  # a line is 179 bytes: one whole line fits in 300
    assert "only its start was read" in warnings[0]


@pytest.mark.parametrize("what", ["missing", "directory"])
def test_a_key_log_that_cannot_be_read_is_an_error_naming_it(tmp_path: Path, what: str) -> None:
    path = tmp_path / "sslkeys.log"
    if what == "directory":
        path.mkdir()
    with pytest.raises(KeyLogError) as caught:
        load_keylog(path)
    assert isinstance(caught.value, CaptureError)  # the CLI's bad-input path catches it
    assert str(path) in str(caught.value)
