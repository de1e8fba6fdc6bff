"""A reference billing consumer: the current credit of every contract and month.

:func:`run` reads the statements and claim decisions topics into a
:class:`~tools.creditbook.CreditBook` (the pure part: which record wins,
whatever order and however many times they arrive) and saves it after
every batch. Its JSON state file holds both the credits and the next offset
of every partition read: on a restart :func:`run` seeks to those offsets
(no double counting, nothing skipped), and reads the compacted topics from
their beginning when there is no state file. The consumer group's committed
offsets are written after the state for monitoring (consumer lag); the
state file is what a restart trusts.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

from sla.model import JSON
from streams import topics
from tools.creditbook import CreditBook, table

__all__ = ["BILLING_TOPICS", "CreditBook", "print_rows", "run", "table"]


BILLING_TOPICS = (topics.STATEMENTS.name, topics.CLAIM_DECISIONS.name)


def run(
    bootstrap: str,
    state_path: Path,
    group: str,
    once: bool,
    on_changes: Callable[[CreditBook, list[JSON]], None],
    stop: threading.Event | None = None,
    poll_ms: int = 1000,
    **client: Any,
) -> CreditBook:
    """Consume statements and claim decisions into the book at ``state_path``.

    With ``once``, stop when every partition is read to the end it had at the
    start; otherwise run until ``stop`` is set. ``on_changes`` gets the rows
    each poll changed, after the state is saved. ``client`` goes to the
    Kafka consumer (security settings).
    """
    from kafka import KafkaConsumer
    from kafka.structs import OffsetAndMetadata, TopicPartition

    stop = stop or threading.Event()
    book = CreditBook.load(state_path)
    topics.ensure_topics(bootstrap, **client)
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        client_id="availability-billing",
        **client,
    )
    try:
        tps = _assign(consumer, book, TopicPartition)
        end: dict[Any, int] = consumer.end_offsets(tps) if once else {}
        while not stop.is_set():
            if once and all(consumer.position(tp) >= end[tp] for tp in tps):
                break
            batch = consumer.poll(timeout_ms=poll_ms)
            if not batch:
                continue
            changed = [
                row
                for records in batch.values()
                for m in records
                if (row := book.apply(m.topic, m.partition, m.offset, m.value)) is not None
            ]
            book.save(state_path)
            _commit(consumer, book, tps, OffsetAndMetadata)
            if changed:
                on_changes(book, changed)
    finally:
        consumer.close()
    return book


def _assign(consumer: Any, book: CreditBook, partition_type: Any) -> list[Any]:
    """Assign every partition of the billing topics, each at the state's position."""
    tps = [
        partition_type(t, p)
        for t in BILLING_TOPICS
        for p in sorted(consumer.partitions_for_topic(t) or ())
    ]
    consumer.assign(tps)
    for tp in tps:
        pos = book.position(tp.topic, tp.partition)
        if pos is None:
            consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, pos)
    return tps


def _commit(consumer: Any, book: CreditBook, tps: list[Any], offset_type: Any) -> None:
    """Commit the state's offsets to the group for lag monitoring; the state file is truth."""
    import logging

    offsets = {
        tp: offset_type(pos, "", -1)
        for tp in tps
        if (pos := book.position(tp.topic, tp.partition)) is not None
    }
    try:
        consumer.commit(offsets)
    except Exception as exc:  # monitoring only: never lose the state over it
        logging.getLogger(__name__).warning("offset commit failed: %s", exc)


def print_rows(rows: Iterable[JSON], out: IO[str]) -> None:
    for r in rows:
        out.write(json.dumps(r, separators=(",", ":"), ensure_ascii=False) + "\n")
    out.flush()
