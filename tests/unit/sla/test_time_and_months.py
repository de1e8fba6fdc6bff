"""SPEC section 1: minutes, rounding, months in any timezone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sla.months import Month, minutes_in_month, month_bounds, month_of_minute
from sla.timeutil import (
    NaiveDatetimeError,
    epoch_minute,
    format_minute,
    parse_instant,
    round_minute,
)


def test_probe_at_last_microsecond_stays_in_its_minute() -> None:
    t = parse_instant("2026-03-05T10:03:59.999999Z")
    assert format_minute(epoch_minute(t)) == "2026-03-05T10:03:00Z"
    assert format_minute(epoch_minute(t + timedelta(microseconds=1))) == "2026-03-05T10:04:00Z"


def test_offsets_are_converted_to_utc() -> None:
    t = parse_instant("2026-03-29T02:30:00+01:00")
    assert format_minute(epoch_minute(t)) == "2026-03-29T01:30:00Z"


@pytest.mark.parametrize(
    ("text", "rounded"),
    [
        ("2026-03-05T10:10:29Z", "2026-03-05T10:10:00Z"),
        ("2026-03-05T10:10:29.999Z", "2026-03-05T10:10:00Z"),
        ("2026-03-05T10:10:30Z", "2026-03-05T10:11:00Z"),
        ("2026-03-05T10:10:59Z", "2026-03-05T10:11:00Z"),
        ("2026-03-05T10:10:00Z", "2026-03-05T10:10:00Z"),
    ],
)
def test_nearest_minute_rounding(text: str, rounded: str) -> None:
    assert format_minute(round_minute(parse_instant(text))) == rounded


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(NaiveDatetimeError):
        epoch_minute(datetime(2026, 3, 5, 10, 0))  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="offset"):
        parse_instant("2026-03-05T10:00:00")


@pytest.mark.parametrize(
    ("month", "tz", "minutes"),
    [
        (Month(2026, 1), "UTC", 44_640),
        (Month(2026, 4), "UTC", 43_200),
        (Month(2026, 2), "UTC", 40_320),
        (Month(2028, 2), "UTC", 41_760),
        (Month(2024, 2), "UTC", 41_760),
        (Month(2100, 2), "UTC", 40_320),
        (Month(2026, 3), "Europe/London", 44_580),
        (Month(2026, 10), "Europe/London", 44_700),
        (Month(2026, 7), "Europe/London", 44_640),
        (Month(2026, 3), "America/New_York", 44_580),
        (Month(2026, 11), "America/New_York", 43_260),
    ],
)
def test_month_lengths(month: Month, tz: str, minutes: int) -> None:
    assert minutes_in_month(month, tz) == minutes


def test_london_month_boundaries_follow_local_midnight() -> None:
    a, b = month_bounds(Month(2026, 4), "Europe/London")
    assert format_minute(a) == "2026-03-31T23:00:00Z"
    assert format_minute(b) == "2026-04-30T23:00:00Z"
    # a minute belongs to the month containing its start instant
    last_march_minute = epoch_minute(datetime(2026, 3, 31, 22, 59, tzinfo=UTC))
    assert month_of_minute(last_march_minute, "Europe/London") == Month(2026, 3)
    assert month_of_minute(last_march_minute + 1, "Europe/London") == Month(2026, 4)


def test_month_parse_and_navigation() -> None:
    assert Month.parse("2026-12").next() == Month(2027, 1)
    assert Month.parse("2026-01").prev() == Month(2025, 12)
    assert str(Month(2026, 3)) == "2026-03"
    for bad in ("2026-13", "2026-3", "26-03", "2026-00"):
        with pytest.raises(ValueError, match="month"):
            Month.parse(bad)


def test_fractional_offsets_round_trip() -> None:
    t = parse_instant("2026-03-05T10:00:00.5+05:45")
    assert t == datetime(2026, 3, 5, 4, 15, 0, 500_000, tzinfo=UTC)
    assert t.utcoffset() == UTC.utcoffset(None)
