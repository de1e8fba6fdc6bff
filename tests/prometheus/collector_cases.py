"""Helpers the collector's tests share: a registry around a state, a state written by hand."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry

from sinks import metrics as m
from sinks.metrics import AvailabilityCollector, PipelineStats
from sla.model import JSON
from tests import samples
from tests.prometheus.conftest import NOW

__all__ = ["MARCH", "FakeState", "registry_for", "statement", "value"]

MARCH = {"contract_id": "PO-1", "month": "2026-03"}


def registry_for(
    state: m.PipelineState, now: datetime = NOW, count_history: bool = True
) -> tuple[CollectorRegistry, AvailabilityCollector]:
    registry = CollectorRegistry()
    collector = AvailabilityCollector(state, lambda: now, count_history=count_history)
    registry.register(collector)
    return registry, collector


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


class FakeState:
    """Statements written by hand; ``update`` replaces them between scrapes."""

    def __init__(self, statements: Iterable[JSON]) -> None:
        self.items = list(statements)

    def statements(self) -> list[JSON]:
        return self.items

    def service_months(self) -> list[JSON]:
        return []

    def pipeline(self) -> PipelineStats:
        return PipelineStats()


def statement(counted: int, excluded: int, revision: int = 0, **extra: Any) -> JSON:
    """A whole March statement of PO-1 (:func:`tests.samples.statement`), these figures changed.

    The default credit tiers (10 % below 99.9 %, 30 % below 99 %) unless
    ``credit_tiers`` is given; nothing owed.
    """
    st = samples.statement()
    st.update(
        {
            "contract_id": "PO-1",
            "down_minutes": counted + excluded,
            "counted_downtime_minutes": counted,
            "excluded_minutes": {"aws": excluded},
            "no_data_minutes": 0,
            "credit_tiers": [
                {"below": "99.9", "credit_percent": "10"},
                {"below": "99", "credit_percent": "30"},
            ],
            "meets_target": 1000 * counted <= 44640,
            "credit_percent": "0",
            "credit_amount": "0.00",
            "status": "provisional" if revision == 0 else "revised",
            "revision": revision,
        }
    )
    st.update(extra)
    return st
