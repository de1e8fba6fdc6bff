"""Probe results folded into per-minute states (SPEC section 3).

One :class:`ProbeLedger` holds every probe of one service in one UTC month,
compactly enough that a 31-day month at 3 regions and one probe a minute per
region stays under 1 MiB: per region a :class:`sla.probe_region.RegionStore`
(a per-minute probe count and six bytes per probe), each probe known by its
digest (:mod:`sla.probe_digest`), so the same event delivered again counts
once; stored as the values of :mod:`sla.ledger_format`.

The minute state is a function of the *set* of probes: order and
repetitions cannot change it. Two deliveries of one ``event_id`` with
different ``ok`` values (a producer bug) resolve to the failure, so the
result still does not depend on order. :class:`MinuteStates` are the states
alone, as the statement stage receives them.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol

import numpy as np
import numpy.typing as npt

from sla.ledger_format import SLICE_VERSION, WHOLE_VERSION, Piece, read_pieces
from sla.probe_digest import probe_digest
from sla.probe_region import RegionStore, count_dtype
from sla.process_shared import shared_states

NO_DATA = 0
UP = 1
DOWN = 2

#: minutes per stored slice of a ledger: one UTC day (months start at midnight UTC)
DAY = 1440


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
        self._regions: dict[str, RegionStore] = {}
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
            reg = self._regions[region] = RegionStore(self.minutes)
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
            reg = self._regions[region] = RegionStore(self.minutes)
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
        parts = [struct.pack(">BqII", WHOLE_VERSION, self.first_minute, self.minutes, len(names))]
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
                struct.pack(">BqIII", SLICE_VERSION, self.first_minute, self.minutes, lo, hi),
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
        pieces: dict[str, list[Piece]] = {}
        failures: list[tuple[int, str]] = []
        for i, data in enumerate(values):
            try:
                parsed = read_pieces(data, self.first_minute, self.minutes)
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

    def _assemble(self, name: str, pieces: list[Piece]) -> None:
        """Lay ``pieces`` (later ones win) over what ``name`` holds, in one gather."""
        reg = self._regions.get(name)
        if reg is None:
            reg = self._regions[name] = RegionStore(self.minutes)
        reg.merge()
        every = [Piece(name, 0, self.minutes, reg.counts, reg.packed), *pieces]
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
            counts.astype(count_dtype(most)),
            np.ascontiguousarray(rows[gather]).reshape(total, 6),
        )


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
        return self.first_minute == other.first_minute and (
            self._states is other._states or bool(np.array_equal(self._states, other._states))
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
        # equal states (the same broadcast message folded by every statement
        # partition of a worker) share one array, and so every result keyed by it
        states = shared_states(data[struct.calcsize(">qqI") :], _decode_states)
        if states.shape[0] != minutes:
            raise ValueError("minute states length mismatch")
        return cls(first, states, version)


def _decode_states(compressed: bytes) -> npt.NDArray[np.int8]:
    return np.frombuffer(zlib.decompress(compressed), dtype=np.int8).copy()


class MinuteSource(Protocol):
    """What the rules read from a service-month: a ledger or received minute states."""

    first_minute: int
    minutes: int

    def minute_states(self, policy: ProbePolicy) -> npt.NDArray[np.int8]: ...

    def data_range(self) -> tuple[int, int] | None: ...
