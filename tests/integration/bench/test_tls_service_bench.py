"""The TLS service on a running bench: it serves the handset's TCP (TLS or not) in place of the sinks, as
nobody with no capability, its results their owner's only; UDP still reaches the sinks; the capture
names its records and key log."""

from __future__ import annotations

import pwd
import stat

import pytest

from phonehome.bench import tls_service
from phonehome.bench.dhcp_client import obtain_lease
from phonehome.traffic.interception import read_interception
from tests.integration.bench.conftest import BenchFactory, in_handset
from tests.integration.bench.test_least_privilege import process

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(tls_service.interpreter() is None, reason="no mitmproxy environment (./bootstrap.sh)"),
]


def test_the_tls_service_takes_the_handsets_tcp_as_nobody_and_the_capture_names_its_files(
    make_bench: BenchFactory,
) -> None:
    bench = make_bench("name: test-tls\ntls: validate\nports:\n  - name: wlan\n")
    obtain_lease(bench.port(), bench.workdir)
    nobody = str(pwd.getpwnam("nobody").pw_uid)
    found = process(bench, "tls")
    assert found["Uid"].split() == [nobody] * 4
    assert int(found["CapEff"], 16) == 0
    assert int(found["CapPrm"], 16) == 0
    assert found["NoNewPrivs"] == "1"
    done = in_handset(
        bench.port(),
        """
        import socket, ssl
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        with socket.create_connection(("198.18.0.9", 443), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname="api.oem.example") as tls:
                tls.sendall(b"GET /x HTTP/1.1\\r\\nHost: api.oem.example\\r\\n\\r\\n")
                print(tls.recv(100)[:12].decode())
        with socket.create_connection(("198.18.0.9", 80), timeout=10) as plain:
            plain.sendall(b"GET /generate_204 HTTP/1.1\\r\\nHost: connectivitycheck.gstatic.com\\r\\n\\r\\n")
            print(plain.recv(100)[:12].decode())
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"ping", ("198.18.0.9", 5000))
        """,
    )
    assert done.stdout.split("\n")[:2] == ["HTTP/1.1 204", "HTTP/1.1 204"], done.stderr
    capture = bench.stop_capture()["wlan"]
    assert capture.tls == "validate"
    assert capture.tls_records is not None
    assert capture.tls_keylog is not None
    (offer,) = read_interception(capture.tls_records, "validate").offers
    assert offer.dst == ("198.18.0.9", 443)
    assert offer.certificate.probe == "self-signed"
    assert offer.accepted
    assert [r.proto for r in bench.sink_records()] == ["udp"]
    for name in (tls_service.RECORDS_NAME, tls_service.KEYLOG_NAME, tls_service.ENDPOINTS_NAME):
        info = (bench.workdir / name).stat()
        assert (stat.S_IMODE(info.st_mode), info.st_uid) == (0o600, 0), name
    assert not [p for p in capture.problems if "TLS service" in p], capture.problems
