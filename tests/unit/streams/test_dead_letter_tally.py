"""The dead-letter count: each source once, by reason, whatever the topic holds."""

from __future__ import annotations

import json

import pytest

from streams.deadletters import DeadLetterTally


def _letter(reason: str) -> bytes:
    return json.dumps({"reason": reason, "detail": "x"}).encode()


def test_each_source_counts_once_by_its_reason() -> None:
    tally = DeadLetterTally("127.0.0.1:1")  # never connects: add() is the whole count
    tally.add(b"probes|0|1", _letter("invalid_json"))
    tally.add(b"probes|0|1", _letter("invalid_json"))  # written again after a crash
    tally.add(b"probes|0|2", _letter("out_of_range"))
    tally.add(None, _letter("out_of_range"))  # no key: counted each time
    tally.add(b"probes|0|3", None)  # a tombstone is no dead letter
    assert tally.counts() == {"invalid_json": 1, "out_of_range": 2}


@pytest.mark.parametrize(
    "value",
    [
        b"not json",
        b"[1]",
        b"\xff\xfe",
        b"[" * 200_000,  # nested deeper than the parser goes
        b'{"reason": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    ],
    ids=["not json", "not an object", "not utf-8", "deep", "deep reason"],
)
def test_a_message_that_is_no_dead_letter_counts_as_unknown(value: bytes) -> None:
    """Anyone can write to the topic; the count reads on (it once started again, forever)."""
    tally = DeadLetterTally("127.0.0.1:1")
    tally.add(b"k", value)
    tally.add(b"k2", _letter("oversize"))
    assert tally.counts() == {"unknown": 1, "oversize": 1}
