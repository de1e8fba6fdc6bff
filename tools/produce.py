"""Producing events into Kafka and reading outputs back (kafka-python).

:func:`produce_lines` routes each event to its input topic with the key the
registry gives it. A line that is not a JSON object with a known ``type``
cannot be routed; by default it still goes to ``availability.probes`` so the
worker dead-letters it with its lineage (nothing is silently dropped).

:class:`EventPublisher` is for the tools that make events (the prober, the
incident and claim commands): every event is validated by the wire models
before it is sent, so a tool can never publish what the worker would
dead-letter. :func:`read_topic` reads a topic from its beginning to its end
as of the call (the incident commands read the revisions already recorded).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from schemas.codec import Rejected, decode
from streams import topics


@dataclass
class ProduceStats:
    by_topic: dict[str, int] = field(default_factory=dict)
    unroutable: int = 0


def route(raw: bytes) -> tuple[str, bytes]:
    """``(topic, key)`` for one raw event line."""
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError):
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

    settings: dict[str, Any] = {
        "acks": "all",
        "linger_ms": 20,
        "batch_size": 512 * 1024,
        "max_request_size": 4 * 1024 * 1024,
        "retries": 10,
        "client_id": "availability-produce",
    }
    settings.update(config)
    return KafkaProducer(bootstrap_servers=bootstrap, **settings)


def produce_lines(lines: Iterable[bytes], bootstrap: str, **config: Any) -> ProduceStats:
    """Send every non-blank line to its topic (creating missing topics); flush before returning.

    ``config``: connection settings (security) for the producer and the admin client.
    """
    topics.ensure_topics(bootstrap, **config)
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


class InvalidEventError(ValueError):
    """An event a tool built is not valid under the wire models."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def encode_event(event: Mapping[str, Any]) -> bytes:
    """The canonical JSON bytes of ``event`` once the wire models accept them.

    Raises :class:`InvalidEventError` with the dead-letter reason the worker
    would give.
    """
    raw = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
    decoded = decode(raw)
    if isinstance(decoded, Rejected):
        raise InvalidEventError(decoded.reason, decoded.detail)
    return raw


class EventPublisher:
    """Validates events and sends each to its input topic, keyed as the registry says."""

    def __init__(self, bootstrap: str, client_id: str = "availability-tools", **client: Any):
        """``client``: connection and security settings, for the producer and the admin client."""
        topics.ensure_topics(bootstrap, **client)
        self._producer = producer(bootstrap, client_id=client_id, linger_ms=5, **client)

    def send(self, event: Mapping[str, Any]) -> tuple[str, bytes]:
        """Queue one event; return its ``(topic, key)``."""
        raw = encode_event(event)
        topic = topics.INPUT_FOR_TYPE[str(event["type"])].name
        key = topics.event_key(event)
        self._producer.send(topic, key=key, value=raw)
        return topic, key

    def flush(self, timeout: float = 60.0) -> None:
        """Block until every queued event is acknowledged by the broker."""
        self._producer.flush(timeout=timeout)

    def close(self) -> None:
        self._producer.flush()
        self._producer.close()

    def __enter__(self) -> EventPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes


def read_topic(bootstrap: str, topic: str, timeout: float = 60.0, **config: Any) -> list[Message]:
    """Every message of ``topic``, from its beginning to its end as of this call.

    Unlike :func:`consume_outputs` this does not wait for the topic to go
    idle: it reads up to the end offsets it saw when it started, and raises
    ``TimeoutError`` if the broker does not deliver them within ``timeout``
    (``LookupError`` if the topic does not exist by then).
    """
    import time

    from kafka import KafkaConsumer
    from kafka.structs import TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        client_id="availability-read",
        **config,
    )
    deadline = time.monotonic() + timeout
    try:
        parts = consumer.partitions_for_topic(topic)
        while not parts:
            if time.monotonic() > deadline:
                raise LookupError(f"no topic {topic} on {bootstrap}")
            time.sleep(0.5)
            parts = consumer.partitions_for_topic(topic)
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end: dict[Any, int] = consumer.end_offsets(tps)
        out: list[Message] = []
        while any(consumer.position(tp) < end[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: not read to its end within {timeout:g}s")
            for tp, records in consumer.poll(timeout_ms=500).items():
                for m in records:
                    if m.offset < end[tp]:
                        out.append(Message(m.topic, m.partition, m.offset, m.key or b"", m.value))
        return out
    finally:
        consumer.close()


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
