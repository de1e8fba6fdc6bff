"""Stage 1, partitioned by service: probes -> probe ledgers -> minute states.

Independent of Faust and of Kafka, so it can be tested alone: the probe loop
(:mod:`streams.probeloop`) feeds it batches, produces what it returns and
saves its :class:`~streams.ledgerstore.LedgerStore` before it commits.
A fold over sets: a probe delivered twice changes nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Generator, Sequence
from itertools import groupby
from typing import Any

import numpy as np

from fold.deadletters import FoldStats
from fold.folder import Folder
from sla.book import Book, Settings
from sla.months import Month
from sla.probes import DAY, MinuteStates, ProbeLedger
from streams import topics
from streams.ledgerstore import SLICE_PROBES, LedgerStore
from streams.messages import Outgoing, dead_letter_message

log = logging.getLogger(__name__)


class ProbeStage:
    """Stage 1: fold probes, publish minute states of every touched service-month.

    ``owner(service)`` says whether this worker keeps the service's ledgers
    (its probe partition is assigned here); a valid probe of a service owned
    elsewhere (a producer that keyed it wrongly) is sent back to the probe
    topic under its service key instead of being folded, so every ledger has
    one writer. Ledgers touched since the last :meth:`save` are written to the
    store only by :meth:`save` (the worker saves before it commits offsets).
    """

    #: see :data:`SLICE_PROBES`
    slice_probes = SLICE_PROBES

    def __init__(
        self,
        store: LedgerStore,
        settings: Settings | None = None,
        owner: Callable[[str], bool] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings or Settings()
        self.owner = owner
        self.stats = FoldStats()
        self.reset()

    def reset(self) -> None:
        """Forget everything in memory (after a rebalance); the store is reloaded lazily.

        Ledgers not yet saved and states not yet published are dropped too:
        call :meth:`publish` and :meth:`save` first to keep them.
        """
        self.book = Book(self.settings)
        self.book.loader = self._load
        self.folder = Folder(self.book)
        self.folder.stats = self.stats  # counters never go down on a rebalance
        self.folder.forward = self._forward
        if self.owner is not None:
            self.folder.reroute = self._elsewhere
            self.folder.forward_probe = self._forward_probe
        self._forwarded: list[Outgoing] = []
        self._unsaved: dict[int, ProbeLedger] = {}
        self._unpublished: dict[int, ProbeLedger] = {}
        #: the minute states last published per service-month
        self._published: dict[tuple[str, Month], Any] = {}

    def _elsewhere(self, service: str) -> bool:
        return self.owner is not None and not self.owner(service)

    def _load(self, service: str, month: Month, led: ProbeLedger) -> None:
        """Restore a service-month's ledger; skip (log, count) a value it cannot read.

        The values go in key order, a region's whole value before its days,
        a day before its hours and an hour before its minutes, so the finer
        (newer) value wins. A stored value that does not load (another
        format, another month, corrupt bytes) is left out of the ledger and
        counted in ``stats.unreadable_state``: the probes it held are lost
        to this ledger, but the stage goes on and every other value is
        restored.
        """
        keys = self.store.with_prefix(f"{service}|{month}|")
        try:
            failures = led.load_many([self.store[key] for key in keys])
        except Exception as exc:  # a fault of the assembly itself: every value on its own
            log.warning(
                "probe ledger %s|%s: loading its values one at a time: %s", service, month, exc
            )
            failures = []
            for i, key in enumerate(keys):
                try:
                    led.load_bytes(self.store[key])
                except Exception as one:
                    failures.append((i, str(one)))
        for i, why in failures:
            self.stats.unreadable_state += 1
            log.warning("probe ledger %s: skipped unreadable stored value: %s", keys[i], why)

    def _forward(self, raw: bytes, event: Any) -> None:
        """A valid non-probe event on the probe topic goes to its own topic."""
        spec = topics.INPUT_FOR_TYPE[event.type]
        self._forwarded.append(Outgoing(spec.name, topics.event_key(json.loads(raw)), raw))

    def _forward_probe(self, raw: bytes, service: str) -> None:
        self._forwarded.append(Outgoing(topics.PROBES.name, service.encode(), raw))

    def process(
        self, raws: list[bytes], sources: Sequence[dict[str, Any]], publish: bool = True
    ) -> list[Outgoing]:
        """Fold one batch; return what to produce (minute states, forwards, dead letters).

        Never raises for an event: bad input and events that fail to fold
        (``processing_error``) come back as dead letters, the rest is folded.
        With ``publish`` false the minute states of the touched service-months
        wait for :meth:`publish` (one message per service-month however many
        batches touched it in between).
        """
        self.folder.touched.clear()
        try:
            dead = self.folder.ingest_batch(raws, sources)
        except Exception as exc:  # a fault of the batch path itself: every line on its own
            log.warning("probe batch failed, folding its lines one at a time: %s", exc)
            dead = [
                d
                for raw, source in zip(raws, sources, strict=True)
                if (d := self.folder.ingest(raw, source)) is not None
            ]
        out = [dead_letter_message(d) for d in dead]
        out.extend(self._forwarded)
        self._forwarded = []
        for led in self.folder.touched:  # merged when published or saved
            self._unsaved[id(led)] = led
            self._unpublished[id(led)] = led
        if publish:
            out.extend(self.publish())
        return out

    @property
    def unpublished(self) -> int:
        """Service-months whose minute states changed since the last :meth:`publish`."""
        return len(self._unpublished)

    def publish(self) -> list[Outgoing]:
        """The minute states of every service-month folded into since the last call.

        A service-month whose probes changed none of its minute states since
        it was last published (more passing probes in minutes already up) is
        not published again: the statement stage would only compare it.
        """
        return [m for m in self.publish_steps() if m is not None]

    def publish_steps(self) -> Generator[Outgoing | None, None, None]:
        """:meth:`publish` one service-month at a time: its message, or None when unchanged.

        A caller on the event loop returns to it between steps: merging a
        ledger and computing a month of minute states takes milliseconds,
        and a busy book touches every service between two publications. The
        service-months count as published only once the last step is taken:
        a caller stopped half-way (cancelled) gets all of them again.
        """
        keys = list(self._unpublished)
        shown: list[tuple[tuple[str, Month], Any]] = []
        for key in keys:
            led = self._unpublished[key]
            service, month = self.book.ledger_keys[id(led)]
            now = led.minute_states(self.settings.probe_policy)
            last = self._published.get((service, month))
            if last is not None and np.array_equal(last, now):
                yield None
                continue
            now = now.copy()
            shown.append(((service, month), now))
            states = MinuteStates(led.first_minute, now, led.probe_count())
            head = json.dumps({"service": service, "month": str(month)}).encode()
            yield Outgoing(
                topics.MINUTE_STATES.name,
                f"{service}|{month}".encode(),
                head + b"\n" + states.to_bytes(),
            )
        self._published.update(shown)
        for key in keys:
            del self._unpublished[key]

    def save(self) -> int:
        """Write what changed since the last save to the store; return how many values.

        A region's probes are stored a UTC day a value (``service|YYYY-MM|region|DD``,
        DD the day of the month from 01), so a probe rewrites one day of its
        region, not the month. A day past :attr:`slice_probes` is stored an
        hour a value (``...|DD|HH``), and such an hour a minute a value
        (``...|DD|HH|MM``): a value stays well under the broker's message
        size limit, and a checkpoint rewrites only the hours or minutes that
        changed. A region still stored whole (``service|YYYY-MM|region``) is
        rewritten as days and its whole value deleted.
        """
        return sum(self.save_steps())

    def save_steps(self) -> Generator[int, None, None]:
        """:meth:`save` one service-month at a time: how many values each wrote.

        The service-months count as saved only once the last step is taken
        (writing a value again is harmless).
        """
        keys = list(self._unsaved)
        for key in keys:
            led = self._unsaved[key]
            service, month = self.book.ledger_keys[id(led)]
            written = 0
            for region, minutes in led.changed_minutes().items():
                base = f"{service}|{month}|{region}"
                writes, gone = self._slices(led, region, base, minutes)
                for name, lo, hi in writes:
                    self.store[name] = led.slice_bytes(region, lo, hi)
                for name in gone:
                    del self.store[name]
                written += len(writes)
            yield written
        for key in keys:
            del self._unsaved[key]

    def _slices(
        self, led: ProbeLedger, region: str, base: str, changed: list[int]
    ) -> tuple[list[tuple[str, int, int]], list[str]]:
        """The values to write (key, minutes ``[lo, hi)``) and the keys to delete.

        Levels only get finer as a day fills up. A value replaced by finer
        ones is deleted; finer values under a value written now (left by an
        earlier, fuller state) are deleted too, so a restore never lays an
        old slice over a newer one.
        """
        whole = base in self.store
        if whole:  # every day of the region is written again
            changed = led.minutes_with_data(region)
        writes: list[tuple[str, int, int]] = []
        gone = [base] if whole else []
        for day, group in groupby(changed, key=lambda m: m // DAY):
            lo, hi = day * DAY, min((day + 1) * DAY, led.minutes)
            name = f"{base}|{day + 1:02d}"
            if led.rows(region, lo, hi) <= self.slice_probes:
                writes.append((name, lo, hi))
                gone.extend(self.store.finer(name))
                continue
            split = not whole and name not in self.store  # already an hour a value
            minutes = list(group) if split else led.minutes_with_data(region, lo, hi)
            for hour, in_hour in groupby(minutes, key=lambda m: (m - lo) // 60):
                start = lo + hour * 60
                more, old = self._hour(led, region, name, start, min(start + 60, hi), list(in_hour))
                writes.extend(more)
                gone.extend(old)
            if not split and not whole:
                gone.append(name)
        return writes, gone

    def _hour(
        self, led: ProbeLedger, region: str, day: str, lo: int, hi: int, changed: list[int]
    ) -> tuple[list[tuple[str, int, int]], list[str]]:
        """:meth:`_slices` of one hour (minutes ``[lo, hi)``) of a day stored an hour a value."""
        name = f"{day}|{(lo % DAY) // 60:02d}"
        if led.rows(region, lo, hi) <= self.slice_probes:
            return [(name, lo, hi)], self.store.finer(name)
        if name not in self.store:  # already a minute a value, or new: what changed
            return [(f"{name}|{m % 60:02d}", m, m + 1) for m in changed], []
        minutes = led.minutes_with_data(region, lo, hi)
        return [(f"{name}|{m % 60:02d}", m, m + 1) for m in minutes], [name]
