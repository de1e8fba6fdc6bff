"""When the audit trail says an event was received (``streams.sinkwrites.received_at``)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from streams.sinkwrites import received_at

CLOCK = datetime(2026, 5, 1, tzinfo=UTC)


def _clock() -> datetime:
    return CLOCK


@pytest.mark.parametrize(
    ("stamp", "at"),
    [
        (1_773_100_800.5, datetime(2026, 3, 10, 0, 0, 0, 500_000, tzinfo=UTC)),
        (7_258_118_399.0, datetime(2199, 12, 31, 23, 59, 59, tzinfo=UTC)),  # the last year
        (None, CLOCK),  # no timestamp
        (0.0, CLOCK),
        (-1.0, CLOCK),  # what a client reports for none
        (7_258_118_400.0, CLOCK),  # 2200-01-01: past the accepted range
        (253_402_300_800.0, CLOCK),  # year 10000: a broker takes it, no datetime holds it
        (1e300, CLOCK),
    ],
)
def test_the_kafka_timestamp_within_the_accepted_range_else_the_clock(
    stamp: float | None, at: datetime
) -> None:
    assert received_at(stamp, _clock) == at
