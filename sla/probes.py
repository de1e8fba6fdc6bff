"""Probe results folded into per-minute states (SPEC section 3).

One :class:`ProbeLedger` holds every probe of one service in one UTC month,
compactly enough that a 31-day month at 3 regions and one probe a minute per
region stays under 1 MiB:

* a probe is identified by a 47-bit digest of its ``event_id``
  (:func:`probe_digest`) *within its region-minute*: the same event delivered again lands on the
  same key and counts once. Two different probes of one service, region and
  minute collide with probability 2**-47 per pair (see docs/decisions.md).
* per region, the sorted unique keys are stored as a per-minute probe count
  (``uint8``, widened to ``uint16`` past 255 probes in a minute and to
  ``uint32`` past 65,535) and six bytes per probe: the digest and the ``ok`` bit.
* new probes are appended to a small pending buffer and merged (sort +
  unique) in batches, so folding is amortised O(log n) per probe.

The minute state is a function of the *set* of probes: order and
repetitions cannot change it. Two deliveries of one ``event_id`` with
different ``ok`` values (a producer bug) resolve to the failure, so the
result still does not depend on order.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

NO_DATA = 0
UP = 1
DOWN = 2

_LOW48 = (1 << 48) - 1
_FORMAT_VERSION = 1
#: one region's minutes ``[lo, hi)`` (:meth:`ProbeLedger.slice_bytes`)
_SLICE_VERSION = 2
#: minutes per stored slice of a ledger: one UTC day (months start at midnight UTC)
DAY = 1440


#: A prime just below 2**47: probe digests are ``event_id`` bytes modulo it.
DIGEST_PRIME = (1 << 47) - 115


def probe_digest(event_id: str) -> int:
    """The 47-bit identity of a probe event inside its region-minute.

    The ``event_id`` bytes read as a little-endian integer, modulo a 47-bit
    prime. Two ids that differ only inside any 5-byte window can never
    collide (the prime would have to divide a number below 2**40); other
    distinct ids collide with probability about 2**-47 per pair, and only
    matters when both fall in the same service, region and minute.
    """
    return int.from_bytes(event_id.encode(), "little") % DIGEST_PRIME


U64 = npt.NDArray[np.uint64]


def probe_keys(offsets: npt.NDArray[np.int64], digests: U64, ok: npt.NDArray[np.int64]) -> U64:
    """:meth:`ProbeLedger.key` of many probes: minutes since the ledger's first, digests, ``ok``."""
    keys: U64 = offsets.astype(np.uint64)
    keys <<= np.uint64(48)
    keys |= digests << np.uint64(1)
    keys |= ok.astype(np.uint64)
    return keys


#: ``256**j mod DIGEST_PRIME``: byte ``j`` of an id weighs this much in its digest.
_BYTE_WEIGHTS = np.array([pow(256, j, DIGEST_PRIME) for j in range(128)], dtype=np.int64)


def probe_digests(event_ids: list[str]) -> npt.NDArray[np.uint64]:
    """:func:`probe_digest` of many ids at once."""
    return probe_digests_and_lengths(event_ids)[0]


def probe_digests_and_lengths(
    event_ids: list[str],
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.int64]]:
    """:func:`probe_digest` of many ids, and their lengths in UTF-8 bytes (numpy).

    For ASCII ids of at most 128 bytes the digest is one product: the
    zero-padded byte table times :data:`_BYTE_WEIGHTS` (each term below
    ``2**55``, so 128 of them stay below ``2**63``), then one ``%``. Any other
    id takes :func:`probe_digest` one by one.
    """
    n = len(event_ids)
    joined = "\n".join(event_ids)
    if n == 0 or not joined.isascii() or joined.count("\n") != n - 1:
        digests = np.fromiter(map(probe_digest, event_ids), np.uint64, n)
        lens = np.fromiter((len(i.encode()) for i in event_ids), np.int64, n)
        return digests, lens
    buf = np.frombuffer(joined.encode("ascii") + b"\n", np.uint8)
    width = len(event_ids[0])
    if buf.shape[0] == n * (width + 1) and width <= 128:
        grid = buf.reshape(n, width + 1)
        if (grid[:, width] == 10).all():
            sums = (grid[:, :width] @ _BYTE_WEIGHTS[:width]) % DIGEST_PRIME
            return sums.astype(np.uint64), np.full(n, width, dtype=np.int64)
    ends = np.flatnonzero(buf == 10)
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    lens = ends - starts
    width = int(lens.max())
    if width > 128:
        digests = np.fromiter(map(probe_digest, event_ids), np.uint64, n)
        return digests, lens
    cols = np.arange(width)
    pad = np.concatenate((buf, np.zeros(width, np.uint8)))
    grid = pad[starts[:, None] + cols]
    grid[cols[None, :] >= lens[:, None]] = 0
    sums = (grid @ _BYTE_WEIGHTS[:width]) % DIGEST_PRIME
    return sums.astype(np.uint64), lens


@dataclass(frozen=True, slots=True)
class ProbePolicy:
    """How probes decide a minute (SPEC section 3).

    ``region_failure_threshold``: a region-minute is down when failed/total
    is at least this. ``quorum``: a service-minute is down when down/reporting
    regions is strictly more than this.
    """

    region_failure_threshold: Fraction = Fraction(1, 2)
    quorum: Fraction = Fraction(1, 2)

    def __post_init__(self) -> None:
        if not 0 < self.region_failure_threshold <= 1:
            raise ValueError("region_failure_threshold must be in (0, 1]")
        if not 0 <= self.quorum < 1:
            raise ValueError("quorum must be in [0, 1)")


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


def _count_dtype(most: int) -> type[np.unsignedinteger]:
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


class _Region:
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
        counts: npt.NDArray[np.unsignedinteger] = np.empty(minutes, dtype=_count_dtype(most))
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


class ProbeLedger:
    """Every probe of one service in one UTC month, folded into minute states.

    ``first_minute`` is the month's first epoch minute and ``minutes`` its
    length. Callers add probes with :meth:`add` (epoch minute, region, digest,
    ok) and read :meth:`minute_states`. Not thread-safe.
    """

    MERGE_AT = 16384

    def __init__(self, first_minute: int, minutes: int) -> None:
        self.first_minute = first_minute
        self.minutes = minutes
        self._regions: dict[str, _Region] = {}
        self._pending = 0
        self._stored = 0
        self._merge_at = self.MERGE_AT
        self._states: tuple[ProbePolicy, npt.NDArray[np.int8]] | None = None
        #: the states last computed, and the first minute index merged into since
        #: (None: none), so the next computation redoes only the minutes from there
        self._last_states: tuple[ProbePolicy, npt.NDArray[np.int8]] | None = None
        self._changed_from: int | None = None

    def add(self, region: str, minute: int, event_id: str, ok: bool) -> None:
        """Record one probe. ``minute`` must lie inside this ledger's month."""
        index = minute - self.first_minute
        if not 0 <= index < self.minutes:
            raise ValueError(f"minute {minute} outside this ledger's month")
        reg = self._regions.get(region)
        if reg is None:
            reg = self._regions[region] = _Region(self.minutes)
        reg.pending.append(self.key(minute, event_id, ok))
        self._pending += 1
        self._states = None
        if self._pending >= self._merge_at:
            self.merge()

    def key(self, minute: int, event_id: str, ok: bool) -> int:
        """The stored value of one probe: its minute in the month, digest and ``ok`` bit."""
        return ((minute - self.first_minute) << 48) | (probe_digest(event_id) << 1) | ok

    def add_keys(self, region: str, keys: npt.NDArray[np.uint64]) -> None:
        """Record many probes of ``region`` given as :meth:`key` values (uint64 array).

        The caller guarantees every key's minute lies in this ledger's month;
        the array is kept until the next merge, so it must not be changed.
        """
        reg = self._regions.get(region)
        if reg is None:
            reg = self._regions[region] = _Region(self.minutes)
        reg.chunks.append(keys)
        self._pending += int(keys.shape[0])
        self._states = None
        if self._pending >= self._merge_at:
            self.merge()

    def merge(self) -> None:
        """Fold every pending probe into the compact store."""
        for reg in self._regions.values():
            lo = reg.merge()
            if lo is not None:
                self._changed_from = (
                    lo if self._changed_from is None else min(lo, self._changed_from)
                )
        self._pending = 0
        self._stored = sum(r.packed.shape[0] for r in self._regions.values())
        self._merge_at = max(self.MERGE_AT, self._stored // 4)

    @property
    def regions(self) -> list[str]:
        return sorted(self._regions)

    def probe_count(self) -> int:
        """Distinct probes held."""
        self.merge()
        return self._stored

    def minute_states(self, policy: ProbePolicy) -> npt.NDArray[np.int8]:
        """Per-minute ``NO_DATA`` / ``UP`` / ``DOWN`` from probes alone (read-only array)."""
        cached = self._states
        if cached is not None and cached[0] == policy:
            return cached[1]
        self.merge()
        last, lo = self._last_states, self._changed_from
        if last is not None and last[0] == policy and lo is not None and lo > 0:
            # only the minutes merged into since: a live stream's last few
            states = last[1].copy()
            states[lo:] = self._compute_states(policy, lo)
        else:
            states = self._compute_states(policy)
        states.flags.writeable = False
        self._states = self._last_states = (policy, states)
        self._changed_from = None
        return states

    def data_range(self) -> tuple[int, int] | None:
        """Epoch minutes ``[first, end)`` spanning every minute with a probe, or None."""
        self.merge()
        present = np.zeros(self.minutes, dtype=bool)
        for reg in self._regions.values():
            present |= reg.counts > 0
        idx = np.flatnonzero(present)
        if idx.size == 0:
            return None
        return self.first_minute + int(idx[0]), self.first_minute + int(idx[-1]) + 1

    def _compute_states(self, policy: ProbePolicy, lo: int = 0) -> npt.NDArray[np.int8]:
        """The states of minute indices ``lo`` onwards."""
        reporting = np.zeros(self.minutes - lo, dtype=np.int64)
        down = np.zeros(self.minutes - lo, dtype=np.int64)
        t = policy.region_failure_threshold
        for reg in self._regions.values():
            n, f = reg.totals(lo)
            present = n > 0
            reporting += present
            down += present & (f * t.denominator >= t.numerator * n)
        q = policy.quorum
        states = np.full(self.minutes - lo, UP, dtype=np.int8)
        states[reporting == 0] = NO_DATA
        states[(reporting > 0) & (down * q.denominator > q.numerator * reporting)] = DOWN
        return states

    def nbytes(self) -> int:
        """Bytes held in arrays for this ledger (after merging)."""
        self.merge()
        return sum(r.nbytes() for r in self._regions.values())

    def to_bytes(self, regions: list[str] | None = None) -> bytes:
        """A compact, versioned serialisation (for table stores and changelogs).

        ``regions`` limits it to those regions (one table entry per region
        keeps every value well under Kafka's message size limit).
        """
        self.merge()
        names = sorted(self._regions) if regions is None else sorted(regions)
        parts = [struct.pack(">BqII", _FORMAT_VERSION, self.first_minute, self.minutes, len(names))]
        for name in names:
            reg = self._regions[name]
            raw = name.encode()
            width = reg.counts.dtype.itemsize
            counts = zlib.compress(reg.counts.astype(f"<u{width}").tobytes(), 6)
            parts.append(struct.pack(">HBII", len(raw), width, len(counts), reg.packed.shape[0]))
            parts.append(raw)
            parts.append(counts)
            parts.append(reg.packed.tobytes())
        return b"".join(parts)

    def changed_minutes(self) -> dict[str, list[int]]:
        """Per region, the minute indices merged into since the last call (then forgotten)."""
        self.merge()
        out = {name: sorted(reg.changed) for name, reg in self._regions.items() if reg.changed}
        for reg in self._regions.values():
            reg.changed.clear()
        return out

    def minutes_with_data(self, region: str, lo: int = 0, hi: int | None = None) -> list[int]:
        """The minute indices in ``[lo, hi)`` where ``region`` has at least one probe."""
        self.merge()
        counts = self._regions[region].counts
        hi = self.minutes if hi is None else hi
        return (np.flatnonzero(counts[lo:hi]) + lo).tolist()

    def rows(self, region: str, lo: int, hi: int) -> int:
        """How many probes ``region`` holds in minute indices ``[lo, hi)``."""
        self.merge()
        starts = self._regions[region].starts()
        return int(starts[hi] - starts[lo])

    def day_bytes(self, region: str, day: int) -> bytes:
        """:meth:`slice_bytes` of one day (minutes ``day*DAY`` to ``(day+1)*DAY``)."""
        return self.slice_bytes(region, day * DAY, min((day + 1) * DAY, self.minutes))

    def slice_bytes(self, region: str, lo: int, hi: int) -> bytes:
        """One region's probes of minute indices ``[lo, hi)``.

        :meth:`load_bytes` puts such a slice in place of those minutes, so a
        store can keep a ledger as many values (a day, an hour or a minute
        of a region) and rewrite only the ones that changed. An empty slice
        (no probes) empties its minutes.
        """
        self.merge()
        if not 0 <= lo < hi <= self.minutes:
            raise ValueError(f"minutes [{lo}, {hi}) are outside this ledger's month")
        reg = self._regions[region]
        starts = reg.starts()
        rows = reg.packed[int(starts[lo]) : int(starts[hi])]
        raw = region.encode()
        width = reg.counts.dtype.itemsize
        counts = zlib.compress(reg.counts[lo:hi].astype(f"<u{width}").tobytes(), 6)
        return b"".join(
            [
                struct.pack(">BqIII", _SLICE_VERSION, self.first_minute, self.minutes, lo, hi),
                struct.pack(">HBII", len(raw), width, len(counts), rows.shape[0]),
                raw,
                counts,
                np.ascontiguousarray(rows).tobytes(),
            ]
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> ProbeLedger:
        """Inverse of :meth:`to_bytes`; ``ValueError`` on a foreign format."""
        _, first, minutes, _ = struct.unpack_from(">BqII", data, 0)
        led = cls(first, minutes)
        led.load_bytes(data)
        return led

    def load_bytes(self, data: bytes) -> None:
        """Put what ``data`` holds in place in this ledger (``ValueError`` if unreadable).

        From :meth:`to_bytes`: whole regions, replaced; from :meth:`slice_bytes`:
        those minutes of one region, replaced.
        """
        failures = self.load_many([data])
        if failures:
            raise ValueError(failures[0][1])

    def load_many(self, values: Sequence[bytes]) -> list[tuple[int, str]]:
        """:meth:`load_bytes` of each value in turn, assembled in one pass.

        A later value replaces what an earlier one held for the same minutes,
        so a store restores a ledger by passing its values coarsest first.
        The cost is one pass over the probes, however many values there are
        (one value of a busy region-minute or a whole region). A value that
        cannot be read is left out; the return value lists each one's index
        and the reason.
        """
        pieces: dict[str, list[_Piece]] = {}
        failures: list[tuple[int, str]] = []
        for i, data in enumerate(values):
            try:
                parsed = _pieces(data, self.first_minute, self.minutes)
            except (ValueError, struct.error, zlib.error, UnicodeDecodeError) as exc:
                failures.append((i, f"{type(exc).__name__}: {exc}"))
                continue
            for piece in parsed:
                pieces.setdefault(piece.region, []).append(piece)
        for name, todo in pieces.items():
            self._assemble(name, todo)
        if pieces:
            self._stored = sum(r.packed.shape[0] for r in self._regions.values())
            self._states = None
            self._changed_from = 0
        return failures

    def _assemble(self, name: str, pieces: list[_Piece]) -> None:
        """Lay ``pieces`` (later ones win) over what ``name`` holds, in one gather."""
        reg = self._regions.get(name)
        if reg is None:
            reg = self._regions[name] = _Region(self.minutes)
        reg.merge()
        every = [_Piece(name, 0, self.minutes, reg.counts, reg.packed), *pieces]
        owner = np.zeros(self.minutes, dtype=np.int32)
        for i, piece in enumerate(every):
            owner[piece.lo : piece.hi] = i
        counts = np.zeros(self.minutes, dtype=np.int64)
        source = np.zeros(self.minutes, dtype=np.int64)  # first row of each minute in ``rows``
        offset = 0
        for i, piece in enumerate(every):
            own = owner[piece.lo : piece.hi] == i
            part = piece.counts.astype(np.int64)
            first = np.zeros(part.shape[0], dtype=np.int64)
            np.cumsum(part[:-1], out=first[1:])
            counts[piece.lo : piece.hi][own] = part[own]
            source[piece.lo : piece.hi][own] = first[own] + offset
            offset += piece.rows.shape[0]
        rows = np.concatenate([p.rows for p in every]) if len(every) > 1 else reg.packed
        total = int(counts.sum())
        out_first = np.zeros(self.minutes, dtype=np.int64)
        np.cumsum(counts[:-1], out=out_first[1:])
        gather = np.arange(total, dtype=np.int64) + np.repeat(source - out_first, counts)
        most = int(counts.max(initial=0))
        reg.replace(
            counts.astype(_count_dtype(most)),
            np.ascontiguousarray(rows[gather]).reshape(total, 6),
        )


@dataclass(frozen=True, slots=True)
class _Piece:
    """One region's probes of minute indices ``[lo, hi)``, read from a stored value."""

    region: str
    lo: int
    hi: int
    counts: npt.NDArray[np.unsignedinteger]
    rows: npt.NDArray[np.uint8]


def _pieces(data: bytes, first_minute: int, minutes: int) -> list[_Piece]:
    """What one stored value (:meth:`ProbeLedger.to_bytes` or a slice) holds, checked."""
    version = data[:1]
    if version == bytes([_SLICE_VERSION]):
        _, first, length, lo, hi = struct.unpack_from(">BqIII", data, 0)
        off = struct.calcsize(">BqIII")
        nreg = 1
    elif version == bytes([_FORMAT_VERSION]):
        _, first, length, nreg = struct.unpack_from(">BqII", data, 0)
        off = struct.calcsize(">BqII")
        lo, hi = 0, length
    else:
        raise ValueError(f"unknown probe ledger format {data[:1]!r}")
    if (first, length) != (first_minute, minutes):
        raise ValueError("serialised ledger is for another month")
    if not 0 <= lo < hi <= minutes:
        raise ValueError(f"slice [{lo}, {hi}) is outside the month")
    out: list[_Piece] = []
    for _ in range(nreg):
        nlen, width, clen, n = struct.unpack_from(">HBII", data, off)
        off += struct.calcsize(">HBII")
        name = data[off : off + nlen].decode()
        off += nlen
        if width not in (1, 2, 4):
            raise ValueError(f"minute counts of width {width}")
        dtype = np.dtype(f"<u{width}")
        counts: npt.NDArray[np.unsignedinteger] = np.frombuffer(
            zlib.decompress(data[off : off + clen]), dtype=dtype
        )
        off += clen
        if counts.shape[0] != hi - lo:
            raise ValueError("slice counts do not match its minutes")
        if int(counts.sum(dtype=np.int64)) != n or len(data) < off + 6 * n:
            raise ValueError("slice rows do not match its counts")
        rows = np.frombuffer(data[off : off + 6 * n], dtype=np.uint8).reshape(n, 6)
        off += 6 * n
        out.append(_Piece(name, lo, hi, counts, rows))
    return out


class MinuteStates:
    """Minute states of one service-month received from a probe stage (read side only).

    The statement stage of the streaming worker holds these instead of the
    probes themselves; ``version`` is the probe count of the ledger they came
    from, which only grows, so a higher version is always the newer state.
    """

    def __init__(self, first_minute: int, states: npt.NDArray[np.int8], version: int) -> None:
        self.first_minute = first_minute
        self.minutes = int(states.shape[0])
        self.version = version
        self._states = states
        self._states.flags.writeable = False

    def minute_states(self, policy: ProbePolicy) -> npt.NDArray[np.int8]:
        """The states as the probe stage decided them (``policy`` was applied there)."""
        del policy
        return self._states

    def same_minutes(self, other: MinuteStates) -> bool:
        """Whether ``other`` holds the same minutes and states (whatever its version)."""
        return self.first_minute == other.first_minute and bool(
            np.array_equal(self._states, other._states)
        )

    def data_range(self) -> tuple[int, int] | None:
        idx = np.flatnonzero(self._states != NO_DATA)
        if idx.size == 0:
            return None
        return self.first_minute + int(idx[0]), self.first_minute + int(idx[-1]) + 1

    def to_bytes(self) -> bytes:
        """``first_minute``, ``version`` and the compressed states."""
        head = struct.pack(">qqI", self.first_minute, self.version, self.minutes)
        return head + zlib.compress(self._states.tobytes(), 6)

    @classmethod
    def from_bytes(cls, data: bytes) -> MinuteStates:
        first, version, minutes = struct.unpack_from(">qqI", data, 0)
        raw = zlib.decompress(data[struct.calcsize(">qqI") :])
        states = np.frombuffer(raw, dtype=np.int8).copy()
        if states.shape[0] != minutes:
            raise ValueError("minute states length mismatch")
        return cls(first, states, version)


class MinuteSource(Protocol):
    """What the rules read from a service-month: a ledger or received minute states."""

    first_minute: int
    minutes: int

    def minute_states(self, policy: ProbePolicy) -> npt.NDArray[np.int8]: ...

    def data_range(self) -> tuple[int, int] | None: ...
