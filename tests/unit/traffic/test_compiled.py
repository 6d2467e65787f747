"""The analyzer's packet path is compiled (setup.py, mypyc), and a build that no longer matches its
sources is refused rather than run: a checkout edited after its build would otherwise run the old code."""

from __future__ import annotations

import os
import shutil
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

from phonehome.bench.doctor import check_analyzer
from phonehome.traffic import _compiled, analyze, factory

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
