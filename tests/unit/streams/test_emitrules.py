"""The statement stage's rules: whether an output changed, its revision, what waits.

Pure functions of an output and the record of what was last published under
its key; the stage tests (``test_statement_stage.py``) hold them through a
stage, these hold each case of each rule.
"""

from __future__ import annotations

import pytest

from sla.model import JSON
from streams.emitrules import (
    content_digest,
    coverage_free_digest,
    held_until_caught_up,
    with_revision,
)
from tests.samples import service_month, statement


def _record(out: JSON, **change: object) -> JSON:
    """The record the stage keeps of a published output (``StatementStage.confirm``)."""
    return {
        "digest": content_digest(out),
        "revision": out.get("revision"),
        "status": out.get("status"),
        **change,
    }


def _decision(revision: int = 0, decision: str = "accepted") -> JSON:
    return {
        "kind": "claim_decision",
        "claim_id": "CL-1",
        "contract_id": "PO-9",
        "decision": decision,
        "credits": [{"month": "2026-03", "credit_amount": "100.00"}],
        "credit_total": "100.00",
        "currency": "GBP",
        "revision": revision,
        "computed_at": "2026-04-11T00:00:00Z",
    }


# -- content_digest -----------------------------------------------------------------


def test_the_digest_leaves_out_status_revision_and_times_and_nothing_else() -> None:
    out = statement()
    moved = {
        **out,
        "status": "revised",
        "revision": 4,
        "computed_at": "2026-05-01T00:00:00Z",
        "finalizes_at": "2026-05-01T00:00:00Z",
    }
    assert content_digest(moved) == content_digest(out)
    assert content_digest({**out, "credit_amount": "100.01"}) != content_digest(out)
    services = statement()["services"]
    services["api"]["no_data_periods"] = [["2026-03-01T00:00:00Z", "2026-03-01T00:01:00Z"]]
    assert content_digest({**out, "services": services}) != content_digest(out)


# -- coverage_free_digest -----------------------------------------------------------


def _provisional() -> JSON:
    return {**statement(), "status": "provisional"}


def test_coverage_moving_leaves_the_coverage_free_digest_as_it_was() -> None:
    out = _provisional()
    later = _provisional()
    later.update(up_minutes=44591, elapsed_minutes=44641, remaining_minutes=0)
    later.update(data_minutes=44600, coverage_percent="99.9104", no_data_minutes=40)
    later["readings"] = [{"reading": "no_data_down"}]
    later["computed_at"] = "2026-03-20T00:00:00Z"
    later["services"]["api"].update(up_minutes=44591, no_data_minutes=40)
    later["services"]["api"]["coverage_percent"] = "99.9104"
    later["services"]["api"]["no_data_periods"] = [["2026-03-02T00:00:00Z", "2026-03-02T00:40:00Z"]]
    assert content_digest(later) != content_digest(out)
    assert coverage_free_digest(later) == coverage_free_digest(out) is not None


@pytest.mark.parametrize(
    "change",
    [
        {"counted_downtime_minutes": 51},
        {"credit_amount": "110.00"},
        {"meets_target": True},
        {"contract_revision": 1},
    ],
)
def test_a_change_to_what_a_consumer_acts_on_moves_the_coverage_free_digest(
    change: JSON,
) -> None:
    out = _provisional()
    assert coverage_free_digest({**out, **change}) != coverage_free_digest(out)


def test_a_service_s_downtime_moves_the_coverage_free_digest() -> None:
    out = _provisional()
    later = _provisional()
    later["services"]["api"]["down_minutes"] = 51
    assert coverage_free_digest(later) != coverage_free_digest(out)


def test_a_service_month_s_counted_runs_count_and_its_no_data_runs_do_not() -> None:
    out = {**service_month(), "status": "provisional"}
    silent = {**out, "intervals": {**out["intervals"], "no_data": [["a", "b"]]}}
    down = {**out, "intervals": {**out["intervals"], "counted": []}}
    assert coverage_free_digest(silent) == coverage_free_digest(out) is not None
    assert coverage_free_digest(down) != coverage_free_digest(out)


@pytest.mark.parametrize(
    "out",
    [statement(), {**statement(), "status": "revised"}, _decision()],
    ids=["final", "revised", "claim decision"],
)
def test_only_provisional_statements_and_records_have_a_coverage_free_digest(
    out: JSON,
) -> None:
    assert coverage_free_digest(out) is None


# -- held_until_caught_up -----------------------------------------------------------


@pytest.mark.parametrize(
    ("out", "held"),
    [
        (statement(), True),
        ({**statement(), "status": "revised"}, True),
        (_provisional(), False),
        ({**service_month(), "status": "provisional"}, False),
        (_decision(), True),
        ({"kind": "ticket_alert", "ticket_id": "TKT-1"}, True),
        ({"kind": "ticket_verdict", "ticket_id": "TKT-1", "status": "open"}, False),
    ],
    ids=[
        "final",
        "revised",
        "provisional",
        "provisional record",
        "claim decision",
        "ticket alert",
        "ticket verdict",
    ],
)
def test_what_waits_until_every_input_is_read(out: JSON, held: bool) -> None:
    assert held_until_caught_up(out) is held


# -- with_revision ------------------------------------------------------------------


def test_a_first_publication_keeps_the_core_s_revision_and_status() -> None:
    out = {**statement(), "revision": 2, "status": "revised"}
    assert with_revision(out, None, content_digest(out)) is out
    provisional = _provisional()
    assert with_revision(provisional, None, content_digest(provisional)) is provisional


def test_a_final_statement_published_again_unchanged_keeps_its_revision() -> None:
    out = statement()
    assert with_revision(out, _record(out), content_digest(out)) is out


def test_a_final_statement_whose_content_changed_is_the_next_revision() -> None:
    published = statement()
    later = {**statement(), "counted_downtime_minutes": 51}  # a late probe: same knowledge
    got = with_revision(later, _record(published), content_digest(later))
    assert (got["status"], got["revision"]) == ("revised", 1)
    assert got["counted_downtime_minutes"] == 51
    # after a revision: the next one again
    again = {**statement(), "counted_downtime_minutes": 52, "revision": 1, "status": "revised"}
    got = with_revision(again, _record(got), content_digest(again))
    assert (got["status"], got["revision"]) == ("revised", 2)


def test_a_knowledge_time_revision_beyond_the_next_is_kept() -> None:
    published = statement()
    later = {**statement(), "counted_downtime_minutes": 51, "revision": 3, "status": "revised"}
    got = with_revision(later, _record(published), content_digest(later))
    assert (got["status"], got["revision"]) == ("revised", 3)


def test_a_statement_never_goes_below_the_revision_last_published() -> None:
    """A stage made anew computes revision 0 of a month published as revision 2."""
    out = statement()
    record = _record(out, revision=2, status="revised")
    got = with_revision(out, record, content_digest(out))
    assert (got["status"], got["revision"]) == ("revised", 2)
    # the same when only the revision is asked for (the content is known unchanged)
    got = with_revision(out, record)
    assert (got["status"], got["revision"]) == ("revised", 2)


def test_a_provisional_statement_that_changed_is_not_revised() -> None:
    published = _provisional()
    later = {**_provisional(), "counted_downtime_minutes": 51}
    assert with_revision(later, _record(published), content_digest(later)) is later


def test_a_claim_decision_starts_at_zero_and_moves_only_when_it_changes() -> None:
    first = _decision()
    assert with_revision(first, None, content_digest(first))["revision"] == 0
    published = with_revision(first, None, content_digest(first))
    again = _decision()
    assert with_revision(again, _record(published), content_digest(again))["revision"] == 0
    changed = _decision(decision="rejected")
    moved = with_revision(changed, _record(published), content_digest(changed))
    assert moved["revision"] == 1
    assert "status" not in moved
    # unchanged after that: stays at 1; changed again: 2
    assert with_revision(changed, _record(moved), content_digest(changed))["revision"] == 1
    back = _decision()
    assert with_revision(back, _record(moved), content_digest(back))["revision"] == 2


def test_a_claim_decision_known_unchanged_keeps_the_revision_last_published() -> None:
    out = _decision()
    record = _record(out, revision=3)
    assert with_revision(out, record)["revision"] == 3
    # a record from before decisions had revisions counts as revision 0
    assert with_revision(out, {**record, "revision": None})["revision"] == 0
