"""The fold never stops for one event that fails to fold (SPEC section 10).

A valid event can still fail while folding (a probe for a service-month the
book holds as received minute states, a forward the next stage refuses):
it is dead-lettered with reason ``processing_error`` and every other event
of its batch is still folded and counted once.
"""

from __future__ import annotations

import numpy as np

from fold.folder import Folder
from sla.book import Book
from sla.months import Month, month_bounds
from sla.probes import MinuteStates, ProbeLedger
from tests.helpers import compact_line, contract, probe, probe_lines


def _held_as_states(book: Book, service: str, month: Month) -> None:
    """Give ``book`` received minute states for ``service`` in ``month`` (a stage-2 book)."""
    first, end = month_bounds(month)
    book.set_minute_states(service, month, MinuteStates(first, np.zeros(end - first, np.int8), 1))


def test_a_probe_that_fails_to_fold_is_dead_lettered_and_its_batch_is_still_folded() -> None:
    book = Book()
    _held_as_states(book, "api", Month(2026, 3))
    folder = Folder(book)
    good = probe_lines("web", 40)
    bad = probe_lines("api", 3, ok=False)
    # a probe timestamp only the canonical model reads (a space for "T") takes the slow path
    slow_bad = compact_line(probe("api", "eu", "2026-03-05 11:00:00Z", False, "api-slow"))
    batch = [*good[:10], bad[0], *good[10:20], slow_bad, bad[1], *good[20:], bad[2]]
    sources = [{"line": n} for n in range(len(batch))]
    dead = folder.ingest_batch(batch, sources)
    poisoned = [n for n, raw in enumerate(batch) if b'"api' in raw]
    assert [d.source["line"] for d in dead] == poisoned  # only the bad lines, in order
    assert {d.reason for d in dead} == {"processing_error"}
    assert all(d.detail.startswith("TypeError: ") for d in dead)
    assert folder.stats.dead_letters == {"processing_error": 4}
    assert folder.stats.events == {"probe": 40}  # each good probe counted once
    [(key, led)] = [(k, v) for k, v in book.ledgers.items() if k[0] == "web"]
    assert key == ("web", Month(2026, 3))
    assert isinstance(led, ProbeLedger)
    assert led.probe_count() == 40
    # one line on its own takes the same path
    single = folder.ingest(bad[0], {"line": 99})
    assert single is not None
    assert single.reason == "processing_error"


def test_a_non_probe_event_that_fails_to_fold_is_dead_lettered() -> None:
    folder = Folder(Book())
    refused: list[bytes] = []

    def forward(raw: bytes, event: object) -> None:
        refused.append(raw)
        raise RuntimeError("the next stage refused it")

    folder.forward = forward
    raw = compact_line(contract())
    dead = folder.ingest_batch([raw, *probe_lines("web", 5)], [{"line": n} for n in range(6)])
    assert [(d.source["line"], d.reason) for d in dead] == [(0, "processing_error")]
    assert dead[0].detail == "RuntimeError: the next stage refused it"
    assert refused == [raw]
    assert folder.stats.events == {"probe": 5}
