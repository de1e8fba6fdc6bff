"""The statement stage's state, kept in Faust tables: :class:`TableStore`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, MutableMapping
from typing import Any


class TableStore(MutableMapping[str, bytes]):
    """A ``str -> bytes`` view over a Faust table whose keys and values are raw bytes.

    Writes go to the table's local store and to its changelog, and the
    changelog futures are kept until :meth:`delivered` awaits them. Faust's
    own ``table[key] = value`` puts the changelog message in a buffer whose
    flush gives up after 0.1 s without progress, so an offset could be
    committed before the state it depends on reached Kafka; a worker killed
    then restarted from a changelog missing that update, and the events
    behind it were never read again (a lost minute).

    One view per statement partition: its keys are stored as
    ``"<partition>|<key>"`` in the changelog partition of that number, so the
    local table (which also holds the partitions this worker is standby for)
    keeps each partition's state apart.
    """

    def __init__(self, table: Any, partition: int) -> None:
        self.table = table
        self.partition = partition
        self._prefix = f"{partition}|".encode()
        #: (key, changelog future) of every write not yet known to be in Kafka
        self._unsent: list[tuple[bytes, Any]] = []

    def _key(self, key: str) -> bytes:
        # surrogateescape both ways: a key read from the changelog that is not
        # UTF-8 (this pipeline never writes one) round-trips, so it is read,
        # found unreadable and skipped like any other value, not an error
        # raised from every rebuild of its partition
        return self._prefix + key.encode("utf-8", "surrogateescape")

    def __getitem__(self, key: str) -> bytes:
        value = self.table.get(self._key(key))
        if value is None:
            raise KeyError(key)
        return bytes(value)

    def __setitem__(self, key: str, value: bytes) -> None:
        k = self._key(key)
        self.table.data[k] = value
        self._send(k)

    def __delitem__(self, key: str) -> None:
        k = self._key(key)
        if self.table.get(k) is None:
            raise KeyError(key)
        del self.table.data[k]
        self._send(k)

    def _send(self, k: bytes) -> None:
        """Queue the key's current value (a tombstone once deleted) for its changelog."""
        value = self.table.data.get(k)
        partition = self.partition
        if value is None:
            sent = self.table.send_changelog(partition, k, value=None, value_serializer="raw")
        else:
            sent = self.table.send_changelog(partition, k, value)
        self._unsent.append((k, sent))

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.table.get(self._key(key)) is not None

    def __iter__(self) -> Iterator[str]:
        n = len(self._prefix)
        mine = [bytes(k) for k in list(self.table.keys()) if bytes(k).startswith(self._prefix)]
        return iter([k[n:].decode("utf-8", "surrogateescape") for k in mine])

    def __len__(self) -> int:
        return sum(1 for _ in self)

    async def delivered(self, timeout: float = 120.0) -> None:
        """Wait until every changelog write so far is acknowledged by Kafka.

        A write that failed (or got no answer within ``timeout``) is queued
        again with the key's current value before the error is raised, so the
        next call sends it: the local table never keeps a change its
        changelog missed, which a restart would lose while the offset behind
        it was committed.
        """
        while self._unsent:
            pending, self._unsent = self._unsent, []
            gathered = asyncio.gather(*(f for _, f in pending), return_exceptions=True)
            try:
                results = await asyncio.wait_for(gathered, timeout)
            except TimeoutError:
                results = [TimeoutError("changelog write not acknowledged")] * len(pending)
            failed = [
                (k, r)
                for (k, _), r in zip(pending, results, strict=True)
                if isinstance(r, BaseException)
            ]
            if failed:
                for k in dict.fromkeys(k for k, _ in failed):
                    self._send(k)
                raise failed[0][1]
