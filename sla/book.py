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

from sla.model import Claim, Contract, IncidentVersion
from sla.months import Month, month_bounds, month_of_minute
from sla.probes import MinuteSource, MinuteStates, ProbeLedger, ProbePolicy
from sla.timeutil import EPOCH

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
        """Keep ``states`` for a service-month unless a newer version is held; True if kept."""
        held = self.ledgers.get((service, month))
        if isinstance(held, MinuteStates) and held.version >= states.version:
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
        self.incidents[version.incident_id][version.rank] = version
        for s in version.services:
            self.incidents_by_service[s].add(version.incident_id)

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
        """Every incident that ever named ``service``: all its versions, best first."""
        out = []
        for iid in sorted(self.incidents_by_service.get(service, ())):
            versions = self.incidents[iid]
            out.append([versions[k] for k in sorted(versions, reverse=True)])
        return out

    def probe_months(self) -> list[tuple[str, Month]]:
        """Every (service, UTC month) holding at least one probe, sorted."""
        return sorted(self.ledgers)
