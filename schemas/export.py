"""Export the JSON Schema of every input event and output (``python -m schemas.export``).

The files under ``schemas/json/`` are generated from the pydantic models; a
test fails when they are stale, so downstream consumers can trust them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from schemas.events import EVENT_MODELS
from schemas.outputs import OUTPUT_MODELS

JSON_DIR = Path(__file__).parent / "json"


def rendered() -> dict[str, str]:
    """File name -> JSON text for every schema."""
    out = {}
    for prefix, models in (("event", EVENT_MODELS), ("output", OUTPUT_MODELS)):
        for name, model in models.items():
            schema = model.model_json_schema(mode="validation")
            schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
            schema["$id"] = f"{prefix}.{name}.schema.json"
            text = json.dumps(schema, indent=2, sort_keys=True) + "\n"
            out[f"{prefix}.{name}.schema.json"] = text
    return out


def main() -> int:
    JSON_DIR.mkdir(exist_ok=True)
    files = rendered()
    for stale in JSON_DIR.glob("*.schema.json"):
        if stale.name not in files:
            stale.unlink()
    for name, text in files.items():
        (JSON_DIR / name).write_text(text, encoding="utf-8")
    print(f"wrote {len(files)} schemas to {JSON_DIR.name}/", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
