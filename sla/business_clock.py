"""Business clock for support response times (rulebook section 8).

Pure and deterministic: no I/O and no wall clock; every instant is passed in.

Business time is counted over *local* business intervals: for each local date
the opening spans (``09:00-17:30`` by default) are built with ``zoneinfo`` in
the calendar's timezone and converted to UTC once. All arithmetic then happens
on integer microseconds since the Unix epoch, so daylight-saving changes never
shift an opening, a closing or a deadline, and there is no float rounding.

Speed: for every local year the calendar builds (once, then caches) the UTC
spans of each day and a prefix sum of open microseconds per day. ``elapsed``
is two table look-ups plus the partial first and last day; ``add`` is a
bisection in that table. Neither walks minutes, and only ``business_intervals``
and ``next_open`` walk days (and only days with something to yield / until the
next open day).

One module over 400 lines, for one reason: the calendar's methods share its
cached year tables and the microsecond arithmetic on them; the response
targets they count are the few dataclasses before it.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Final, Literal, get_args
from zoneinfo import ZoneInfo

import holidays as holidays_lib

from sla.timeutil import require_aware

Severity = Literal["low", "medium", "high"]
SeverityChangePolicy = Literal["retroactive", "from_change", "carry_elapsed"]

SEVERITIES: Final[tuple[Severity, ...]] = get_args(Severity)
POLICIES: Final[tuple[SeverityChangePolicy, ...]] = get_args(SeverityChangePolicy)

# One opening span of a day, local wall-clock time: [open, close).
Span = tuple[time, time]
# Opening spans for Monday (index 0) to Sunday (index 6).
WeeklyHours = tuple[tuple[Span, ...], ...]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US: Final = timedelta(microseconds=1)
# A calendar whose tables stay empty for this many consecutive years has no
# open time left; ``add`` and ``next_open`` give up instead of looping.
_MAX_EMPTY_YEARS: Final = 8


def weekly_hours(
    open_at: time = time(9, 0),
    close_at: time = time(17, 30),
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4),
) -> WeeklyHours:
    """Weekly hours with the same single span ``[open_at, close_at)`` on ``weekdays``.

    ``weekdays`` uses ``date.weekday()`` numbering (Monday 0 .. Sunday 6); every
    other day is closed.
    """
    return tuple(((open_at, close_at),) if day in weekdays else () for day in range(7))


DEFAULT_WEEKLY_HOURS: Final[WeeklyHours] = weekly_hours()
"""Monday-Friday 09:00-17:30 (rulebook section 8 default)."""

LEVEL1_WEEKLY_HOURS: Final[WeeklyHours] = weekly_hours(close_at=time(18, 0))
"""Monday-Friday 09:00-18:00, the hours the SLA names for Level 1 support."""


@dataclass(frozen=True)
class ResponseTarget:
    """A first-response target: ``duration`` of wall-clock or of business time.

    Wall-clock targets are added in UTC (an aware ``datetime + timedelta`` is
    local wall-clock arithmetic and would be off by an hour across a clock
    change). Business targets are counted with the calendar's business hours.
    """

    duration: timedelta
    business_hours: bool

    def __post_init__(self) -> None:
        if self.duration <= timedelta(0):
            raise ValueError(f"target duration must be positive, got {self.duration}")


@dataclass(frozen=True)
class ResponseTargets:
    """First-response target per severity (rulebook section 8 defaults)."""

    high: ResponseTarget = ResponseTarget(timedelta(hours=2), business_hours=False)
    medium: ResponseTarget = ResponseTarget(timedelta(hours=3), business_hours=True)
    low: ResponseTarget = ResponseTarget(timedelta(hours=4), business_hours=True)

    def for_severity(self, severity: Severity) -> ResponseTarget:
        """The target for ``severity``; ValueError for an unknown severity."""
        if severity == "high":
            return self.high
        if severity == "medium":
            return self.medium
        if severity == "low":
            return self.low
        raise ValueError(f"unknown severity {severity!r}")


DEFAULT_TARGETS: Final = ResponseTargets()


@dataclass(frozen=True)
class _YearTable:
    """Business spans of one local year, in UTC microseconds since the epoch.

    ``days[i]`` holds the spans of local date ``first + i`` (sorted, disjoint)
    and ``cum[i]`` the open microseconds of all days before it, so
    ``cum[len(days)]`` is the year's total.
    """

    first: date
    days: tuple[tuple[tuple[int, int], ...], ...]
    cum: tuple[int, ...]

    @property
    def total(self) -> int:
        return self.cum[-1]


@dataclass(frozen=True)
class BusinessCalendar:
    """Business hours, holidays, response targets and severity-change policy.

    Contract:

    * ``timezone``: IANA name the weekly hours are read in (default
      ``Europe/London``).
    * ``hours``: opening spans per weekday, Monday first; each span is
      ``[open, close)`` local time with ``open < close``, spans sorted and
      disjoint. A span is converted to UTC with ``zoneinfo`` on each date; a
      local time that does not exist that day (spring-forward gap) maps to the
      instant one hour later in wall-clock terms, as ``zoneinfo`` does with
      ``fold=0``; a span that collapses to nothing is dropped.
    * ``holiday_country`` / ``holiday_subdiv``: closed days from the
      ``holidays`` package (default ``GB`` / ``ENG``, the bank holidays of
      England and Wales, including substitute days and one-off days such as
      the 2022-09-19 state funeral and the 2023-05-08 coronation). The
      subdivision matters: without it ``GB`` gives only the days common to
      all four nations. ``holiday_country=None`` disables package holidays.
      The package also lists the real date of a holiday that falls on a
      weekend; that only matters for calendars open at weekends.
    * ``extra_closed``: additional closed local dates for this calendar.
    * ``targets`` and ``severity_change_policy`` are used by
      :func:`deadline` and :mod:`sla.support`.

    The calendar is immutable and hashable; per-year holiday sets and span
    tables are cached on the instance (the cache takes no part in equality).
    Every method taking a ``datetime`` rejects naive values with ValueError.
    """

    timezone: str = "Europe/London"
    hours: WeeklyHours = DEFAULT_WEEKLY_HOURS
    holiday_country: str | None = "GB"
    holiday_subdiv: str | None = "ENG"
    extra_closed: frozenset[date] = frozenset()
    targets: ResponseTargets = DEFAULT_TARGETS
    severity_change_policy: SeverityChangePolicy = "retroactive"
    _years: dict[int, _YearTable] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )
    _holidays: dict[int, frozenset[date]] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        ZoneInfo(self.timezone)  # unknown names fail here, not on first use
        if len(self.hours) != 7:
            raise ValueError("hours needs exactly 7 entries, Monday to Sunday")
        for spans in self.hours:
            previous_close: time | None = None
            for open_at, close_at in spans:
                if open_at.tzinfo is not None or close_at.tzinfo is not None:
                    raise ValueError("opening hours are local wall-clock times without tzinfo")
                if not open_at < close_at:
                    raise ValueError(f"opening span {open_at}-{close_at} is empty")
                if previous_close is not None and open_at < previous_close:
                    raise ValueError("opening spans of a day must be sorted and disjoint")
                previous_close = close_at
        if not any(self.hours):
            raise ValueError("calendar has no opening hours at all")
        if self.severity_change_policy not in POLICIES:
            raise ValueError(f"unknown severity_change_policy {self.severity_change_policy!r}")

    # ----------------------------------------------------------------- days

    @property
    def tz(self) -> ZoneInfo:
        """The calendar's timezone (``ZoneInfo`` caches instances per key)."""
        return ZoneInfo(self.timezone)

    def holidays_in(self, year: int) -> frozenset[date]:
        """Closed dates of ``year``: package holidays plus ``extra_closed``."""
        cached = self._holidays.get(year)
        if cached is not None:
            return cached
        days: set[date] = {d for d in self.extra_closed if d.year == year}
        if self.holiday_country is not None:
            found = holidays_lib.country_holidays(
                self.holiday_country, subdiv=self.holiday_subdiv, years=year
            )
            days.update(d for d in found if d.year == year)
        result = frozenset(days)
        self._holidays[year] = result
        return result

    def is_business_day(self, day: date) -> bool:
        """True when ``day`` has opening hours and is not a holiday."""
        return bool(self.hours[day.weekday()]) and day not in self.holidays_in(day.year)

    def _year(self, year: int) -> _YearTable:
        cached = self._years.get(year)
        if cached is not None:
            return cached
        tz = self.tz
        closed = self.holidays_in(year)
        first = date(year, 1, 1)
        n_days = (date(year + 1, 1, 1) - first).days
        days: list[tuple[tuple[int, int], ...]] = []
        cum = [0]
        for i in range(n_days):
            day = first + timedelta(days=i)
            spans: list[tuple[int, int]] = []
            if day not in closed:
                for open_at, close_at in self.hours[day.weekday()]:
                    start = _to_us(datetime.combine(day, open_at, tzinfo=tz))
                    end = _to_us(datetime.combine(day, close_at, tzinfo=tz))
                    if start < end:
                        spans.append((start, end))
            days.append(tuple(spans))
            cum.append(cum[-1] + sum(e - s for s, e in spans))
        table = _YearTable(first=first, days=tuple(days), cum=tuple(cum))
        self._years[year] = table
        return table

    def _local_date(self, us: int) -> date:
        return _from_us(us).astimezone(self.tz).date()

    def _open_before(self, us: int) -> tuple[int, _YearTable]:
        """(Open microseconds of ``us``'s local year before ``us``, that year's table)."""
        day = self._local_date(us)
        table = self._year(day.year)
        index = (day - table.first).days
        done = table.cum[index]
        for start, end in table.days[index]:
            if us <= start:
                break
            done += min(us, end) - start
        return done, table

    # ------------------------------------------------------------ public API

    def business_intervals(
        self, start: datetime, end: datetime
    ) -> Iterator[tuple[datetime, datetime]]:
        """Yield the open intervals within ``[start, end)`` as UTC ``(from, to)`` pairs.

        Intervals are half-open, non-empty, in order and clipped to the range;
        an empty or reversed range yields nothing.
        """
        lo, hi = _to_us(start), _to_us(end)
        if lo >= hi:
            return
        day = self._local_date(lo)
        last = self._local_date(hi)
        while day <= last:
            table = self._year(day.year)
            for s, e in table.days[(day - table.first).days]:
                s, e = max(s, lo), min(e, hi)
                if s < e:
                    yield _from_us(s), _from_us(e)
            day += timedelta(days=1)

    def elapsed_us(self, start: datetime, end: datetime) -> int:
        """Open microseconds in ``[start, end)``; ValueError when ``end < start``."""
        lo, hi = _to_us(start), _to_us(end)
        if hi < lo:
            raise ValueError(f"end {end} is before start {start}")
        done_lo, table_lo = self._open_before(lo)
        done_hi, table_hi = self._open_before(hi)
        if table_lo is table_hi:
            return done_hi - done_lo
        # Different local years: rest of the first, whole middle years, head of the last.
        total = table_lo.total - done_lo + done_hi
        for year in range(table_lo.first.year + 1, table_hi.first.year):
            total += self._year(year).total
        return total

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Business time between two instants (open time in ``[start, end)``).

        Never negative and never more than ``end - start``; ValueError when
        ``end < start``.
        """
        return timedelta(microseconds=self.elapsed_us(start, end))

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The earliest instant ``t >= start`` with ``elapsed(start, t) == duration`` (UTC).

        For a positive duration this is the instant the business clock reaches
        ``duration`` when it starts at ``start``, or at the next opening if
        ``start`` is outside hours; the result can be a closing instant (it is
        never pushed to the next opening). ``add(start, 0)`` is ``start``.
        ValueError for a negative duration; the duration is taken to the
        microsecond, as ``timedelta`` stores it.
        """
        lo = _to_us(start)
        remaining = _td_us(duration)
        if remaining < 0:
            raise ValueError(f"duration must not be negative, got {duration}")
        if remaining == 0:
            return _from_us(lo)
        done, table = self._open_before(lo)
        empty_years = 0
        while done + remaining > table.total:
            remaining -= table.total - done
            empty_years = empty_years + 1 if table.total == 0 else 0
            if empty_years > _MAX_EMPTY_YEARS:
                raise ValueError("calendar has no open time left")
            table = self._year(table.first.year + 1)
            done = 0
        target = done + remaining
        # First day whose end-of-day cumulative total reaches the target.
        index = bisect.bisect_left(table.cum, target) - 1
        left = target - table.cum[index]
        for s, e in table.days[index]:
            if left <= e - s:
                return _from_us(s + left)
            left -= e - s
        raise AssertionError("year table inconsistent")  # pragma: no cover

    def next_open(self, instant: datetime) -> datetime:
        """The earliest open instant at or after ``instant`` (UTC).

        ``instant`` itself when the calendar is open then; intervals are
        half-open, so a closing instant maps to the next opening.
        """
        us = _to_us(instant)
        day = self._local_date(us)
        table = self._year(day.year)
        index = (day - table.first).days
        empty_years = 0
        while True:
            for s, e in table.days[index]:
                if us < e:
                    return _from_us(max(s, us))
            index += 1
            if index == len(table.days):
                empty_years = empty_years + 1 if table.total == 0 else 0
                if empty_years > _MAX_EMPTY_YEARS:
                    raise ValueError("calendar has no open time left")
                table = self._year(table.first.year + 1)
                index = 0

    def is_open(self, instant: datetime) -> bool:
        """True when ``instant`` lies inside an opening interval."""
        return self.next_open(instant) == _from_us(_to_us(instant))

    # --------------------------------------------------------- target clock

    def target_elapsed_us(self, target: ResponseTarget, start: datetime, end: datetime) -> int:
        """Microseconds elapsed on ``target``'s clock from ``start`` to ``end``.

        Wall-clock targets count real elapsed time (in UTC); business targets
        count business time. ValueError when ``end < start``.
        """
        if target.business_hours:
            return self.elapsed_us(start, end)
        elapsed = _to_us(end) - _to_us(start)
        if elapsed < 0:
            raise ValueError(f"end {end} is before start {start}")
        return elapsed

    def target_add(self, target: ResponseTarget, start: datetime, duration_us: int) -> datetime:
        """The instant ``duration_us`` microseconds after ``start`` on ``target``'s clock (UTC)."""
        if target.business_hours:
            return self.add(start, timedelta(microseconds=duration_us))
        if duration_us < 0:
            raise ValueError("duration must not be negative")
        return _from_us(_to_us(start) + duration_us)


def deadline(opened_at: datetime, severity: Severity, calendar: BusinessCalendar) -> datetime:
    """First-response deadline of a ticket opened at ``opened_at`` with ``severity`` (UTC).

    The instant at which time elapsed since ``opened_at`` on the target's clock
    (``calendar.targets``) reaches the target: wall-clock targets are added in
    UTC, business targets with :meth:`BusinessCalendar.add`.
    """
    target = calendar.targets.for_severity(severity)
    return calendar.target_add(target, opened_at, _td_us(target.duration))


def at_risk_instant(
    opened_at: datetime, severity: Severity, calendar: BusinessCalendar
) -> datetime:
    """The instant 75 % of the allowed time has elapsed, on the target's clock (UTC).

    75 % of the target is rounded up to the microsecond, so the result is the
    first instant at which at least 75 % has elapsed.
    """
    target = calendar.targets.for_severity(severity)
    return calendar.target_add(target, opened_at, risk_us(_td_us(target.duration)))


def risk_us(allowed_us: int) -> int:
    """75 % of ``allowed_us``, rounded up to a whole microsecond."""
    return -(-3 * allowed_us // 4)


def _to_us(instant: datetime) -> int:
    return (require_aware(instant) - _EPOCH) // _ONE_US


def _from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _td_us(duration: timedelta) -> int:
    return duration // _ONE_US
