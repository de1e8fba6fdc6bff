"""The one place raw bytes become events, and bad input becomes a reason.

:func:`decode` never raises for bad input: it returns a :class:`Rejected`
with a stable ``reason`` code (SPEC section 10), a human-readable ``detail``
and the raw bytes, so every edge (replay, the Kafka worker) dead-letters the
same way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import msgspec
from pydantic import ValidationError

from schemas.events import EVENT_ADAPTER, Event

MAX_EVENT_BYTES: Final = 64 * 1024


def dumps(obj: Mapping[str, Any]) -> str:
    """The canonical JSON text of an event or output: key order kept, no spaces, UTF-8.

    Replay prints outputs in it, the sinks store it and operator tools write
    events in it, so the same object is the same text everywhere.
    """
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


_OUTPUT_ENCODER: Final = msgspec.json.Encoder()


def dumps_output(out: Mapping[str, Any]) -> str:
    """:func:`dumps` of an output (statement, record, decision, verdict), six times faster.

    An output holds only strings, integers, booleans, nulls, lists and
    objects with string keys: money, percentages and minutes travel as
    decimal strings and integers, never floats (SPEC section 6). For those,
    msgspec writes the very text the standard library does (same escapes,
    key order, separators), so the digests of what was published and the
    stored text stay the same (``tests/unit/schemas/test_schemas.py``: the
    output schemas admit no number that is not an integer, and both texts
    agree on every output of a replay). Never give it a float: msgspec writes
    ``1e16`` where the standard library writes ``1e+16``; events, which may
    hold floats, use :func:`dumps`.
    """
    return _OUTPUT_ENCODER.encode(out).decode()


#: Dead-letter reasons, a closed set (metrics label them). :func:`decode` gives
#: every one but ``processing_error``, which the fold gives to a valid event it
#: could not process (SPEC section 10).
REASONS: Final = (
    "invalid_json",
    "not_an_object",
    "oversize",
    "unknown_type",
    "missing_field",
    "wrong_type",
    "naive_timestamp",
    "bad_timestamp",
    "unknown_enum",
    "bad_value",
    "impossible_value",
    "out_of_range",
    "processing_error",
)

_TYPE_REASONS: Final = {
    "json_invalid": "invalid_json",
    "json_type": "invalid_json",
    "dict_type": "not_an_object",
    "model_type": "not_an_object",
    "model_attributes_type": "not_an_object",
    "union_tag_invalid": "unknown_type",
    "union_tag_not_found": "missing_field",
    "missing": "missing_field",
    "timezone_aware": "naive_timestamp",
    "datetime_parsing": "bad_timestamp",
    "datetime_from_date_parsing": "bad_timestamp",
    "datetime_type": "wrong_type",
    "literal_error": "unknown_enum",
    "enum": "unknown_enum",
    "string_too_long": "oversize",
    "too_long": "oversize",
    "value_error": "impossible_value",
    "greater_than_equal": "impossible_value",
    "less_than_equal": "impossible_value",
    "too_short": "bad_value",
    "string_too_short": "bad_value",
    "string_pattern_mismatch": "bad_value",
    "out_of_range": "out_of_range",
}


@dataclass(frozen=True, slots=True)
class Rejected:
    """Why some bytes are not a valid event."""

    reason: str
    detail: str
    raw: bytes


def _classify(exc: ValidationError) -> tuple[str, str]:
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    kind = first["type"]
    reason = _TYPE_REASONS.get(kind)
    if reason is None:
        reason = "wrong_type" if kind.endswith("_type") else "bad_value"
    loc = ".".join(str(p) for p in first["loc"])
    msg = first["msg"]
    detail = f"{loc}: {msg}" if loc else msg
    if len(errors) > 1:
        detail += f" (and {len(errors) - 1} more)"
    return reason, detail


def decode(raw: bytes) -> Event | Rejected:
    """Validate ``raw`` (one JSON object) into an event, or say why not."""
    if len(raw) > MAX_EVENT_BYTES:
        return Rejected("oversize", f"event is {len(raw)} bytes, limit {MAX_EVENT_BYTES}", raw)
    try:
        return EVENT_ADAPTER.validate_json(raw)
    except ValidationError as exc:
        reason, detail = _classify(exc)
        return Rejected(reason, detail, raw)
