"""An archived results folder is hostile input: whatever JSON its files hold, reading it never raises, every
string kept is bounded, and the diff of what was read never raises either."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phonehome.report import folder as results
from phonehome.store.diff import Side, diff, render
from phonehome.store.records import MAX_TEXT, read_run

FUZZ = settings(max_examples=200, deadline=3000, suppress_health_check=[HealthCheck.too_slow])
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False), st.text(max_size=600)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=30,
)
names = st.sampled_from(["run_id", "result", "verdicts", "findings", "doubts", "handset", "flows", "markers",
                         "src", "dst", "dport", "proto", "server_name", "first_ts", "phase", "ts", "assertion",
                         "identifier", "flow", "router_addresses", "files", "path", "sha256", "size"])  # fmt: skip
docs = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(names | st.text(max_size=8), inner, max_size=6)
    ),
    max_leaves=40,
)


def _write(folder: Path, name: str, doc: object, raw: bytes | None) -> None:
    (folder / name).write_bytes(raw if raw is not None else json.dumps(doc).encode())


@FUZZ
@given(docs, docs, docs, docs, st.one_of(st.none(), st.binary(max_size=64)))
def test_any_json_in_a_results_folder_is_read_without_raising(
    evaluation: object, analysis: object, capture: object, evidence: object, raw: bytes | None
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _write(folder, results.EVALUATION, evaluation, raw)
        _write(folder, results.ANALYSIS, analysis, None)
        _write(folder, results.CAPTURE, capture, None)
        _write(folder, "evidence.json", evidence, None)
        record = read_run(folder)
    assert len(record.run_id) <= 200
    assert all(len(e.name) <= MAX_TEXT and -1 <= e.port < 65536 for e in record.endpoints)
    assert all(len(s.identifier) <= 200 for s in record.sent)
    assert record.result is None or record.verdicts
    result = diff(Side("old", [record]), Side("new", [record]), gate=True)
    render(result)
    json.dumps(result.to_json())
