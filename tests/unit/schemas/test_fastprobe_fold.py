"""A fold of bulk-decoded probes is a fold of the canonical codec's events (hypothesis).

:meth:`fold.folder.Folder.ingest_batch` must give the verdicts, dead-letter
reasons and minute states of a fold of :func:`schemas.codec.decode`'s events,
filter probes after ``as_of`` alike on every path, and forward rerouted
probes instead of folding them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fold.folder import Folder
from schemas.codec import decode
from schemas.events import ProbeEvent
from sla.book import Book
from sla.probes import ProbeLedger
from tests.helpers import probe
from tests.unit.schemas.fastprobe_cases import ledger_states, probe_lines, reference_fold


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(probe_lines(), min_size=1, max_size=40), data=st.data())
def test_fold_gives_the_canonical_verdicts_and_minute_states(
    batch: list[bytes], data: st.DataObject
) -> None:
    batch = [*batch, *data.draw(st.lists(st.sampled_from(batch), max_size=10))]  # redeliveries
    reasons, counts, ref = reference_fold(batch)
    folder = Folder(Book())
    sources = [{"line": i} for i in range(len(batch))]
    # two batches: the second one's names are known to the folder's decoder
    cut = data.draw(st.integers(0, len(batch)))
    dead = folder.ingest_batch(batch[:cut], sources[:cut]) if cut else []
    dead += folder.ingest_batch(batch[cut:], sources[cut:]) if cut < len(batch) else []
    assert [d.reason for d in dead] == reasons
    assert [d.source["line"] for d in dead] == sorted(d.source["line"] for d in dead)
    assert {k: v for k, v in folder.stats.events.items() if v} == counts
    assert ledger_states(folder.book) == ledger_states(ref)


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
        assert ledger_states(folder.book) == ledger_states(by_batch.book)
    [led] = by_batch.book.ledgers.values()
    assert isinstance(led, ProbeLedger)
    assert led.probe_count() == len(lines) - 3


# -- rerouting --------------------------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(probe_lines(), min_size=1, max_size=30))
def test_rerouted_probes_are_forwarded_not_folded(batch: list[bytes]) -> None:
    reasons, _, _ = reference_fold(batch)
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
    away_lines: list[bytes] = []
    for raw in batch:
        ev = decode(raw)
        if isinstance(ev, ProbeEvent):
            (expected_home if ev.service == "api" else expected_away).append(ev)
            if ev.service != "api":
                away_lines.append(raw)
    # each probe of another home is forwarded as it came, and its service was asked
    assert sorted(r for r, _ in forwarded) == sorted(away_lines)
    assert {e.service for e in expected_away} <= set(asked)
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
    assert ledger_states(folder.book) == ledger_states(ref)


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
