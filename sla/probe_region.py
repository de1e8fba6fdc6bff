"""One region's probes of a service-month, stored compactly (:class:`RegionStore`).

The sorted unique keys ``minute << 48 | digest << 1 | ok`` are kept as a
per-minute probe count (``uint8``, widened to ``uint16`` past 255 probes in a
minute and to ``uint32`` past 65,535) and six bytes per probe: the digest
and the ``ok`` bit. New probes wait in a pending buffer and are merged (sort
+ unique) in batches, so folding is amortised O(log n) per probe. Used by
:class:`sla.probes.ProbeLedger`, one store per region.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

_LOW48 = (1 << 48) - 1


_MINUTE_KEYS: dict[int, npt.NDArray[np.uint64]] = {}


def _minute_keys(minutes: int) -> npt.NDArray[np.uint64]:
    """``index << 48`` for each minute index of a month (cached per month length)."""
    keys = _MINUTE_KEYS.get(minutes)
    if keys is None:
        keys = _MINUTE_KEYS[minutes] = np.arange(minutes, dtype=np.uint64) << np.uint64(48)
        keys.flags.writeable = False
    return keys


def _sparse_fails(
    minute: npt.NDArray[np.int64], keys: npt.NDArray[np.uint64]
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]]:
    """The minutes of failed probes among ``keys`` (sorted) and how many failed in each."""
    where, n = _runs(minute[(keys & np.uint64(1)) == 0])
    return where.astype(np.int32), n.astype(np.int32)


def count_dtype(most: int) -> type[np.unsignedinteger]:
    """The narrowest unsigned type for per-minute probe counts up to ``most``."""
    if most <= 0xFF:
        return np.uint8
    return np.uint16 if most <= 0xFFFF else np.uint32


def _runs(values: npt.NDArray[Any]) -> tuple[npt.NDArray[Any], npt.NDArray[np.intp]]:
    """Distinct values of a sorted array and how often each occurs (no sort needed)."""
    if values.size == 0:
        return values[:0], np.zeros(0, dtype=np.intp)
    new = np.empty(values.shape[0], dtype=bool)
    new[0] = True
    np.not_equal(values[1:], values[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    return values[starts], np.diff(np.append(starts, values.shape[0]))


class RegionStore:
    """Sorted unique probe keys of one region, stored compactly."""

    __slots__ = ("_starts", "changed", "chunks", "counts", "fails", "packed", "pending")

    def __init__(self, minutes: int) -> None:
        self.counts: npt.NDArray[np.unsignedinteger] = np.zeros(minutes, dtype=np.uint8)
        self.packed: npt.NDArray[np.uint8] = np.zeros((0, 6), dtype=np.uint8)
        self.pending: list[int] = []
        #: pending keys added as arrays (:meth:`ProbeLedger.add_keys`)
        self.chunks: list[npt.NDArray[np.uint64]] = []
        #: minutes with failures and how many, kept by :meth:`merge` (sparse:
        #: failures are rare); None: derive them from the keys
        self.fails: tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]] | None = None
        #: minute indices merged into since the last save
        self.changed: set[int] = set()
        #: ``starts()`` while ``counts`` is unchanged
        self._starts: npt.NDArray[np.int64] | None = None

    def starts(self) -> npt.NDArray[np.int64]:
        """Row offset of each minute in ``packed``, and the row count at the end."""
        if self._starts is None or self._starts.shape[0] != self.counts.shape[0] + 1:
            starts = np.zeros(self.counts.shape[0] + 1, dtype=np.int64)
            np.cumsum(self.counts, dtype=np.int64, out=starts[1:])
            self._starts = starts
        return self._starts

    def replace(
        self, counts: npt.NDArray[np.unsignedinteger], packed: npt.NDArray[np.uint8]
    ) -> None:
        """Put restored arrays in place (failures are derived again when needed)."""
        self.counts = counts
        self.packed = packed
        self.fails = None
        self._starts = None

    def keys(self, lo: int = 0) -> npt.NDArray[np.uint64]:
        """Merged keys ``minute << 48 | digest << 1 | ok``, sorted; from minute index ``lo``."""
        start = int(self.counts[:lo].sum(dtype=np.int64)) if lo else 0
        rows = self.packed[start:]
        n = rows.shape[0]
        wide = np.zeros((n, 8), dtype=np.uint8)
        wide[:, 2:] = rows
        keys: npt.NDArray[np.uint64] = wide.view(">u8").reshape(n).astype(np.uint64)
        keys |= np.repeat(_minute_keys(self.counts.shape[0])[lo:], self.counts[lo:])
        return keys

    def merge(self) -> int | None:
        """Fold the pending buffer into the compact arrays; the first minute index rewritten.

        None when nothing was pending. Only the minutes from the earliest
        pending probe on are rewritten: a live stream's probes fall in the
        last minutes, so a merge costs what they hold, not the month (a
        backfill rewrites from where it starts).
        """
        if not self.pending and not self.chunks:
            return None
        fresh = np.concatenate(
            [np.fromiter(self.pending, dtype=np.uint64, count=len(self.pending)), *self.chunks]
        )
        self.pending.clear()
        self.chunks = []
        fresh.sort()
        self.changed.update(_runs(fresh >> np.uint64(48))[0].tolist())
        self._starts = None
        # the minutes before ``lo`` keep their keys; failures are derived in full once
        lo = int(fresh[0] >> np.uint64(48)) if self.fails is not None else 0
        start = int(self.counts[:lo].sum(dtype=np.int64))
        # two sorted runs: a stable sort (timsort) merges them in linear time
        keys = np.concatenate([self.keys(lo), fresh])
        keys.sort(kind="stable")
        # Unique on (minute, digest); the lowest key of a group is kept, so a
        # conflicting redelivery resolves to ok=0 regardless of order.
        ident = keys >> np.uint64(1)
        keep = np.ones(keys.shape[0], dtype=bool)
        keep[1:] = ident[1:] != ident[:-1]
        keys = keys[keep]
        minute = (keys >> np.uint64(48)).astype(np.int64)
        minutes = self.counts.shape[0]
        tail = np.bincount(minute - lo, minlength=minutes - lo)
        fails = _sparse_fails(minute, keys)
        if lo and self.fails is not None:
            before = self.fails[0] < lo
            fails = (
                np.concatenate([self.fails[0][before], fails[0]]),
                np.concatenate([self.fails[1][before], fails[1]]),
            )
        self.fails = fails
        most = max(int(self.counts[:lo].max(initial=0)), int(tail.max(initial=0)))
        counts: npt.NDArray[np.unsignedinteger] = np.empty(minutes, dtype=count_dtype(most))
        counts[:lo] = self.counts[:lo]
        counts[lo:] = tail
        self.counts = counts
        low = (keys & np.uint64(_LOW48)).astype(">u8")
        rows = low.view(np.uint8).reshape(-1, 8)[:, 2:]
        self.packed = np.ascontiguousarray(np.concatenate([self.packed[:start], rows]))
        return lo

    def totals(self, lo: int = 0) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Per-minute ``(probes, failures)`` from minute index ``lo`` on (merged first)."""
        self.merge()
        if self.fails is None:
            keys = self.keys()
            self.fails = _sparse_fails((keys >> np.uint64(48)).astype(np.int64), keys)
        fails = np.zeros(self.counts.shape[0] - lo, dtype=np.int64)
        where, n = self.fails
        if lo:
            after = where >= lo
            where, n = where[after] - lo, n[after]
        fails[where] = n
        return self.counts[lo:].astype(np.int64), fails

    def nbytes(self) -> int:
        sparse = 0 if self.fails is None else self.fails[0].nbytes + self.fails[1].nbytes
        return int(self.counts.nbytes + self.packed.nbytes + sparse)
