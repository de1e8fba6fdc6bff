"""The bulk probe decoder takes what the canonical models take, identically (hypothesis).

Whatever :class:`~schemas.fastprobe.ProbeDecoder` accepts must be a probe that
:func:`schemas.codec.decode` accepts, with the same service, region, event id,
``ok`` and minute; everything else is left to the canonical path, and a line
never shifts its neighbours. Names it has not met yet are learnt, never cost
a verdict.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.codec import Rejected, decode
from schemas.fastprobe import ProbeDecoder
from tests.helpers import probe
from tests.unit.schemas.fastprobe_cases import WARM_UP, check_fast_against_canonical, probe_lines


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(probe_lines(), min_size=1, max_size=30))
def test_what_the_fast_path_accepts_the_canonical_models_accept_identically(
    batch: list[bytes],
) -> None:
    check_fast_against_canonical(batch)


@settings(max_examples=150, deadline=None)
@given(line=probe_lines(), n=st.integers(1, 12), at=st.data())
def test_one_odd_line_among_good_ones(line: bytes, n: int, at: st.DataObject) -> None:
    good = [
        json.dumps(probe("api", "eu", f"2026-03-05T10:{i:02d}:00Z", True, event_id=f"g{i}"))
        .replace(" ", "")
        .encode()
        for i in range(n)
    ]
    pos = at.draw(st.integers(0, n))
    batch = [*good[:pos], line, *good[pos:]]
    check_fast_against_canonical(batch)
    fast = ProbeDecoder().decode(batch)
    # the good lines all take the fast path, whatever their neighbour is
    assert set(fast.slow) <= {pos}


def test_valid_probes_all_take_the_fast_path() -> None:
    batch = [
        json.dumps(
            probe("api", r, f"2026-03-0{d}T1{d}:0{d}:0{d}.{d}Z", d % 2 == 0, event_id=f"e{d}{r}")
            | {"latency_ms": 1.5 * d, "status_code": 200, "error": None, "extra": {"a": [1]}}
        ).encode()
        for d in range(1, 10)
        for r in ("eu", "us")
    ]
    fast = ProbeDecoder().decode(batch)
    assert fast.slow == []
    assert len(fast) == len(batch)
    check_fast_against_canonical(batch)


def test_two_values_on_one_line_never_shift_the_batch() -> None:
    one = b'{"type":"probe","event_id":"a","service":"s","region":"r",'
    # A+B merge into one valid probe and C splits into two: the count still matches
    a = one + b'"observed_at":"2026-03-01T00:00:00Z","ok":true,"x":{"y":1'
    b = b'"z":2},"k":1}'
    c = (
        one + b'"observed_at":"2026-03-01T00:01:00Z","ok":false},'
        b'{"type":"probe","event_id":"b","service":"s","region":"r",'
        b'"observed_at":"2026-03-01T00:02:00Z","ok":true}'
    )
    fast = ProbeDecoder().decode([a, b, c])
    assert len(fast) == 0
    assert fast.slow == [0, 1, 2]


def test_new_names_are_learnt_and_never_cost_a_verdict() -> None:
    decoder = ProbeDecoder()
    assert len(decoder.decode(WARM_UP)) == len(WARM_UP)
    known = json.dumps(probe("api", "eu", "2026-03-01T00:01:00Z", True, event_id="k")).encode()
    new = json.dumps(probe("db", "ap-1", "2026-03-01T00:01:00Z", False, event_id="n")).encode()
    bad = json.dumps(probe("no such", "eu", "2026-03-01T00:01:00Z", True, event_id="b")).encode()
    for _ in range(2):  # the first pass learns "db" and "ap-1"
        fast = decoder.decode([known, new, bad, known])
        assert fast.slow == [2]
        assert [fast.names[int(w) >> 21] for w in fast.where] == ["api", "db", "api"]
    rejected = decode(bad)  # the canonical path decides the odd one
    assert isinstance(rejected, Rejected)
    assert rejected.reason == "bad_value"
