"""The bulk probe decoder is held to the canonical models (hypothesis).

Whatever :class:`~schemas.fastprobe.ProbeDecoder` accepts must be a probe that
:func:`schemas.codec.decode` accepts, with the same service, region, event id,
``ok`` and minute; everything else is left to the canonical path. A fold
through :meth:`fold.folder.Folder.ingest_batch` must give the verdicts,
dead-letter reasons and minute states of a fold of :func:`decode`'s events.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fold.folder import Folder
from schemas.codec import Rejected, decode
from schemas.edge import probe_minute, validate_batch
from schemas.events import ProbeEvent
from schemas.fastprobe import LINE_LIMIT, ProbeDecoder, _Probe, instant_minutes
from sla.book import Book
from sla.probes import ProbeLedger, ProbePolicy, probe_digest, probe_digests
from sla.timeutil import END_INSTANT, FIRST_INSTANT, epoch_minute
from tests.helpers import probe

IDENT_CHARS = "abcXYZ0189._:/-"
idents = st.text(IDENT_CHARS, min_size=1, max_size=12)
bad_idents = st.sampled_from(
    ["", "x" * 129, "a b", "caf\u00e9", "a\n", "a\u0664", "\u00e9", "tab\t", "x" * 128]
)
names = st.one_of(st.sampled_from(["api", "web", "eu", "us-east-1"]), idents, bad_idents)

# -- timestamps ---------------------------------------------------------------


@st.composite
def timestamps(draw: st.DrawFn) -> str:
    """RFC 3339-ish texts around every edge the fast path checks."""
    year = draw(
        st.sampled_from([1899, 1900, 1969, 1970, 2024, 2026, 2100, 2199, 2200, 2201, 999, 10, 1])
    )
    month = draw(st.integers(0, 13))
    day = draw(st.integers(0, 32))
    hour = draw(st.integers(0, 25))
    minute = draw(st.integers(0, 61))
    second = draw(st.integers(0, 61))
    frac = draw(st.sampled_from(["", ".", ".5", ".123", ".123456", ".1234567"]))
    zone = draw(
        st.sampled_from(
            [
                *("Z", "z", "+00:00", "-00:00", "-05:30", "+14:00", "+23:59", "+24:00"),
                *("-00:60", "", "+0100", "+01", "+1:00"),
            ]
        )
    )
    sep = draw(st.sampled_from(["T", "T", "T", " ", "t"]))
    text = f"{year:04d}-{month:02d}-{day:02d}{sep}{hour:02d}:{minute:02d}:{second:02d}{frac}{zone}"
    if draw(st.integers(0, 9)) == 0:  # a non-ASCII digit somewhere
        at = draw(st.integers(0, len(text) - 1))
        if text[at].isdigit():
            text = text[:at] + "\u0664" + text[at + 1 :]
    return text


good_timestamps = st.builds(
    lambda d, h, m, s, frac, zone: f"2026-03-{d:02d}T{h:02d}:{m:02d}:{s:02d}{frac}{zone}",
    st.integers(1, 31),
    st.integers(0, 23),
    st.integers(0, 59),
    st.integers(0, 59),
    st.sampled_from(["", ".5", ".123456"]),
    st.sampled_from(["Z", "+00:00", "-05:30", "+01:00"]),
)
#: Around the accepted range [1970-01-01T00:00Z, 2200-01-01T00:00Z), in UTC and with offsets.
range_edges = st.sampled_from(
    [
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:00Z",
        "9999-12-31T23:59:59-01:00",
        "1969-12-31T23:59:59.999999Z",
        "1969-12-31T23:59:59-00:00",
        "1969-12-31T23:30:00-01:00",
        "1970-01-01T00:00:00Z",
        "1970-01-01T00:00:00+00:01",
        "1970-01-01T00:30:00+01:00",
        "2199-12-31T23:59:59.999999Z",
        "2199-12-31T23:59:00-00:01",
        "2199-12-31T23:30:00-01:00",
        "2200-01-01T00:00:00Z",
        "2200-01-01T00:30:00+01:00",
        "2200-01-01T00:00:00+00:00",
    ]
)
any_timestamp = st.one_of(
    good_timestamps, timestamps(), range_edges, st.sampled_from(["now", "", "2026"])
)

# -- probe lines -----------------------------------------------------------------

json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=8),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)


def _field_values() -> dict[str, st.SearchStrategy[Any]]:
    wrong: st.SearchStrategy[Any] = st.sampled_from([None, 1, 1.5, True, [], {}, "no", "true"])
    return {
        "type": st.one_of(st.just("probe"), st.sampled_from(["incident", "Probe", 1, None])),
        "event_id": st.one_of(idents, idents, bad_idents, wrong),
        "service": st.one_of(names, wrong),
        "region": st.one_of(names, wrong),
        "observed_at": st.one_of(any_timestamp, any_timestamp, wrong),
        "ok": st.one_of(st.booleans(), st.booleans(), wrong),
        "latency_ms": st.one_of(
            st.floats(allow_nan=False, allow_infinity=False),
            st.integers(-5, 10**30),
            st.just(-0.0),
            wrong,
        ),
        "status_code": st.one_of(st.integers(-2, 1001), wrong),
        "error": st.one_of(
            st.text(max_size=20),
            st.sampled_from(["x" * 4096, "x" * 4097, "\U0001f600" * 4096, "\U0001f600" * 4097]),
            wrong,
        ),
    }


REQUIRED = ("type", "event_id", "service", "region", "observed_at", "ok")
OPTIONAL = ("latency_ms", "status_code", "error")


@st.composite
def probe_lines(draw: st.DrawFn) -> bytes:
    """A probe line, mostly valid, with every kind of mischief now and then."""
    values = _field_values()
    valid = draw(st.integers(0, 2)) > 0
    fields: list[tuple[str, Any]] = []
    for key in REQUIRED:
        if valid:
            good = {
                "type": st.just("probe"),
                "event_id": idents,
                "service": st.sampled_from(["api", "web"]),
                "region": st.sampled_from(["eu", "us"]),
                "observed_at": good_timestamps,
                "ok": st.booleans(),
            }[key]
            fields.append((key, draw(good)))
        elif draw(st.integers(0, 12)) > 0:  # else: the field is missing
            fields.append((key, draw(st.one_of(values[key], values[key]))))
    good_optional = {
        "latency_ms": st.one_of(st.none(), st.floats(0, 1e6), st.integers(0, 10**6)),
        "status_code": st.one_of(st.none(), st.integers(0, 999)),
        "error": st.one_of(st.none(), st.text(max_size=10)),
    }
    for key in OPTIONAL:
        if draw(st.booleans()):
            fields.append((key, draw(good_optional[key] if valid else values[key])))
    for _ in range(draw(st.integers(0, 2))):  # unknown fields
        fields.append((draw(st.text(max_size=6)), draw(json_values)))
    if fields and draw(st.integers(0, 5)) == 0:  # a repeated key: the last one wins
        key = draw(st.sampled_from([k for k, _ in fields]))
        fields.append((key, draw(values.get(key, json_values))))
    fields = draw(st.permutations(fields))
    ascii_only = draw(st.booleans())
    colon, comma = draw(st.sampled_from([(":", ","), (": ", ", "), (" : ", " ,\t")]))
    body = comma.join(
        json.dumps(k, ensure_ascii=ascii_only) + colon + json.dumps(v, ensure_ascii=ascii_only)
        for k, v in fields
    )
    raw = ("{" + body + "}").encode()
    return draw(st.one_of(st.just(raw), st.just(raw), mischief(raw)))


def mischief(raw: bytes) -> st.SearchStrategy[bytes]:
    """The line, broken or disguised in ways a JSON parser may disagree on."""
    inner = raw[1:-1]
    sep = b"," if inner else b""
    return st.sampled_from(
        [
            b" " + raw + b" ",  # surrounding whitespace
            raw + b"," + raw,  # two values on one line
            raw + raw,
            raw[:-1],  # truncated
            raw[: len(raw) // 2],
            raw + b"}",
            b"[" + raw + b"]",
            b"\xef\xbb\xbf" + raw,  # byte order mark
            b"{" + inner + sep + b'"x":"\xff"}',  # invalid UTF-8 in an ignored field
            b"{" + inner + sep + b'"x":"\xed\xa0\x80"}',  # an encoded surrogate
            b"{" + inner + sep + b'"x":"\\ud800"}',  # a lone surrogate escape
            b"{" + inner + sep + b'"x":' + b"[" * 201 + b"]" * 201 + b"}",  # too deep
            b"{" + inner + sep + b'"x":' + b'{"a":' * 199 + b"1" + b"}" * 199 + b"}",
            b"{" + inner + sep + b'"x":1' + b"0" * 4400 + b"}",  # a huge integer
            b"{" + inner + sep + b'"x":NaN}',
            b"{" + inner + sep + b'"latency_ms":1e400}',
            b"{" + inner + sep + b'"x":"' + b"y" * (LINE_LIMIT + 10) + b'"}',  # a long line
            b"{" + inner + sep + b'"x":"a\x01b"}',  # a raw control character
            b"{" + inner + sep + b'"x":"a\nb"}',  # a raw newline inside a string
            raw.replace(b'"ok"', b'"\\u006fk"'),  # an escaped key
            raw.replace(b"probe", b"pro\\u0062e"),  # an escaped value
            raw + b"\n" + raw,  # a newline between two values
            b"null",
            b"{}",
            b"",
        ]
    )


def _check_fast_against_canonical(batch: list[bytes]) -> None:
    decoder = ProbeDecoder()
    decoder.decode(WARM_UP)
    # the first pass meets names it does not list yet, the second knows them all
    for _ in range(2):
        _check_one_pass(decoder, batch)


#: Lines that teach a decoder a few names, so it decodes with its typed decoders.
WARM_UP = [
    json.dumps(probe(s, r, "2026-03-01T00:00:00Z", True, event_id="w")).encode()
    for s in ("api", "web")
    for r in ("eu", "us")
]


def _check_one_pass(decoder: ProbeDecoder, batch: list[bytes]) -> None:
    fast = decoder.decode(batch)
    taken = set()
    for k in range(len(fast)):
        line = fast.line(k)
        taken.add(line)
        canonical = decode(batch[line])
        assert isinstance(canonical, ProbeEvent), (batch[line], canonical)
        name = fast.names
        assert name[int(fast.where[k]) >> 21] == canonical.service
        assert name[(int(fast.where[k]) >> 1) & 0xFFFFF] == canonical.region
        assert int(fast.where[k]) & 1 == canonical.ok
        assert fast.event_id[k] == canonical.event_id
        assert int(fast.minute[k]) == epoch_minute(canonical.observed_at)
        assert int(fast.digest[k]) == probe_digest(canonical.event_id)
    assert sorted(taken.union(fast.slow)) == list(range(len(batch)))
    assert not taken.intersection(fast.slow)
    assert fast.slow == sorted(fast.slow)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(probe_lines(), min_size=1, max_size=30))
def test_what_the_fast_path_accepts_the_canonical_models_accept_identically(
    batch: list[bytes],
) -> None:
    _check_fast_against_canonical(batch)


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
    _check_fast_against_canonical(batch)
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
    _check_fast_against_canonical(batch)


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


# -- timestamps and digests -------------------------------------------------------


def _canonical_minute(text: str) -> int | None:
    raw = json.dumps(probe("api", "eu", text, True)).encode()
    ev = decode(raw)
    return None if isinstance(ev, Rejected) else epoch_minute(ev.observed_at)  # type: ignore[union-attr]


@settings(max_examples=300, deadline=None)
@given(texts=st.lists(any_timestamp, min_size=1, max_size=20))
def test_instant_minutes_agree_with_the_canonical_parser(texts: list[str]) -> None:
    minutes, valid = instant_minutes(texts)
    for text, minute, ok in zip(texts, minutes.tolist(), valid.tolist(), strict=True):
        if ok:
            assert minute == _canonical_minute(text) == probe_minute(text), text


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
            assert minute == _canonical_minute(text) == probe_minute(text), text


def test_instant_minutes_take_every_usual_shape() -> None:
    texts = ["2026-03-01T10:03:59.999Z", "2026-03-01T10:03:59Z", "2026-03-01T11:03:59+01:00"]
    texts += ["2026-02-28T23:59:00.5-05:30", "2028-02-29T00:00:00Z", "2199-12-31T23:59:59Z"]
    for batch in (texts, texts[:1] * 3, texts[3:4] * 5):
        minutes, valid = instant_minutes(batch)
        assert valid.all()
        assert minutes.tolist() == [_canonical_minute(t) for t in batch]


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


# -- the fold -------------------------------------------------------------------------


def _reference_fold(batch: list[bytes]) -> tuple[list[str], dict[str, int], Book]:
    """Decode every line with the canonical codec and fold what it accepts."""
    book = Book()
    reasons: list[str] = []
    counts: dict[str, int] = {}
    for raw in batch:
        ev = decode(raw)
        if isinstance(ev, Rejected):
            reasons.append(ev.reason)
            continue
        counts[ev.type] = counts.get(ev.type, 0) + 1
        if isinstance(ev, ProbeEvent):
            book.add_probe(ev.service, ev.region, ev.observed_at, ev.ok, ev.event_id)
    return reasons, counts, book


def _states(book: Book) -> dict[Any, tuple[list[int], int]]:
    out = {}
    for key, led in book.ledgers.items():
        assert isinstance(led, ProbeLedger)
        out[key] = (led.minute_states(ProbePolicy()).tolist(), led.probe_count())
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(probe_lines(), min_size=1, max_size=40), data=st.data())
def test_fold_gives_the_canonical_verdicts_and_minute_states(
    batch: list[bytes], data: st.DataObject
) -> None:
    batch = [*batch, *data.draw(st.lists(st.sampled_from(batch), max_size=10))]  # redeliveries
    reasons, counts, ref = _reference_fold(batch)
    folder = Folder(Book())
    sources = [{"line": i} for i in range(len(batch))]
    # two batches: the second one's names are known to the folder's decoder
    cut = data.draw(st.integers(0, len(batch)))
    dead = folder.ingest_batch(batch[:cut], sources[:cut]) if cut else []
    dead += folder.ingest_batch(batch[cut:], sources[cut:]) if cut < len(batch) else []
    assert [d.reason for d in dead] == reasons
    assert [d.source["line"] for d in dead] == sorted(d.source["line"] for d in dead)
    assert {k: v for k, v in folder.stats.events.items() if v} == counts
    assert _states(folder.book) == _states(ref)


def test_probes_after_as_of_are_not_yet_known() -> None:
    as_of = datetime(2026, 3, 5, 10, 3, 30, tzinfo=UTC)
    batch = [
        json.dumps(
            probe("api", "eu", f"2026-03-05T10:03:{s:02d}Z", True, event_id=f"p{s}")
        ).encode()
        for s in (0, 29, 30, 31, 59)
    ]
    folder = Folder(Book(), as_of)
    assert folder.ingest_batch(batch, [{}] * len(batch)) == []
    assert folder.stats.events == {"probe": 5}
    assert folder.stats.not_yet_known == 2
    led = next(iter(folder.book.ledgers.values()))
    assert isinstance(led, ProbeLedger)
    assert led.probe_count() == 3


def test_every_probe_path_filters_as_of_and_counts_alike() -> None:
    """The bulk decoder, the canonical edge and the models all end in one probe fold."""
    as_of = datetime(2026, 3, 5, 10, 3, 30, 500000, tzinfo=UTC)
    texts = [
        *(f"2026-03-05T10:03:{s}Z" for s in ("00", "30.5", "30.500001", "59")),
        "2026-03-05T11:03:30.4+01:00",
        "2026-03-05 10:03:29Z",  # only the canonical model reads a space for "T"
        "2026-03-05T10:03:31.1234567Z",  # and more than six digits of a second
    ]
    lines = [
        json.dumps(probe("api", "eu", t, k % 2 == 0, event_id=f"p{k}")).encode()
        for k, t in enumerate(texts)
    ]
    by_batch = Folder(Book(), as_of)
    assert by_batch.ingest_batch(lines, [{}] * len(lines)) == []
    by_line = Folder(Book(), as_of)
    assert [by_line.ingest(raw, {}) for raw in lines] == [None] * len(lines)
    by_model = Folder(Book(), as_of)
    for raw in lines:
        by_model.apply(decode(raw), raw)
    for folder in (by_batch, by_line, by_model):
        assert folder.stats.events == {"probe": len(lines)}
        assert folder.stats.not_yet_known == 3  # 10:03:30.500001, :59 and :31.1234567
        assert _states(folder.book) == _states(by_batch.book)
    [led] = by_batch.book.ledgers.values()
    assert isinstance(led, ProbeLedger)
    assert led.probe_count() == len(lines) - 3


# -- rerouting --------------------------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(probe_lines(), min_size=1, max_size=30))
def test_rerouted_probes_are_forwarded_not_folded(batch: list[bytes]) -> None:
    reasons, _, _ = _reference_fold(batch)
    forwarded: list[tuple[bytes, str]] = []
    asked: list[str] = []

    def reroute(service: str) -> bool:
        asked.append(service)
        return service != "api"

    folder = Folder(Book())
    folder.reroute = reroute
    folder.forward_probe = lambda raw, service: forwarded.append((raw, service))
    dead = folder.ingest_batch(batch, [{}] * len(batch))
    assert [d.reason for d in dead] == reasons
    expected_home: list[ProbeEvent] = []
    expected_away: list[ProbeEvent] = []
    for raw in batch:
        ev = decode(raw)
        if isinstance(ev, ProbeEvent):
            (expected_home if ev.service == "api" else expected_away).append(ev)
    assert sorted(forwarded) == sorted((r, s) for r, s in forwarded)
    assert sorted(s for _, s in forwarded) == sorted(e.service for e in expected_away)
    for raw, service in forwarded:
        ev = decode(raw)
        assert isinstance(ev, ProbeEvent)
        assert ev.service == service
    assert folder.stats.events.get("probe", 0) == len(expected_home)
    assert {key[0] for key in folder.book.ledgers} <= {"api"}
    ref = Book()
    for ev in expected_home:
        ref.add_probe(ev.service, ev.region, ev.observed_at, ev.ok, ev.event_id)
    assert _states(folder.book) == _states(ref)


def test_reroute_hook_on_each_path() -> None:
    home = json.dumps(probe("api", "eu", "2026-03-05T10:00:00Z", True, event_id="h")).encode()
    away = json.dumps(probe("web", "eu", "2026-03-05T10:00:00Z", False, event_id="a")).encode()
    # a timestamp only the canonical model reads (a space, not "T")
    odd = json.dumps(probe("web", "eu", "2026-03-05 10:00:00Z", True, event_id="o")).encode()
    got: list[tuple[bytes, str]] = []
    folder = Folder(Book())
    folder.reroute = lambda service: service == "web"
    folder.forward_probe = lambda raw, service: got.append((raw, service))
    assert folder.ingest_batch([home, away, odd] * 3, [{}] * 9) == []
    assert sorted(got) == sorted([(away, "web"), (odd, "web")] * 3)
    assert folder.ingest(away, {}) is None
    assert folder.ingest(odd, {}) is None
    assert len(got) == 8
    assert folder.stats.events == {"probe": 3}
    assert [key[0] for key in folder.book.ledgers] == ["api"]


def test_no_reroute_without_the_hook() -> None:
    away = json.dumps(probe("web", "eu", "2026-03-05T10:00:00Z", False, event_id="a")).encode()
    folder = Folder(Book())
    folder.forward_probe = lambda raw, service: (_ for _ in ()).throw(AssertionError(service))
    assert folder.ingest_batch([away], [{}]) == []
    assert folder.stats.events == {"probe": 1}


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
            assert _canonical_minute(text) == (minute if ok else None), text
    lines = [
        json.dumps(probe("api", "eu", t, False, event_id=f"e{k}")).encode()
        for k, t in enumerate(outside)
    ]
    fast = ProbeDecoder().decode(lines * 2)
    assert (len(fast), fast.slow) == (0, list(range(2 * len(outside))))
    dead = Folder(Book()).ingest_batch(lines, [{}] * len(lines))
    assert [d.reason for d in dead] == ["out_of_range"] * len(outside)


# -- the fast paths against the wire model's bounds -------------------------------


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
