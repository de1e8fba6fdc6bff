"""Statement-stage benchmark: the cost of a month in progress, minute by minute, in one process.

Usage::

    python bench/bench_stage.py [--contracts 10000] [--services 10] [--minutes 6]
                                [--partitions 1] [--profile FILE]

``--partitions`` :class:`streams.statementstage.StatementStage` objects (the
worker's own, with plain dicts for their tables; one per statement partition
a worker owns, each with the contracts routed to it and every service's
minute states) hold ``--contracts`` contracts over ``--services``
services (:func:`devkit.book_of_business.book_contracts`) and their minute states
from the month's start to the 10th at noon, every minute up. Then, for each
of ``--minutes`` minutes, as the worker sees them: the new minute's states
arrive for every service (one service down for the whole minute, a different
one each minute), the stage folds them, recomputes (:meth:`refresh`,
leaving the statements whose coverage tick alone moved) and hands over what
changed in slices of 100 (:meth:`ready_outputs`, each serialised, then
:meth:`confirm`), then recomputes and hands over the ones it left, as
``Worker._emit_stage`` does.

Reported per minute: CPU seconds of the fold, the recomputation and the
publication, how many outputs were published, and when (CPU seconds after
the minute's states arrived) the last statement of a contract using the
failing service that shows the minute as downtime was handed over. There
is no broker here: this is the stage's own cost, which bounds how fast a
worker on one core can turn a failing minute into statements.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from devkit.book_of_business import book_contracts
from sla.months import Month, month_bounds
from sla.probes import DOWN, NO_DATA, UP, MinuteStates
from sla.timeutil import epoch_minute
from streams import router, topics
from streams.statementstage import StatementStage

MONTH = Month(2026, 3)
START = datetime(2026, 3, 10, 12, 0, 30, tzinfo=UTC)
SLICE = 100


def _states(service: str, array: np.ndarray[Any, Any], version: int) -> tuple[str, bytes, Any]:
    first, _ = month_bounds(MONTH)
    head = json.dumps({"service": service, "month": str(MONTH)}).encode()
    raw = head + b"\n" + MinuteStates(first, array.copy(), version).to_bytes()
    return topics.MINUTE_STATES.name, raw, {"topic": topics.MINUTE_STATES.name}


def _shows(out: dict[str, Any], service: str, minute: int) -> bool:
    for period in out.get("downtime_incidents", ()):
        if period["service"] == service:
            a = epoch_minute(datetime.fromisoformat(period["start"]))
            b = epoch_minute(datetime.fromisoformat(period["end"]))
            if a <= minute < b:
                return True
    return False


def main() -> None:
    args = _arguments()
    names = tuple(f"svc-{i:02d}" for i in range(args.services))
    book = list(book_contracts(args.contracts, names, MONTH))
    users: dict[str, set[str]] = {s: set() for s in names}
    for ev in book:
        for s in ev["services"]:
            users[s["service"]].add(ev["contract_id"])
    first, end = month_bounds(MONTH)
    now_index = epoch_minute(START) - first
    arrays = {s: np.full(end - first, NO_DATA, np.int8) for s in names}
    for a in arrays.values():
        a[:now_index] = UP
    version = 1
    stages = _start(book, arrays, version, args.partitions)
    prof = cProfile.Profile() if args.profile else None
    totals = [0.0, 0.0, 0.0]
    for i in range(args.minutes):
        minute = now_index + i
        failing = names[(i + 3) % len(names)]
        for s, a in arrays.items():
            a[minute] = DOWN if s == failing else UP
        version += 1
        costs = _minute(stages, arrays, version, i, first + minute, failing, users[failing], prof)
        for k, cost in enumerate(costs):
            totals[k] += cost
    k = max(1, args.minutes)
    print(
        f"mean per minute: fold {totals[0] / k:.2f} s, recompute {totals[1] / k:.2f} s, "
        f"publish {totals[2] / k:.2f} s"
    )
    if prof and args.profile:
        prof.dump_stats(args.profile)


def _arguments() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--contracts", type=int, default=10_000)
    p.add_argument("--services", type=int, default=10)
    p.add_argument("--minutes", type=int, default=6)
    p.add_argument(
        "--partitions",
        type=int,
        default=1,
        help="statement stages in the process, as a worker owning that many partitions",
    )
    p.add_argument("--profile", default=None, help="write a cProfile of the minutes here")
    return p.parse_args()


def _start(
    book: list[dict[str, Any]],
    arrays: dict[str, np.ndarray[Any, Any]],
    version: int,
    partitions: int,
) -> list[StatementStage]:
    """The stages holding the book and the month so far, every statement handed over."""
    # one stage per statement partition, as a worker owning them all has: the
    # contracts routed by contract id, the minute states to every one
    stages = [StatementStage({}, {}, primary=p == router.PRIMARY) for p in range(partitions)]
    t0 = time.process_time()
    for ev in book:
        part = router.contract_partition(ev["contract_id"], partitions)
        stages[part].process([(topics.CONTRACTS.name, json.dumps(ev).encode(), {"topic": "c"})])
    n = 0
    for stage in stages:
        stage.process([_states(s, a, version) for s, a in arrays.items()])
        _refresh(stage, START, 0.0, force=True, defer=False)
        n += _drain(stage, 0.0)
    print(
        f"start: {len(book):,} contract events, {n:,} outputs in "
        f"{time.process_time() - t0:.2f} CPU s"
    )
    return stages


def _minute(
    stages: list[StatementStage],
    arrays: dict[str, np.ndarray[Any, Any]],
    version: int,
    i: int,
    minute: int,
    failing: str,
    users: set[str],
    prof: cProfile.Profile | None,
) -> tuple[float, float, float]:
    """Minute ``i`` (epoch ``minute``) as the worker sees it; its fold, recompute, publish CPU s."""
    now = START + timedelta(minutes=i)
    mono = 60.0 * (i + 1)
    if prof:
        prof.enable()
    c0 = time.process_time()
    for stage in stages:
        stage.process([_states(s, a, version) for s, a in arrays.items()])
    c1 = time.process_time()
    waiting = set(users)
    published, recompute, last = _emit(stages, now, mono, waiting, failing, minute, c0)
    c3 = time.process_time()
    if prof:
        prof.disable()
    print(
        f"minute {i}: fold {c1 - c0:.2f} s, recompute {recompute:.2f} s, "
        f"publish {c3 - c1 - recompute:.2f} s ({published:,} outputs); {len(users):,} "
        f"contracts of {failing}: last shown after {last:.2f} s, {len(waiting)} not shown"
    )
    return c1 - c0, recompute, c3 - c1 - recompute


def _emit(
    stages: list[StatementStage],
    now: datetime,
    mono: float,
    waiting: set[str],
    failing: str,
    minute: int,
    c0: float,
) -> tuple[int, float, float]:
    """Recompute and hand over as the worker does; outputs, recompute CPU s, last shown at.

    The contracts in ``waiting`` whose statement shows ``minute`` of ``failing``
    as downtime are taken out of it.
    """
    last = 0.0
    published = 0
    recompute = 0.0
    for defer in (True, False):
        # as Worker._emit: every partition's real changes first, then what only
        # its coverage tick moved
        for stage in stages:
            if not defer and not stage.deferred:
                continue
            r0 = time.process_time()
            _refresh(stage, now, mono, force=not defer, defer=defer)
            recompute += time.process_time() - r0
            while True:
                ready = stage.ready_outputs(mono, limit=SLICE)
                if not ready:
                    break
                for msg, out in ready:
                    assert msg.value  # serialised, as the worker sends it
                    published += 1
                    cid = out.get("contract_id")
                    if cid in waiting and _shows(out, failing, minute):
                        waiting.discard(cid)
                        last = time.process_time() - c0
                stage.confirm([o for _, o in ready])
    return published, recompute, last


def _refresh(stage: StatementStage, now: datetime, mono: float, force: bool, defer: bool) -> None:
    # as Worker._refresh: the collector off during the pass, what it made frozen after
    gc.disable()
    try:
        stage.refresh(now, mono=mono, force=force, defer=defer)
    finally:
        gc.freeze()
        gc.enable()


def _drain(stage: StatementStage, mono: float) -> int:
    n = 0
    while True:
        ready = stage.ready_outputs(mono, limit=SLICE)
        if not ready:
            return n
        n += len(ready)
        stage.confirm([o for _, o in ready])


if __name__ == "__main__":
    main()
