"""JSON Schemas of the identity and manifest files, exported from the pydantic models.

Shipped in the package (``phonehome/policy/schemas/``) so editors can
validate a lab's YAML; a unit test fails when a model changes and the shipped
file was not regenerated (``python -m phonehome.policy.schema``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from phonehome.policy.identity import Identity
from phonehome.policy.manifest import Manifest

SCHEMA_DIR = Path(__file__).parent / "schemas"
MODELS: dict[str, type[BaseModel]] = {"identity": Identity, "manifest": Manifest}


def schema(name: str) -> dict[str, Any]:
    model = MODELS[name]
    out: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://phonehome.invalid/schemas/{name}.schema.json",
        **model.model_json_schema(mode="validation"),
    }
    return out


def render(name: str) -> str:
    return json.dumps(schema(name), indent=2, sort_keys=True) + "\n"


def shipped_path(name: str) -> Path:
    return SCHEMA_DIR / f"{name}.schema.json"


def main() -> int:
    """Rewrites the shipped schemas from the models."""
    SCHEMA_DIR.mkdir(exist_ok=True)
    for name in MODELS:
        shipped_path(name).write_text(render(name), encoding="utf-8")
        print(f"wrote {shipped_path(name)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
