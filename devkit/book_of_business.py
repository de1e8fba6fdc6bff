"""A vendor's book of business: many contracts over the same few services.

:func:`book_contracts` gives reproducible contract events with the terms
real contracts vary (timezone, credit basis, no-data policy, excluded
causes, target and tiers, a start part-way through the month, a second
revision), for the scale tests and benchmarks; :mod:`devkit.simulate` gives
the events they are folded beside.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import timedelta

from devkit.simulate import Scenario, events
from sla.model import JSON
from sla.months import Month, month_bounds
from sla.timeutil import format_instant, minute_start


def _money(rng: random.Random) -> str:
    return f"{rng.randrange(100, 20000)}.{rng.randrange(100):02d}"


#: timezones a book of business is spread over (contracts keep the UTC default most often)
BOOK_TIMEZONES = ("UTC", "UTC", "Europe/London", "America/New_York", "Asia/Tokyo")


def book_contracts(
    n: int, services: tuple[str, ...], month: Month, seed: int = 11, prefix: str = "PO-B"
) -> Iterator[JSON]:
    """``n`` contract events over the same ``services``, as a vendor's book of business.

    Each contract takes one to five of the services with its own charges, and
    its own terms drawn from what real contracts vary: timezone, credit basis,
    no-data policy, excluded causes, target and tiers; about one in ten starts
    part-way through ``month``, and one in twenty has a second revision. The
    same arguments always give the same events.
    """
    rng = random.Random(seed)
    month_start = minute_start(month_bounds(month)[0])
    for i in range(n):
        cid = f"{prefix}{i:05d}"
        chosen = sorted(rng.sample(services, rng.randint(1, min(5, len(services)))))
        ev: JSON = {
            "type": "contract",
            "event_id": f"contract-{cid}-r0",
            "contract_id": cid,
            "client_id": f"client-{i % max(1, n // 3):05d}",
            "revision": 0,
            "services": [{"service": s, "monthly_charge": _money(rng)} for s in chosen],
            "currency": rng.choice(("GBP", "GBP", "USD", "EUR")),
            "timezone": rng.choice(BOOK_TIMEZONES),
        }
        if rng.random() < 0.3:
            ev["credit_basis"] = "per_service"
        if rng.random() < 0.1:
            ev["no_data_policy"] = "down"
        if rng.random() < 0.1:
            ev["excluded_causes"] = ["aws", "force_majeure", "maintenance"]
        elif rng.random() < 0.05:
            ev["excluded_causes"] = ["aws"]
        if rng.random() < 0.05:
            ev["declared_outage_counts"] = False
        if rng.random() < 0.1:
            ev["uptime_target"] = "99.95"
            ev["credit_tiers"] = [
                {"below": "99.95", "credit_percent": "5"},
                {"below": "99.5", "credit_percent": "15"},
                {"below": "99.0", "credit_percent": "30"},
            ]
        if rng.random() < 0.1:
            start = month_start + timedelta(days=rng.randrange(1, 20), hours=rng.randrange(24))
            ev["effective_from"] = format_instant(start)
        yield ev
        if rng.random() < 0.05:
            yield {
                **ev,
                "event_id": f"contract-{cid}-r1",
                "revision": 1,
                "services": [
                    {"service": x["service"], "monthly_charge": f"{rng.randrange(100, 20000)}.00"}
                    for x in ev["services"]
                ],
            }


__all__ = ["BOOK_TIMEZONES", "book_contracts"]


def month_with_book(services: int, contracts: int) -> tuple[Scenario, list[bytes]]:
    """A simulated month of ``services`` services with a book of ``contracts`` over them.

    The scenario (one region) and its input lines, the book's contract
    events last: what the benchmarks replay to get a book's outputs.
    """
    names = tuple(f"svc-{i:02d}" for i in range(services))
    scenario = Scenario(services=names, regions=("eu-west-1",))
    # as write_jsonl writes them (a malformed event is its bytes), without the file
    lines = [ev if isinstance(ev, bytes) else json.dumps(ev).encode() for ev in events(scenario)]
    lines += [json.dumps(ev).encode() for ev in book_contracts(contracts, names, scenario.month)]
    return scenario, lines
