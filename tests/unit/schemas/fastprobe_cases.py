"""Probe lines for the bulk decoder's property tests, and the checks they share.

Hypothesis strategies of probe lines (mostly valid, with every kind of
mischief a JSON parser may disagree on) and of timestamps around every edge
the fast path checks; the check that what
:class:`~schemas.fastprobe.ProbeDecoder` accepts is what
:func:`schemas.codec.decode` accepts, identically; and a reference fold of
the canonical codec's events to compare folds with.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from schemas.codec import Rejected, decode
from schemas.events import ProbeEvent
from schemas.fastprobe import LINE_LIMIT, ProbeDecoder
from sla.book import Book
from sla.probe_digest import probe_digest
from sla.probes import ProbeLedger, ProbePolicy
from sla.timeutil import epoch_minute
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


def check_fast_against_canonical(batch: list[bytes]) -> None:
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


def canonical_minute(text: str) -> int | None:
    raw = json.dumps(probe("api", "eu", text, True)).encode()
    ev = decode(raw)
    return None if isinstance(ev, Rejected) else epoch_minute(ev.observed_at)  # type: ignore[union-attr]


def reference_fold(batch: list[bytes]) -> tuple[list[str], dict[str, int], Book]:
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


def ledger_states(book: Book) -> dict[Any, tuple[list[int], int]]:
    out = {}
    for key, led in book.ledgers.items():
        assert isinstance(led, ProbeLedger)
        out[key] = (led.minute_states(ProbePolicy()).tolist(), led.probe_count())
    return out
