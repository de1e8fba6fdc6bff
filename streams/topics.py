"""The closed registry of Kafka topics: names, keys, partitions, retention.

Defined once here and used by the worker, the producers, the billing
consumer and :func:`ensure_topics` (idempotent creation at start-up).

Every name starts with ``$AVAILABILITY_TOPIC_PREFIX`` (empty by default), read
once when this module is imported: two deployments on one Kafka cluster give
each of their processes (workers, tools, billing) a prefix of their own, so
neither reads the other's minute states nor publishes into the other's
statements. The worker's own internal topics (table changelogs, the probe
ledger changelog) are named after its app id as well.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

_FOREVER = "-1"
_COMPACT = {"cleanup.policy": "compact"}
#: bytes a producer packs into one record batch of a partition. aiokafka's
#: default (16 KiB) holds four statements, and a produce request carries one
#: batch per partition at a time, so publishing a few hundred statements took a
#: broker round trip per two dozen of them. 1 MiB stays within the broker's
#: default ``message.max.bytes`` (1,048,588).
PRODUCER_BATCH_BYTES = 1 << 20

_EVENT_STORE = {"cleanup.policy": "delete", "retention.ms": _FOREVER}


def topic_prefix(env: Mapping[str, str]) -> str:
    """The deployment's topic prefix from ``env``; ``ValueError`` when Kafka would refuse it."""
    prefix = env.get("AVAILABILITY_TOPIC_PREFIX", "")
    if prefix and not re.fullmatch(r"[A-Za-z0-9._-]{1,100}", prefix):
        raise ValueError(
            f"AVAILABILITY_TOPIC_PREFIX={prefix!r}: "
            "use at most 100 letters, digits, '.', '_' or '-'"
        )
    return prefix


PREFIX = topic_prefix(os.environ)


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One topic: what it holds, what its key is, how it is kept."""

    name: str
    key: str
    partitions: int
    config: Mapping[str, str] = field(default_factory=dict)
    doc: str = ""


PROBES = TopicSpec(
    PREFIX + "availability.probes",
    "service",
    8,
    _EVENT_STORE,
    "probe results: the input event store, partitioned by service",
)
INCIDENTS = TopicSpec(
    PREFIX + "availability.incidents",
    "incident_id",
    1,
    _COMPACT,
    "incident revisions (keyed incident_id|revision|event_id)",
)
CONTRACTS = TopicSpec(
    PREFIX + "availability.contracts",
    "contract_id",
    1,
    _COMPACT,
    "contract revisions (keyed contract_id|revision|event_id)",
)
CLAIMS = TopicSpec(
    PREFIX + "availability.claims", "claim_id", 1, _EVENT_STORE, "SLA credit requests as received"
)
TICKETS = TopicSpec(
    PREFIX + "support.tickets", "ticket_id", 1, _EVENT_STORE, "support ticket events"
)
MINUTE_STATES = TopicSpec(
    PREFIX + "availability.minute-states",
    "service|YYYY-MM",
    1,
    _COMPACT,
    "per service-month minute states (stage 1 -> stage 2)",
)
STATEMENTS = TopicSpec(
    PREFIX + "availability.statements",
    "contract_id|YYYY-MM",
    4,
    _COMPACT,
    "contract-month statements for billing, every revision",
)
SERVICE_MONTHS = TopicSpec(
    PREFIX + "availability.service-months", "service|YYYY-MM", 4, _COMPACT, "service-month records"
)
CLAIM_DECISIONS = TopicSpec(
    PREFIX + "availability.claim-decisions", "claim_id", 1, _COMPACT, "decisions on credit claims"
)
SUPPORT = TopicSpec(
    PREFIX + "support.verdicts",
    "ticket_id; client_id|YYYY-MM|severity; ticket_id|alert",
    1,
    _COMPACT,
    "ticket verdicts, monthly support compliance and ticket alerts (at_risk, breached)",
)
DEAD_LETTERS = TopicSpec(
    PREFIX + "availability.dead-letters",
    "source",
    1,
    _EVENT_STORE,
    "rejected input: raw bytes, reason, lineage",
)

ALL: tuple[TopicSpec, ...] = (
    PROBES,
    INCIDENTS,
    CONTRACTS,
    CLAIMS,
    TICKETS,
    MINUTE_STATES,
    STATEMENTS,
    SERVICE_MONTHS,
    CLAIM_DECISIONS,
    SUPPORT,
    DEAD_LETTERS,
)

#: Input topic of each event type.
INPUT_FOR_TYPE: dict[str, TopicSpec] = {
    "probe": PROBES,
    "incident": INCIDENTS,
    "contract": CONTRACTS,
    "claim": CLAIMS,
    "ticket_opened": TICKETS,
    "ticket_severity_changed": TICKETS,
    "ticket_responded": TICKETS,
    "ticket_progress_update": TICKETS,
    "ticket_resolved": TICKETS,
}

#: Output topic of each output kind.
OUTPUT_FOR_KIND: dict[str, TopicSpec] = {
    "contract_month": STATEMENTS,
    "service_month": SERVICE_MONTHS,
    "claim_decision": CLAIM_DECISIONS,
    "ticket_verdict": SUPPORT,
    "support_month": SUPPORT,
    "ticket_alert": SUPPORT,
    "dead_letter": DEAD_LETTERS,
}


def event_key(event: Mapping[str, Any]) -> bytes:
    """The Kafka key of an input event (its partitioning and compaction key)."""
    kind = event.get("type")
    if kind == "probe":
        return str(event["service"]).encode()
    if kind == "incident":
        return f"{event['incident_id']}|{event['revision']}|{event['event_id']}".encode()
    if kind == "contract":
        return f"{event['contract_id']}|{event['revision']}|{event['event_id']}".encode()
    if kind == "claim":
        return str(event["claim_id"]).encode()
    if isinstance(kind, str) and kind.startswith("ticket_"):
        return str(event["ticket_id"]).encode()
    return str(event.get("event_id", "")).encode()


def output_key(out: Mapping[str, Any]) -> bytes:
    """The Kafka key of an output: billing keys on (contract, month) and reads the revision."""
    kind = out["kind"]
    if kind == "contract_month":
        return f"{out['contract_id']}|{out['month']}".encode()
    if kind == "service_month":
        return f"{out['service']}|{out['month']}".encode()
    if kind == "claim_decision":
        return str(out["claim_id"]).encode()
    if kind == "ticket_verdict":
        return str(out["ticket_id"]).encode()
    if kind == "support_month":
        return f"{out['client_id']}|{out['month']}|{out['severity']}".encode()
    if kind == "ticket_alert":
        # One key per ticket and moment: compaction keeps both alerts of a ticket.
        return f"{out['ticket_id']}|{out['alert']}".encode()
    return b""


def ensure_topics(
    bootstrap: str,
    partitions: Mapping[str, int] | None = None,
    specs: Iterable[TopicSpec] | None = None,
    **client: Any,
) -> list[str]:
    """Create every registry topic (or every one of ``specs``) that is missing.

    Idempotent; returns the names of the topics it created.
    """
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="availability-admin", **client)
    try:
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(
                t.name,
                (partitions or {}).get(t.name, t.partitions),
                1,
                topic_configs=dict(t.config),
            )
            for t in (ALL if specs is None else specs)
            if t.name not in existing
        ]
        if not wanted:
            return []
        try:
            admin.create_topics(wanted)
        except TopicAlreadyExistsError:
            log.info("topics created concurrently by another process")
        return [t.name for t in wanted]
    finally:
        admin.close()
