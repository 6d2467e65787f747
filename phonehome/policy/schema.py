"""JSON Schemas of the identity and manifest files, and of the judged analysis output.

Shipped in the package (``phonehome/policy/schemas/``) so editors can
validate a lab's YAML and scripts can validate ``phonehome analyze --identity
... --format json``; a unit test fails when a model changes and the shipped
file was not regenerated (``python -m phonehome.policy.schema``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter

from phonehome.policy.build import BUILD_SCHEMA
from phonehome.policy.findings import RESULTS, Finding, Verdict
from phonehome.policy.identity import Identity
from phonehome.policy.manifest import Manifest
from phonehome.traffic.analysis import schema as analysis_schema

SCHEMA_DIR = Path(__file__).parent / "schemas"
MODELS: dict[str, type[BaseModel]] = {"identity": Identity, "manifest": Manifest}
JUDGED = "judged-analysis"
NAMES = (*MODELS, JUDGED)
_RESULT = {"enum": list(RESULTS)}


def judgement_properties() -> dict[str, Any]:
    """The keys of a judgement, wherever one is written (``analyze --format json``, ``evaluation.json``):
    the worst result, the handset and the bench's service as known, verdicts, findings and doubts."""
    return {
        "result": {
            **_RESULT,
            "description": "The worst verdict: FAIL > INCONCLUSIVE > PASS > NOT_APPLICABLE.",
        },
        "handset": {
            "type": "object",
            "additionalProperties": False,
            "required": ["addresses", "how"],
            "properties": {"addresses": {"type": "string"}, "how": {"type": "string"}},
        },
        "infrastructure": {
            "type": "string",
            "description": "How the bench's own DHCP/DNS service was known (the bench, a DHCP offer, a guess).",
        },
        "geo_database": {
            "type": ["string", "null"],
            "description": "Country/ASN database, when regions were judged.",
        },
        "verdicts": {"type": "array", "items": {"$ref": "#/$defs/Verdict"}},
        "findings": {"type": "array", "items": {"$ref": "#/$defs/Finding"}},
        "doubts": {
            "type": "array",
            "items": {"type": "string"},
            "description": "What made every would-be PASS INCONCLUSIVE (drops, undecoded packets, a foreign MAC).",
        },
    }


def judged_schema() -> dict[str, Any]:
    """The traffic analysis schema plus the keys the policy adds when judging (``Evaluation.to_json``)."""
    doc = analysis_schema()
    doc["$id"] = f"https://phonehome.invalid/schemas/{JUDGED}.schema.json"
    doc["title"] = "phonehome judged analysis"
    doc["description"] = (
        "Output of `phonehome analyze --identity ... [--manifest ...] --format json`: the traffic analysis "
        "(flows, endpoints, capture facts) with the handset judged, its findings and one verdict per assertion."
    )
    defs = doc.setdefault("$defs", {})
    for name, kind in (("Finding", Finding), ("Verdict", Verdict)):
        sub = TypeAdapter(kind).json_schema(ref_template="#/$defs/{model}")
        defs.update(sub.pop("$defs", {}))
        defs[name] = sub
    added = {
        **judgement_properties(),
        "phases": {
            "type": ["array", "null"],
            "items": {"type": "string"},
            "description": "The phases the run's scenario covered, when it said.",
        },
        "policy_warnings": {"type": "array", "items": {"type": "string"}},
        "build": BUILD_SCHEMA,
    }
    doc["properties"].update(added)
    doc["required"] = [*doc["required"], *added]
    return doc


def schema(name: str) -> dict[str, Any]:
    if name == JUDGED:
        return judged_schema()
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
    for name in NAMES:
        shipped_path(name).write_text(render(name), encoding="utf-8")
        print(f"wrote {shipped_path(name)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
