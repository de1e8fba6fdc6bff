"""Which topic and key ``availability produce`` gives each line of a file."""

from __future__ import annotations

import json

import pytest

from streams import topics
from tests.helpers import contract, incident
from tools.produce import route


def test_an_event_goes_to_its_type_s_topic_under_its_key() -> None:
    ev = contract("PO-7")
    assert route(json.dumps(ev).encode()) == (topics.CONTRACTS.name, topics.event_key(ev))
    inc = incident("I-1", ["api"], "2026-03-05T10:00:00Z", None)
    assert route(json.dumps(inc).encode()) == (topics.INCIDENTS.name, topics.event_key(inc))


@pytest.mark.parametrize(
    "line",
    [
        b"{not json",
        b"\xff\xfe",
        b"[1, 2]",
        b'{"type": "mystery"}',
        b"[" * 200_000,  # nested deeper than the parser goes
        b'{"type": "contract", "contract_id": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    ],
    ids=["not json", "not utf-8", "not an object", "unknown type", "deep", "deep field"],
)
def test_a_line_that_names_no_topic_goes_to_the_probes_for_the_worker_to_dead_letter(
    line: bytes,
) -> None:
    assert route(line) == (topics.PROBES.name, b"unroutable")
