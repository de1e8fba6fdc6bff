"""The fold: decoded events into a :class:`~sla.book.Book`, bad input into dead letters.

:class:`Folder` is the one edge between raw events and the core, shared by
both runtimes: the offline replay (:mod:`fold.replay`) and the streaming
worker's stages (:mod:`streams.probestage`, :mod:`streams.statementstage`).
It decodes each line with the shared codec, folds the valid events into the
book and turns the rest into :class:`DeadLetter` records, counting both in
:class:`FoldStats`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from fold.deadletters import DeadLetter, FoldStats, exception_text
from schemas import domain
from schemas.codec import Rejected, decode
from schemas.edge import probe_minute, validate_batch
from schemas.events import (
    ClaimEvent,
    ContractEvent,
    IncidentEvent,
    ProbeEvent,
)
from schemas.fastprobe import I64, FastProbes, ProbeDecoder
from sla.book import Book
from sla.probe_digest import U64, probe_digests, probe_keys
from sla.probes import ProbeLedger
from sla.timeutil import epoch_minute, format_instant, parse_instant

log = logging.getLogger(__name__)

#: Days from 0001-01-01 to 1970-01-01: keeps a fast-path day number positive.
_DAY0 = 719_163


#: One probe as the canonical path gathers it: line, service, region, epoch
#: minute, ok, event id and RFC 3339 instant.
_ProbeRow = tuple[int, str, str, int, bool, str, str]


def _probe_row(line: int, ev: ProbeEvent) -> _ProbeRow:
    """The row of a probe model (its instant kept exactly, as UTC text)."""
    at = ev.observed_at
    return (line, ev.service, ev.region, epoch_minute(at), ev.ok, ev.event_id, format_instant(at))


def _probe_columns(rows: list[_ProbeRow]) -> FastProbes:
    """Probe rows as the columns :meth:`Folder._fold_probes` takes."""
    ids = [r[5] for r in rows]
    code: dict[str, int] = {}
    for r in rows:
        code.setdefault(r[1], len(code))
        code.setdefault(r[2], len(code))
    return FastProbes(
        [r[0] for r in rows],
        ids,
        [r[6] for r in rows],
        np.array([code[r[1]] << 21 | code[r[2]] << 1 | r[4] for r in rows], dtype=np.int64),
        np.array([r[3] for r in rows], dtype=np.int64),
        probe_digests(ids),
        list(code),
        [],
    )


class Folder:
    """Feeds decoded events into a book; the edge shared by replay and the worker.

    ``reroute`` and ``forward_probe`` let a caller take probes elsewhere: when
    ``reroute`` is set and ``reroute(service)`` is true for a valid probe, the
    probe is neither folded nor counted in ``stats.events["probe"]``; its raw
    bytes go to ``forward_probe(raw, service)`` instead (the worker uses it to
    send a probe that arrived on another service's partition to the right
    one). ``reroute`` must depend on the service alone: a batch asks it once
    per distinct service.

    Every valid probe, whichever decoder read it, reaches the book through
    :meth:`_fold_probes` (reroute, the ``as_of`` filter, the fold and the
    counts are written there once).
    """

    def __init__(self, book: Book, as_of: datetime | None = None) -> None:
        self.book = book
        self.as_of = as_of
        self.stats = FoldStats()
        self.tickets: list[Any] = []
        # probes in this epoch minute or later may lie after as_of: check exactly
        self._as_of_minute = epoch_minute(as_of) if as_of is not None else 1 << 62
        #: ledgers that received probes since the caller last cleared this set
        self.touched: set[ProbeLedger] = set()
        #: when set, non-probe events go here (raw bytes, model) instead of the book
        self.forward: Callable[[bytes, Any], None] | None = None
        #: when set and true for a probe's service, the probe goes to ``forward_probe``
        self.reroute: Callable[[str], bool] | None = None
        #: receives ``(raw bytes, service)`` of every rerouted probe
        self.forward_probe: Callable[[bytes, str], None] | None = None
        self._decoder = ProbeDecoder()

    def ingest(self, raw: bytes, source: dict[str, Any]) -> DeadLetter | None:
        """Decode and fold one raw event; return its dead letter when it is bad input.

        Never raises for one event: a valid event whose fold fails is
        dead-lettered with reason ``processing_error`` (:meth:`failed`).
        """
        try:
            dead = self._ingest_canonical([raw], [source])
        except Exception as exc:
            return self.failed(raw, source, exc)
        return dead[0][1] if dead else None

    def ingest_batch(
        self, raws: list[bytes], sources: Sequence[dict[str, Any]]
    ) -> list[DeadLetter]:
        """Decode and fold many raw events at once (the hot path); return the dead letters.

        Same results as calling :meth:`ingest` on each line, several times
        faster: :class:`~schemas.fastprobe.ProbeDecoder` takes the probes it can
        vouch for as columns; every other line takes the canonical path
        (:meth:`_ingest_canonical`). Dead letters come in line order. Never
        raises for one event (see :meth:`_fold_probes_or_dead`).
        """
        try:
            fast = self._decoder.decode(raws)
        except Exception as exc:  # the canonical path still decides every line
            log.info("bulk probe decoder failed, lines decoded one by one: %s", exc, exc_info=exc)
            self._decoder = ProbeDecoder()
            return [dl for _, dl in self._ingest_canonical(raws, sources)]
        dead: list[tuple[int, DeadLetter]] = []
        slow = fast.slow
        if len(slow) == len(raws):
            dead = self._ingest_canonical(raws, sources)
        elif slow:
            got = self._ingest_canonical([raws[i] for i in slow], [sources[i] for i in slow])
            dead = [(slow[k], dl) for k, dl in got]
        if len(fast):
            failed = self._fold_probes_or_dead(fast, raws, sources)
            if failed:
                dead = sorted([*dead, *failed], key=lambda pair: pair[0])
        return [dl for _, dl in dead]

    def _ingest_canonical(
        self, raws: list[bytes], sources: Sequence[dict[str, Any]]
    ) -> list[tuple[int, DeadLetter]]:
        """The canonical edge, each line validated on its own; the codec for bad lines.

        Returns ``(position in raws, dead letter)`` pairs in order. A line
        whose fold fails is dead-lettered (``processing_error``) and the
        rest are still folded. The valid probes are gathered and folded
        together, after the other events.
        """
        dead: list[tuple[int, DeadLetter]] = []
        probes: list[_ProbeRow] = []
        for k, (raw, source, ev) in enumerate(
            zip(raws, sources, validate_batch(raws), strict=True)
        ):
            try:
                if type(ev) is dict:
                    text = ev["observed_at"]
                    try:
                        minute = probe_minute(text)
                    except ValueError:  # the canonical models say why (or take it after all)
                        ev = decode(raw)
                    else:
                        row = (k, ev["service"], ev["region"], minute, ev["ok"], ev["event_id"])
                        probes.append((*row, text))
                        continue
                if isinstance(ev, ProbeEvent):
                    probes.append(_probe_row(k, ev))
                elif isinstance(ev, Rejected):
                    dead.append((k, self.reject(ev, source)))
                else:
                    dl = self.fold(ev, raw, source)
                    if dl is not None:
                        dead.append((k, dl))
            except Exception as exc:
                dead.append((k, self.failed(raw, source, exc)))
        if probes:
            failed = self._fold_probes_or_dead(_probe_columns(probes), raws, sources)
            if failed:
                dead = sorted([*dead, *failed], key=lambda pair: pair[0])
        return dead

    def _fold_probes_or_dead(
        self, probes: FastProbes, raws: Sequence[bytes], sources: Sequence[dict[str, Any]]
    ) -> list[tuple[int, DeadLetter]]:
        """:meth:`_fold_probes`, never raising for one probe.

        When the batch fails, its probes are folded again one at a time, so
        only a probe that fails on its own is dead-lettered
        (``processing_error``); folding a probe twice changes nothing.
        Returns ``(line, dead letter)`` pairs in line order.
        """
        try:
            self._fold_probes(probes, raws)
        except Exception as exc:
            log.info("probe batch fold failed, folding its lines one at a time: %s", exc)
        else:
            return []
        dead: list[tuple[int, DeadLetter]] = []
        for k in range(len(probes)):
            try:
                self._fold_probes(probes.take([k]), raws)
            except Exception as exc:
                i = probes.line(k)
                dead.append((i, self.failed(raws[i], sources[i], exc)))
        return dead

    def _fold_probes(self, probes: FastProbes, raws: Sequence[bytes]) -> None:
        """Reroute, filter by ``as_of``, fold and count valid probes: the one probe path.

        ``probes`` come from the bulk decoder or the canonical models; probe
        ``k``'s raw bytes are ``raws[probes.line(k)]``. They are folded as one
        key array per ledger and region, and counted in ``stats`` only once
        folded (a batch that raises counts nothing; rerouted ones may already
        have been forwarded).
        """
        n = len(probes)
        names = probes.names
        where, minute, digest = probes.where, probes.minute, probes.digest
        keep: npt.NDArray[np.bool_] | None = None
        if self.reroute is not None:
            reroute = self.reroute
            service = where >> 21
            away = [c for c in np.unique(service).tolist() if reroute(names[c])]
            if away:
                moved = np.isin(service, away)
                if self.forward_probe is not None:
                    for k in np.flatnonzero(moved).tolist():
                        self.forward_probe(raws[probes.line(k)], names[int(service[k])])
                keep = ~moved
        counted = n if keep is None else int(keep.sum())
        not_yet_known = 0
        late = minute >= self._as_of_minute
        if late.any():
            if keep is None:
                keep = np.ones(n, dtype=bool)
            for k in np.flatnonzero(late & keep).tolist():
                if self._later_than_as_of(probes.observed_at[k]):
                    not_yet_known += 1
                    keep[k] = False
        if keep is not None:
            where, minute, digest = where[keep], minute[keep], digest[keep]
        if minute.shape[0]:
            self._add_keys(names, where, minute, digest)
        stats = self.stats
        stats.events["probe"] = stats.events.get("probe", 0) + counted
        stats.not_yet_known += not_yet_known

    def _add_keys(self, names: list[str], where: I64, minute: I64, digest: U64) -> None:
        """Fold probe columns into the book's ledgers: one key array per ledger and region."""
        # one group per service, region and UTC day (a day lies in one ledger's month)
        group = ((where >> 1) << 22) | (minute // 1440 + _DAY0)
        order = np.argsort(group, kind="stable")
        grouped = group[order]
        bounds = [0, *(np.flatnonzero(grouped[1:] != grouped[:-1]) + 1).tolist(), len(order)]
        heads = order[bounds[:-1]]
        book = self.book
        targets: list[tuple[ProbeLedger, str]] = []
        firsts: list[int] = []
        for w, m in zip(where[heads].tolist(), minute[heads].tolist(), strict=True):
            led = book.ledger_for(names[w >> 21], m)
            targets.append((led, names[(w >> 1) & 0xFFFFF]))
            firsts.append(led.first_minute)
        first = np.repeat(np.array(firsts, dtype=np.int64), np.diff(bounds))
        keys = probe_keys(minute[order] - first, digest[order], where[order] & 1)
        touched = self.touched
        for (led, reg), a, b in zip(targets, bounds[:-1], bounds[1:], strict=True):
            led.add_keys(reg, keys[a:b])
            touched.add(led)

    def _later_than_as_of(self, text: str) -> bool:
        return self.as_of is not None and parse_instant(text) > self.as_of

    def fold(
        self, event: Any, raw: bytes | None = None, source: dict[str, Any] | None = None
    ) -> DeadLetter | None:
        """Fold one decoded event model (any type of :data:`schemas.events.Event`).

        Never raises: when folding fails, the event is dead-lettered with
        reason ``processing_error`` (its ``raw`` bytes, else its JSON) and
        that dead letter is returned for the caller to publish; None when
        the event was folded.
        """
        try:
            self.apply(event, raw)
        except Exception as exc:
            data = raw if raw is not None else event.model_dump_json().encode()
            return self.failed(data, source or {}, exc)
        return None

    def apply(self, event: Any, raw: bytes | None = None) -> None:
        """Fold one decoded event model; raises whatever folding it raises (see :meth:`fold`).

        The event is counted in ``stats.events`` once it is folded.
        """
        kind: str = event.type
        if isinstance(event, ProbeEvent):
            if raw is None and self.reroute is not None:
                raw = event.model_dump_json().encode()
            self._fold_probes(_probe_columns([_probe_row(0, event)]), [raw or b""])
            return
        if self.forward is not None:
            self.forward(raw if raw is not None else event.model_dump_json().encode(), event)
        elif isinstance(event, IncidentEvent):
            self.book.add_incident(domain.incident_version(event))
        elif isinstance(event, ContractEvent):
            self.book.add_contract(domain.contract(event))
        elif isinstance(event, ClaimEvent):
            self.book.add_claim(domain.claim(event))
        else:
            self.tickets.append(event)
        events = self.stats.events
        events[kind] = events.get(kind, 0) + 1

    def reject(self, rej: Rejected, source: dict[str, Any]) -> DeadLetter:
        """The dead letter of bad input, counted by reason."""
        self.stats.dead_letters[rej.reason] = self.stats.dead_letters.get(rej.reason, 0) + 1
        return DeadLetter(rej.reason, rej.detail, rej.raw, source)

    def failed(self, raw: bytes, source: dict[str, Any], exc: BaseException) -> DeadLetter:
        """The dead letter of an event that could not be processed (``processing_error``).

        Its detail names the exception; the traceback is logged at INFO.
        """
        detail = exception_text(exc)
        log.info("event from %s not processed: %s", source, detail, exc_info=exc)
        return self.reject(Rejected("processing_error", detail, raw), source)


__all__ = ["DeadLetter", "FoldStats", "Folder"]
