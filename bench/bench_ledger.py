"""Probe ledger storage benchmark: what a busy service-region costs to checkpoint and restore.

Usage::

    python bench/bench_ledger.py [--rates 1,5,20] [--hours 24]

For each rate (probes per second of one service in one region), the
worker's own :class:`streams.probestage.ProbeStage` folds ``--hours`` hours
of March 5 at that rate, in batches of 10,000, and saves its ledger to a
:class:`streams.ledgerstore.LedgerStore` (what the probe loop writes to the
changelog). Then one more live minute is folded and saved, as a checkpoint
of a running worker would. Reported per rate:

* ``values``: how many stored values hold the service-month, and the
  largest one in bytes (the broker refuses a record over 1 MiB by default);
* ``live minute``: the values and bytes one checkpoint rewrites;
* ``restore``: seconds to lay every stored value into an empty ledger with
  :meth:`sla.probes.ProbeLedger.load_many` (what a restarting worker does),
  and with one :meth:`~sla.probes.ProbeLedger.load_bytes` call per value
  for comparison (``--no-compare`` skips it).

No broker: this is the stage's own cost.
"""

from __future__ import annotations

import argparse
import json
import time

from sla.months import Month, month_bounds
from sla.probes import ProbeLedger
from streams import topics
from streams.ledgerstore import LedgerStore
from streams.probestage import ProbeStage

BATCH = 10_000
PREFIX = "api|2026-03|"


def _probe(n: int, second: int) -> bytes:
    minute, sec = divmod(second, 60)
    hour, minute = divmod(minute, 60)
    return json.dumps(
        {
            "type": "probe",
            "event_id": f"p{n}",
            "service": "api",
            "region": "eu-west-1",
            "observed_at": f"2026-03-05T{hour:02d}:{minute:02d}:{sec:02d}Z",
            "ok": n % 9 != 0,
        },
        separators=(",", ":"),
    ).encode()


def _fold(stage: ProbeStage, probes: list[bytes]) -> None:
    src = {"topic": topics.PROBES.name, "partition": 0, "offset": 0}
    for i in range(0, len(probes), BATCH):
        chunk = probes[i : i + BATCH]
        stage.process(chunk, [src] * len(chunk), publish=False)


def _march() -> ProbeLedger:
    first, end = month_bounds(Month(2026, 3))
    return ProbeLedger(first, end - first)


def run(rate: int, hours: int, compare: bool) -> dict[str, object]:
    seconds = hours * 3600 - 60  # the last minute comes later, live
    probes = [_probe(n, n // rate) for n in range(seconds * rate)]
    store = LedgerStore()
    stage = ProbeStage(store)
    _fold(stage, probes)
    t0 = time.process_time()
    stage.save()
    first_save = time.process_time() - t0
    store.changed()
    live = [_probe(len(probes) + n, seconds + n // rate) for n in range(60 * rate)]
    _fold(stage, live)
    t0 = time.process_time()
    stage.save()
    live_save = time.process_time() - t0
    rewritten = store.changed()
    values = [store[k] for k in store.with_prefix(PREFIX)]
    t0 = time.perf_counter()
    led = _march()
    failures = led.load_many(values)
    at_once = time.perf_counter() - t0
    assert failures == []
    assert led.probe_count() == len(probes) + len(live)
    out: dict[str, object] = {
        "rate": rate,
        "probes": len(probes) + len(live),
        "values": len(values),
        "largest_bytes": max(len(v) for v in values),
        "first_save_s": round(first_save, 3),
        "live_minute_values": len(rewritten),
        "live_minute_bytes": sum(len(v or b"") for _, v in rewritten),
        "live_save_s": round(live_save, 4),
        "restore_load_many_s": round(at_once, 3),
    }
    if compare:
        t0 = time.perf_counter()
        one = _march()
        for value in values:
            one.load_bytes(value)
        out["restore_one_by_one_s"] = round(time.perf_counter() - t0, 3)
        assert one.to_bytes() == led.to_bytes()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rates", default="1,5,20", help="probes per second, comma-separated")
    parser.add_argument("--hours", type=int, default=24, help="hours of March 5 folded (1-24)")
    parser.add_argument("--no-compare", action="store_true", help="skip the one-by-one restore")
    args = parser.parse_args()
    if not 1 <= args.hours <= 24:
        parser.error("--hours must be 1 to 24")
    for rate in (int(r) for r in args.rates.split(",")):
        print(json.dumps(run(rate, args.hours, not args.no_compare)), flush=True)


if __name__ == "__main__":
    main()
