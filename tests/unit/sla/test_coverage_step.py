"""A month in progress may keep its coverage figures for a few minutes, nothing else.

The streaming worker sets ``Evaluator.coverage_step``: a provisional
statement whose windows changed only in which minutes had data (the month
goes on, probes arrive) keeps its content until its coverage tick ends
(ticks are staggered by contract), so a new minute does not rebuild every
statement of a large book at once. Downtime, exclusions, incidents and
finals are never kept: whatever else changes is exactly what a fresh
evaluation gives.
"""

from __future__ import annotations

import itertools
import json
import random
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fold.folder import Folder
from schemas.codec import Rejected, decode
from sla.book import Book
from sla.model import JSON
from sla.statements import all_statements
from sla.summaries import evaluator
from sla.timeutil import epoch_minute_ceil, format_instant
from streams.emitrules import COVERAGE_FIELDS
from tests.helpers import contract, incident, probe, probes_every_minute, run

STEP = 5
START = datetime(2026, 3, 10, 0, 0, tzinfo=UTC)


def _events(minutes: int, failing: frozenset[int] | set[int] = frozenset()) -> list[JSON]:
    events: list[JSON] = [contract("PO-1", services={"api": "1000.00"})]
    for i in range(minutes):
        at = format_instant(START + timedelta(minutes=i, seconds=10))
        events.append(probe("api", "r1", at, i not in failing, event_id=f"p-{i}"))
    return events


def _statement(outputs: list[JSON]) -> JSON:
    (st,) = [o for o in outputs if o["kind"] == "contract_month" and o["month"] == "2026-03"]
    return st


def _apart_from_coverage(st: JSON) -> dict[str, Any]:
    body = {k: v for k, v in st.items() if k not in COVERAGE_FIELDS}
    body["services"] = {
        name: {k: v for k, v in figures.items() if k not in COVERAGE_FIELDS}
        for name, figures in st["services"].items()
    }
    return body


def _tick(at: datetime) -> int:
    return (epoch_minute_ceil(at) + zlib.crc32(b"PO-1") % STEP) // STEP


def test_data_alone_keeps_the_content_within_a_tick_and_downtime_never_waits() -> None:
    minutes = 600
    book = run(_events(minutes), format_instant(START + timedelta(minutes=minutes))).book
    evaluator(book).coverage_step = STEP
    failing: set[int] = set()
    kept = rebuilt = 0
    previous: JSON | None = None
    for i in range(minutes, minutes + 3 * STEP):
        at = START + timedelta(minutes=i, seconds=30)
        fails = i == minutes + STEP + 2  # one failing minute in the middle
        if fails:
            failing.add(i)
        book.add_probe("api", "r1", START + timedelta(minutes=i, seconds=10), not fails, f"p-{i}")
        got = _statement(all_statements(book, at))
        exact = _statement(run(_events(i + 1, failing), format_instant(at)).outputs)
        # whatever is not coverage is exactly a fresh evaluation's, at once
        assert _apart_from_coverage(got) == _apart_from_coverage(exact), i
        same_tick = previous is not None and _tick(at) == _tick(at - timedelta(minutes=1))
        if same_tick and not fails:
            assert previous is not None
            assert got["services"] is previous["services"]  # kept: nothing was rebuilt
            assert got["elapsed_minutes"] == previous["elapsed_minutes"]
            kept += 1
        else:
            # a new tick, or downtime: rebuilt, every figure exact
            assert {k: v for k, v in got.items() if k != "computed_at"} == {
                k: v for k, v in exact.items() if k != "computed_at"
            }
            rebuilt += 1
        previous = got
    assert kept >= STEP
    assert rebuilt >= 3


def test_a_final_month_is_never_kept() -> None:
    events = [contract("PO-1", services={"api": "1000.00"})]
    events += probes_every_minute("api", "2026-03-31T23:00:00Z", 60)
    as_of = "2026-04-05T00:00:30Z"
    book = run(events, as_of).book
    evaluator(book).coverage_step = STEP
    late = datetime(2026, 3, 31, 23, 59, 10, tzinfo=UTC)
    book.add_probe("api", "r2", late, False, "late-1")  # a late second region
    at = datetime(2026, 4, 5, 0, 1, 30, tzinfo=UTC)
    got = _statement(all_statements(book, at))
    exact = _statement(run([*events, probe("api", "r2", format_instant(late), False, "late-1")],
                           format_instant(at)).outputs)  # fmt: skip
    assert {k: v for k, v in got.items() if k != "computed_at"} == {
        k: v for k, v in exact.items() if k != "computed_at"
    }


def _book_events(rng: random.Random) -> list[JSON]:
    events: list[JSON] = []
    for i in range(8):
        chosen = rng.sample(["api", "web", "db"], rng.randint(1, 3))
        terms: JSON = {"timezone": rng.choice(["UTC", "Europe/London", "America/New_York"])}
        if rng.random() < 0.4:
            terms["no_data_policy"] = "down"
        if rng.random() < 0.3:
            terms["excluded_causes"] = ["aws", "force_majeure", "maintenance"]
        if rng.random() < 0.3:
            terms["credit_basis"] = "per_service"
        events.append(
            contract(f"PO-{i}", services={s: f"{rng.randint(1, 90)}00.00" for s in chosen}, **terms)
        )
    for service in ("api", "web", "db"):
        events += probes_every_minute(service, "2026-03-09T20:00:00Z", 240)
    return events


def _fast_and_slow_books(events: list[JSON], as_of: str) -> tuple[Book, Book, dict[str, int]]:
    """Two books of ``events``; the slow one's parts always have news, so it never skips.

    The counts say how many windows each book's evaluator was asked for.
    """
    fast, slow = run(events, as_of).book, run(events, as_of).book
    for book in (fast, slow):
        evaluator(book).coverage_step = STEP
    fresh = itertools.count()
    ev_slow = evaluator(slow)
    ev_slow.generations = lambda lineages, as_of: (next(fresh),)  # type: ignore[method-assign]
    asked = {"fast": 0, "slow": 0}
    for name, book in (("fast", fast), ("slow", slow)):
        ev = evaluator(book)

        def counted(*args: Any, _window: Any = ev.window, _name: str = name) -> Any:
            asked[_name] += 1
            return _window(*args)

        ev.window = counted  # type: ignore[method-assign,assignment]
    return fast, slow, asked


def _minute_events(rng: random.Random, i: int, at: datetime, opened: list[JSON]) -> list[JSON]:
    """Minute ``i``'s random probes, incident or incident revision (``opened`` is updated)."""
    extra: list[JSON] = []
    for service in ("api", "web", "db"):
        roll = rng.random()
        if roll < 0.85:
            seen = START + timedelta(minutes=i, seconds=10)
            extra.append(probe(service, "r1", format_instant(seen), roll < 0.8, f"{service}-{i}"))
    if rng.random() < 0.1 or i == 3:
        start = format_instant(START + timedelta(minutes=i - rng.randint(0, 5)))
        end = None if rng.random() < 0.5 else format_instant(at)
        opened.append(
            incident(f"INC-{i}", [rng.choice(["api", "web", "db"])], start, end,
                     cause=rng.choice(["internal", "aws", "maintenance"]), title="first",
                     recorded_at=format_instant(at - timedelta(seconds=20)))
        )  # fmt: skip
        extra.append(opened[-1])
    elif opened and rng.random() < 0.15:
        # a new title alone: the same minutes, only the statement's notes change
        last = opened[-1]
        opened[-1] = {**last, "event_id": f"{last['event_id']}-r", "title": f"title {i}",
                      "revision": last["revision"] + 1,
                      "recorded_at": format_instant(at - timedelta(seconds=20))}  # fmt: skip
        extra.append(opened[-1])
    if i == 20:
        extra.append(contract("PO-0", services={"api": "5.00"}, revision=1))
    return extra


def _apply(book: Book, events: list[JSON]) -> None:
    folder = Folder(book)
    for e in events:
        decoded = decode(json.dumps(e).encode())
        assert not isinstance(decoded, Rejected)
        folder.apply(decoded)


@pytest.mark.parametrize("seed", range(6))
def test_a_kept_statement_is_what_evaluating_its_windows_again_would_keep(seed: int) -> None:
    """Statements whose parts said nothing new skip their windows; the result is the same.

    Two books fold the same random minutes (probes up, down or missing, open
    and closed incidents, a contract revision); in one, every statement
    evaluates its windows again before deciding to keep its content (as if
    its parts always had news). Every statement of every minute is equal.
    """
    rng = random.Random(seed)
    fast, slow, asked = _fast_and_slow_books(_book_events(rng), "2026-03-10T00:00:30Z")
    kept = 0
    previous: dict[tuple[str, str], JSON] = {}
    opened: list[JSON] = []
    for i in range(40):
        at = START + timedelta(minutes=i, seconds=30)
        extra = _minute_events(rng, i, at, opened)
        got = []
        for book in (fast, slow):
            _apply(book, extra)
            got.append(all_statements(book, at))
        assert got[0] == got[1], i
        now = {(o["contract_id"], o["month"]): o for o in got[0] if o["kind"] == "contract_month"}
        kept += sum(
            o["services"] is previous[k]["services"] for k, o in now.items() if k in previous
        )
        previous = now
    assert kept > 0  # the fast books kept some statements as they were
    # and skipped windows of theirs that the slow books evaluated again
    assert asked["fast"] < asked["slow"], asked
