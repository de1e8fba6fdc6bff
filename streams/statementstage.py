"""Stage 2: minute states, incidents, contracts, claims and tickets -> statements.

Independent of Faust, so it can be tested alone. Its outputs are
statements, records, claim decisions and support verdicts; its durable state
is the raw events and the latest minute states, and what it emitted is kept
so revisions only ever go up. A fold over sets: a message delivered twice
(a redelivery after a crash, a producer retry) changes nothing.

One module over 400 lines, for one reason: the stage is one state machine.
What it folds, what it emitted and what waits to be published are read and
written together by every step (fold, emit, confirm); the rules that decide
what is due and under which revision are apart, in :mod:`streams.emitrules`.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Iterable, MutableMapping
from datetime import datetime
from typing import Any

from fold.deadletters import DeadLetter
from fold.folder import Folder
from fold.replay import compute_outputs, next_support_moment
from schemas.codec import Rejected, decode, dumps_output
from schemas.events import ProbeEvent
from sla.book import Book, Settings
from sla.business_clock import BusinessCalendar
from sla.model import JSON
from sla.months import Month, month_bounds
from sla.probes import MinuteStates
from sla.summaries import evaluator
from streams import topics
from streams.emitrules import (
    COVERAGE_STEP_MINUTES,
    content_digest,
    coverage_free_digest,
    held_until_caught_up,
    published_record,
    read_published,
    with_revision,
)
from streams.messages import FIRST_MONTH, LAST_MONTH, Outgoing, dead_letter_message

log = logging.getLogger(__name__)
Store = MutableMapping[str, bytes]


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
        partition: int | None = None,
    ) -> None:
        self.events = events
        self.emitted = emitted
        #: the primary statement partition publishes service-month records, and
        #: dead-letters the broadcast inputs (minute states, incidents); the others
        #: fold those too but leave both to it (``streams.router``)
        self.primary = primary
        #: what its log lines name it by: its statement partition, when it has one
        self.where = "" if partition is None else f"statement partition {partition}: "
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
        """Refold every stored event and minute state, and read what was published.

        After start-up or a rebalance. A stored value that cannot be read or
        folded (written before a rule that now rejects it, or corrupt) is
        skipped, logged and counted in ``folder.stats.unreadable_state``: a
        value in a state topic never stops a worker from starting, nor its
        partition from publishing. An output whose record of publication was
        skipped is published again, its revision never below the core's.
        """
        self.reset()
        for key in list(self.events):
            try:
                self._apply_stored(key, self.events[key])
            except Exception as exc:
                self.folder.stats.unreadable_state += 1
                log.warning("%sstored value %r skipped: %s", self.where, key[:200], exc)
        self._records = {}
        for ekey in list(self.emitted):
            try:
                self._records[ekey] = read_published(self.emitted[ekey])
            except Exception as exc:
                self.folder.stats.unreadable_state += 1
                log.warning(
                    "%srecord of published output %r skipped: %s", self.where, ekey[:200], exc
                )
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
        if not FIRST_MONTH <= month <= LAST_MONTH:
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
            digest = self._digest_of(ekey, out)
            self.latest.setdefault(key, out)
            prev = self._emitted(ekey)
            if (
                prev is not None
                and prev["digest"] == digest
                and prev.get("status") in (out.get("status"), "revised")
            ):
                self._pending.pop(ekey, None)
                self.latest[key] = with_revision(out, prev)
                continue
            held = self._pending.get(ekey)
            since = held[1] if held is not None and held[0] == digest else mono
            self._pending[ekey] = (digest, since, out, coverage_free_digest(out))
            changed += 1
        # An output waiting to be published that the inputs no longer give is never
        # published: a ticket alert computed before the ticket's response was read,
        # held until the worker caught up, would otherwise page someone for nothing.
        for ekey in [k for k in self._pending if k not in produced]:
            del self._pending[ekey]
        return changed

    def _digest_of(self, ekey: str, out: JSON) -> str:
        """:func:`content_digest` of ``out``, reused while its nested content is unchanged.

        An output whose nested content is the very object seen last time (the
        rules reuse it while nothing it depends on changed) has the same digest.
        """
        anchor = out.get("services", out.get("intervals"))
        held = self._digests.get(ekey)
        if anchor is not None and held is not None and held[0] is anchor:
            return held[1]
        digest = content_digest(out)
        if anchor is not None:
            self._digests[ekey] = (anchor, digest)
        return digest

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
            out = with_revision(out, prev, digest)
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
            if held_until_caught_up(out) and (hold_final or mono - since < settle):
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
            record = published_record(digest, out.get("revision"), out.get("status"))
            self.emitted[ekey] = json.dumps(record).encode()
            self._records[ekey] = record

    def _emitted(self, ekey: str) -> JSON | None:
        """What was last published under ``ekey``, from the record read at :meth:`rebuild`.

        Kept in memory (and updated by :meth:`confirm`) so :meth:`refresh`
        never reads the table, which belongs to the event loop.
        """
        return self._records.get(ekey)
