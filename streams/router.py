"""Where each statement-stage input goes: the statement partitions, keyed by contract.

The statement stage runs on ``<app-id>-statement-inputs``, a topic of
:data:`STATEMENT_PARTITIONS` partitions that the workers of a deployment
share out like any other. The router (an agent of the worker) reads the
public inputs of the stage and forwards every message to the partitions
that need it:

* a contract or a claim to the partition of its ``contract_id`` (a claim
  follows its contract), so each partition holds whole contracts;
* minute states and incidents to every partition (an explicit broadcast: a
  contract's statement needs the minutes and incidents of each of its
  services, and both are few beside contracts);
* tickets, and anything that cannot be read (it is dead-lettered once, by
  the stage), to partition 0, the *primary* partition, which also publishes
  the service-month records and the support outputs.

Each partition is folded by a statement stage of its own with the same
rules as replay, so a contract's outputs are what replay gives whichever
worker holds its partition. The forwarded message keeps the original key,
value and timestamp; headers say where it came from (its dead letters and
audit rows name the public topic, partition and offset).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from schemas.codec import Rejected, decode
from streams import topics
from streams.probestate import service_partition

#: partitions of the statement stage: 6 shares out evenly over 1, 2, 3 or 6 workers
STATEMENT_PARTITIONS = 6

#: the partition that publishes service-month records and support outputs
PRIMARY = 0

#: inputs every partition needs (their dead letters come from the primary only)
BROADCAST = frozenset({topics.MINUTE_STATES.name, topics.INCIDENTS.name})

#: the public inputs the router reads
ROUTED: tuple[topics.TopicSpec, ...] = (
    topics.MINUTE_STATES,
    topics.INCIDENTS,
    topics.CONTRACTS,
    topics.CLAIMS,
    topics.TICKETS,
)

_H_TOPIC, _H_PARTITION, _H_OFFSET = "src-topic", "src-partition", "src-offset"


def statement_inputs_topic(app_id: str, partitions: int = STATEMENT_PARTITIONS) -> topics.TopicSpec:
    """The statement stage's own input topic (internal: named after the app id)."""
    return topics.TopicSpec(
        f"{app_id}-statement-inputs",
        "the input's own key; partition = contract, or every partition",
        partitions,
        {"cleanup.policy": "delete"},
        "statement-stage inputs routed by contract (minute states and incidents to all)",
    )


def contract_partition(contract_id: str, partitions: int = STATEMENT_PARTITIONS) -> int:
    """The statement partition of a contract (and of its claims)."""
    return service_partition(contract_id, partitions)


def targets(topic: str, value: bytes | None, partitions: int = STATEMENT_PARTITIONS) -> list[int]:
    """The statement partitions a message of ``topic`` goes to (never empty)."""
    everyone = list(range(partitions))
    if value is None:
        return [PRIMARY]  # a tombstone: the primary dead-letters it
    if topic == topics.MINUTE_STATES.name:
        return everyone
    if topic == topics.INCIDENTS.name:
        # broadcast only what the stage will fold: bad input is dead-lettered once
        return [PRIMARY] if isinstance(decode(value), Rejected) else everyone
    if topic in (topics.CONTRACTS.name, topics.CLAIMS.name):
        contract_id = _contract_id(value)
        return [PRIMARY] if contract_id is None else [contract_partition(contract_id, partitions)]
    return [PRIMARY]


def _contract_id(value: bytes) -> str | None:
    """The ``contract_id`` of a contract or claim event, None when it has none to read.

    Read before the codec, so anything goes: JSON nested past the parser's
    depth, or an id with a lone surrogate escape (JSON text, but no UTF-8),
    has none, and goes to the primary, which dead-letters it. An event the
    codec refuses for another reason still goes to its contract's partition.
    """
    try:
        event = json.loads(value)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    found = event.get("contract_id") if isinstance(event, dict) else None
    if not isinstance(found, str) or not found:
        return None
    try:
        found.encode()
    except UnicodeEncodeError:
        return None
    return found


def source_headers(topic: str, partition: int, offset: int) -> list[tuple[str, bytes]]:
    """Headers naming where a forwarded message was read."""
    return [
        (_H_TOPIC, topic.encode()),
        (_H_PARTITION, str(partition).encode()),
        (_H_OFFSET, str(offset).encode()),
    ]


def source_of(headers: Iterable[tuple[str, bytes]] | Mapping[str, bytes] | None) -> dict[str, Any]:
    """``{"topic", "partition", "offset"}`` of a forwarded message; ``{}`` without them.

    ``{}`` too when they do not read (not UTF-8, not numbers): only the router
    writes them, but any producer can write to the topic, and a message is
    never refused for what its headers say (the agent gives it the
    coordinates it was read at).
    """
    if headers is None:
        return {}
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    try:
        found = {k: bytes(v).decode() for k, v in pairs if k in (_H_TOPIC, _H_PARTITION, _H_OFFSET)}
        if len(found) != 3:
            return {}
        return {
            "topic": found[_H_TOPIC],
            "partition": int(found[_H_PARTITION]),
            "offset": int(found[_H_OFFSET]),
        }
    except (TypeError, ValueError):  # UnicodeDecodeError is a ValueError
        return {}


__all__ = [
    "BROADCAST",
    "PRIMARY",
    "ROUTED",
    "STATEMENT_PARTITIONS",
    "contract_partition",
    "source_headers",
    "source_of",
    "statement_inputs_topic",
    "targets",
]
