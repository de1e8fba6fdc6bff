"""The two streaming stages, independent of Faust so they can be tested alone.

* :class:`ProbeStage` (partitioned by service): probes -> probe ledgers ->
  per service-month minute states. Its durable state is a key-value store of
  ledger slices (``service|YYYY-MM|region|DD[|HH[|MM]]`` -> bytes); the worker's probe
  loop (:mod:`streams.probeloop`) backs it with a compacted changelog topic
  written before offsets are committed.
* :class:`StatementStage` (one partition): minute states, incidents,
  contracts, claims and tickets -> statements, records, claim decisions and
  support verdicts. Its durable state is the raw events and the latest minute
  states; what it emitted is kept so revisions only ever go up.

Both are folds over sets: a message delivered twice (a redelivery after a
crash, a producer retry) changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from typing import Any

import numpy as np

from fold.folder import DeadLetter, Folder, FoldStats
from fold.replay import compute_outputs, next_support_moment
from schemas.codec import Rejected, decode, dumps, dumps_output
from schemas.events import ProbeEvent
from sla.book import Book, Settings
from sla.business_clock import BusinessCalendar
from sla.model import JSON
from sla.months import Month, month_bounds
from sla.probes import DAY, MinuteStates, ProbeLedger
from sla.summaries import evaluator
from streams import topics

log = logging.getLogger(__name__)
Store = MutableMapping[str, bytes]


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message to produce."""

    topic: str
    key: bytes
    value: bytes


def dead_letter_message(dl: DeadLetter) -> Outgoing:
    src = dl.source
    key = f"{src.get('topic')}|{src.get('partition')}|{src.get('offset')}".encode()
    return Outgoing(topics.DEAD_LETTERS.name, key, dumps(dl.to_json()).encode())


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


#: The months a ledger key may name: those of the accepted range of instants.
_FIRST_MONTH, _LAST_MONTH = Month(1970, 1), Month(2199, 12)

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
    return _FIRST_MONTH <= month <= _LAST_MONTH


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


def _content_digest(out: JSON) -> str:
    body = {
        k: v
        for k, v in out.items()
        if k not in ("status", "revision", "computed_at", "finalizes_at")
    }
    return hashlib.blake2b(dumps_output(body).encode(), digest_size=16).hexdigest()


#: fields that move with every elapsed minute of a month in progress
#: see ``StatementStage.coverage_step``
COVERAGE_STEP_MINUTES = 5

_COVERAGE_FIELDS = (
    "up_minutes",
    "no_data_minutes",
    "readings",
    "computed_at",
    "intervals",
    "elapsed_minutes",
    "remaining_minutes",
    "data_minutes",
    "coverage_percent",
    "no_data_periods",
)


def _coverage_free_digest(out: JSON) -> str | None:
    """A provisional statement's or record's digest without its coverage; None for others.

    Two outputs with the same value differ only in how many minutes were up
    or without data (and the readings, which include a no-data reading): the
    downtime, credit and status a consumer acts on are the same.
    """
    if out.get("status") != "provisional" or out.get("kind") not in (
        "contract_month",
        "service_month",
    ):
        return None
    body = {k: v for k, v in out.items() if k not in _COVERAGE_FIELDS}
    services = out.get("services")
    if isinstance(services, dict):
        body["services"] = {
            name: {k: v for k, v in figures.items() if k not in _COVERAGE_FIELDS}
            for name, figures in services.items()
        }
    intervals = out.get("intervals")
    if isinstance(intervals, dict):
        body["intervals"] = {k: v for k, v in intervals.items() if k != "no_data"}
    return hashlib.blake2b(dumps_output(body).encode(), digest_size=16).hexdigest()


def _held_until_caught_up(out: JSON) -> bool:
    """Outputs a consumer acts on for good, held until every input is read to its end.

    Final (or revised) statements, claim decisions and ticket alerts: an
    at-risk or breach alert computed before the ticket's response was read
    would page someone for nothing, and it stays on its topic.
    """
    return out.get("status") in ("final", "revised") or out.get("kind") in (
        "claim_decision",
        "ticket_alert",
    )


def _event_store_key(event: Any) -> str:
    kind = event.type
    if kind == "incident":
        return f"incident|{event.incident_id}|{event.revision}|{event.event_id}"
    if kind == "contract":
        return f"contract|{event.contract_id}|{event.revision}|{event.event_id}"
    if kind == "claim":
        return f"claim|{event.claim_id}|{event.event_id}"
    return f"{kind}|{event.event_id}"


class StatementStage:
    """Stage 2: everything but probes -> statements and decisions, emitted on change.

    ``events`` holds the raw bytes of every incident, contract, claim and
    ticket event and the latest minute states; ``emitted`` what was last
    emitted per output key (content digest, revision, status).
    """

    def __init__(
        self,
        events: Store,
        emitted: Store,
        settings: Settings | None = None,
        calendar: BusinessCalendar | None = None,
        primary: bool = True,
    ) -> None:
        self.events = events
        self.emitted = emitted
        #: the primary statement partition publishes service-month records, and
        #: dead-letters the broadcast inputs (minute states, incidents); the others
        #: fold those too but leave both to it (``streams.router``)
        self.primary = primary
        self.settings = settings or Settings()
        self.calendar = calendar or BusinessCalendar()
        self.ready = False
        self.dirty = True
        self.latest: dict[bytes, JSON] = {}
        #: output key -> (digest, mono since, output, coverage-free digest or None)
        self._pending: dict[str, tuple[str, float, JSON, str | None]] = {}
        #: digests of outputs emitted but not yet confirmed, by output key
        self._unconfirmed: dict[str, str] = {}
        #: what was last published per output key (``emitted``, parsed; see :meth:`_emitted`)
        self._records: dict[str, JSON] = {}
        #: per output key, the nested content last digested and its digest
        self._digests: dict[str, tuple[Any, str]] = {}
        #: what :meth:`ready_outputs` hands over next: (its arguments, when, keys in order)
        self._order: tuple[tuple[bool, float], float, deque[str]] | None = None
        #: a provisional output whose only change is in its up and no-data minutes
        #: (the month goes on, its coverage moves) waits this long after the last
        #: publication of its key; any other change is published at once
        self.coverage_interval = 60.0
        #: per output key, the coverage-free digest last published and when (mono)
        self._shown: dict[str, tuple[str, float]] = {}
        #: minutes a provisional statement keeps its coverage figures while only they
        #: change, staggered by contract (``Evaluator.coverage_step``): a new minute
        #: rebuilds a fifth of a large book, not all of it; downtime never waits
        self.coverage_step = COVERAGE_STEP_MINUTES
        #: statements the last :meth:`refresh` left for a pass that does not defer
        self.deferred = 0
        self.reset()

    def reset(self) -> None:
        """Forget the in-memory fold; :meth:`rebuild` reloads it from the stores."""
        self.book = Book(self.settings)
        evaluator(self.book).coverage_step = self.coverage_step
        self.folder = Folder(self.book)
        self._digests = {}
        self.ready = False

    def rebuild(self) -> None:
        """Refold every stored event and minute state (after start-up or a rebalance).

        A stored value that cannot be read or folded (written before a rule
        that now rejects it, or corrupt) is skipped, logged and counted in
        ``folder.stats.unreadable_state``: a value in a state topic never
        stops a worker from starting.
        """
        self.reset()
        for key in list(self.events):
            try:
                self._apply_stored(key, self.events[key])
            except Exception as exc:
                self.folder.stats.unreadable_state += 1
                log.warning("stored value %r skipped: %s", key[:200], exc)
        self._records = {}
        for ekey in list(self.emitted):
            try:
                self._records[ekey] = json.loads(self.emitted[ekey])
            except (ValueError, KeyError) as exc:
                log.warning("record of published output %r skipped: %s", ekey[:200], exc)
        self.ready = True
        self.dirty = True

    def _apply_stored(self, key: str, raw: bytes) -> None:
        """Refold one stored value; raises when it cannot be read or folded."""
        if key.startswith("states|"):
            self._apply_states(raw)
            return
        ev = decode(raw)
        if isinstance(ev, Rejected):
            raise ValueError(f"stored event is now bad input ({ev.reason}: {ev.detail})")
        self.folder.apply(ev)

    def _apply_states(self, raw: bytes) -> tuple[str, Month] | None:
        """Keep one minute-states message (``{"service", "month"}\\n`` + states).

        Raises (any exception) when the message is unreadable or does not
        describe a UTC month of the accepted range exactly.
        """
        head, _, body = raw.partition(b"\n")
        meta = json.loads(head)
        service, month = meta["service"], Month.parse(meta["month"])
        if not isinstance(service, str) or not service:
            raise ValueError("minute states without a service")
        if not _FIRST_MONTH <= month <= _LAST_MONTH:
            raise ValueError(f"minute states for {month}, outside the accepted range")
        states = MinuteStates.from_bytes(body)
        first, end = month_bounds(month)
        if (states.first_minute, states.minutes) != (first, end - first):
            raise ValueError(f"minute states do not cover {month} exactly")
        if self.book.set_minute_states(service, month, states):
            return service, month
        return None

    def process(self, items: Iterable[tuple[str, bytes, dict[str, Any]]]) -> list[Outgoing]:
        """Fold ``(topic, raw, source)`` items; return dead letters to produce.

        Never raises for an item: bad input, an unreadable minute-states
        message and an event whose fold fails (``processing_error``) are
        dead-lettered and the rest are still folded. An event is stored only
        once it is folded, so a rebuild never meets it again.
        """
        if not self.ready:
            self.rebuild()
        out: list[Outgoing] = []
        for topic, raw, source in items:
            if topic == topics.MINUTE_STATES.name:
                try:
                    changed = self._apply_states(raw)
                except Exception as exc:
                    self._dead(out, self.folder.failed(raw, source, exc), broadcast=True)
                    continue
                if changed is not None:
                    service, month = changed
                    self.events[f"states|{service}|{month}"] = raw
                    self.dirty = True
                continue
            ev = decode(raw)
            if isinstance(ev, Rejected):
                out.append(dead_letter_message(self.folder.reject(ev, source)))
                continue
            if isinstance(ev, ProbeEvent):
                log.warning("probe on %s ignored at stage 2 (%s)", topic, source)
                continue
            key = _event_store_key(ev)
            if key not in self.events:
                dead = self.folder.fold(ev, raw, source)
                if dead is not None:
                    self._dead(out, dead, broadcast=topic == topics.INCIDENTS.name)
                    continue
                self.events[key] = raw
                self.dirty = True
        return out

    def _dead(self, out: list[Outgoing], dead: DeadLetter, broadcast: bool) -> None:
        """Publish ``dead``, unless it is a broadcast input's and this is not the primary.

        Every statement partition folds a broadcast input, so the same bad one
        fails in each; only the primary's dead letter is published and counted.
        """
        if broadcast and not self.primary:
            counts = self.folder.stats.dead_letters
            counts[dead.reason] -= 1
            return
        out.append(dead_letter_message(dead))

    def emit(
        self,
        now: datetime,
        mono: float = 0.0,
        force: bool = False,
        settle: float = 0.0,
        hold_final: bool = False,
    ) -> list[tuple[Outgoing, JSON]]:
        """Recompute the outputs as of ``now`` when needed; return those to publish.

        Publish them, then :meth:`confirm` them.

        Provisional outputs are published as soon as they change. A final or
        revised statement, and a claim decision, is published once its
        content has been stable for ``settle`` seconds of ``mono`` (a
        monotonic clock) and ``hold_final`` is false (the worker holds them
        until every input is read to its end, SPEC section 7), so a backfill
        or a burst of late data yields one final statement or decision, not
        one per batch, and none computed from a partial backlog.
        When a statement's content changes after it was published as final it
        gets the next revision, even where its knowledge-time revision would
        not move (a probe that arrived late), so billing never sees a changed
        final statement under an old revision. A claim decision starts at
        revision 0 and gets the next one whenever its content changes.
        """
        if not self.ready:
            self.rebuild()
        self.refresh(now, mono, force)
        return self.ready_outputs(mono, settle, hold_final)

    def refresh(
        self, now: datetime, mono: float = 0.0, force: bool = False, defer: bool = False
    ) -> int:
        """The costly half of :meth:`emit`: recompute the outputs when needed; how many changed.

        Reads the book and the record of what was published and updates only
        this stage's own bookkeeping (``latest`` and the outputs waiting to be
        published); it touches no table and no event loop, so the worker runs
        it on a thread of its own, while nothing folds into this stage
        (:meth:`process`) or confirms (:meth:`confirm`). Call :meth:`rebuild`
        first if the stage is not ready.

        With ``defer``, statements whose coverage tick alone moved are left as
        they were and counted in :attr:`deferred`; a refresh that does not defer
        (``force``) rebuilds them, after the real changes are published.
        """
        if not (self.dirty or force):
            return 0
        self.dirty = False
        self._order = None
        changed = 0
        digests = self._digests
        ev = evaluator(self.book)
        ev.defer_coverage, ev.deferred = defer, 0
        try:
            outputs = compute_outputs(self.book, now, self.folder.tickets, self.calendar)
        finally:
            ev.defer_coverage = False
        self.deferred = ev.deferred
        produced: set[str] = set()
        for out in outputs:
            if not self.primary and out["kind"] == "service_month":
                continue  # the same in every partition: the primary publishes it
            key = topics.output_key(out)
            ekey = f"{out['kind']}|{key.decode()}"
            produced.add(ekey)
            # an output whose nested content is the very object seen last time (the
            # rules reuse it while nothing it depends on changed) has the same digest
            anchor = out.get("services", out.get("intervals"))
            held_digest = digests.get(ekey)
            if anchor is not None and held_digest is not None and held_digest[0] is anchor:
                digest = held_digest[1]
            else:
                digest = _content_digest(out)
                if anchor is not None:
                    digests[ekey] = (anchor, digest)
            self.latest.setdefault(key, out)
            prev = self._emitted(ekey)
            if (
                prev is not None
                and prev["digest"] == digest
                and prev.get("status") in (out.get("status"), "revised")
            ):
                self._pending.pop(ekey, None)
                self.latest[key] = self._with_revision(out, prev)
                continue
            held = self._pending.get(ekey)
            since = held[1] if held is not None and held[0] == digest else mono
            self._pending[ekey] = (digest, since, out, _coverage_free_digest(out))
            changed += 1
        # An output waiting to be published that the inputs no longer give is never
        # published: a ticket alert computed before the ticket's response was read,
        # held until the worker caught up, would otherwise page someone for nothing.
        for ekey in [k for k in self._pending if k not in produced]:
            del self._pending[ekey]
        return changed

    def ready_outputs(
        self,
        mono: float = 0.0,
        settle: float = 0.0,
        hold_final: bool = False,
        limit: int | None = None,
    ) -> list[tuple[Outgoing, JSON]]:
        """The other half of :meth:`emit`: the outputs to publish now (on the loop).

        At most ``limit`` of them; :meth:`confirm` those before asking for more.
        Outputs that changed in more than their coverage go first: a failing
        minute's thousands of statements never queue behind the coverage
        republications of the rest of the book.
        """
        self._unconfirmed.clear()
        order = self._order
        if order is None or order[0] != (hold_final, settle) or not 0 <= mono - order[1] < 1.0:
            # one pass over what waits, then slices of it: a book whose every statement
            # changed is handed over in a hundred slices, not scanned a hundred times
            order = self._order = ((hold_final, settle), mono, self._due(mono, settle, hold_final))
        due = order[2]
        chosen: list[tuple[str, tuple[str, float, JSON, str | None]]] = []
        while due and (limit is None or len(chosen) < limit):
            ekey = due.popleft()
            item = self._pending.get(ekey)
            if item is not None:
                chosen.append((ekey, item))
        ready: list[tuple[Outgoing, JSON]] = []
        for ekey, (digest, _, out, sig) in chosen:
            del self._pending[ekey]
            prev = self._emitted(ekey)
            out = self._with_revision(out, prev, digest)
            self._unconfirmed[ekey] = digest
            if sig is not None:
                self._shown[ekey] = (sig, mono)
            key = topics.output_key(out)
            self.latest[key] = out
            spec = topics.OUTPUT_FOR_KIND[out["kind"]]
            ready.append((Outgoing(spec.name, key, dumps_output(out).encode()), out))
        return ready

    def _due(self, mono: float, settle: float, hold_final: bool) -> deque[str]:
        """The keys of the outputs to publish now: changed in more than coverage first."""
        changed: list[str] = []
        coverage: list[str] = []
        interval = self.coverage_interval
        for ekey, (_, since, out, sig) in self._pending.items():
            if _held_until_caught_up(out) and (hold_final or mono - since < settle):
                continue
            shown = self._shown.get(ekey)
            if sig is not None and shown is not None and shown[0] == sig:
                if mono - shown[1] < interval:
                    continue  # only elapsed and no-data minutes moved: republished at the interval
                coverage.append(ekey)
            else:
                changed.append(ekey)
        return deque(changed + coverage)

    def next_due(self, now: datetime) -> datetime | None:
        """When the outputs next change with no new event (a ticket at risk or breached).

        The worker forces a re-evaluation at that instant, so ``ticket_alert``
        and the verdicts move when the moment passes, not at the next event.
        """
        if not self.ready:
            self.rebuild()
        return next_support_moment(self.folder.tickets, now, self.calendar)

    def confirm(self, published: Iterable[JSON]) -> None:
        """Record outputs returned by :meth:`emit` as published.

        Called once the messages are delivered: the record must never run
        ahead of what billing can read, or a crash in between would leave an
        output unpublished for good.
        """
        for out in published:
            ekey = f"{out['kind']}|{topics.output_key(out).decode()}"
            digest = self._unconfirmed.pop(ekey)
            record = {
                "digest": digest,
                "revision": out.get("revision"),
                "status": out.get("status"),
            }
            self.emitted[ekey] = json.dumps(record).encode()
            self._records[ekey] = record

    def _emitted(self, ekey: str) -> JSON | None:
        """What was last published under ``ekey``, from the record read at :meth:`rebuild`.

        Kept in memory (and updated by :meth:`confirm`) so :meth:`refresh`
        never reads the table, which belongs to the event loop.
        """
        return self._records.get(ekey)

    @staticmethod
    def _with_revision(out: JSON, prev: JSON | None, digest: str | None = None) -> JSON:
        if out.get("kind") == "claim_decision":
            # no status: the revision alone orders the decisions on one claim
            last = int((prev or {}).get("revision") or 0)
            changed = prev is not None and digest is not None and prev["digest"] != digest
            return {**out, "revision": last + 1 if changed else last}
        if "revision" not in out or prev is None:
            return out
        if (
            digest is not None
            and prev["digest"] != digest
            and prev["status"] in ("final", "revised")
        ):
            return {
                **out,
                "revision": max(out["revision"], prev["revision"] + 1),
                "status": "revised",
            }
        if prev["revision"] > out["revision"]:
            return {**out, "revision": prev["revision"], "status": "revised"}
        return out
