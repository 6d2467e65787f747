"""The JSON Schema of inventory files, shipped beside the code so editors can check ``devices/*.yaml``.

Regenerate after changing the model: ``python -m phonehome.device.schema``.
"""

from __future__ import annotations

import json
from pathlib import Path

from phonehome.device.inventory import Inventory

SCHEMA_PATH = Path(__file__).with_name("inventory.schema.json")


def render() -> str:
    return json.dumps(Inventory.model_json_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    SCHEMA_PATH.write_text(render(), encoding="utf-8")
