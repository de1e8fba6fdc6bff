"""Shared, incremental evaluation (sla.summaries) against a from-scratch evaluation.

The oracle (tests/oracle) is the per-minute evaluation the statements were
computed with before results were shared: every contract, reading and
revision instant evaluates its services again over numpy arrays. The shared
path must give the same statements and claim decisions for any book, and
must keep giving them while events keep arriving (its caches are checked
against the book on every use).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fold.folder import Folder
from fold.replay import compute_outputs
from sla.book import Book
from sla.model import JSON
from sla.summaries import evaluator, forget_shared
from sla.timeutil import format_instant, parse_instant
from tests.helpers import claim, contract, incident, probe
from tests.oracle import claims_ref, statements_ref

SERVICES = ("api", "web", "db")
REGIONS = ("eu", "us")
TIMEZONES = ("UTC", "Europe/London", "America/New_York", "Asia/Tokyo")
CAUSES = ["internal", "aws", "force_majeure", "third_party", "maintenance"]
AS_OFS = ("2026-03-20T12:00:30Z", "2026-04-04T06:00:00Z", "2026-04-20T00:00:00Z")


_BASE = parse_instant("2026-02-28T20:00:00Z")


def _at(minute: int, second: int = 0) -> str:
    """An instant ``minute`` minutes after 2026-02-28T20:00Z (so months' ends are crossed)."""
    return format_instant(_BASE + timedelta(minutes=minute, seconds=second))


# minutes 0..600 around the Feb/March boundary, 43,000..44,200 around the March/April one
_MINUTE = st.one_of(st.integers(0, 600), st.integers(43_000, 44_200), st.integers(20_000, 20_300))

probes = st.builds(
    lambda s, r, m, sec, ok, n: probe(s, r, _at(m, sec), ok, event_id=f"p{n}"),
    st.sampled_from(SERVICES),
    st.sampled_from(REGIONS),
    _MINUTE,
    st.integers(0, 59),
    st.booleans(),
    st.integers(0, 10**6),
)

incidents = st.builds(
    lambda iid, svcs, start, dur, cause, impact, rev, status, rec, n: incident(
        f"INC-{iid}",
        sorted(svcs),
        _at(start, 20),
        None if status == "open" else _at(start + dur, 40),
        cause=cause,
        impact=impact,
        revision=rev,
        status=status,
        event_id=f"i{n}",
        recorded_at=_at(start + dur + rec),
    ),
    st.integers(0, 4),
    st.sets(st.sampled_from(SERVICES), min_size=1),
    _MINUTE,
    st.integers(0, 90),
    st.sampled_from(CAUSES),
    st.sampled_from(["outage", "degraded", "none"]),
    st.integers(0, 3),
    st.sampled_from(["open", "resolved", "resolved", "retracted"]),
    # recorded shortly after, or after March is final (a reclassification)
    st.sampled_from([1, 60, 8_000, 12_000]),
    st.integers(0, 10**6),
)


@st.composite
def contracts(draw: st.DrawFn, cid: str) -> JSON:
    services = draw(st.lists(st.sampled_from(SERVICES), min_size=1, max_size=3, unique=True))
    extra: dict[str, Any] = {
        "timezone": draw(st.sampled_from(TIMEZONES)),
        "credit_basis": draw(st.sampled_from(["platform", "per_service"])),
        "no_data_policy": draw(st.sampled_from(["up", "down"])),
        "declared_outage_counts": draw(st.booleans()),
        "revision": draw(st.integers(0, 1)),
    }
    if draw(st.booleans()):
        extra["excluded_causes"] = draw(st.lists(st.sampled_from(CAUSES), unique=True))
    start = draw(_MINUTE)
    if draw(st.integers(0, 3)) == 0:
        extra["effective_from"] = _at(start, 30)
    if draw(st.integers(0, 4)) == 0:
        extra["effective_to"] = _at(start + draw(st.integers(1, 30_000)))
    charges = {s: f"{draw(st.integers(1, 9_999))}.{draw(st.integers(0, 99)):02d}" for s in services}
    return contract(cid, services=charges, event_id=f"c-{cid}-{extra['revision']}", **extra)


claims = st.builds(
    lambda cid, n, sub, a, d: claim(f"CLM-{n}", cid, _at(sub), [(_at(a, 29), _at(a + d, 31))]),
    st.sampled_from(["PO-0", "PO-1", "PO-2"]),
    st.integers(0, 3),
    st.integers(30_000, 44_200),
    _MINUTE,
    st.integers(0, 200),
)


@st.composite
def books(draw: st.DrawFn) -> list[JSON]:
    evs: list[JSON] = [draw(contracts(f"PO-{i}")) for i in range(draw(st.integers(1, 6)))]
    evs += draw(st.lists(st.one_of(probes, probes, probes, incidents), max_size=60))
    evs += draw(st.lists(claims, max_size=3))
    return draw(st.permutations(evs))


def _fold(book: Book, events: list[JSON]) -> list[Any]:
    folder = Folder(book)
    raws = [json.dumps(e).encode() for e in events]
    dead = folder.ingest_batch(raws, [{}] * len(raws))
    assert not dead, dead[0].detail
    return folder.tickets


def _shared(book: Book, as_of: datetime) -> list[JSON]:
    return [o for o in compute_outputs(book, as_of, []) if o["kind"] != "ticket_verdict"]


def _from_scratch(book: Book, as_of: datetime) -> list[JSON]:
    return [
        *statements_ref.all_statements(book, as_of),
        *({**d, "revision": 0} for d in claims_ref.all_claim_decisions(book, as_of)),
    ]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=books(), as_of=st.sampled_from(AS_OFS))
def test_shared_statements_equal_a_from_scratch_evaluation(events: list[JSON], as_of: str) -> None:
    book = Book()
    _fold(book, events)
    at = parse_instant(as_of)
    assert _shared(book, at) == _from_scratch(book, at)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=books(), cut=st.integers(0, 100), as_ofs=st.lists(st.sampled_from(AS_OFS), min_size=2)
)
def test_incremental_statements_equal_a_from_scratch_evaluation(
    events: list[JSON], cut: int, as_ofs: list[str]
) -> None:
    """Outputs computed between batches (warm shared results) never go stale."""
    book = Book()
    k = len(events) * cut // 100
    _fold(book, events[:k])
    for as_of in as_ofs[:-1]:
        _shared(book, parse_instant(as_of))
    _fold(book, events[k:])
    # a contract revision and an incident revision after the warm passes
    _fold(book, [contract("PO-0", services={"api": "10.00"}, revision=7, timezone="Asia/Tokyo")])
    _fold(book, [incident("INC-0", ["api", "db"], _at(100), _at(300), cause="aws", revision=9)])
    at = parse_instant(as_ofs[-1])
    assert _shared(book, at) == _from_scratch(book, at)


def _book_of(n: int) -> Book:
    """``n`` contracts with the same terms over the same two services, and a month of data."""
    events: list[JSON] = [
        contract(f"PO-{i}", services={"api": f"{100 + i}.00", "web": "50.00"}) for i in range(n)
    ]
    for m in range(0, 43_000, 97):
        events.append(probe("api", "eu", _at(m + 300, 5), m % 5 != 0, event_id=f"a{m}"))
        events.append(probe("web", "eu", _at(m + 300, 5), True, event_id=f"w{m}"))
    events.append(incident("INC-1", ["api"], _at(5_000), _at(5_090), cause="aws"))
    book = Book()
    _fold(book, events)
    return book


def test_each_service_month_is_evaluated_once_however_many_contracts_use_it() -> None:
    at = parse_instant(AS_OFS[1])
    counts = []
    for n in (1, 40):
        forget_shared()  # what another book of the process evaluated is not counted here
        book = _book_of(n)
        outs = _shared(book, at)
        assert sum(o["kind"] == "contract_month" for o in outs) == 2 * n
        counts.append(dict(evaluator(book).computed))
    assert counts[0] == counts[1]


def test_a_new_probe_recomputes_only_its_service() -> None:
    at = parse_instant(AS_OFS[2])
    book = _book_of(20)
    before = _shared(book, at)
    ev = evaluator(book)
    parts = ev.computed["parts"]
    _shared(book, at)
    assert ev.computed["parts"] == parts  # nothing changed: nothing computed
    _fold(book, [probe("web", "us", _at(20_100, 1), False, event_id="late-web")])
    after = _shared(book, at)
    recomputed = ev.computed["parts"] - parts
    # only web's parts (one per UTC month and set of terms it is read under) are made again
    web_parts = {k for k in ev._parts if k[0] == "web"}
    assert 0 < recomputed <= len(web_parts)
    assert after != before
    assert after == _from_scratch(book, at)
