"""The billing consumer's book: idempotent under reordering, duplicates and old revisions."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from streams import topics
from tests.helpers import claim, contract, one, probes_every_minute
from tools.creditbook import CreditBook, table

ST = topics.STATEMENTS.name
CD = topics.CLAIM_DECISIONS.name
AS_OF = "2026-05-01T00:00:00Z"

EVENTS = [
    contract("PO-9", services={"api": "1000.00"}),
    *probes_every_minute("api", "2026-03-10T00:00:00Z", 50, ok=False),
    claim(
        "CLM-1", "PO-9", "2026-03-12T00:00:00Z", [("2026-03-10T00:00:00Z", "2026-03-10T01:00:00Z")]
    ),
]


def _statement() -> dict[str, Any]:
    return one(EVENTS, AS_OF, "contract_month", contract_id="PO-9", month="2026-03")


def _decision() -> dict[str, Any]:
    return one(EVENTS, AS_OF, "claim_decision", claim_id="CLM-1")


def _b(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj).encode()


def _variant(st: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**st, **changes}


def test_a_statement_from_the_pipeline_becomes_a_credit_row() -> None:
    st = _statement()
    assert (st["status"], st["revision"], st["credit_amount"]) == ("final", 0, "100.00")
    book = CreditBook()
    row = book.apply(ST, 2, 10, _b(st))
    assert row is not None
    assert row == {
        "kind": "credit",
        "contract_id": "PO-9",
        "client_id": "client-1",
        "month": "2026-03",
        "status": "final",
        "revision": 0,
        "uptime_percent": st["uptime_percent"],
        "meets_target": False,
        "credit_percent": "10",
        "credit_amount": "100.00",
        "currency": "GBP",
        "claimed_amount": None,
        "claims": [],
    }
    assert book.position(ST, 2) == 11
    assert book.position(ST, 0) is None


def test_a_higher_revision_replaces_and_an_older_one_never_does() -> None:
    r0 = _statement()
    r1 = _variant(r0, status="revised", revision=1, credit_amount="0.00", credit_percent="0")
    book = CreditBook()
    assert book.apply(ST, 0, 1, _b(r0)) is not None
    assert book.apply(ST, 0, 2, _b(r1)) is not None
    # redelivered revision 0 (at a later offset after a producer retry, or the same one)
    assert book.apply(ST, 0, 3, _b(r0)) is None
    assert book.apply(ST, 0, 1, _b(r0)) is None
    [row] = book.rows()
    assert (row["revision"], row["status"], row["credit_amount"]) == (1, "revised", "0.00")


def test_an_equal_final_revision_replaces_nothing() -> None:
    r0 = _statement()
    changed = _variant(r0, credit_amount="999.00", computed_at="2026-06-01T00:00:00Z")
    book = CreditBook()
    book.apply(ST, 0, 1, _b(r0))
    assert book.apply(ST, 0, 2, _b(changed)) is None
    assert book.rows()[0]["credit_amount"] == "100.00"


def test_provisional_figures_follow_the_latest_computation_until_final() -> None:
    final = _statement()
    early = _variant(
        final, status="provisional", credit_amount="40.00", computed_at="2026-03-10T00:20:00Z"
    )
    later = _variant(
        final, status="provisional", credit_amount="100.00", computed_at="2026-03-10T00:50:00Z"
    )
    book = CreditBook()
    assert book.apply(ST, 1, 5, _b(early)) is not None
    assert book.apply(ST, 1, 6, _b(later)) is not None
    assert book.apply(ST, 1, 7, _b(early)) is None  # an older computation, redelivered
    assert book.apply(ST, 1, 8, _b(final)) is not None
    assert book.apply(ST, 1, 9, _b(later)) is None  # never back from final to provisional
    assert book.rows()[0]["status"] == "final"
    # same computed_at (a fixed clock): the later offset of the one partition wins
    a = _variant(early, credit_amount="1.00")
    b = _variant(early, credit_amount="2.00")
    book = CreditBook()
    book.apply(ST, 1, 5, _b(a))
    assert book.apply(ST, 1, 4, _b(b)) is None
    assert book.apply(ST, 1, 6, _b(b)) is not None
    assert book.rows()[0]["credit_amount"] == "2.00"


def _messages() -> list[tuple[str, int, int, bytes]]:
    r0 = _statement()
    r1 = _variant(r0, status="revised", revision=1, credit_amount="0.00")
    prov = _variant(r0, status="provisional", computed_at="2026-03-10T00:20:00Z")
    other = _variant(r0, month="2026-04", status="provisional", credit_amount="0.00")
    dec = _decision()
    old_dec = _variant(dec, decision="rejected", computed_at="2026-03-12T00:00:00Z")
    return [
        (ST, 0, 1, _b(prov)),
        (ST, 0, 2, _b(r0)),
        (ST, 0, 3, _b(r1)),
        (ST, 3, 1, _b(other)),
        (CD, 0, 1, _b(old_dec)),
        (CD, 0, 2, _b(dec)),
    ]


def test_any_order_and_any_duplicates_give_the_same_book() -> None:
    msgs = _messages()
    want = CreditBook()
    for m in msgs:
        want.apply(*m)
    expected = want.rows()
    assert [(r["kind"], r.get("month"), r.get("revision")) for r in expected] == [
        ("credit", "2026-03", 1),
        ("credit", "2026-04", 0),
        ("claim", None, 0),
    ]
    for order in itertools.permutations(msgs):
        book = CreditBook()
        for m in (*order, *order[:3]):
            book.apply(*m)
        assert book.rows() == expected
        assert book.positions == want.positions


def test_a_decision_of_a_higher_revision_replaces_and_a_lower_one_never_does() -> None:
    d0 = _decision()
    assert d0["revision"] == 0
    d1 = _variant(d0, revision=1, credit_total="0.00", computed_at="2026-04-01T00:00:00Z")
    book = CreditBook()
    assert book.apply(CD, 0, 5, _b(d1)) is not None
    # revision 0 computed later and read later still loses: the revision orders decisions
    late = _variant(d0, computed_at="2026-06-01T00:00:00Z")
    assert book.apply(CD, 0, 6, _b(late)) is None
    assert book.claims["CLM-1"]["revision"] == 1
    assert book.claims["CLM-1"]["credit_total"] == "0.00"
    d2 = _variant(d0, revision=2, computed_at="2026-03-01T00:00:00Z")
    assert book.apply(CD, 0, 7, _b(d2)) is not None
    assert book.claims["CLM-1"]["credit_total"] == d0["credit_total"]
    # a decision from a worker before revisions counts as revision 0
    legacy = {k: v for k, v in d0.items() if k != "revision"}
    assert book.apply(CD, 0, 8, _b(legacy)) is None
    assert book.apply(CD, 0, 9, _b(_variant(d0, revision=-1))) is None
    assert book.skipped == 1


def test_accepted_claims_show_against_their_month() -> None:
    dec = _decision()
    assert dec["decision"] == "accepted"
    book = CreditBook()
    book.apply(ST, 0, 1, _b(_statement()))
    claim_row = book.apply(CD, 0, 1, _b(dec))
    assert claim_row is not None
    assert (claim_row["kind"], claim_row["claim_id"], claim_row["decision"]) == (
        "claim",
        "CLM-1",
        "accepted",
    )
    [credit, _] = book.rows()
    assert (credit["claimed_amount"], credit["claims"]) == (
        dec["credits"][0]["credit_amount"],
        ["CLM-1"],
    )
    # a later decision (recomputed, now rejected) replaces it; an older one does not come back
    rejected = _variant(dec, decision="rejected", computed_at="2026-06-01T00:00:00Z")
    assert book.apply(CD, 0, 2, _b(rejected)) is not None
    assert book.apply(CD, 0, 3, _b(dec)) is None
    assert book.rows()[0]["claimed_amount"] is None


@pytest.mark.parametrize(
    "value",
    [
        b"{not json",
        b"[1, 2]",
        json.dumps({"kind": "contract_month", "contract_id": "PO-1"}).encode(),
        json.dumps({**_statement(), "revision": "1"}).encode(),
        json.dumps({**_statement(), "credit_amount": 100.0}).encode(),
        json.dumps({**_statement(), "status": "draft"}).encode(),
        json.dumps({**_decision(), "credits": [{"month": "2026-03"}]}).encode(),
        b"\xff\xfe not UTF-8",
        b"[" * 200_000,  # nested deeper than any JSON parser goes
        b'{"kind": "contract_month", "month": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    ],
)
def test_unreadable_records_are_counted_and_skipped(value: bytes) -> None:
    book = CreditBook()
    assert book.apply(ST, 0, 7, value) is None
    assert (book.skipped, book.rows(), book.position(ST, 0)) == (1, [], 8)


def test_a_tombstone_changes_nothing_and_forgets_no_credit() -> None:
    book = CreditBook()
    statement = _statement()
    assert book.apply(ST, 0, 0, _b(statement)) is not None
    rows = book.rows()
    assert book.apply(ST, 0, 1, None) is None
    assert (book.skipped, book.rows(), book.position(ST, 0)) == (0, rows, 2)


def test_other_output_kinds_are_ignored() -> None:
    book = CreditBook()
    service_month = one(EVENTS, AS_OF, "service_month", service="api")
    assert book.apply(ST, 0, 0, _b(service_month)) is None
    assert (book.skipped, book.rows()) == (0, [])


def test_state_survives_a_restart_at_any_point(tmp_path: Path) -> None:
    msgs = _messages()
    want = CreditBook()
    for m in msgs:
        want.apply(*m)
    path = tmp_path / "state" / "billing.json"
    for cut in range(len(msgs) + 1):
        path.unlink(missing_ok=True)
        book = CreditBook.load(path)
        for m in msgs[:cut]:
            book.apply(*m)
        book.save(path)
        resumed = CreditBook.load(path)
        # a restart resumes where the state says and sees the rest (plus a redelivery)
        for m in msgs[max(0, cut - 1) :]:
            resumed.apply(*m)
        assert resumed.to_json() == want.to_json()
    assert not list(path.parent.glob("*.tmp"))


def test_an_unknown_state_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text('{"format": 99}', encoding="utf-8")
    with pytest.raises(ValueError, match="unknown billing state format"):
        CreditBook.load(path)


def test_table_shows_the_credits() -> None:
    book = CreditBook()
    book.apply(ST, 0, 1, _b(_statement()))
    book.apply(CD, 0, 1, _b(_decision()))
    lines = table(book.rows()).splitlines()
    assert lines[0] == "Credits"
    assert lines[1].split() == [
        "contract",
        "month",
        "status",
        "uptime",
        "%",
        "credit",
        "%",
        "credit",
        "claimed",
        "claims",
    ]
    assert lines[2].split()[:4] == ["PO-9", "2026-03", "final", "r0"]
    assert "100.00 GBP" in lines[2]
    assert lines[2].endswith("CLM-1")
