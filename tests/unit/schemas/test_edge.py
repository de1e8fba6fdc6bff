"""The fast batch edge gives exactly the canonical codec's verdicts."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fold.folder import Folder
from fold.replay import replay_lines
from schemas.codec import Rejected, decode, dumps
from schemas.edge import decode_edge, probe_minute, validate_batch
from schemas.events import ProbeEvent
from sla.book import Book
from sla.timeutil import epoch_minute
from tests.helpers import claim, contract, incident, probe

timestamps = st.one_of(
    st.builds(
        lambda d, h, m, s, frac, off: f"2026-03-{d:02d}T{h:02d}:{m:02d}:{s:02d}{frac}{off}",
        st.integers(1, 31),
        st.integers(0, 25),
        st.integers(0, 61),
        st.integers(0, 61),
        st.sampled_from(["", ".5", ".123456", ".1234567"]),
        st.sampled_from(["Z", "z", "+00:00", "-05:30", "+14:00", "+25:00", "", "+0100"]),
    ),
    st.sampled_from(
        [
            "2026-02-29T10:00:00Z",
            "2026-02-30T00:00:00Z",
            "2028-02-29T23:59:59Z",
            "2026-03-29 01:30:00+01:00",
            "2026-03-05T10:00Z",
            "now",
        ]
    ),
    st.sampled_from(  # around the accepted range [1970-01-01T00:00Z, 2200-01-01T00:00Z)
        [
            "0001-01-01T00:00:00Z",
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:00Z",
            "9999-12-31T23:59:59-01:00",
            "1969-12-31T23:59:59.999999Z",
            "1969-12-31T23:30:00-01:00",
            "1970-01-01T00:00:00Z",
            "1970-01-01T00:30:00+01:00",
            "2199-12-31T23:59:59.999999Z",
            "2199-12-31T23:30:00-01:00",
            "2200-01-01T00:00:00Z",
            "2200-01-01T00:30:00+01:00",
        ]
    ),
)

lines = st.one_of(
    st.builds(
        lambda ts, ok, eid, svc: json.dumps(
            {
                "type": "probe",
                "event_id": eid,
                "service": svc,
                "region": "eu",
                "observed_at": ts,
                "ok": ok,
            }
        ).encode(),
        timestamps,
        st.sampled_from([True, False, "yes", 1, None]),
        st.sampled_from(["p-1", "p-2", "", "x" * 129, "bad id"]),
        st.sampled_from(["api", "web", ""]),
    ),
    st.sampled_from([b"{", b"[]", b"{}", b'{"type":"probe"},{"type":"probe"}', b"null"]),
)


@settings(max_examples=300, deadline=None)
@given(batch=st.lists(lines, min_size=1, max_size=40))
def test_batch_validation_agrees_with_the_canonical_codec(batch: list[bytes]) -> None:
    for raw, fast in zip(batch, validate_batch(batch), strict=True):
        canonical = decode(raw)
        if isinstance(fast, dict):
            try:
                minute = probe_minute(fast["observed_at"])
            except ValueError:
                continue  # the edge defers to the canonical codec here
            assert not isinstance(canonical, Rejected), (raw, canonical)
            assert minute == epoch_minute(canonical.observed_at)  # type: ignore[union-attr]
        elif isinstance(fast, Rejected):
            assert isinstance(canonical, Rejected)
            assert fast.reason == canonical.reason
        else:
            assert fast == canonical


@settings(max_examples=60, deadline=None)
@given(batch=st.lists(lines, min_size=1, max_size=60))
def test_replay_results_do_not_depend_on_batching(batch: list[bytes]) -> None:
    from datetime import UTC, datetime

    import fold.replay as replay

    head = [json.dumps(contract(services={"api": "10.00", "web": "10.00"})).encode()]
    numbered = list(enumerate([*head, *batch], start=1))
    as_of = datetime(2026, 5, 1, tzinfo=UTC)
    big = replay_lines(numbered, as_of)
    saved = replay.BATCH
    try:
        replay.BATCH = 1
        small = replay_lines(numbered, as_of)
    finally:
        replay.BATCH = saved
    assert [dumps(o) for o in big.outputs] == [dumps(o) for o in small.outputs]
    assert [(d.reason, d.source) for d in big.dead_letters] == [
        (d.reason, d.source) for d in small.dead_letters
    ]


def test_two_values_on_one_line_cannot_shift_the_batch() -> None:
    good = [
        json.dumps(probe("api", "eu", f"2026-03-05T10:0{i}:00Z", True)).encode() for i in range(8)
    ]
    sneaky = b'{"type":"probe"},{"type":"probe"}'
    out = validate_batch([*good[:4], sneaky, *good[4:]])
    assert len(out) == 9
    assert isinstance(out[4], Rejected)
    assert out[4].reason == "invalid_json"
    assert all(isinstance(o, dict) for i, o in enumerate(out) if i != 4)


def test_non_ascii_digits_in_a_timestamp_get_the_canonical_verdict() -> None:
    for ts in (
        "2026-03-01T00:00:0\u0664Z",
        "2026-03-01T00:00:04+0\u0664:00",
        "\uff12026-03-01T00:00:04Z",
    ):
        raw = json.dumps(probe("api", "eu", ts, True)).encode()
        canonical = decode(raw)
        assert isinstance(canonical, Rejected)
        for got in (decode_edge(raw), *validate_batch([raw] * 6)):
            assert isinstance(got, Rejected)
            assert got.reason == canonical.reason


# -- lines are decoded each on its own ------------------------------------------------

VALID_EVENTS = [
    contract(services={"api": "10.00", "web": "10.00"}),
    incident("I-1", ["api"], "2026-03-05T10:00:00Z", "2026-03-05T10:30:00Z"),
    claim(
        "C-1", "PO-1", "2026-04-02T09:00:00Z", [("2026-03-05T10:00:00Z", "2026-03-05T10:30:00Z")]
    ),
    {
        "type": "ticket_opened",
        "event_id": "t-1",
        "ticket_id": "T-1",
        "client_id": "client-1",
        "opened_at": "2026-03-05T10:00:00Z",
        "severity": "low",
        "channel": "email",
    },
]

valid_lines = st.one_of(
    st.builds(
        lambda svc, reg, minute, ok, eid, err: json.dumps(
            probe(svc, reg, f"2026-03-05T1{minute // 60}:{minute % 60:02d}:30Z", ok, eid)
            | ({"error": err} if err is not None else {}),
            separators=(",", ":"),
        ).encode(),
        st.sampled_from(["api", "web"]),
        st.sampled_from(["eu", "us"]),
        st.integers(0, 599),
        st.booleans(),
        st.text("abcdef0123-", min_size=1, max_size=8),
        st.one_of(st.none(), st.text('abc{}[],":y ', max_size=12)),
    ),
    st.sampled_from([json.dumps(e).encode() for e in VALID_EVENTS]),
)


@st.composite
def torn_lines(draw: st.DrawFn) -> list[bytes]:
    """Valid lines, some cut in two, glued to a neighbour, or spliced with one."""
    valid = draw(st.lists(valid_lines, min_size=5, max_size=30))
    out: list[bytes] = []
    i = 0
    while i < len(valid):
        line = valid[i]
        nxt = valid[i + 1] if i + 1 < len(valid) else None
        op = draw(st.sampled_from(["keep"] * 4 + ["split", "tear", "tear", "join", "splice"]))
        opening = line.rindex(b'":"') + 2 if b'":"' in line else len(line)
        if op == "tear" and line.endswith(b'"}') and opening + 1 <= len(line) - 2:
            # cut inside the last string: glued back with "," the head's string is closed
            # by the tail; two values on the next line make up for the line count
            at = draw(st.integers(opening + 1, len(line) - 2))
            out += [line[:at], line[at:]]
            if i + 2 < len(valid) and draw(st.booleans()):
                out.append(valid[i + 1] + b"," + valid[i + 2])
                i += 2
        elif op in ("split", "tear") and len(line) > 2:
            at = draw(st.integers(1, len(line) - 1))
            out += [line[:at], line[at:]]
        elif op == "join" and nxt is not None:
            out.append(line + draw(st.sampled_from([b"", b",", b" ", b", "])) + nxt)
            i += 1
        elif op == "splice" and nxt is not None and len(line) > 2 and len(nxt) > 2:
            a = draw(st.integers(1, len(line) - 1))
            b = draw(st.integers(1, len(nxt) - 1))
            out += [line[:a] + nxt[b:], nxt[:b]]
            i += 1
        else:
            out.append(line)
        i += 1
    return out


def _same_verdict(raw: bytes, got: object) -> None:
    """``got`` (an edge result for ``raw``) is the canonical verdict on ``raw`` alone."""
    canonical = decode(raw)
    minute = None
    if isinstance(got, tuple):  # decode_edge: (probe, epoch minute)
        got, minute = got
    if isinstance(canonical, Rejected):
        assert isinstance(got, Rejected), (raw, got)
        assert got.reason == canonical.reason, raw
    elif isinstance(got, dict):
        assert isinstance(canonical, ProbeEvent), raw
        assert ProbeEvent.model_validate_json(json.dumps(got)) == canonical
        assert probe_minute(got["observed_at"]) == epoch_minute(canonical.observed_at)
        assert minute in (None, epoch_minute(canonical.observed_at))
    else:
        assert got == canonical, raw


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=torn_lines())
def test_no_split_or_join_of_lines_is_ever_accepted(batch: list[bytes]) -> None:
    got = validate_batch(batch)
    assert len(got) == len(batch)
    for raw, one in zip(batch, got, strict=True):
        _same_verdict(raw, one)
        _same_verdict(raw, decode_edge(raw))
    # the whole edge: every line is dead-lettered exactly when the canonical codec rejects it
    folder = Folder(Book())
    dead = folder.ingest_batch(batch, [{"line": n} for n in range(len(batch))])
    rejected = [n for n, raw in enumerate(batch) if isinstance(decode(raw), Rejected)]
    assert [d.source["line"] for d in dead] == rejected
    assert [d.reason for d in dead] == [decode(batch[n]).reason for n in rejected]  # type: ignore[union-attr]
    accepted = len(batch) - len(rejected)
    assert sum(folder.stats.events.values()) == accepted


def test_the_lines_of_issue_13_are_three_dead_letters() -> None:
    """An unterminated string, its ``y"}`` and two objects on a line: joined, three probes."""
    one = {"type": "probe", "service": "api", "region": "eu", "ok": False}
    a = json.dumps(one | {"event_id": "a", "observed_at": "2026-03-05T10:00:00Z"}).encode()
    b = json.dumps(one | {"event_id": "b", "observed_at": "2026-03-05T10:01:00Z"}).encode()
    cut = json.dumps(probe("api", "eu", "2026-03-05T10:02:00Z", False, "c") | {"error": "xy"})
    torn = [cut.encode()[:-3], b'y"}', a + b"," + b]  # cut inside its last string
    good = [
        json.dumps(probe("api", "eu", f"2026-03-05T11:0{i}:00Z", True, f"g{i}")).encode()
        for i in range(6)
    ]
    batch = [*good[:3], *torn, *good[3:]]
    got = validate_batch(batch)
    assert [type(g) for g in got] == [dict] * 3 + [Rejected] * 3 + [dict] * 3
    assert [g.reason for g in got if isinstance(g, Rejected)] == ["invalid_json"] * 3
    dead = Folder(Book()).ingest_batch(batch, [{"line": n} for n in range(len(batch))])
    assert [(d.source["line"], d.reason) for d in dead] == [(n, "invalid_json") for n in (3, 4, 5)]


def test_a_long_batch_of_lines_the_edge_refuses_is_decoded_line_by_line() -> None:
    # a timestamp only the canonical model reads (a space for "T"); splitting a joined
    # batch around each refused line once recursed past Python's limit at ~1,000 lines
    odd = [
        json.dumps(probe("api", "eu", "2026-03-05 10:00:00Z", True, f"o{i}")).encode()
        for i in range(1500)
    ]
    got = validate_batch(odd)
    assert len(got) == len(odd)
    assert all(isinstance(g, ProbeEvent) for g in got)
