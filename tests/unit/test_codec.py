"""SPEC section 10: every kind of bad input gets a stable reason and is dead-lettered."""

from __future__ import annotations

import json

import pytest

from schemas.codec import REASONS, Rejected, decode
from schemas.events import ProbeEvent
from tests.helpers import contract, incident, probe, run

GOOD = probe("api", "eu", "2026-03-05T10:00:05Z", True)


def _with(**changes: object) -> bytes:
    ev = {**GOOD, **changes}
    return json.dumps({k: v for k, v in ev.items() if v is not ...}).encode()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "invalid_json"),
        (b"[1, 2]", "not_an_object"),
        (b'"probe"', "not_an_object"),
        (_with(type="heartbeat"), "unknown_type"),
        (_with(type=...), "missing_field"),
        (_with(ok=...), "missing_field"),
        (_with(ok="no"), "wrong_type"),
        (_with(ok=1), "wrong_type"),
        (_with(observed_at="2026-03-05T10:00:05"), "naive_timestamp"),
        (_with(observed_at="yesterday"), "bad_timestamp"),
        (_with(observed_at=1772704805), "wrong_type"),
        (_with(service="has space"), "bad_value"),
        (_with(service=""), "bad_value"),
        (_with(event_id="x" * 129), "oversize"),
        (_with(error="x" * 5000), "oversize"),
        (b'{"type":"probe","pad":"' + b"x" * 70_000 + b'"}', "oversize"),
    ],
)
def test_bad_probe_reasons(raw: bytes, reason: str) -> None:
    out = decode(raw)
    assert isinstance(out, Rejected), out
    assert out.reason == reason, out.detail
    assert out.reason in REASONS
    assert out.raw == raw


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (
            incident("I", ["api"], "2026-03-05T10:00:00Z", "2026-03-05T09:00:00Z"),
            "impossible_value",
        ),
        (
            {**incident("I", ["api"], "2026-03-05T10:00:00Z", None), "revision": -1},
            "impossible_value",
        ),
        (incident("I", ["api"], "2026-03-05T10:00:00Z", None, cause="aliens"), "unknown_enum"),
        (incident("I", [], "2026-03-05T10:00:00Z", None), "bad_value"),
        (contract(services={"api": "12.5"}) | {"currency": "gbp"}, "bad_value"),
        ({**contract(), "services": [{"service": "api", "monthly_charge": 12.5}]}, "wrong_type"),
        (contract(timezone="Mars/Olympus"), "impossible_value"),
        (
            contract(effective_from="2026-03-10T00:00:00Z", effective_to="2026-03-01T00:00:00Z"),
            "impossible_value",
        ),
        (
            {**contract(), "services": [{"service": "a", "monthly_charge": "1"}] * 2},
            "impossible_value",
        ),
    ],
)
def test_bad_other_events(event: dict[str, object], reason: str) -> None:
    out = decode(json.dumps(event).encode())
    assert isinstance(out, Rejected), out
    assert out.reason == reason, out.detail


def test_unknown_fields_are_ignored() -> None:
    out = decode(_with(colour="blue", latency_ms=12.5, status_code=200))
    assert isinstance(out, ProbeEvent)
    assert out.latency_ms == 12.5


def test_bad_lines_never_change_a_result() -> None:
    good = [contract(), probe("api", "eu", "2026-03-05T10:00:05Z", False)]
    bad = [b"{oops", _with(ok="false"), _with(observed_at="2026-03-05T10:00:05")]
    clean = run(good, "2026-06-01T00:00:00Z")
    dirty = run([bad[0], good[0], bad[1], good[1], bad[2]], "2026-06-01T00:00:00Z")
    assert clean.outputs == dirty.outputs
    assert [(d.reason, d.source["line"]) for d in dirty.dead_letters] == [
        ("invalid_json", 1),
        ("wrong_type", 3),
        ("naive_timestamp", 5),
    ]
    assert dirty.stats.dead_letters == {"invalid_json": 1, "wrong_type": 1, "naive_timestamp": 1}
    letter = dirty.dead_letters[0].to_json()
    assert letter["reason"] == "invalid_json"
    assert letter["raw_preview"] == "{oops"
