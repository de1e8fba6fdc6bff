"""``availability probe``: check target URLs and publish probe events."""

from __future__ import annotations

import argparse
import json
import sys

from cli.args import add_bootstrap
from cli.broker import bootstrap, kafka_client
from cli.help import Subparsers, command
from cli.signals import stop_on_sigterm
from sla.model import JSON
from tools.prober import Prober, TargetsError, load_targets
from tools.prober import run as run_prober
from tools.produce import EventPublisher


def register(subparsers: Subparsers) -> None:
    """Add ``probe``."""
    pb = command(
        subparsers,
        "probe",
        "Check every target URL concurrently each interval and publish one probe event per "
        "target (ok false on a connection error, a timeout or an unexpected status).",
        "availability probe --targets targets.jsonl --region eu-west-1 --once --dry-run",
    )
    pb.add_argument(
        "--targets",
        required=True,
        metavar="FILE",
        help='JSON Lines (or one JSON list) of targets, e.g. {"service": "api", '
        '"url": "https://api.example.com/health", "expect_status": 200}; expect_status '
        "(a code or a list) defaults to any 2xx",
    )
    pb.add_argument(
        "--region",
        required=True,
        help="where this prober runs, e.g. eu-west-1 (the probe's region)",
    )
    pb.add_argument("--interval", type=float, default=60.0, help="seconds between two rounds")
    pb.add_argument("--timeout", type=float, default=5.0, help="seconds before a check fails")
    add_bootstrap(pb)
    pb.add_argument("--once", action="store_true", help="one round, then exit")
    pb.add_argument(
        "--dry-run", action="store_true", help="print the events without publishing them"
    )
    pb.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Probe every interval (or ``--once``), print and publish the events, until stopped."""
    try:
        targets = load_targets(args.targets)
        prober = Prober(targets, args.region, timeout=args.timeout)
    except (TargetsError, ValueError) as exc:
        print(f"availability probe: {exc}", file=sys.stderr)
        return 2
    if args.interval <= 0:
        print("availability probe: --interval must be positive", file=sys.stderr)
        return 2
    publisher = None
    if not args.dry_run:
        publisher = EventPublisher(
            bootstrap(args), client_id="availability-probe", **kafka_client()
        )

    def publish(events: list[JSON]) -> None:
        if publisher is not None:
            for ev in events:
                publisher.send(ev)
            try:
                publisher.flush(timeout=max(10.0, args.interval))
            except Exception as exc:  # a broker blip must not stop the probing
                print(
                    f"availability probe: delivery of {len(events)} events not confirmed "
                    f"({exc}); they stay queued and are retried",
                    file=sys.stderr,
                )
        for ev in events:
            sys.stdout.write(json.dumps(ev, separators=(",", ":")) + "\n")
        sys.stdout.flush()
        failed = sum(1 for ev in events if not ev["ok"])
        print(
            f"probed {len(events)} targets from {args.region}: {len(events) - failed} ok, "
            f"{failed} failed" + (" (not published)" if publisher is None else ""),
            file=sys.stderr,
        )

    try:
        with stop_on_sigterm() as stop:
            run_prober(prober, publish, args.interval, once=args.once, stop=stop)
    except KeyboardInterrupt:
        pass
    finally:
        if publisher is not None:
            publisher.close()
    return 0
