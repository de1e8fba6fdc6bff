"""The fast batch edge gives exactly the canonical codec's verdicts."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.codec import Rejected, decode
from schemas.edge import decode_edge, probe_minute, validate_batch
from sla.timeutil import epoch_minute
from streams.replay import dumps, replay_lines
from tests.helpers import contract, probe

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

    import streams.replay as replay

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
