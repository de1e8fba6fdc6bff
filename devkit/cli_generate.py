"""``./dev generate``: a simulated month of events, written to a file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cli.args import month, positive
from cli.help import Subparsers, command
from devkit.simulate import Scenario, default_as_of, write_jsonl
from sla.months import Month
from sla.timeutil import format_instant


def register(subparsers: Subparsers) -> None:
    """Add ``generate``."""
    g = command(
        subparsers,
        "generate",
        "Write a realistic simulated event stream (contracts, probes, incidents, claims, "
        "tickets and some malformed lines) to a JSON Lines file.",
        "./dev generate data/march.jsonl --month 2026-03 --services api,web",
    )
    g.add_argument("out", help="the JSON Lines file to write (its folder is created)")
    g.add_argument("--month", type=month, default=Month(2026, 3), help="the first month, YYYY-MM")
    g.add_argument("--months", type=positive, default=1, help="how many months to simulate")
    g.add_argument(
        "--services", default="api,web,worker", help="comma-separated names of the services"
    )
    g.add_argument(
        "--seed", type=int, default=7, help="the random seed: one seed, one stream, byte for byte"
    )
    g.add_argument(
        "--interval", type=positive, default=60, help="seconds between two probes of a region"
    )
    g.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the simulated stream; say where, and the instant to replay it as of."""
    sc = Scenario(
        month=args.month,
        months=args.months,
        services=tuple(args.services.split(",")),
        seed=args.seed,
        interval_seconds=args.interval,
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    n = write_jsonl(sc, args.out)
    print(
        f"wrote {n} lines to {args.out}; suggested --as-of {format_instant(default_as_of(sc))}",
        file=sys.stderr,
    )
    return 0
