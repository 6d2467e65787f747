"""``manifest suggest`` on server names a handset chose: never a crash, always a draft that loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from phonehome.policy import Identity, evaluate, load_manifest, parse_handset
from phonehome.policy.context import Contact
from phonehome.policy.suggest import MAX_NOTED, suggest, to_yaml
from phonehome.traffic.flow import Flow
from tests.unit.policy.builders import make_flow, resolved

HOSTILE = [
    "bücher.example",
    "x\x1b[2J\n# injected: 1\nfirmware: evil",
    "a b.example",
    "*.com",
    "*.googleapis.com",
    "a." * 200 + "example",
    "\u202eexample.com",
    "..",
    "a\x00b",
]


def _contacts(flows: list[Flow], *, names: bool = False) -> list[Contact]:
    """The flows as the evaluation judges them (``names``: each flow's name resolved before it)."""
    analysis = resolved(flows) if names else None
    return evaluate(
        flows, [], identity=Identity(), handset=parse_handset("10.77.0.2"), analysis=analysis
    ).contacts


def _draft(
    tmp_path: Path, flows: list[Flow], firmware: str = "f", *, names: bool = False
) -> tuple[str, Path]:
    text = to_yaml(suggest(_contacts(flows, names=names), firmware=firmware))
    path = tmp_path / "draft.yaml"
    path.write_text(text, encoding="utf-8")
    return text, path


@pytest.mark.parametrize("name", HOSTILE)
def test_a_name_that_is_not_a_host_is_declared_by_address_and_noted(tmp_path: Path, name: str) -> None:
    flow = make_flow(server_name=name, dst="198.51.100.7")
    text, path = _draft(tmp_path, [flow])
    manifest = load_manifest(path)
    assert [e.cidrs for e in manifest.endpoints] == [["198.51.100.7/32"]]
    assert all(not e.hosts for e in manifest.endpoints)
    assert manifest.lookup(flow.proto, flow.dport, address=flow.dst) is not None
    assert "# Server names the handset used that are not host names (they cannot be declared" in text
    assert f"#   {name[:80]!a}" in text
    assert text.isascii()
    assert "injected" not in manifest.model_dump_json()


def test_host_names_are_still_declared_by_name_beside_hostile_ones(tmp_path: Path) -> None:
    flows = [
        make_flow(server_name="play.example.com", dst="198.51.100.8"),
        make_flow(server_name="bücher.example", dst="198.51.100.9"),
    ]
    _text, path = _draft(tmp_path, flows, names=True)
    manifest = load_manifest(path)
    assert [e.hosts for e in manifest.endpoints if e.hosts] == [["play.example.com"]]
    assert manifest.lookup("tcp", 80, name="play.example.com") is not None
    assert manifest.lookup("tcp", 80, address="198.51.100.9") is not None


def test_a_claimed_name_no_resolver_gave_is_declared_beside_the_address_it_went_to(tmp_path: Path) -> None:
    flow = make_flow(server_name="play.example.com", dst="198.51.100.8")
    _text, path = _draft(tmp_path, [flow])
    (endpoint,) = load_manifest(path).endpoints
    assert (endpoint.hosts, endpoint.cidrs) == (["play.example.com"], ["198.51.100.8/32"])


def test_a_hostile_firmware_string_still_gives_a_draft_that_loads(tmp_path: Path) -> None:
    _text, path = _draft(tmp_path, [make_flow()], firmware="x\x1b]0;t\x07\n---\nfirmware: y \u2028")
    assert load_manifest(path).firmware == "x\x1b]0;t\x07\n---\nfirmware: y \u2028"


def test_the_note_lists_at_most_a_few_names_and_counts_the_rest(tmp_path: Path) -> None:
    flows = [make_flow(server_name=f"n{i} .example", dst=f"198.51.100.{i}") for i in range(MAX_NOTED + 5)]
    text, path = _draft(tmp_path, flows)
    assert "#   and 5 more" in text
    assert len(load_manifest(path).endpoints) == MAX_NOTED + 5
