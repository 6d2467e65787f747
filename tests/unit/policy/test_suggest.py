"""``manifest suggest`` on server names a handset chose: never a crash, always a draft that loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from phonehome.policy import load_manifest
from phonehome.policy.suggest import MAX_NOTED, suggest, to_yaml
from tests.unit.policy.builders import make_flow

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


def _draft(tmp_path: Path, flows: list, firmware: str = "f") -> tuple[str, Path]:
    text = to_yaml(suggest(flows, firmware=firmware))
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
    assert manifest.endpoint_for(flow) is not None
    assert "# Server names the handset used that are not host names, declared by address instead:" in text
    assert f"#   {name[:80]!a}" in text
    assert text.isascii()
    assert "injected" not in manifest.model_dump_json()


def test_host_names_are_still_declared_by_name_beside_hostile_ones(tmp_path: Path) -> None:
    flows = [make_flow(server_name="play.example.com"), make_flow(server_name="bücher.example")]
    _text, path = _draft(tmp_path, flows)
    manifest = load_manifest(path)
    assert [e.hosts for e in manifest.endpoints if e.hosts] == [["play.example.com"]]
    assert all(manifest.endpoint_for(f) is not None for f in flows)


def test_a_hostile_firmware_string_still_gives_a_draft_that_loads(tmp_path: Path) -> None:
    _text, path = _draft(tmp_path, [make_flow()], firmware="x\x1b]0;t\x07\n---\nfirmware: y \u2028")
    assert load_manifest(path).firmware == "x\x1b]0;t\x07\n---\nfirmware: y \u2028"


def test_the_note_lists_at_most_a_few_names_and_counts_the_rest(tmp_path: Path) -> None:
    flows = [make_flow(server_name=f"n{i} .example", dst=f"198.51.100.{i}") for i in range(MAX_NOTED + 5)]
    text, path = _draft(tmp_path, flows)
    assert "#   and 5 more" in text
    assert len(load_manifest(path).endpoints) == MAX_NOTED + 5
