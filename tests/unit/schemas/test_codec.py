"""SPEC section 10: every kind of bad input gets a stable reason and is dead-lettered."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from fold.deadletters import RAW_KEEP, DeadLetter
from schemas.codec import REASONS, Rejected, decode, dumps
from schemas.events import EVENT_MODELS, ProbeEvent
from schemas.outputs import DeadLetterRecord
from sla.months import Month
from tests.helpers import claim, contract, incident, probe, run

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


# -- the accepted range of instants (SPEC section 10) ---------------------------------

OUTSIDE = [
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00",  # would underflow converted to UTC
    "9999-12-31T23:59:00Z",
    "9999-12-31T23:59:59.999999-01:00",  # would overflow converted to UTC
    "1969-12-31T23:59:59.999999Z",
    "1970-01-01T00:30:00+01:00",  # 1969-12-31T23:30Z
    "2200-01-01T00:00:00Z",
    "2199-12-31T23:30:00-01:00",  # 2200-01-01T00:30Z
]
INSIDE = [
    "1970-01-01T00:00:00Z",
    "1969-12-31T23:30:00-01:00",  # 1970-01-01T00:30Z
    "2199-12-31T23:59:59.999999Z",
    "2200-01-01T00:30:00+01:00",  # 2199-12-31T23:30Z
]


def _every_instant_field(at: str) -> list[dict[str, object]]:
    """One event per timestamp field of every event type, that field set to ``at``."""
    ok = "2026-03-05T10:00:00Z"
    later = "2026-03-05T11:00:00Z"
    inc = incident("I", ["api"], ok, later)
    cl = claim("C", "PO-1", later, [(ok, later)])
    ticket = {"event_id": "t", "ticket_id": "T-1"}
    return [
        probe("api", "eu", at, True),
        {**inc, "started_at": at, "ended_at": None},
        {**inc, "ended_at": at, "started_at": "1970-01-01T00:00:00Z"},
        {**inc, "recorded_at": at},
        contract(effective_from=at),
        contract(effective_to=at),
        {**cl, "submitted_at": at},
        {**cl, "incidents": [{"start": at, "end": "2199-12-31T23:59:59.999999Z"}]},
        {**cl, "incidents": [{"start": "1970-01-01T00:00:00Z", "end": at}]},
        {
            **ticket,
            "type": "ticket_opened",
            "client_id": "c",
            "opened_at": at,
            "severity": "low",
            "channel": "email",
        },
        {**ticket, "type": "ticket_severity_changed", "changed_at": at, "severity": "high"},
        {**ticket, "type": "ticket_responded", "responded_at": at},
        {**ticket, "type": "ticket_progress_update", "updated_at": at},
        {**ticket, "type": "ticket_resolved", "resolved_at": at},
    ]


@pytest.mark.parametrize("at", OUTSIDE)
def test_an_instant_outside_the_range_is_out_of_range_in_every_field(at: str) -> None:
    events = _every_instant_field(at)
    assert {e["type"] for e in events} == set(EVENT_MODELS)
    for event in events:
        out = decode(json.dumps(event).encode())
        assert isinstance(out, Rejected), (event, out)
        assert out.reason == "out_of_range", (event, out.detail)
        assert "out_of_range" in REASONS


@pytest.mark.parametrize("at", INSIDE)
def test_the_bounds_of_the_range_are_accepted_in_every_field(at: str) -> None:
    for event in _every_instant_field(at):
        out = decode(json.dumps(event).encode())
        assert not isinstance(out, Rejected), (event, out.detail)


def test_instants_out_of_range_never_reach_a_month() -> None:
    good = [contract(), probe("api", "eu", "2026-03-05T10:00:05Z", False)]
    poison = [probe("api", "eu", at, False) for at in OUTSIDE]
    poison.append(incident("I", ["api"], "0001-01-01T00:00:00Z", "9999-12-31T23:59:00Z"))
    clean = run(good, "2026-06-01T00:00:00Z")
    dirty = run([*poison, *good], "2026-06-01T00:00:00Z")
    assert dirty.outputs == clean.outputs
    assert [d.reason for d in dirty.dead_letters] == ["out_of_range"] * len(poison)
    assert sorted({m for _, m in dirty.book.ledgers}) == [Month(2026, 3)]


# -- dead letters always fit the dead-letter topic -----------------------------------


def test_a_dead_letter_of_any_size_fits_a_kafka_message() -> None:
    raw = json.dumps({**GOOD, "error": "x" * 900_000}).encode()
    assert len(raw) > 900_000
    out = decode(raw)
    assert isinstance(out, Rejected)
    assert out.reason == "oversize"
    record = DeadLetter(out.reason, out.detail, out.raw, {"topic": "t", "partition": 0}).to_json()
    text = dumps(record).encode()
    assert len(text) < 400 * 1024  # the broker's default limit is 1 MiB
    kept = base64.b64decode(record["raw_base64"])
    assert kept == raw[:RAW_KEEP]
    assert record["raw_truncated"] is True
    assert record["raw_size"] == len(raw)
    assert record["raw_sha256"] == hashlib.sha256(raw).hexdigest()
    assert record["raw_preview"] == raw[:512].decode()
    DeadLetterRecord.model_validate_json(text)


def test_a_small_dead_letter_keeps_its_whole_raw_copy() -> None:
    raw = "{\u00e9t\u00e9".encode()
    record = DeadLetter("invalid_json", "d" * 10_000, raw, {"file": "f", "line": 1}).to_json()
    assert base64.b64decode(record["raw_base64"]) == raw
    assert (record["raw_truncated"], record["raw_size"]) == (False, len(raw))
    assert record["raw_preview"] == "{\u00e9t\u00e9"
    assert len(record["detail"]) == 4096  # an exception's text is capped too
    DeadLetterRecord.model_validate_json(dumps(record))
