"""``availability incident``: declare, update, reclassify or retract an incident."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from cli.args import INSTANT, add_bootstrap, instant
from cli.broker import bootstrap, kafka_client
from cli.help import Subparsers, action, command
from sla.model import Cause, Impact, IncidentStatus
from streams import topics
from tools import operator
from tools.produce import EventPublisher, read_topic

#: Each action: what it publishes and an example.
_ACTIONS = (
    (
        "declare",
        "revision 0 of a new incident",
        "availability incident declare --services api --started-at 2026-03-10T09:58:00Z",
    ),
    (
        "update",
        "the next revision with the given fields changed",
        "availability incident update --incident INC-7 --ended-at 2026-03-10T10:41:00Z",
    ),
    (
        "reclassify",
        "the next revision with a new cause",
        "availability incident reclassify --incident INC-7 --cause aws",
    ),
    (
        "retract",
        "the next revision with status retracted (it covers no minute)",
        "availability incident retract --incident INC-7",
    ),
)


def services(text: str) -> list[str]:
    """Comma-separated service names, at least one."""
    names = [s.strip() for s in text.split(",") if s.strip()]
    if not names:
        raise argparse.ArgumentTypeError("no service given")
    return names


def _add_fields(a: argparse.ArgumentParser, declare: bool) -> None:
    """The incident's fields, for ``declare`` (with its defaults) and ``update``."""
    causes = [c.value for c in Cause]
    impacts = [i.value for i in Impact]
    statuses = [s.value for s in IncidentStatus]
    a.add_argument(
        "--services",
        type=services,
        required=declare,
        default=None,
        help="the affected services, comma-separated, e.g. api,web",
    )
    a.add_argument(
        "--started-at",
        type=instant,
        default=None,
        help=f"when it started, {INSTANT}" + (" (default: now)" if declare else ""),
    )
    a.add_argument("--ended-at", type=instant, default=None, help=f"when it ended, {INSTANT}")
    a.add_argument(
        "--cause",
        choices=causes,
        default="internal" if declare else None,
        help="what caused it (aws and force_majeure are excluded from downtime)",
    )
    a.add_argument(
        "--impact",
        choices=impacts,
        default="outage" if declare else None,
        help="how much it affected the services",
    )
    a.add_argument("--status", choices=statuses, default=None, help="the incident's status")
    a.add_argument("--title", default=None, help='a short title, e.g. "API 503s"')


def register(subparsers: Subparsers) -> None:
    """Add ``incident`` and its actions."""
    causes = [c.value for c in Cause]
    inc = command(
        subparsers,
        "incident",
        "Declare or change an incident: reads its revisions already on Kafka and publishes "
        "the next one.",
        "availability incident declare --incident INC-7 --services api,web "
        '--started-at 2026-03-10T09:58:00Z --title "API 503s"',
        "availability incident reclassify --incident INC-7 --cause aws",
    )
    isub = inc.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, help_text, example in _ACTIONS:
        a = action(isub, name, help_text, example, description=f"Publish {help_text}.")
        a.add_argument(
            "--incident",
            required=name != "declare",
            default=None,
            help="the incident id, e.g. INC-7"
            + (" (default: a new one)" if name == "declare" else ""),
        )
        add_bootstrap(a)
        a.add_argument(
            "--recorded-at",
            type=instant,
            default=None,
            help=f"when this revision became known, {INSTANT} (default: now)",
        )
        if name in ("declare", "update"):
            _add_fields(a, name == "declare")
        if name == "update":
            a.add_argument("--reopen", action="store_true", help="clear ended_at (status open)")
        if name == "reclassify":
            a.add_argument("--cause", choices=causes, required=True, help="the new cause, e.g. aws")
        a.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Publish the next revision of the incident, built on those already on Kafka."""
    servers = bootstrap(args)
    client = kafka_client()
    topics.ensure_topics(servers, **client)
    recorded_at: datetime = args.recorded_at or datetime.now(UTC)
    incident_id: str = args.incident or operator.new_incident_id(recorded_at)
    history = operator.incident_history(
        (m.value for m in read_topic(servers, topics.INCIDENTS.name, **client)), incident_id
    )
    try:
        if args.action == "declare":
            ev = operator.declare(
                history,
                incident_id,
                args.services,
                started_at=args.started_at or recorded_at,
                recorded_at=recorded_at,
                ended_at=args.ended_at,
                cause=args.cause,
                impact=args.impact,
                status=args.status,
                title=args.title,
            )
        elif args.action == "update":
            ended: Any = operator.KEEP
            if args.reopen:
                ended = None
            elif args.ended_at is not None:
                ended = args.ended_at
            ev = operator.revise(
                history,
                incident_id,
                recorded_at,
                services=args.services,
                started_at=args.started_at,
                ended_at=ended,
                cause=args.cause,
                impact=args.impact,
                status=args.status,
                title=args.title,
            )
        elif args.action == "reclassify":
            ev = operator.reclassify(history, incident_id, args.cause, recorded_at)
        else:
            ev = operator.retract(history, incident_id, recorded_at)
    except operator.OperatorError as exc:
        print(f"availability incident {args.action}: {exc}", file=sys.stderr)
        return 1
    with EventPublisher(servers, client_id="availability-incident", **client) as pub:
        pub.send(ev)
    print(operator.dumps(ev))
    return 0
