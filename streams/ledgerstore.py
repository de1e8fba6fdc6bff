"""The probe stage's durable state: probe ledger slices by key, with what changed.

Keys are ``service|YYYY-MM|region|DD``, and for a day too full for one value
``...|DD|HH`` or ``...|DD|HH|MM`` (see :attr:`streams.probestage.ProbeStage.slice_probes`);
values are :meth:`sla.probes.ProbeLedger.slice_bytes`. The worker's probe
loop (:mod:`streams.probeloop`) backs the store with a compacted changelog
topic written before offsets are committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, MutableMapping

from sla.months import Month
from streams.messages import FIRST_MONTH, LAST_MONTH

log = logging.getLogger(__name__)


def service_of_key(key: str) -> str:
    """The service of a ledger store key (``service|YYYY-MM|region|DD``)."""
    return key.split("|", 1)[0]


class LedgerStore(MutableMapping[str, bytes]):
    """``service|YYYY-MM|region|DD[|HH[|MM]] -> bytes`` in memory, with the keys changed.

    Keys are indexed by their ``service|YYYY-MM|`` prefix, so loading one
    service-month does not scan every key. ``unreadable`` counts the keys a
    restore (:meth:`load`) skipped.
    """

    def __init__(self) -> None:
        self._data: dict[str, bytes] = {}
        self._by_prefix: dict[str, set[str]] = {}
        #: ``service|YYYY-MM|region|DD`` -> its hour and minute keys
        self._by_day: dict[str, set[str]] = {}
        self._dirty: set[str] = set()
        self.unreadable = 0

    @staticmethod
    def _prefix(key: str) -> str:
        service, month, _ = key.split("|", 2)
        return f"{service}|{month}|"

    def __getitem__(self, key: str) -> bytes:
        return self._data[key]

    def __setitem__(self, key: str, value: bytes) -> None:
        self._put(key, value)
        self._dirty.add(key)

    def __delitem__(self, key: str) -> None:
        self._put(key, None)
        self._dirty.add(key)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._data))

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def load(self, key: str, value: bytes | None) -> bool:
        """Set (or, with None, delete) a key without marking it changed (a restore).

        A key that is not ``service|YYYY-MM|region[|DD]`` with a month in the
        accepted range (a value written before that range was enforced, or
        not by this pipeline) is skipped, logged and counted in
        :attr:`unreadable`, never raised: a value in the changelog must not
        stop a worker from starting. Returns whether the key was kept.
        """
        if not _ledger_key_ok(key):
            self.unreadable += 1
            log.warning("probe ledger store: skipped unreadable key %r", key[:200])
            return False
        self._put(key, value)
        return True

    def _put(self, key: str, value: bytes | None) -> None:
        prefix = self._prefix(key)
        day = "|".join(key.split("|", 4)[:4]) if key.count("|") > 3 else None
        if value is None:
            if self._data.pop(key, None) is not None:
                _discard(self._by_prefix, prefix, key)
                if day is not None:
                    _discard(self._by_day, day, key)
            return
        self._data[key] = value
        self._by_prefix.setdefault(prefix, set()).add(key)
        if day is not None:
            self._by_day.setdefault(day, set()).add(key)

    def finer(self, key: str) -> list[str]:
        """The keys stored under a day or hour key (its hours and minutes), sorted."""
        day = "|".join(key.split("|", 4)[:4])
        under = key + "|"
        return sorted(k for k in self._by_day.get(day, ()) if k.startswith(under))

    def with_prefix(self, prefix: str) -> list[str]:
        """The keys of one ``service|YYYY-MM|``, sorted (a whole region before its days)."""
        return sorted(self._by_prefix.get(prefix, ()))

    def changed(self) -> list[tuple[str, bytes | None]]:
        """Every key changed since the last call, with its value (None: deleted).

        Values come first and deletions last, each in key order: a value
        replaced by finer ones is deleted only after them, so a checkpoint
        that fails half-way leaves the old value to restore, never a gap.
        """
        order = sorted(self._dirty, key=lambda k: (k not in self._data, k))
        out = [(k, self._data.get(k)) for k in order]
        self._dirty.clear()
        return out

    def unsaved(self, keys: Iterable[str]) -> None:
        """Mark ``keys`` changed again (their write did not reach Kafka)."""
        self._dirty.update(keys)

    def forget(self, keep: Callable[[str], bool]) -> int:
        """Drop (without marking changed) every key whose service ``keep`` rejects."""
        gone = [k for k in self._data if not keep(service_of_key(k))]
        for k in gone:
            self._put(k, None)
            self._dirty.discard(k)
        return len(gone)


#: The most probes one stored ledger value holds before its day is split
#: into hours, and such an hour into minutes. Six bytes a probe: about
#: 516 KB, half the broker's default ``message.max.bytes`` (1 MiB), which
#: leaves room for the counts, the key and the record's framing.
SLICE_PROBES = 86_000


def _discard(index: dict[str, set[str]], prefix: str, key: str) -> None:
    keys = index[prefix]
    keys.discard(key)
    if not keys:
        del index[prefix]


def _ledger_key_ok(key: str) -> bool:
    """Whether ``key`` is ``service|YYYY-MM|region`` or ``...|DD[|HH[|MM]]``, month in range."""
    parts = key.split("|")
    if not 3 <= len(parts) <= 6 or not parts[0] or not parts[2]:
        return False
    try:
        month = Month.parse(parts[1])
    except ValueError:
        return False
    for part, top in zip(parts[3:], (31, 23, 59), strict=False):
        if not (len(part) == 2 and part.isascii() and part.isdigit() and int(part) <= top):
            return False
    return FIRST_MONTH <= month <= LAST_MONTH
