"""Books of one process share their evaluations (sla.process_shared), never their facts.

A worker holds one book per statement partition, each folding the same
broadcast minute states: equal states decode to one array, and a service's
month parts and windows are evaluated once for all the books. A book whose
facts differ (another incident, other states) must still get its own
results: every output here is checked against a from-scratch evaluation.
"""

from __future__ import annotations

import gc
import json
import weakref
from contextlib import ExitStack

import numpy as np

from fold.folder import Folder
from fold.replay import compute_outputs
from sla.book import Book
from sla.model import JSON
from sla.months import Month, month_bounds
from sla.probes import DOWN, UP, MinuteStates
from sla.process_shared import collector_paused
from sla.summaries import evaluator
from sla.timeutil import parse_instant
from tests.helpers import contract, incident
from tests.oracle import statements_ref

MARCH = Month(2026, 3)
AS_OF = parse_instant("2026-03-20T12:00:30Z")


def _states_message(down: range) -> bytes:
    first, end = month_bounds(MARCH)
    states = np.full(end - first, UP, np.int8)
    states[down.start : down.stop] = DOWN
    return MinuteStates(first, states, 1).to_bytes()


def _stage_book(states: bytes, extra: list[JSON] | None = None) -> Book:
    """A statement-partition book: received states for api and web, two contracts."""
    book = Book()
    for service in ("api", "web"):
        book.set_minute_states(service, MARCH, MinuteStates.from_bytes(states))
    events = [
        contract("PO-1", services={"api": "100.00", "web": "40.00"}),
        contract("PO-2", services={"api": "70.00"}, timezone="Europe/London"),
        *(extra or []),
    ]
    dead = Folder(book).ingest_batch([json.dumps(e).encode() for e in events], [{}] * len(events))
    assert not dead
    return book


def _outputs(book: Book) -> list[JSON]:
    return [o for o in compute_outputs(book, AS_OF, []) if o["kind"] == "contract_month"]


def _reference(book: Book) -> list[JSON]:
    return [o for o in statements_ref.all_statements(book, AS_OF) if o["kind"] == "contract_month"]


def test_equal_states_decode_to_one_read_only_array() -> None:
    raw = _states_message(range(600, 660))
    a, b = MinuteStates.from_bytes(raw), MinuteStates.from_bytes(raw)
    other = MinuteStates.from_bytes(_states_message(range(600, 661)))
    policy = Book().settings.probe_policy
    assert a.minute_states(policy) is b.minute_states(policy)
    assert other.minute_states(policy) is not a.minute_states(policy)
    assert not a.minute_states(policy).flags.writeable
    assert a.same_minutes(b)
    assert not a.same_minutes(other)


def test_a_second_book_with_the_same_facts_evaluates_nothing_again() -> None:
    raw = _states_message(range(700, 745))
    first = _stage_book(raw)
    outs = _outputs(first)
    assert evaluator(first).computed["parts"] > 0
    second = _stage_book(raw)
    assert _outputs(second) == outs == _reference(second)
    assert evaluator(second).computed == {"parts": 0, "windows": 0}


def test_a_book_with_other_facts_gets_results_of_its_own() -> None:
    raw = _states_message(range(800, 830))
    plain = _stage_book(raw)
    plain_outs = _outputs(plain)
    # the same states, but an AWS incident over the downtime: excluded, not counted
    aws = incident("INC-1", ["api"], "2026-03-01T13:20:00Z", "2026-03-01T13:50:00Z", cause="aws")
    excused = _stage_book(raw, [aws])
    excused_outs = _outputs(excused)
    assert excused_outs == _reference(excused)
    assert evaluator(excused).computed["parts"] > 0
    assert excused_outs != plain_outs
    # other states under the same incidents: their own parts again
    longer = _stage_book(_states_message(range(800, 900)), [aws])
    assert _outputs(longer) == _reference(longer) != excused_outs
    assert _outputs(plain) == plain_outs  # the first book's answers are untouched


def test_a_replayed_book_is_freed_by_reference_counting() -> None:
    """No cycle holds a book: a large pass freezes its objects, and a cycle would keep them."""
    from datetime import UTC, datetime

    from fold.replay import iter_lines, replay_lines
    from tests.helpers import probe

    events = [contract("PO-1", services={"api": "10.00"})] + [
        probe("api", "eu", f"2026-03-0{1 + i % 9}T10:{i % 60:02d}:00Z", i % 7 != 0, f"p{i}")
        for i in range(300)
    ]
    collecting = gc.isenabled()
    gc.disable()
    try:
        result = replay_lines(
            iter_lines([json.dumps(e).encode() for e in events]), datetime(2026, 4, 11, tzinfo=UTC)
        )
        book = weakref.ref(result.book)
        assert result.outputs
        del result
        assert book() is None
    finally:
        if collecting:
            gc.enable()


def test_the_collector_is_back_as_it_was_after_a_pass() -> None:
    for was_on in (True, False):
        (gc.enable if was_on else gc.disable)()
        try:
            with collector_paused():
                assert not gc.isenabled()
            assert gc.isenabled() is was_on
        finally:
            gc.enable()


def test_overlapping_passes_turn_the_collector_on_when_the_last_ends() -> None:
    """A scrape's short pass ending inside a recomputation's long one leaves it off."""
    gc.enable()
    try:
        with ExitStack() as long_pass:
            long_pass.enter_context(collector_paused())
            with collector_paused():
                assert not gc.isenabled()
            assert not gc.isenabled()  # the long pass still runs
        assert gc.isenabled()
        # begun first and ended first, the same
        short_pass, long_pass = ExitStack(), ExitStack()
        short_pass.enter_context(collector_paused())
        long_pass.enter_context(collector_paused())
        short_pass.close()
        assert not gc.isenabled()
        long_pass.close()
        assert gc.isenabled()
    finally:
        gc.enable()
