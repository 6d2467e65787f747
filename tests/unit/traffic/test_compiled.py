"""The analyzer's packet path is compiled (setup.py, mypyc), and a build that no longer matches its
sources is refused rather than run: a checkout edited after its build would otherwise run the old code."""

from __future__ import annotations

import ast
import json
import os
import random
import shutil
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

from phonehome.bench.doctor import check_analyzer
from phonehome.traffic import _compiled, analyze, dns, factory, http, tls

ROOT = Path(_compiled.__file__).resolve().parents[2]


def _tree(tmp_path: Path, *, built: bool) -> Path:
    """A copy of the compiled modules' sources, with a (fake) extension beside one of them."""
    for name in _compiled.MODULES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / name, tmp_path / name)
    if built:
        (tmp_path / "phonehome/traffic" / f"analyzer{EXTENSION_SUFFIXES[0]}").write_bytes(b"")
        digest = _compiled.sources_digest(tmp_path)
        (tmp_path / _compiled.DIGEST_FILE).write_text(f"{digest}\n", encoding="ascii")
    return tmp_path


def test_extensions_built_from_these_sources_are_used(tmp_path: Path) -> None:
    _compiled.refuse_stale_extensions(_tree(tmp_path, built=True))


def test_an_edited_source_after_the_build_is_refused_with_how_to_rebuild(tmp_path: Path) -> None:
    root = _tree(tmp_path, built=True)
    source = root / "phonehome/traffic/dns.py"
    source.write_text(source.read_text() + "\n# edited\n")
    with pytest.raises(ImportError, match=r"other sources .* Rebuild it with ./bootstrap.sh"):
        _compiled.refuse_stale_extensions(root)


def test_extensions_without_a_record_of_their_sources_are_refused(tmp_path: Path) -> None:
    root = _tree(tmp_path, built=True)
    (root / _compiled.DIGEST_FILE).unlink()
    with pytest.raises(ImportError, match="other sources"):
        _compiled.refuse_stale_extensions(root)


def test_plain_sources_without_extensions_are_used_as_they_are(tmp_path: Path) -> None:
    root = _tree(tmp_path, built=False)
    (root / "phonehome/traffic/dns.py").write_text("# edited\n")
    _compiled.refuse_stale_extensions(root)


def test_this_install_runs_the_compiled_analyzer_unless_built_plain() -> None:
    # The project's install (bootstrap.sh, pip) compiles; PHONEHOME_PURE=1 is the only way to skip it.
    check = check_analyzer()
    if os.environ.get("PHONEHOME_PURE", "") not in ("", "0"):
        pytest.skip("PHONEHOME_PURE is set: this install is meant to be interpreted")
    assert check.ok, check.detail
    assert _compiled.compiled()
    assert _compiled.extension_files(), "compiled() says yes, but no extension file is found"


def test_a_bytes_slice_whose_start_lies_past_its_stop_is_empty_in_the_compiled_analyzer(
    tmp_path: Path,
) -> None:
    # A QUIC long header whose lengths point backwards: the Initial's packet number offset lies past
    # the packet's end, so the analyzer slices data[start:stop] with start > stop. Python gives b"";
    # mypyc's own runtime raised SystemError there (setup.py compiles a corrected copy).
    datagram = bytes([0xCC, 0, 0, 0, 1]) + bytes(1195)
    conv = factory.UdpConversation(("10.0.0.2", 50000), ("198.51.100.7", 443)).send(datagram)
    path = tmp_path / "quic.pcapng"
    path.write_bytes(factory.pcapng_bytes(conv.packets))
    (flow,) = analyze(path, hash_files=False).flows
    assert (flow.src, flow.dport) == ("10.0.0.2", 443)


def _mutated(rng: random.Random, data: bytes) -> bytes:
    """``data`` with a few bytes changed, cut short, or with bytes inserted: what fuzzing finds."""
    out = bytearray(data)
    for _ in range(rng.randrange(4)):
        what = rng.randrange(3)
        if what == 0 and out:
            out[rng.randrange(len(out))] = rng.randrange(256)
        elif what == 1 and out:
            del out[rng.randrange(len(out)) :]
        else:
            at = rng.randrange(len(out) + 1)
            out[at:at] = rng.randbytes(rng.randrange(1, 9))
    return bytes(out)


def _hostile_capture(seed: int) -> bytes:
    """Many short conversations whose DNS, TLS, QUIC and HTTP payloads are damaged at random."""
    rng = random.Random(seed)
    seeds = [
        dns.build_query("zzhc.vnet.cn"),
        dns.build_response(
            "a.example",
            [
                dns.DnsRecord("a.example", dns.A, 60, "198.51.100.9"),
                dns.DnsRecord("a.example", dns.AAAA, 60, "::ffff:1.2.3.4"),
            ],
        ),
        tls.build_client_hello("play.googleapis.com", alpn=("h2", "http/1.1")),
        http.build_request("POST", "/reg", {"Host": "zzhc.vnet.cn", "Content-Length": "4"}, b"imei"),
        bytes([0xC3, 0, 0, 0, 1, 8]) + rng.randbytes(1200),  # a QUIC v1 long header
        rng.randbytes(200),
    ]
    conversations = []
    for n in range(300):
        payload = _mutated(rng, rng.choice(seeds))
        port = rng.choice((53, 80, 443, 123, 5353, 8080, rng.randrange(1, 65536)))
        client = (f"10.0.{n % 7}.{2 + n % 200}", 40000 + n)
        server = (f"198.51.100.{1 + n % 250}", port)
        start = 1_700_000_000.0 + n * rng.choice((0.01, 1.0, 60.0))
        if rng.randrange(2):
            conv: factory.UdpConversation | factory.TcpConversation = factory.UdpConversation(
                client, server, ts=start
            )
            conv.send(payload).send(_mutated(rng, payload), from_client=False)
        else:
            conv = factory.TcpConversation(client, server, ts=start).handshake()
            conv.send(payload).send(_mutated(rng, payload)[:300], from_client=False)
        conversations.append(conv.packets)
    return factory.pcapng_bytes(factory.interleave(*conversations))


def _document(python_path: Path | None, capture: Path, out: Path) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if python_path is not None:
        env["PYTHONPATH"] = str(python_path)
    argv = [
        sys.executable,
        "-m",
        "phonehome.cli",
        "analyze",
        "--format",
        "json",
        "-o",
        str(out),
        str(capture),
    ]
    # From a folder of its own: Python puts the working folder (a checkout, here) first on the path.
    subprocess.run(argv, env=env, cwd=out.parent, check=True, timeout=300, capture_output=True)
    doc: dict[str, object] = json.loads(out.read_text())
    doc["capture"] = {k: v for k, v in doc["capture"].items() if k not in ("paths", "files")}  # type: ignore[attr-defined]
    return doc


@pytest.mark.skipif(not _compiled.extension_files(), reason="an interpreted install: nothing to compare with")
@pytest.mark.parametrize("seed", range(1, 7))
def test_the_compiled_analyzer_gives_the_document_the_sources_give_on_damaged_traffic(
    tmp_path: Path, seed: int
) -> None:
    # mypyc keeps Python's semantics except where it does not (its bytes slice did not): the same
    # hostile capture through the compiled modules and through their sources, interpreted.
    sources = tmp_path / "sources"
    shutil.copytree(
        ROOT / "phonehome",
        sources / "phonehome",
        ignore=shutil.ignore_patterns("*.so", "__pycache__", "compiled-from.sha256", "shipped", "suite"),
    )
    loaded = subprocess.run(
        [sys.executable, "-c", "import phonehome.traffic.analyzer as m; print(m.__file__)"],
        env={**os.environ, "PYTHONPATH": str(sources)},
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert loaded == str(sources / "phonehome/traffic/analyzer.py")
    capture = tmp_path / "hostile.pcapng"
    capture.write_bytes(_hostile_capture(seed))
    interpreted = _document(sources, capture, tmp_path / "interpreted.json")
    compiled = _document(None, capture, tmp_path / "compiled.json")
    assert compiled["stats"] == interpreted["stats"]
    assert compiled == interpreted
    assert len(compiled["flows"]) > 200  # type: ignore[arg-type]


def _written_out_initialisers() -> list[tuple[str, ast.ClassDef]]:
    """Dataclasses of the compiled modules that write their ``__init__`` out (``init=False``)."""
    found = []
    for name in _compiled.MODULES:
        for node in ast.walk(ast.parse((ROOT / name).read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and any(
                isinstance(d, ast.Call)
                and ast.unparse(d.func) == "dataclass"
                and any(k.arg == "init" and ast.unparse(k.value) == "False" for k in d.keywords)
                for d in node.decorator_list
            ):
                found.append((f"{name}:{node.name}", node))
    return found


def test_initialisers_written_out_for_speed_take_exactly_the_fields_with_their_defaults() -> None:
    """mypyc leaves the ``__init__`` a dataclass generates interpreted (a tenth of a run of many small
    flows went into them), so the hot records write theirs out; this keeps each one what the
    dataclass would generate: every field in order, the same defaults, a fresh list per
    ``default_factory=list`` field (a ``None`` default that the body replaces)."""
    classes = _written_out_initialisers()
    assert {label.rsplit(":", 1)[1] for label, _ in classes} >= {"Flow", "DnsMessage", "DnsRecord"}
    for label, node in classes:
        fields = [s for s in node.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)]
        init = next(s for s in node.body if isinstance(s, ast.FunctionDef) and s.name == "__init__")
        params = init.args.args[1:]
        assert [p.arg for p in params] == [f.target.id for f in fields], label  # type: ignore[union-attr]
        assert not init.args.kwonlyargs, label
        assert init.args.vararg is None, label
        assert init.args.kwarg is None, label
        defaults: list[ast.expr | None] = [None] * (len(params) - len(init.args.defaults))
        defaults += init.args.defaults
        assigned = {
            ast.unparse(s.targets[0]): ast.unparse(s.value)
            for s in init.body
            if isinstance(s, ast.Assign) and len(s.targets) == 1
        }
        for f, param, default in zip(fields, params, defaults, strict=True):
            name = param.arg
            factory = (
                f.value if isinstance(f.value, ast.Call) and ast.unparse(f.value.func) == "field" else None
            )
            if factory is not None:
                assert [ast.unparse(k) for k in factory.keywords] == ["default_factory=list"], label
                assert default is not None, f"{label}.{name}"
                assert ast.unparse(default) == "None", f"{label}.{name}"
                assert assigned[f"self.{name}"] == f"[] if {name} is None else {name}", f"{label}.{name}"
                assert ast.unparse(param.annotation) == f"{ast.unparse(f.annotation)} | None", label  # type: ignore[arg-type]
            else:
                want = None if f.value is None else ast.unparse(f.value)
                assert (None if default is None else ast.unparse(default)) == want, f"{label}.{name}"
                assert assigned[f"self.{name}"] == name, f"{label}.{name}"
                assert ast.unparse(param.annotation) == ast.unparse(f.annotation), f"{label}.{name}"  # type: ignore[arg-type]
        assert len(assigned) == len(fields), label


def test_records_with_written_out_initialisers_still_compare_and_print_as_dataclasses() -> None:
    made = dns.DnsMessage(7, True, 0, 0)
    assert made == dns.DnsMessage(id=7, response=True, opcode=0, rcode=0, questions=[], answers=[])
    assert made.answers is not dns.DnsMessage(7, True, 0, 0).answers  # a fresh list each time
    assert repr(dns.DnsRecord("a.example", 1, 60, "192.0.2.1")).startswith("DnsRecord(name='a.example'")
