"""Records Faust fetched but did not deliver are fetched again.

Faust's consumer hands a fetched batch to the streams record by record, and
drops, without a word, every record of a partition that is not active at
that moment: a partition paused after the fetch (table recovery pauses the
stream partitions while it reads the changelogs, at start-up and at every
rebalance). The client's fetch position has already moved past those
records, so once the partition is resumed they are never fetched again.

Two things usually hide the loss, and neither always does:

* after recovery Faust seeks the stream partitions back to their committed
  offsets, but the Kafka client seeks only to a committed offset above 0: a
  new consumer group (or a partition committed at 0) keeps its advanced
  position, so the first records of such a partition are lost;
* the offset commit stops at a gap between acknowledged offsets, but not at
  a gap before the first of them when the committed offset is 0 or unset:
  the commit then moves past the lost records as if they had been read.

A partition that received nothing more is found by the stall heal
(:meth:`streams.health.WorkerHealth._heal_stalled`); one that received later
records was not, and a contract or an incident at the head of a partition
was missing from every statement (a fresh deployment on topics written
before it started). :func:`refetch_dropped` closes this where it happens:
after each fetched batch it seeks every partition whose records were not all
delivered back to the first one left, unless a rebalance began meanwhile
(Faust then seeks every partition itself). The stages are idempotent, so a
record delivered twice is folded once.

Faust's own seek is not enough either: once the flow stops (at the start of
a rebalance) a fetch is dropped whole, and the seek to committed offsets
that Faust makes then and after recovery skips a partition with no
committed offset (or 0), as the client seeks only to one above 0. Records
produced after a worker died (tickets, claims, on partitions never
committed) were read once, dropped, and not read again until the stall heal
found them 30 s later. :func:`seek_uncommitted` completes that seek: such a
partition goes back to its start.

The same seek serves a batch an agent gave up (:func:`read_again`): it is
made once the fetch being handed on is done, as a seek made meanwhile would
be undone by the rest of that fetch (Faust drops a record below the highest
offset it delivered).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from faust.types import TP

log = logging.getLogger("streams.app")

#: per guarded consumer (:func:`refetch_dropped`), the partitions to fetch again and
#: from where (:func:`read_again`); kept beside the consumer, not set on it
_READ_AGAIN: weakref.WeakKeyDictionary[Any, dict[Any, int]] = weakref.WeakKeyDictionary()


def first_undelivered(
    fetched: Mapping[Any, Sequence[Any]], delivered: Mapping[Any, set[int]]
) -> dict[Any, int]:
    """Partition -> offset of its first fetched record not in ``delivered`` (none if all were)."""
    left: dict[Any, int] = {}
    for tp, records in fetched.items():
        got = delivered.get(tp, set())
        for record in records:
            if record.offset not in got:
                left[tp] = int(record.offset)
                break
    return left


def refetch_dropped(consumer: Any) -> None:
    """Make ``consumer`` (a Faust consumer, before it starts) fetch again what it dropped.

    Wraps two methods of the instance: ``_wait_next_records`` (to see what
    each fetch returned) and ``getmany`` (what was handed on), both of which
    the consumer's fetch loop looks up on the instance.
    """
    fetch = consumer._wait_next_records
    deliver = consumer.getmany
    fetched: dict[Any, Sequence[Any]] = {}
    requested: dict[Any, int] = {}
    _READ_AGAIN[consumer] = requested

    async def wait_next_records(timeout: float) -> tuple[Any, Any]:
        records, active = await fetch(timeout)
        fetched.clear()
        if records:
            fetched.update(records)
        return records, active

    async def getmany(timeout: float) -> AsyncIterator[tuple[Any, Any]]:
        generation = consumer.app.consumer_generation_id
        delivered: dict[Any, set[int]] = {}
        async for tp, message in deliver(timeout):
            delivered.setdefault(tp, set()).add(message.offset)
            yield tp, message
        if not consumer.flow_active or consumer.app.consumer_generation_id != generation:
            requested.clear()
            return  # a rebalance: Faust seeks every partition to its committed offset
        left = first_undelivered(fetched, delivered)
        fetched.clear()
        for tp, offset in requested.items():
            left[tp] = min(offset, left.get(tp, offset))
        requested.clear()
        if not left:
            return
        assigned = consumer.assignment()
        for tp, offset in left.items():
            if tp not in assigned:
                continue
            log.info(
                "%s:%d: records from offset %d were not delivered or were given back; "
                "fetching them again",
                tp.topic,
                tp.partition,
                offset,
            )
            await consumer.seek(TP(tp.topic, tp.partition), offset)

    consumer._wait_next_records = wait_next_records
    consumer.getmany = getmany


def seek_uncommitted(consumer: Any) -> None:
    """Make Faust's seek to committed offsets also seek partitions that have none.

    Wraps ``seek_to_committed`` of ``consumer`` (a Faust consumer, before it
    starts; its ``perform_seek`` looks it up on the instance). After the
    client's own seek, every stream partition whose committed offset is
    unset or 0 is sought to offset 0, which the client turns into the start
    of the log (``auto_offset_reset="earliest"``) when older records were
    deleted. Table changelogs are left alone: recovery positions them.
    """
    seek_committed = consumer.seek_to_committed

    async def seek_to_committed() -> Any:
        committed = await seek_committed()
        changelogs = consumer.app.tables.changelog_topics
        for tp, offset in committed.items():
            if offset or tp.topic in changelogs:
                continue
            log.info(
                "%s:%d: no committed offset; reading it from its start", tp.topic, tp.partition
            )
            await consumer.seek(TP(tp.topic, tp.partition), 0)
        return committed

    consumer.seek_to_committed = seek_to_committed


def read_again(consumer: Any, tp: Any, offset: int) -> bool:
    """Have ``consumer`` fetch ``tp`` again from ``offset`` once its current fetch is handed on.

    False when the consumer has no :func:`refetch_dropped` guard (nothing is
    sought then: the stall heal finds the partition stuck behind ``offset``).
    """
    requested = _READ_AGAIN.get(consumer)
    if requested is None:
        return False
    requested[tp] = min(offset, requested.get(tp, offset))
    return True


__all__ = ["first_undelivered", "read_again", "refetch_dropped", "seek_uncommitted"]
