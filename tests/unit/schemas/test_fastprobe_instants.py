"""The bulk decoder's ``observed_at`` parse and ``event_id`` digests (hypothesis).

:func:`~schemas.fastprobe.instant_minutes` gives the canonical parser's epoch
minute for every text it accepts, and leaves instants outside the accepted
range to the canonical path; bulk digests equal one-by-one digests.
"""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from fold.folder import Folder
from schemas.edge import probe_minute
from schemas.fastprobe import ProbeDecoder, instant_minutes
from sla.book import Book
from sla.probe_digest import probe_digest, probe_digests
from tests.helpers import probe
from tests.unit.schemas.fastprobe_cases import (
    IDENT_CHARS,
    any_timestamp,
    canonical_minute,
    timestamps,
)


@settings(max_examples=300, deadline=None)
@given(texts=st.lists(any_timestamp, min_size=1, max_size=20))
def test_instant_minutes_agree_with_the_canonical_parser(texts: list[str]) -> None:
    minutes, valid = instant_minutes(texts)
    for text, minute, ok in zip(texts, minutes.tolist(), valid.tolist(), strict=True):
        if ok:
            assert minute == canonical_minute(text) == probe_minute(text), text


@settings(max_examples=200, deadline=None)
@given(shape=timestamps(), data=st.data())
def test_same_shape_batches_agree_with_the_canonical_parser(
    shape: str, data: st.DataObject
) -> None:
    # texts that share one shape take the fixed-width table; swap in random digits
    texts = [
        "".join(data.draw(st.sampled_from("0123456789")) if c.isdigit() else c for c in shape)
        for _ in range(data.draw(st.integers(1, 12)))
    ]
    minutes, valid = instant_minutes(texts)
    for text, minute, ok in zip(texts, minutes.tolist(), valid.tolist(), strict=True):
        if ok:
            assert minute == canonical_minute(text) == probe_minute(text), text


def test_instant_minutes_take_every_usual_shape() -> None:
    texts = ["2026-03-01T10:03:59.999Z", "2026-03-01T10:03:59Z", "2026-03-01T11:03:59+01:00"]
    texts += ["2026-02-28T23:59:00.5-05:30", "2028-02-29T00:00:00Z", "2199-12-31T23:59:59Z"]
    for batch in (texts, texts[:1] * 3, texts[3:4] * 5):
        minutes, valid = instant_minutes(batch)
        assert valid.all()
        assert minutes.tolist() == [canonical_minute(t) for t in batch]


@settings(max_examples=200, deadline=None)
@given(
    ids=st.one_of(
        st.lists(st.text(max_size=140), min_size=1, max_size=20),
        st.integers(0, 140).flatmap(
            lambda n: st.lists(st.text(IDENT_CHARS, min_size=n, max_size=n), min_size=1)
        ),
    )
)
def test_bulk_digests_equal_one_by_one_digests(ids: list[str]) -> None:
    assert probe_digests(ids).tolist() == [probe_digest(i) for i in ids]


def test_instants_outside_the_accepted_range_take_the_canonical_path() -> None:
    outside = [
        "1969-12-31T23:59:59Z",
        "1970-01-01T00:30:00+01:00",
        "2200-01-01T00:00:00Z",
        "2199-12-31T23:30:00-01:00",
    ]
    inside = ["1970-01-01T00:00:00Z", "1969-12-31T23:30:00-01:00", "2199-12-31T23:59:59Z"]
    for batch in (outside, inside, [*outside, *inside], outside[:1] * 4, inside[2:] * 4):
        minutes, valid = instant_minutes(batch)
        for text, minute, ok in zip(batch, minutes.tolist(), valid.tolist(), strict=True):
            assert ok == (text in inside), text
            assert canonical_minute(text) == (minute if ok else None), text
    lines = [
        json.dumps(probe("api", "eu", t, False, event_id=f"e{k}")).encode()
        for k, t in enumerate(outside)
    ]
    fast = ProbeDecoder().decode(lines * 2)
    assert (len(fast), fast.slow) == (0, list(range(2 * len(outside))))
    dead = Folder(Book()).ingest_batch(lines, [{}] * len(lines))
    assert [d.reason for d in dead] == ["out_of_range"] * len(outside)
