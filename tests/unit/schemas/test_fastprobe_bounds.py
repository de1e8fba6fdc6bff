"""The bulk decoder's fast paths against the wire model's own bounds.

Edge values taken from :class:`~schemas.events.ProbeEvent`'s JSON Schema are
accepted and refused alike by the bulk decoder, the edge and the model, and
the bulk decoder's struct states the model's bounds field for field.
"""

from __future__ import annotations

import json
from datetime import UTC, timedelta, timezone
from typing import Any

import msgspec

from schemas.codec import decode
from schemas.edge import probe_minute, validate_batch
from schemas.events import ProbeEvent
from schemas.fastprobe import LINE_LIMIT, ProbeDecoder, _Probe
from sla.timeutil import END_INSTANT, FIRST_INSTANT
from tests.helpers import probe


def _model_fields() -> dict[str, dict[str, Any]]:
    """Each field of ``ProbeEvent``'s JSON Schema, its ``null`` alternative left out."""
    out: dict[str, dict[str, Any]] = {}
    for name, spec in ProbeEvent.model_json_schema()["properties"].items():
        (only,) = [alt for alt in spec.get("anyOf", [spec]) if alt.get("type") != "null"]
        out[name] = only
    return out


def _edge_values(spec: dict[str, Any]) -> list[Any]:
    """Values on and just past every bound the model's schema of one field states."""
    values: list[Any] = []
    for bound in ("minimum", "maximum"):
        if bound in spec:
            m = spec[bound]
            values += [m - 1, m, m + 1]
            if spec.get("type") == "number":
                values += [m - 0.5, m + 0.5, float(m)]
    if "pattern" in spec:  # one character at a time, inside the length bounds
        values += [f"a{chr(c)}b" for c in range(32, 127)] + ["a\u00e9b", "a\u0664b"]
    for bound in ("minLength", "maxLength"):
        if bound in spec:
            m = spec[bound]
            values += ["x" * n for n in (m - 1, m, m + 1) if n >= 0]
    if "const" in spec:
        values += [spec["const"], spec["const"].title(), spec["const"] + "s"]
    return values


def _instant_edges() -> list[str]:
    """The accepted range's first and last instants and their outer neighbours, shaped the
    fast path's way, in UTC and with offsets."""
    out = []
    tick = timedelta(microseconds=1)
    for at in (FIRST_INSTANT - tick, FIRST_INSTANT, END_INSTANT - tick, END_INSTANT):
        for zone in (UTC, timezone(timedelta(hours=1)), timezone(timedelta(hours=-1))):
            local = at.astimezone(zone)
            text = local.strftime("%Y-%m-%dT%H:%M:%S.%f") + local.strftime("%z")
            out.append(text[:-2] + ":" + text[-2:] if zone is not UTC else text[:-5] + "Z")
    return out


def _bound_lines() -> list[tuple[str, Any, bytes]]:
    fields = _model_fields()
    lines = []
    for name, spec in fields.items():
        values = _edge_values(spec) if name != "observed_at" else _instant_edges()
        assert values or name == "ok", name  # every bounded field has edge values
        for value in values:
            body = probe("api", "eu", "2026-03-05T10:00:00Z", True, event_id="e")
            body[name] = value
            lines.append((name, value, json.dumps(body).encode()))
    return lines


def test_the_fast_paths_accept_and_refuse_the_wire_models_edge_values_alike() -> None:
    """Edge values from ``ProbeEvent``'s own schema: a bound the decoders copied wrong fails.

    The bulk decoder leaves a line longer than ``LINE_LIMIT`` to the canonical
    path (a 4 KiB ``error`` makes one); the edge takes every line the model does.
    """
    lines = _bound_lines()
    raws = [raw for _, _, raw in lines]
    decoder = ProbeDecoder()
    fast = decoder.decode(raws)
    taken = {fast.line(k) for k in range(len(fast))}
    alone = [len(decoder.decode([raw])) == 1 for raw in raws]
    edge = validate_batch(raws)
    for k, (name, value, raw) in enumerate(lines):
        model = isinstance(decode(raw), ProbeEvent)
        bulk = model and len(raw) <= LINE_LIMIT
        assert (k in taken) == bulk, (name, value)
        assert alone[k] == bulk, (name, value)
        assert (type(edge[k]) is dict and _edge_minute(edge[k])) == model, (name, value)


def _edge_minute(rec: Any) -> bool:
    try:
        probe_minute(rec["observed_at"])
    except ValueError:
        return False
    return True


def _bounds(spec: dict[str, Any]) -> dict[str, Any]:
    """What a JSON Schema of one value bounds (``const`` and a one-value ``enum`` alike)."""
    (only,) = [alt for alt in spec.get("anyOf", [spec]) if alt.get("type") != "null"]
    out = {k: only.get(k) for k in ("minimum", "maximum", "minLength", "maxLength")}
    out["const"] = only["enum"][0] if len(only.get("enum", ())) == 1 else only.get("const")
    out["type"] = "string" if out["const"] is not None else only.get("type")
    return out


def test_the_bulk_decoders_struct_states_the_wire_models_bounds() -> None:
    """The bounds msgspec checks itself are the model's, field for field."""
    ours = msgspec.json.schema(_Probe)["$defs"]["_Probe"]["properties"]
    model = ProbeEvent.model_json_schema()["properties"]
    for name in ("type", "latency_ms", "status_code", "error", "ok"):
        assert _bounds(ours[name]) == _bounds(model[name]), name
