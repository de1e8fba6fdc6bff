"""Wire schemas: examples validate, exported JSON Schemas are fresh and agree."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from devkit.simulate import Scenario, default_as_of, write_jsonl
from fold.replay import iter_lines, replay_lines
from schemas.codec import Rejected, decode, dumps, dumps_output
from schemas.events import EVENT_MODELS
from schemas.export import JSON_DIR, rendered
from schemas.outputs import OUTPUT_MODELS

EXAMPLES = Path(__file__).parents[3] / "schemas" / "examples"


def _examples() -> list[bytes]:
    return [line for line in (EXAMPLES / "events.jsonl").read_bytes().splitlines() if line]


def _schema(name: str) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((JSON_DIR / name).read_text())
    return loaded


def test_exported_json_schemas_are_fresh() -> None:
    """Run ``python -m schemas.export`` when this fails."""
    files = rendered()
    on_disk = {p.name: p.read_text() for p in JSON_DIR.glob("*.schema.json")}
    assert on_disk == files


def test_every_event_type_has_a_valid_example() -> None:
    seen = set()
    for raw in _examples():
        ev = decode(raw)
        assert not isinstance(ev, Rejected), ev
        seen.add(ev.type)
        jsonschema.validate(json.loads(raw), _schema(f"event.{ev.type}.schema.json"))
    assert seen == set(EVENT_MODELS)


def test_bad_examples_are_rejected_for_the_stated_reason() -> None:
    for line in (EXAMPLES / "bad.jsonl").read_text().splitlines():
        case = json.loads(line)
        out = decode(case["raw"].encode())
        assert isinstance(out, Rejected)
        assert out.reason == case["expect"], out.detail


def test_models_are_frozen() -> None:
    ev = decode(_examples()[1])
    with pytest.raises(Exception, match="frozen"):
        ev.ok = False  # type: ignore[union-attr,misc]  # assigning is the point


def test_every_output_of_a_realistic_month_matches_its_schema(tmp_path: Path) -> None:
    sc = Scenario(services=("api",), regions=("eu-west-1", "us-east-1"))
    path = tmp_path / "month.jsonl"
    write_jsonl(sc, str(path))
    with path.open("rb") as fh:
        res = replay_lines(iter_lines(fh), default_as_of(sc))
    records = [*res.outputs, *(d.to_json() for d in res.dead_letters)]
    kinds = {o["kind"] for o in records}
    assert kinds == set(OUTPUT_MODELS)
    for o in records:
        text = dumps(o)
        OUTPUT_MODELS[o["kind"]].model_validate_json(text)
        jsonschema.validate(json.loads(text), _schema(f"output.{o['kind']}.schema.json"))


def _numbers(schema: object) -> list[object]:
    """Every ``"type": "number"`` in a JSON Schema (a float the model would admit)."""
    found: list[object] = []
    if isinstance(schema, dict):
        kind = schema.get("type")
        if kind == "number" or (isinstance(kind, list) and "number" in kind):
            found.append(schema)
        for value in schema.values():
            found.extend(_numbers(value))
    elif isinstance(schema, list):
        for value in schema:
            found.extend(_numbers(value))
    return found


def test_outputs_admit_no_float() -> None:
    # what lets dumps_output write an output with msgspec: no notation of a float to differ in
    for kind in OUTPUT_MODELS:
        assert _numbers(_schema(f"output.{kind}.schema.json")) == [], kind
    # the check itself finds a float where there is one
    assert _numbers(_schema("event.probe.schema.json"))


def test_the_fast_output_text_is_the_canonical_text(tmp_path: Path) -> None:
    sc = Scenario(services=("api", "db"), regions=("eu-west-1", "us-east-1"))
    path = tmp_path / "month.jsonl"
    write_jsonl(sc, str(path))
    with path.open("rb") as fh:
        res = replay_lines(iter_lines(fh), default_as_of(sc))
    records = [*res.outputs, *(d.to_json() for d in res.dead_letters)]
    assert {o["kind"] for o in records} == set(OUTPUT_MODELS)
    for o in records:
        assert dumps_output(o) == dumps(o)
    # the escapes: quotes, backslashes, control characters, line separators, non-ASCII
    odd = {
        "title": 'a "b" \\ c\n\t\r\b\f\x00\x1f\x7f \u2028\u2029 é ✓ 😀',
        "n": [0, -1, None, True],
    }
    assert dumps_output(odd) == dumps(odd)
