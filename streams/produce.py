"""Producing events into Kafka and reading outputs back (kafka-python).

:func:`produce_lines` routes each event to its input topic with the key the
registry gives it. A line that is not a JSON object with a known ``type``
cannot be routed; by default it still goes to ``availability.probes`` so the
worker dead-letters it with its lineage (nothing is silently dropped).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from streams import topics


@dataclass
class ProduceStats:
    by_topic: dict[str, int] = field(default_factory=dict)
    unroutable: int = 0


def route(raw: bytes) -> tuple[str, bytes]:
    """``(topic, key)`` for one raw event line."""
    try:
        obj = json.loads(raw)
    except ValueError:
        return topics.PROBES.name, b"unroutable"
    if not isinstance(obj, dict) or obj.get("type") not in topics.INPUT_FOR_TYPE:
        return topics.PROBES.name, b"unroutable"
    try:
        return topics.INPUT_FOR_TYPE[obj["type"]].name, topics.event_key(obj)
    except KeyError:
        return topics.INPUT_FOR_TYPE[obj["type"]].name, b"unroutable"


def producer(bootstrap: str, **config: Any) -> Any:
    """A kafka-python producer tuned for bulk event streams."""
    from kafka import KafkaProducer

    return KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=20,
        batch_size=512 * 1024,
        max_request_size=4 * 1024 * 1024,
        retries=10,
        client_id="availability-produce",
        **config,
    )


def produce_lines(lines: Iterable[bytes], bootstrap: str, **config: Any) -> ProduceStats:
    """Send every non-blank line to its topic (creating missing topics); flush before returning."""
    topics.ensure_topics(bootstrap)
    prod = producer(bootstrap, **config)
    stats = ProduceStats()
    try:
        for raw in lines:
            raw = raw.rstrip(b"\r\n")
            if not raw.strip():
                continue
            topic, key = route(raw)
            if key == b"unroutable":
                stats.unroutable += 1
            prod.send(topic, key=key, value=raw)
            stats.by_topic[topic] = stats.by_topic.get(topic, 0) + 1
        prod.flush()
    finally:
        prod.close()
    return stats


def consume_outputs(
    bootstrap: str, topic_names: Iterable[str], timeout_ms: int = 2000, **config: Any
) -> Iterator[tuple[str, bytes, bytes]]:
    """Every message of ``topic_names`` from the beginning, until idle for ``timeout_ms``."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        *topic_names,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=timeout_ms,
        group_id=None,
        **config,
    )
    try:
        for msg in consumer:
            yield msg.topic, msg.key or b"", msg.value
    finally:
        consumer.close()


def latest_outputs(messages: Iterable[tuple[str, bytes, bytes]]) -> dict[tuple[str, bytes], Any]:
    """The latest output per (topic, key), as billing would keep it.

    For statements, a higher revision wins whatever the order of arrival.
    """
    latest: dict[tuple[str, bytes], Any] = {}
    for topic, key, value in messages:
        out = json.loads(value)
        prev = latest.get((topic, key))
        if prev is not None and out.get("revision", 0) < prev.get("revision", 0):
            continue
        latest[(topic, key)] = out
    return latest
