"""Routing of the statement stage's inputs to its partitions (``streams.router``)."""

from __future__ import annotations

import json

import pytest

from streams import router, topics
from tests.helpers import claim, contract, incident

N = router.STATEMENT_PARTITIONS


def _raw(event: dict[str, object]) -> bytes:
    return json.dumps(event).encode()


def test_a_contract_and_its_claims_go_to_the_partition_of_the_contract() -> None:
    seen = set()
    for i in range(60):
        cid = f"PO-{i:04d}"
        con = _raw(contract(cid))
        cl = _raw(claim(f"CL-{i}", cid, "2026-03-05T10:00:00Z", []))
        [p] = router.targets(topics.CONTRACTS.name, con)
        assert router.targets(topics.CLAIMS.name, cl) == [p]
        assert p == router.contract_partition(cid)
        seen.add(p)
    # sixty contracts use every partition: the work is shared out
    assert seen == set(range(N))


def test_minute_states_and_valid_incidents_go_to_every_partition() -> None:
    states = json.dumps({"service": "api", "month": "2026-03"}).encode() + b"\n\x00"
    assert router.targets(topics.MINUTE_STATES.name, states) == list(range(N))
    good = _raw(incident("INC-1", ["api"], "2026-03-02T10:00:00Z", "2026-03-02T11:00:00Z"))
    assert router.targets(topics.INCIDENTS.name, good) == list(range(N))


def test_bad_input_tombstones_and_tickets_go_to_the_primary_only() -> None:
    primary = [router.PRIMARY]
    assert router.targets(topics.INCIDENTS.name, b"{not json") == primary
    assert router.targets(topics.INCIDENTS.name, _raw({"type": "incident"})) == primary
    assert router.targets(topics.CONTRACTS.name, b"[1, 2]") == primary
    assert router.targets(topics.CLAIMS.name, _raw({"type": "claim", "contract_id": ""})) == primary
    assert router.targets(topics.CONTRACTS.name, None) == primary
    ticket = _raw({"type": "ticket_opened", "ticket_id": "T-1"})
    assert router.targets(topics.TICKETS.name, ticket) == primary


def test_the_source_of_a_forwarded_message_is_read_back_from_its_headers() -> None:
    headers = router.source_headers(topics.CLAIMS.name, 0, 1234)
    want = {"topic": topics.CLAIMS.name, "partition": 0, "offset": 1234}
    assert router.source_of(headers) == want
    assert router.source_of(dict(headers)) == want
    assert router.source_of(None) == {}
    assert router.source_of([("other", b"x")]) == {}


@pytest.mark.parametrize(
    "poison",
    [
        [("src-topic", b"\xff\xfe"), ("src-partition", b"0"), ("src-offset", b"1")],
        [("src-topic", b"t"), ("src-partition", b"zero"), ("src-offset", b"1")],
        [("src-topic", b"t"), ("src-partition", b"0"), ("src-offset", b"")],
        [("src-topic", b"t"), ("src-partition", None), ("src-offset", b"1")],
    ],
    ids=["not utf-8", "not a number", "empty", "no value"],
)
def test_source_headers_that_do_not_read_name_no_source(
    poison: list[tuple[str, bytes | None]],
) -> None:
    """Any producer can write to the stage's input topic: its headers never raise."""
    assert router.source_of(poison) == {}  # type: ignore[arg-type]  # a header without value


@pytest.mark.parametrize("topic", [topics.CONTRACTS.name, topics.CLAIMS.name])
@pytest.mark.parametrize(
    "value",
    [
        b"[" * 60_000,  # under the event size limit, nested deeper than the parser goes
        b'{"contract_id": ' + b"[" * 30_000 + b"]" * 30_000 + b"}",
        b"\xff\xfe",
        b'{"type": "contract", "contract_id": "PO-\\udcff"}',  # JSON's escape, no UTF-8
        b'{"type": "claim", "contract_id": "PO-\\ud800", "claim_id": "C"}',
    ],
    ids=["deep", "deep contract_id", "not utf-8", "lone surrogate", "claim's lone surrogate"],
)
def test_a_contract_or_claim_that_does_not_read_goes_to_the_primary(
    topic: str, value: bytes
) -> None:
    """The router reads a contract id before the codec: it never raises, whatever it reads."""
    assert router.targets(topic, value) == [router.PRIMARY]
