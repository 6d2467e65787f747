"""``phonehome analyze --format json`` gives, on the benchmark's generated captures, exactly the
document it gave before the analyzer was made faster (digests recorded from main at 5ae487d).

Speed work must not change a single flow, name, count or doubt. When a change to the analyzer is
*meant* to change its output, or benchmarks/gen_capture.py changes what it writes, record the new
digests here, with the reason in the commit that does it.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from phonehome.cli import main

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "benchmarks" / "gen_capture.py"

RECORDED = {
    ("small", "2M", 11): "1736efbd9d27ea59bf23d505cb824c732882b0b1ed6572b35eebf00d43dad373",
    ("mixed", "3M", 12): "dcdf25259e207472918fb9c3998d641862c2b611e8dce5e3da02e3183df127ff",
}
"""(shape, size, seed) -> sha256 of the JSON document, its capture paths and file digests blanked
(the generator's TLS and QUIC handshakes draw fresh random keys: the analysis is the same, the bytes are not)."""


def document_digest(text: str) -> str:
    """The digest of an analysis document with the paths and digests of its capture files blanked."""
    doc = json.loads(text)
    doc["capture"]["paths"] = doc["capture"]["sha256"] = []
    for info in doc["capture"]["files"]:
        info["path"] = info["sha256"] = ""
    return hashlib.sha256(json.dumps(doc, separators=(",", ":")).encode()).hexdigest()


@pytest.mark.parametrize(("shape", "size", "seed"), sorted(RECORDED))
def test_the_analysis_of_a_generated_capture_is_unchanged(
    tmp_path: Path, shape: str, size: str, seed: int
) -> None:
    capture = tmp_path / f"{shape}.pcapng"
    subprocess.run(
        [
            sys.executable,
            str(GENERATOR),
            "--size",
            size,
            "--shape",
            shape,
            "--seed",
            str(seed),
            "-o",
            str(capture),
        ],
        check=True,
        timeout=300,
        capture_output=True,
    )
    out = tmp_path / "analysis.json"
    assert main(["analyze", "--format", "json", "-o", str(out), str(capture)]) == 0
    assert document_digest(out.read_text()) == RECORDED[(shape, size, seed)]
