"""The shipped JSON Schemas are the models' current export, and describe the files labs write."""

from __future__ import annotations

import json

import pytest

from phonehome.policy import schema


@pytest.mark.parametrize("name", sorted(schema.NAMES))
def test_shipped_schema_is_current(name: str) -> None:
    shipped = schema.shipped_path(name).read_text(encoding="utf-8")
    assert shipped == schema.render(name), f"regenerate with: python -m phonehome.policy.schema ({name})"


def test_manifest_schema_forbids_unknown_keys() -> None:
    doc = json.loads(schema.render("manifest"))
    assert doc["additionalProperties"] is False
    assert doc["$defs"]["Endpoint"]["additionalProperties"] is False
    assert "identifiers" in doc["$defs"]["Endpoint"]["properties"]


def test_identity_schema_lists_every_identifier_key() -> None:
    from phonehome.policy.identity import IDENTIFIER_KEYS

    props = json.loads(schema.render("identity"))["properties"]
    assert set(IDENTIFIER_KEYS) <= set(props)
