"""Where the secrets come from: pcapng Decryption Secrets Blocks, a key log file, ``phonehome analyze --keylog``."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest

from phonehome.cli import EXIT_BAD_INPUT, EXIT_OK, main
from phonehome.report.analysis_json import schema, to_dict
from phonehome.traffic import analyze, factory, pcapng
from phonehome.traffic.pcapfile import open_capture
from phonehome.traffic.tls_build import Tls12Connection, Tls13Connection
from phonehome.traffic.writers import secrets_block, with_tls_secrets
from tests.unit.traffic.tls_cases import IMEI, posted


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("big_endian", [False, True])
def test_a_secrets_block_reaches_the_reader_between_the_packets_around_it(
    tmp_path: Path, big_endian: bool
) -> None:
    packets = posted(Tls13Connection()).packets
    path = write(
        tmp_path / "c.pcapng",
        factory.pcapng_bytes(packets, tls_keylog=b"CLIENT_RANDOM x y\n", big_endian=big_endian),
    )
    reader = open_capture(path)
    seen: list[tuple[int, bytes]] = []
    reader.on_secrets = lambda kind, data: seen.append((kind, data))
    assert sum(1 for _ in reader.packets()) == len(packets)
    assert seen == [(pcapng.SECRETS_TLS_KEYLOG, b"CLIENT_RANDOM x y\n")]
    assert reader.finish().decryption_secrets == 1


def test_secrets_in_the_capture_decrypt_its_flows(tmp_path: Path) -> None:
    connection = Tls13Connection()
    path = write(
        tmp_path / "c.pcapng",
        factory.pcapng_bytes(posted(connection).packets, tls_keylog=connection.keylog()),
    )
    analysis = analyze(path)
    [flow] = analysis.flows
    assert flow.decrypted
    assert [r.body for r in flow.http_requests] == [b"imei=" + IMEI.encode()]
    assert analysis.files[0].decryption_secrets == 1
    assert analysis.stats.tls_keys == 1
    assert analysis.warnings == []


def test_secrets_spliced_into_an_existing_capture_decrypt_it(tmp_path: Path) -> None:
    connection = Tls12Connection()
    plain = factory.pcapng_bytes(posted(connection).packets, comment="from dumpcap")
    path = write(tmp_path / "c.pcapng", with_tls_secrets(plain, connection.keylog()))
    [flow] = analyze(path).flows
    assert flow.decrypted
    with pytest.raises(ValueError, match="not a pcapng file"):
        with_tls_secrets(factory.pcap_bytes(posted(connection).packets), b"")


def test_secrets_that_come_after_their_connection_are_not_used_and_said(tmp_path: Path) -> None:
    connection = Tls13Connection()
    data = factory.pcapng_bytes(posted(connection).packets) + secrets_block(connection.keylog())
    analysis = analyze(write(tmp_path / "late.pcapng", data))
    assert not analysis.flows[0].decrypted
    assert any("secrets for 1 TLS connections came after their ClientHello" in w for w in analysis.warnings)


def test_secrets_of_other_protocols_are_said_to_be_unused(tmp_path: Path) -> None:
    data = factory.pcapng_bytes(posted(Tls13Connection()).packets) + secrets_block(
        b"k" * 32, secrets_type=0x57474B4C
    )
    analysis = analyze(write(tmp_path / "wg.pcapng", data))
    assert (
        "decryption secrets of type WireGuard keys in the capture are not used (only TLS key logs are)"
        in (analysis.warnings)
    )


def test_a_key_log_file_and_the_capture_secrets_add_up(tmp_path: Path) -> None:
    inside, beside = Tls13Connection(), Tls12Connection()
    second = posted(
        beside, conv=factory.TcpConversation(("10.0.0.2", 40001), ("198.51.100.8", 443)).handshake()
    )
    packets = factory.interleave(posted(inside).packets, second.packets)
    path = write(tmp_path / "c.pcapng", factory.pcapng_bytes(packets, tls_keylog=inside.keylog()))
    keylog = write(tmp_path / "sslkeys.log", beside.keylog())
    analysis = analyze(path, keylog=keylog)
    assert [f.decrypted for f in analysis.flows] == [True, True]
    assert analysis.stats.tls_keys == 2


def test_the_json_export_of_a_decrypted_flow_follows_the_schema(tmp_path: Path) -> None:
    connection = Tls13Connection()
    path = write(
        tmp_path / "c.pcapng",
        factory.pcapng_bytes(posted(connection).packets, tls_keylog=connection.keylog()),
    )
    data = to_dict(analyze(path))
    jsonschema.Draft202012Validator(schema()).validate(data)
    [flow] = data["flows"]
    assert (flow["transport"], flow["decrypted"], flow["tls_cipher_suite"]) == ("tls", True, 0x1301)
    assert flow["decrypted_c2s"] > 0
    assert [r["decrypted"] for r in flow["http_requests"]] == [True]
    assert {(c["source"], c["decrypted"]) for c in flow["claims"]} == {("sni", False), ("http-host", True)}
    assert data["capture"]["files"][0]["decryption_secrets"] == 1
    assert data["stats"]["tls_keys"] == 1


def test_cli_analyze_keylog_decrypts_and_a_missing_key_log_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    connection = Tls13Connection()
    capture = write(tmp_path / "c.pcapng", factory.pcapng_bytes(posted(connection).packets))
    keylog = write(tmp_path / "sslkeys.log", connection.keylog())
    assert main(["analyze", "--format", "json", "--keylog", str(keylog), str(capture)]) == EXIT_OK
    [flow] = json.loads(capsys.readouterr().out)["flows"]
    assert flow["decrypted"]
    assert [r["host"] for r in flow["http_requests"]] == ["reg.example.com"]
    assert main(["analyze", "--keylog", str(tmp_path / "nope.log"), str(capture)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "nope.log: no such key log file" in err


def test_cli_judging_with_a_key_log_finds_the_identifier_inside_tls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    connection = Tls13Connection()
    capture = write(tmp_path / "c.pcapng", factory.pcapng_bytes(posted(connection).packets))
    keylog = write(tmp_path / "sslkeys.log", connection.keylog())
    identity = write(tmp_path / "id.yaml", f"imei: {IMEI}\n".encode())
    main(["analyze", "--identity", str(identity), "--keylog", str(keylog), "--format", "json", str(capture)])
    findings = json.loads(capsys.readouterr().out)["findings"]
    assert any(
        f.get("decode", "").startswith("tls-decrypted") and f.get("identifier") == "imei" for f in findings
    )


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed (the Wireshark oracle)")
@pytest.mark.parametrize(
    "connection",
    [
        Tls13Connection(0x1301),
        Tls13Connection(0x1303),
        Tls12Connection(0xC030),
        Tls12Connection(0x002F, version=0x0301),
    ],
    ids=["tls13-aes128gcm", "tls13-chacha20", "tls12-aes256gcm", "tls10-aes128cbc"],
)
def test_wireshark_reads_the_same_requests_from_the_secrets_we_write(
    tmp_path: Path, connection: Tls13Connection | Tls12Connection
) -> None:
    path = write(
        tmp_path / "c.pcapng",
        factory.pcapng_bytes(posted(connection).packets, tls_keylog=connection.keylog()),
    )
    done = subprocess.run(
        [
            "tshark",
            "-r",
            str(path),
            "-Y",
            "http.request",
            "-T",
            "fields",
            "-e",
            "http.host",
            "-e",
            "http.file_data",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    [flow] = analyze(path).flows
    [request] = flow.http_requests
    host, body = done.stdout.strip().split("\t")
    assert (host, body) == (request.host, request.body.decode())


@pytest.mark.skipif(shutil.which("editcap") is None, reason="editcap is not installed (the Wireshark oracle)")
def test_secrets_injected_by_editcap_are_read(tmp_path: Path) -> None:
    connection = Tls13Connection()
    plain = write(tmp_path / "plain.pcapng", factory.pcapng_bytes(posted(connection).packets))
    keylog = write(tmp_path / "sslkeys.log", connection.keylog())
    injected = tmp_path / "injected.pcapng"
    subprocess.run(
        ["editcap", "--inject-secrets", f"tls,{keylog}", str(plain), str(injected)],
        check=True,
        timeout=60,
        capture_output=True,
    )
    analysis = analyze(injected)
    assert analysis.flows[0].decrypted
    assert analysis.files[0].decryption_secrets == 1
