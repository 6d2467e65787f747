"""A real TLS 1.3 connection, captured, with its key log put into the capture: `phonehome analyze` reads inside.

The test makes its own network namespace (loopback only: no packet can leave
the machine), runs an OpenSSL server and client there (Python's ssl, the
client writing SSLKEYLOGFILE lines as an instrumented build would), captures
the loopback with dumpcap or tcpdump, writes the key log into the capture as a
pcapng Decryption Secrets Block, and judges the capture with an identity.
"""

from __future__ import annotations

import datetime
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from phonehome.bench.tools import find_tool
from phonehome.cli import EXIT_FAIL, EXIT_INCONCLUSIVE, EXIT_OK
from phonehome.traffic.pcapfile import open_capture
from phonehome.traffic.writers import Packet, pcapng_bytes, with_tls_secrets

pytestmark = pytest.mark.root

IMEI = "490154203237518"
PORT = 8443
READY = {"dumpcap": "Capturing on", "tcpdump": "listening on"}

EXCHANGE = textwrap.dedent(
    """
    import socket, ssl, sys, threading
    cert, key, keylog, imei, port = sys.argv[1:6]
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", int(port)))

    def serve():
        conn, _ = listener.accept()
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            data = b""
            while b"imei=" not in data:
                data += tls.recv(4096)
            tls.sendall(b"HTTP/1.1 204 No Content\\r\\nContent-Length: 0\\r\\n\\r\\n")

    thread = threading.Thread(target=serve)
    thread.start()
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    client_ctx.load_verify_locations(cert)
    client_ctx.keylog_filename = keylog
    body = ("imei=" + imei).encode()
    request = (
        b"POST /register HTTP/1.1\\r\\nHost: reg.example.com\\r\\nContent-Length: "
        + str(len(body)).encode() + b"\\r\\n\\r\\n" + body
    )
    with socket.create_connection(("127.0.0.1", int(port)), timeout=10) as raw:
        with client_ctx.wrap_socket(raw, server_hostname="reg.example.com") as tls:
            tls.sendall(request)
            print(tls.version(), tls.recv(4096).split(b"\\r\\n")[0].decode())
    thread.join(10)
    listener.close()
    """
)


def capture_tool() -> str:
    for name in ("dumpcap", "tcpdump"):
        if find_tool(name) is not None:
            return name
    pytest.skip("neither dumpcap nor tcpdump is installed: nothing can capture the connection")


@pytest.fixture
def namespace() -> Iterator[str]:
    """A network namespace with only its loopback up; removed afterwards, whatever happened."""
    if find_tool("ip") is None:
        pytest.skip("iproute2's ip is not installed: the test cannot make its namespace")
    name = f"phtls-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=30)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True, timeout=30)
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False, timeout=30)


def certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "reg.example.com")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("reg.example.com")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def start_capture(tool: str, namespace: str, path: Path) -> subprocess.Popen[bytes]:
    """The capture tool on the namespace's loopback, returned once it says it captures."""
    # tcpdump's --immediate-mode: without it the last packets wait in the kernel's ring for a block timeout,
    # and a SIGINT before it ends drops them ("4 packets received by filter, 0 captured").
    extra = ["-q"] if tool == "dumpcap" else ["-U", "-s", "0", "-n", "--immediate-mode"]
    argv = [tool, "-i", "lo", "-w", str(path), *extra]
    process = subprocess.Popen(
        ["ip", "netns", "exec", namespace, *argv], stderr=subprocess.PIPE, start_new_session=True
    )
    assert process.stderr is not None
    os.set_blocking(process.stderr.fileno(), False)
    said = b""
    deadline = time.monotonic() + 20
    while READY[tool].encode() not in said:
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            pytest.fail(f"{tool} did not start capturing: {said.decode(errors='replace')}")
        said += process.stderr.read() or b""
        time.sleep(0.05)
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    """Ends the capture (SIGINT: the tool flushes and closes its file), killing it if it will not."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)
    if process.stderr is not None:
        process.stderr.close()


def as_pcapng_with_secrets(path: Path, keylog: bytes) -> bytes:
    """The capture with its key log in a Decryption Secrets Block (tcpdump's pcap is rewritten as pcapng)."""
    data = path.read_bytes()
    if data[:4] == b"\x0a\x0d\x0d\x0a":
        return with_tls_secrets(data, keylog)
    reader = open_capture(path)
    packets = [Packet(ts, frame, linktype) for ts, linktype, frame, _orig in reader.packets()]
    reader.finish()
    return pcapng_bytes(packets, tls_keylog=keylog)


def judge(capture: Path, identity: Path) -> dict[str, object]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "phonehome.cli",
            "analyze",
            "--identity",
            str(identity),
            "--format",
            "json",
            str(capture),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode in (EXIT_OK, EXIT_FAIL, EXIT_INCONCLUSIVE), done.stderr  # a verdict, not an error
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_a_captured_tls13_connection_with_its_key_log_inside_is_read_and_its_leak_found(
    namespace: str, tmp_path: Path
) -> None:
    tool = capture_tool()
    cert, key = certificate(tmp_path)
    keylog = tmp_path / "sslkeys.log"
    raw = tmp_path / f"loopback.{'pcapng' if tool == 'dumpcap' else 'pcap'}"
    raw.touch()
    raw.chmod(0o666)  # dumpcap may write as another user
    capture = start_capture(tool, namespace, raw)
    try:
        done = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                namespace,
                sys.executable,
                "-c",
                EXCHANGE,
                str(cert),
                str(key),
                str(keylog),
                IMEI,
                str(PORT),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        time.sleep(0.5)  # the last segments reach the capture buffer
    finally:
        stop(capture)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["TLSv1.3", "HTTP/1.1", "204", "No", "Content"]
    secrets = keylog.read_bytes()
    assert b"CLIENT_TRAFFIC_SECRET_0" in secrets
    with_secrets = tmp_path / "with-secrets.pcapng"
    with_secrets.write_bytes(as_pcapng_with_secrets(raw, secrets))
    without = tmp_path / "without-secrets.pcapng"
    without.write_bytes(as_pcapng_with_secrets(raw, b""))
    identity = tmp_path / "identity.yaml"
    identity.write_text(f"imei: {IMEI}\n")

    judged = judge(with_secrets, identity)
    [flow] = [f for f in judged["flows"] if f["dport"] == PORT]  # type: ignore[union-attr]
    assert (flow["transport"], flow["decrypted"], flow["tls_server_version"]) == ("tls", True, 0x0304)
    assert flow["sni"] == "reg.example.com"
    [request] = flow["http_requests"]
    assert (request["method"], request["host"], request["decrypted"]) == ("POST", "reg.example.com", True)
    assert judged["capture"]["files"][0]["decryption_secrets"] == 1  # type: ignore[index]
    leaks = [f for f in judged["findings"] if f.get("identifier") == "imei"]  # type: ignore[union-attr]
    assert any(str(f.get("decode", "")).startswith("tls-decrypted") for f in leaks), leaks

    control = judge(without, identity)
    [flow] = [f for f in control["flows"] if f["dport"] == PORT]  # type: ignore[union-attr]
    assert (flow["transport"], flow["decrypted"], flow["http_requests"]) == ("tls", False, [])
    assert not [f for f in control["findings"] if f.get("identifier") == "imei"]  # type: ignore[union-attr]
