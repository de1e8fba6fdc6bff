"""The typed month outputs are the whole wire form: read, then rendered, to the byte."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from pydantic import BaseModel

from devkit.book_of_business import book_contracts
from devkit.simulate import Scenario, default_as_of, write_jsonl
from fold.replay import iter_lines, replay_lines
from schemas import outputs
from schemas.codec import dumps_output
from sla import results
from sla.model import JSON, CreditTier
from sla.results import (
    ContractMonth,
    ResultError,
    ServiceMonth,
    read_contract_month,
    read_service_month,
    read_ticket_verdict,
    render,
)
from tests import samples

SCENARIO = Scenario(services=("api", "db"), regions=("eu-west-1", "us-east-1"), probe_days=20)


def _outputs(tmp_path: Path) -> list[JSON]:
    """A simulated month, and a book of 40 contracts of varied terms over it, at three instants.

    In progress (no data after day 20), in its finality window, and well after.
    """
    path = tmp_path / "month.jsonl"
    write_jsonl(SCENARIO, str(path))
    with path.open("rb") as fh:
        lines = [raw for _, raw in iter_lines(fh)]
    book = book_contracts(40, SCENARIO.services, SCENARIO.month)
    lines += [json.dumps(ev).encode() for ev in book]
    outputs: list[JSON] = []
    for as_of in (datetime(2026, 3, 25, 13, 7, 30, 250000, tzinfo=UTC), default_as_of(SCENARIO)):
        outputs += replay_lines(iter_lines(lines), as_of).outputs
    outputs += replay_lines(iter_lines(lines), datetime(2026, 6, 2, tzinfo=UTC)).outputs
    return outputs


def test_every_month_output_of_a_replay_reads_and_renders_to_the_same_text(
    tmp_path: Path,
) -> None:
    outputs = _outputs(tmp_path)
    seen: dict[str, set[Any]] = {k: set() for k in ("contract_month", "service_month", "ticket")}
    for out in outputs:
        if out["kind"] == "contract_month":
            statement = read_contract_month(out)
            assert render(statement) == dumps_output(out)
            assert read_contract_month(dumps_output(out).encode()) == statement
            seen["contract_month"].add(
                (statement.status, statement.credit_basis, statement.no_data_policy)
            )
        elif out["kind"] == "service_month":
            record = read_service_month(out)
            assert render(record) == dumps_output(out)
            assert read_service_month(dumps_output(out)) == record
            seen["service_month"].add(record.status)
        elif out["kind"] == "ticket_verdict":
            verdict = read_ticket_verdict(out)
            assert render(verdict) == dumps_output(out)
            assert read_ticket_verdict(dumps_output(out)) == verdict
            seen["ticket"].add((verdict.status, verdict.response_business_minutes is None))
    # the replays held what the classes must carry: every status, both bases and policies
    statuses = {s for s, _, _ in seen["contract_month"]}
    assert statuses == {"provisional", "final", "revised"}
    assert {b for _, b, _ in seen["contract_month"]} == {"platform", "per_service"}
    assert {p for _, _, p in seen["contract_month"]} == {"up", "down"}
    assert seen["service_month"] >= {"provisional", "final"}
    # verdicts with and without a response, met and breached
    assert {(s, r) for s, r in seen["ticket"] if s in ("met", "breached")} >= {
        ("met", False),
        ("breached", False),
    }
    assert any(no_response for _, no_response in seen["ticket"])


def test_the_figures_are_typed() -> None:
    statement = read_contract_month(samples.statement())
    assert statement.credit_amount == Decimal("100.00")
    assert statement.uptime_percent == Decimal("99.8879")
    assert statement.period_start == datetime(2026, 3, 1, tzinfo=UTC)
    assert statement.tiers() == (CreditTier(Decimal("99.9"), Decimal("10")),)
    assert statement.services["api"].monthly_charge == Decimal("1000.00")
    assert isinstance(statement, ContractMonth)
    with pytest.raises(AttributeError):
        statement.revision = 2  # type: ignore[misc]  # frozen: assigning is the point


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"credit_amount": "NaN"}, "credit_amount"),
        ({"credit_amount": True}, "credit_amount"),
        ({"uptime_percent": "ninety"}, "uptime_percent"),
        ({"computed_at": "2026-04-11T00:00:00"}, "computed_at"),  # an instant without its zone
        ({"credit_tiers": [{"below": "99.9", "credit_percent": "Infinity"}]}, "credit_percent"),
        ({"down_minutes": -5}, "down_minutes"),
        ({"revision": "1"}, "revision"),
        ({"revision": -1}, "revision"),
        ({"month": "2026-13"}, "month"),
        ({"status": "draft"}, "status"),
        ({"services": {"api": {"monthly_charge": "1000.00"}}}, "services"),
    ],
)
def test_what_is_not_the_wire_form_is_refused(change: JSON, why: str) -> None:
    with pytest.raises(ResultError, match=why):
        read_contract_month({**samples.statement(), **change})


def test_a_number_or_another_offset_is_read_exactly() -> None:
    """Not the wire's text, but nothing is lost: the digits, the instant."""
    wire = dumps_output(samples.statement())
    text = wire.replace('"credit_amount":"100.00"', '"credit_amount":100.10')
    assert read_contract_month(text).credit_amount == Decimal("100.10")
    offset = "2026-03-01T01:00:00+01:00"
    shifted = read_contract_month({**samples.statement(), "period_start": offset})
    assert shifted.period_start == datetime(2026, 3, 1, tzinfo=UTC)


def test_a_missing_field_or_another_kind_is_refused() -> None:
    incomplete = samples.statement()
    del incomplete["currency"]
    with pytest.raises(ResultError, match="currency"):
        read_contract_month(incomplete)
    with pytest.raises(ResultError, match="kind"):
        read_service_month(samples.statement())
    with pytest.raises(ResultError, match="not JSON"):
        read_contract_month(b"{not json")
    assert isinstance(read_service_month(samples.service_month()), ServiceMonth)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"response_business_minutes": "-1.00"}, "negative"),
        ({"response_business_minutes": "NaN"}, "finite"),
        ({"severity": "urgent"}, "severity"),
        ({"responded_at": "2026-03-10T10:00:00"}, "responded_at"),
        ({"kind": "ticket_alert"}, "kind"),
    ],
)
def test_what_is_not_a_ticket_verdict_is_refused(change: JSON, why: str) -> None:
    verdict = samples.ticket_verdict()
    assert read_ticket_verdict(verdict).response_business_minutes == Decimal("60.00")
    with pytest.raises(ResultError, match=why):
        read_ticket_verdict({**verdict, **change})


@pytest.mark.parametrize(
    ("typed", "wire"),
    [
        (results.ContractMonth, outputs.ContractMonthStatement),
        (results.ServiceFigures, outputs.ServiceFigures),
        (results.Period, outputs.DowntimePeriod),
        (results.Tier, outputs.CreditTierOut),
        (results.Reading, outputs.Reading),
        (results.IncidentNote, outputs.IncidentNote),
        (results.ServiceMonth, outputs.ServiceMonthRecord),
        (results.Intervals, outputs.MinuteIntervals),
        (results.ExcludedInterval, outputs.ExcludedInterval),
        (results.TicketVerdict, outputs.TicketVerdictRecord),
    ],
)
def test_the_typed_values_and_the_wire_models_name_the_same_fields(
    typed: type[msgspec.Struct], wire: type[BaseModel]
) -> None:
    """Two descriptions of one output: a field added to one alone fails here."""
    assert {f.name for f in msgspec.structs.fields(typed)} == set(wire.model_fields)
