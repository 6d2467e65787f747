"""Hostile definition files and timelines on the command line: exit 4 and one line on stderr, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from phonehome.bench import cli as bench_cli
from phonehome.cli import EXIT_BAD_INPUT, EXIT_OK, main
from phonehome.policy import load_manifest
from phonehome.traffic import factory, http, tls
from phonehome.traffic.factory import TcpConversation
from tests.unit.hostile import DOCUMENTS, IDENTITY_SEED, JSONL, VALUES, splice

HOSTILE_YAML = {
    **{
        name: DOCUMENTS[name]
        for name in ("billion-laughs", "deep-flow", "recursive-alias", "latin1", "raw-escape")
    },
    **{
        name: next(splice(IDENTITY_SEED.encode(), VALUES[name]))
        for name in ("alias-bomb", "big-int", "python-apply")
    },
    "control-key": b'imei: "353867091234562"\n"\\e[2J\\u202e": 1\n',
    "missing": None,
}
HOSTILE_TIMELINES = {
    name: JSONL[name] for name in ("nan", "deep", "not-utf8", "repeated-ts", "phase-control")
}


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    """A handset that names one server in a non-ASCII Host header and another with a wildcard SNI."""
    web = TcpConversation(("10.0.0.2", 41000), ("198.51.100.9", 80)).handshake()
    host = "bücher.example".encode().decode("latin-1")  # the UTF-8 bytes, as a client sends them
    web.send(http.build_request("GET", "/", {"Host": host}))
    secure = TcpConversation(("10.0.0.2", 41001), ("198.51.100.10", 443), ts=web.ts).handshake()
    secure.send(tls.build_client_hello(b"*.example.com"))
    plain = TcpConversation(("10.0.0.2", 41002), ("198.51.100.11", 443), ts=secure.ts).handshake()
    plain.send(tls.build_client_hello("play.example.com"))
    path = tmp_path / "handset.pcapng"
    path.write_bytes(factory.pcapng_bytes(web.packets + secure.packets + plain.packets))
    return path


@pytest.fixture
def identity(tmp_path: Path) -> Path:
    path = tmp_path / "id.yaml"
    path.write_text(IDENTITY_SEED)
    return path


def _write(tmp_path: Path, name: str, content: bytes | None, suffix: str = ".yaml") -> Path:
    path = tmp_path / f"{name}{suffix}"
    if content is not None:
        path.write_bytes(content)
    return path


def _one_line(err: str, prefix: str) -> None:
    assert err.count("\n") == 1, err
    assert err.startswith(prefix), err
    assert err[:-1].isprintable(), err


@pytest.mark.parametrize("name", HOSTILE_YAML)
@pytest.mark.parametrize("option", ["--identity", "--manifest"])
def test_analyze_with_a_hostile_definition_is_bad_input(
    capture: Path, identity: Path, capsys: pytest.CaptureFixture[str], name: str, option: str
) -> None:
    bad = _write(identity.parent, name, HOSTILE_YAML[name])
    args = ["analyze", str(capture), "--identity", str(identity), option, str(bad)]
    assert main(args) == EXIT_BAD_INPUT
    captured = capsys.readouterr()
    _one_line(captured.err, f"phonehome analyze: {bad}")
    assert captured.out == ""


@pytest.mark.parametrize("name", HOSTILE_TIMELINES)
def test_analyze_with_a_hostile_timeline_is_bad_input(
    capture: Path, identity: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    bad = _write(tmp_path, name, HOSTILE_TIMELINES[name], ".jsonl")
    assert (
        main(["analyze", str(capture), "--identity", str(identity), "--timeline", str(bad)]) == EXIT_BAD_INPUT
    )
    _one_line(capsys.readouterr().err, f"phonehome analyze: {bad}:1: ")


@pytest.mark.parametrize("name", HOSTILE_YAML)
def test_manifest_suggest_with_a_hostile_identity_is_bad_input(
    capture: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    bad = _write(tmp_path, name, HOSTILE_YAML[name])
    assert main(["manifest", "suggest", str(capture), "--identity", str(bad)]) == EXIT_BAD_INPUT
    _one_line(capsys.readouterr().err, f"phonehome manifest suggest: {bad}")


@pytest.mark.parametrize("name", HOSTILE_YAML)
def test_bench_up_with_a_hostile_definition_is_bad_input_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    bad = _write(tmp_path, name, HOSTILE_YAML[name])
    assert (
        main(["bench", "up", str(bad), "--workdir", str(tmp_path / "work")]) == bench_cli.EXIT_BAD_INPUT == 4
    )
    captured = capsys.readouterr()
    _one_line(captured.err, f"phonehome bench up: {bad}")
    assert captured.out == ""
    assert not (tmp_path / "work").exists()


def test_bench_up_with_a_typo_names_the_line_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _write(tmp_path, "bench", b"name: lab\nports:\n  - name: wifi\n    kidn: veth\n")
    assert main(["bench", "up", str(bad)]) == EXIT_BAD_INPUT
    assert capsys.readouterr().err.startswith(f"phonehome bench up: {bad}:4: ports.0.kidn: unknown key")


def test_bench_help_documents_the_bad_input_status() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "phonehome.cli", "bench", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "4 on a definition that cannot be used" in " ".join(result.stdout.split())


def test_manifest_suggest_on_hostile_server_names_writes_a_draft_that_loads(
    capture: Path, identity: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "draft.yaml"
    assert main(["manifest", "suggest", str(capture), "--handset", "10.0.0.2", "-o", str(out)]) == EXIT_OK
    text = out.read_text(encoding="utf-8")
    draft = load_manifest(out)
    assert [e.hosts for e in draft.endpoints if e.hosts] == [["play.example.com"]]
    assert {c for e in draft.endpoints for c in e.cidrs} == {
        "198.51.100.9/32",
        "198.51.100.10/32",
        "198.51.100.11/32",
    }
    assert "not host names (they cannot be declared" in text
    assert "'*.example.com' at 198.51.100.10" in text
    capsys.readouterr()
    args = [
        "analyze",
        str(capture),
        "--handset",
        "10.0.0.2",
        "--identity",
        str(identity),
        "--manifest",
        str(out),
    ]
    main([*args, "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    # Every address is declared; the two names that are not host names stay findings for a person.
    claims = {f["detail"].split(" (")[0] for f in doc["findings"] if f["rule"] == "undeclared-claim"}
    assert not [f for f in doc["findings"] if f["rule"] == "undeclared-endpoint"]
    assert len(claims) == 2
