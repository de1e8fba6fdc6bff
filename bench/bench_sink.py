"""Benchmark the ClickHouse sink on the embedded engine.

Writes the same synthetic minute-state rows through the sink (buffer,
dedup token, retries) and through a plain clickhouse-connect insert, in one
run on one engine, and reports rows per second for each and their ratio
(goal: the sink >= 70 % of the plain insert). Then writes a month of
service-month records for ``--services`` services and times the month
queries the report and dashboards use.

    python bench/bench_sink.py --services 1000 --minutes 200
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from sinks import rows as rw
from sinks import tables
from sinks.store import ClickHouseStore, connect

MONTH = "2026-03"
COMPUTED_AT = "2026-04-10T00:00:00Z"


def minute_rows(services: int, minutes: int, version: int) -> list[rw.Row]:
    """``minutes`` down minutes for each service, spread over March 2026."""
    start = datetime(2026, 3, 1, tzinfo=UTC)
    step = (31 * 1440) // max(1, minutes)
    states = ("counted_down", "excluded_down", "no_data")
    return [
        (f"svc-{s:04d}", start + timedelta(minutes=m * step), states[m % 3], "", version)
        for s in range(services)
        for m in range(minutes)
    ]


def service_month(service: str, down: int) -> dict[str, Any]:
    """A final service-month record of the core's shape (SPEC section 6), ``down`` minutes down."""
    start, end = "2026-03-02T10:00:00Z", f"2026-03-02T10:{down:02d}:00Z"
    return {
        "kind": "service_month",
        "service": service,
        "month": MONTH,
        "timezone": "UTC",
        "minutes_in_month": 44640,
        "elapsed_minutes": 44640,
        "remaining_minutes": 0,
        "up_minutes": 44640 - down,
        "down_minutes": down,
        "counted_downtime_minutes": down,
        "excluded_minutes": {"force_majeure": 0, "aws": 0},
        "no_data_minutes": 0,
        "uptime_percent": f"{(44640 - down) * 100 / 44640:.4f}",
        "coverage_percent": "100.0000",
        "meets_target": down <= 44,
        "credit_percent": "0" if down <= 44 else "10",
        "error_budget_minutes": 44,
        "error_budget_remaining_minutes": 44 - down,
        "downtime_incidents": [
            {
                "service": service,
                "start": start,
                "end": end,
                "duration_minutes": down,
                "causes": [],
                "incident_ids": [],
            }
        ],
        "intervals": {"counted": [[start, end]], "excluded": [], "no_data": []},
        "status": "final",
        "revision": 0,
        "finalizes_at": "2026-04-03T23:00:00Z",
        "computed_at": COMPUTED_AT,
    }


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def plain_insert(store: ClickHouseStore, rows: list[rw.Row], cols: list[str]) -> None:
    """The baseline: one clickhouse-connect insert, no buffer, no token."""
    store.client.insert(f"{store.db}.{tables.MINUTE_STATES}", rows, column_names=cols)


def sink_insert(store: ClickHouseStore, rows: list[rw.Row]) -> None:
    """The sink path: buffer, encode once, token, insert, stats."""
    buf = store.buffer(tables.MINUTE_STATES)
    buf.add(rows)
    buf.flush()


def run(services: int, minutes: int, repeats: int, path: str) -> None:
    dsn = f"chdb://{path}"
    sink = connect(dsn, database="bench_sink", batch_rows=100_000)
    plain = connect(dsn, database="bench_plain")
    sink.migrate()
    plain.migrate()
    cols = list(tables.COLUMNS[tables.MINUTE_STATES])
    n = services * minutes
    sink_rates, plain_rates = [], []
    for rep in range(repeats):
        # A new version per repeat: new content, so no batch is deduplicated.
        rows = minute_rows(services, minutes, version=rep + 1)
        t_plain = timed(partial(plain_insert, plain, rows, cols))
        t_sink = timed(partial(sink_insert, sink, rows))
        plain_rates.append(n / t_plain)
        sink_rates.append(n / t_sink)
    p, s = statistics.median(plain_rates), statistics.median(sink_rates)
    print(f"rows per insert run        {n:>12,}")
    print(f"plain clickhouse-connect   {p:>12,.0f} rows/s (median of {repeats})")
    print(f"sink (buffer + token)      {s:>12,.0f} rows/s (median of {repeats})")
    print(f"sink / plain               {s / p:>12.1%}  (goal >= 70 %)")
    print(f"sink stats                 {sink.stats}")

    records = [service_month(f"svc-{i:04d}", (i % 59) + 1) for i in range(services)]
    t_write = timed(lambda: sink.write_outputs(records))
    print(f"write {services} service months  {t_write * 1000:>9.1f} ms (with their minute states)")
    report_queries(sink, services)
    sink.close()
    plain.close()


def report_queries(store: ClickHouseStore, services: int) -> None:
    for name, fn in (
        ("service_months(month)", lambda: store.service_months(MONTH)),
        ("minute_state_counts(month)", lambda: store.minute_state_counts(MONTH)),
    ):
        fn()  # warm caches: the report runs against a live engine
        times = [timed(fn) for _ in range(5)]
        got = fn()
        print(
            f"{name:<27}{statistics.median(times) * 1000:>9.1f} ms median of 5 "
            f"({len(got)} services of {services})"
        )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--services", type=int, default=1000, help="services (default 1000)")
    ap.add_argument(
        "--minutes", type=int, default=200, help="down minutes per service per insert run"
    )
    ap.add_argument("--repeats", type=int, default=3, help="insert runs per writer")
    ap.add_argument("--path", help="chDB directory (default: a temporary one)")
    args = ap.parse_args(argv)
    if args.path:
        run(args.services, args.minutes, args.repeats, args.path)
        return
    with tempfile.TemporaryDirectory(prefix="bench-chdb-") as tmp:
        run(args.services, args.minutes, args.repeats, f"{tmp}/engine")


if __name__ == "__main__":
    main()
