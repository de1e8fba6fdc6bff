"""The fold: every fact the rules need, kept as sets (SPEC sections 2-3).

A :class:`Book` is the state of the whole pipeline in one process: probe
ledgers keyed by service and UTC month, and every version of every
incident, contract and claim. Adding the same event twice changes nothing;
adding events in any order gives the same state. The streaming worker keeps
the same pieces in its tables; replay keeps them here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sla.model import Claim, Contract, IncidentVersion
from sla.months import Month, month_bounds, month_of_minute
from sla.probes import MinuteSource, MinuteStates, ProbeLedger, ProbePolicy
from sla.timeutil import EPOCH

if TYPE_CHECKING:
    from sla.summaries import Evaluator

Rank = tuple[int, bytes, bytes]


@dataclass(frozen=True, slots=True)
class Settings:
    """Pipeline-wide rule settings (the contract-level ones live on :class:`Contract`)."""

    probe_policy: ProbePolicy = field(default_factory=ProbePolicy)
    finalize_after: timedelta = timedelta(hours=72)
    claim_window: timedelta = timedelta(days=60)


class Book:
    """Mutable fold state; see the module docstring. Not thread-safe."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.ledgers: dict[tuple[str, Month], MinuteSource] = {}
        self.incidents: dict[str, dict[Rank, IncidentVersion]] = defaultdict(dict)
        self.incidents_by_service: dict[str, set[str]] = defaultdict(set)
        #: raised whenever an incident version naming the service is added, so
        #: shared results (:mod:`sla.summaries`) know when to recompute
        self.incident_stamp: dict[str, int] = {}
        self._stamp = 0
        self._versions: dict[str, tuple[int, list[list[IncidentVersion]]]] = {}
        #: the shared results of this book (:func:`sla.summaries.evaluator`)
        self.evaluator: Evaluator | None = None
        self.contracts: dict[str, dict[Rank, Contract]] = defaultdict(dict)
        self.claims: dict[str, dict[tuple[datetime, bytes, bytes], Claim]] = defaultdict(dict)
        self._month_of_minute: dict[int, tuple[Month, int, int]] = {}
        self._hot: dict[tuple[str, int], ProbeLedger] = {}
        #: where each probe ledger lives, by object identity
        self.ledger_keys: dict[int, tuple[str, Month]] = {}
        #: called to load a service-month's ledger from durable storage on first use
        self.loader: Callable[[str, Month, ProbeLedger], None] | None = None

    # -- adding facts -------------------------------------------------------

    def ledger_for(self, service: str, minute: int) -> ProbeLedger:
        """The ledger holding ``minute`` of ``service``, created on first use."""
        day = minute // 1440
        info = self._month_of_minute.get(day)
        if info is None:
            month = month_of_minute(minute)
            first, end = month_bounds(month)
            info = self._month_of_minute[day] = (month, first, end)
        key = (service, info[0])
        led = self.ledgers.get(key)
        if led is None:
            led = self.ledgers[key] = ProbeLedger(info[1], info[2] - info[1])
            self.ledger_keys[id(led)] = key
            if self.loader is not None:
                self.loader(service, info[0], led)
        if not isinstance(led, ProbeLedger):
            raise TypeError(f"{service} {info[0]} holds received minute states, not probes")
        return led

    def set_minute_states(self, service: str, month: Month, states: MinuteStates) -> bool:
        """Keep ``states`` for a service-month unless a newer version is held; True if kept.

        A newer version with the same minute states only raises the held
        version (False: nothing changed).
        """
        held = self.ledgers.get((service, month))
        if isinstance(held, MinuteStates):
            if held.version >= states.version:
                return False
            if held.same_minutes(states):
                # more probes, the same minute states (a second passing probe in a
                # minute already up): the held array stays, so every result computed
                # from it (compared by identity) stays valid and nothing is recomputed
                held.version = states.version
                return False
        self.ledgers[(service, month)] = states
        return True

    def add_probe(
        self, service: str, region: str, observed_at: datetime, ok: bool, event_id: str
    ) -> None:
        """Fold one probe result observed at an aware instant."""
        d = observed_at - EPOCH
        self.add_probe_minute(service, region, d.days * 1440 + d.seconds // 60, ok, event_id)

    def add_probe_minute(
        self, service: str, region: str, minute: int, ok: bool, event_id: str
    ) -> None:
        """Fold one probe result in epoch minute ``minute`` (the hot path: kept lean)."""
        key = (service, minute // 1440)
        led = self._hot.get(key)
        if led is None:
            led = self._hot[key] = self.ledger_for(service, minute)
        led.add(region, minute, event_id, ok)

    def add_incident(self, version: IncidentVersion) -> None:
        """Fold one incident revision (an upsert; every version is kept)."""
        versions = self.incidents[version.incident_id]
        if version.rank in versions:
            return
        versions[version.rank] = version
        # a new version can change every service the incident ever named
        self._stamp += 1
        named = set(version.services)
        for v in versions.values():
            named.update(v.services)
        for s in named:
            self.incidents_by_service[s].add(version.incident_id)
            self.incident_stamp[s] = self._stamp

    def add_contract(self, contract: Contract) -> None:
        """Fold one contract revision (an upsert)."""
        self.contracts[contract.contract_id][contract.rank] = contract

    def add_claim(self, claim: Claim) -> None:
        """Fold one claim submission (the latest ``submitted_at`` per ``claim_id`` wins)."""
        self.claims[claim.claim_id][claim.rank] = claim

    # -- reading ------------------------------------------------------------

    def contract(self, contract_id: str) -> Contract | None:
        """The winning revision of a contract, if any."""
        versions = self.contracts.get(contract_id)
        if not versions:
            return None
        return versions[max(versions)]

    def claim(self, claim_id: str) -> Claim:
        versions = self.claims[claim_id]
        return versions[max(versions)]

    def incident_versions(self, service: str) -> list[list[IncidentVersion]]:
        """Every incident that ever named ``service``: all its versions, best first.

        The list is shared until the next incident version for ``service``
        arrives: callers must not change it.
        """
        stamp = self.incident_stamp.get(service, 0)
        held = self._versions.get(service)
        if held is not None and held[0] == stamp:
            return held[1]
        out = []
        for iid in sorted(self.incidents_by_service.get(service, ())):
            versions = self.incidents[iid]
            out.append([versions[k] for k in sorted(versions, reverse=True)])
        self._versions[service] = (stamp, out)
        return out
