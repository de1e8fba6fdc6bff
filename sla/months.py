"""Calendar months in a contract's timezone (SPEC section 1).

A month runs from local midnight on the 1st to local midnight on the 1st of
the next month; its length is the real elapsed time, so a month in
``Europe/London`` that contains a clock change is an hour shorter or longer
than the same month in UTC. A minute belongs to the month containing its
start instant. Months are plain ``(year, month)`` pairs or ``YYYY-MM`` text.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sla.timeutil import epoch_minute_ceil, minute_start

_MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class Month(NamedTuple):
    """A calendar month, independent of any timezone (a plain tuple: fast to hash)."""

    year: int
    month: int

    @classmethod
    def of(cls, year: int, month: int) -> Month:
        """A validated month; ``ValueError`` when there is no such month."""
        if not 1 <= month <= 12 or not 1 <= year <= 9998:
            raise ValueError(f"no such month: {year}-{month}")
        return cls(year, month)

    @classmethod
    def parse(cls, text: str) -> Month:
        """Parse ``YYYY-MM``; raise ``ValueError`` otherwise."""
        m = _MONTH_RE.match(text)
        if not m:
            raise ValueError(f"not a month (YYYY-MM): {text!r}")
        return cls.of(int(m.group(1)), int(m.group(2)))

    def next(self) -> Month:
        return Month(self.year + (self.month == 12), self.month % 12 + 1)

    def prev(self) -> Month:
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def __repr__(self) -> str:
        return f"Month({self.year}, {self.month})"


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; ``ValueError`` if unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA timezone: {name!r}") from exc


@lru_cache(maxsize=8192)
def month_bounds(month: Month, tz: str = "UTC") -> tuple[int, int]:
    """Epoch minutes ``[first, end)`` of the minutes whose start lies in ``month`` in ``tz``.

    The local midnights are converted to UTC with ``zoneinfo``; a local
    midnight that falls in a gap or fold resolves with ``fold=0``. Raises
    ``ValueError`` for a month whose bounds ``datetime`` cannot represent.
    """
    z = zone(tz)
    nxt = month.next()
    try:
        start = datetime(month.year, month.month, 1, tzinfo=z).astimezone(UTC)
        end = datetime(nxt.year, nxt.month, 1, tzinfo=z).astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(f"{month} in {tz} has no representable bounds") from exc
    return epoch_minute_ceil(start), epoch_minute_ceil(end)


def minutes_in_month(month: Month, tz: str = "UTC") -> int:
    """The real length of ``month`` in ``tz`` in minutes (44,640 for a 31-day UTC month)."""
    a, b = month_bounds(month, tz)
    return b - a


def month_of_minute(minute: int, tz: str = "UTC") -> Month:
    """The month (in ``tz``) that contains the start of epoch minute ``minute``.

    Raises ``ValueError`` (never ``OverflowError``) when that month lies
    beyond what ``datetime`` can represent; the pipeline never asks for one,
    since it rejects instants outside :data:`sla.timeutil.END_INSTANT` and
    :data:`sla.timeutil.FIRST_INSTANT` as bad input.
    """
    try:
        local = minute_start(minute).astimezone(zone(tz))
    except OverflowError as exc:
        raise ValueError(f"epoch minute {minute} has no representable month") from exc
    return Month(local.year, local.month)


def months_overlapping(first: int, end: int, tz: str = "UTC") -> list[Month]:
    """Months in ``tz`` containing at least one minute of ``[first, end)``, in order."""
    if end <= first:
        return []
    out = [month_of_minute(first, tz)]
    last = month_of_minute(end - 1, tz)
    while out[-1] < last:
        out.append(out[-1].next())
    return out
