"""Instants, minutes and RFC 3339 text (SPEC section 1).

Everything inside the core is UTC. A *minute* is identified by its epoch
minute: the whole number of minutes from 1970-01-01T00:00Z to its start. All
conversions here are exact integer arithmetic on ``timedelta`` values, never
float seconds, so a probe at ``10:03:59.999999`` can never slip into 10:04.

The pipeline accepts instants in ``[FIRST_INSTANT, END_INSTANT)`` (SPEC
section 10): epoch minutes ``[FIRST_MINUTE, END_MINUTE)``. Both bounds are
minute starts, so an instant is in range exactly when its (floor) minute is.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)

#: The first instant an event may carry (inclusive).
FIRST_INSTANT = EPOCH
#: The first instant past the accepted range (exclusive).
END_INSTANT = datetime(2200, 1, 1, tzinfo=UTC)
#: Epoch minutes of the accepted range: ``[FIRST_MINUTE, END_MINUTE)``.
FIRST_MINUTE = 0
END_MINUTE = (END_INSTANT - EPOCH) // MINUTE

_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
)


class NaiveDatetimeError(ValueError):
    """A datetime without a UTC offset reached code that needs an instant."""


def require_aware(dt: datetime) -> datetime:
    """Return ``dt`` unchanged; raise :class:`NaiveDatetimeError` if it is naive."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise NaiveDatetimeError(f"naive datetime {dt.isoformat()} has no UTC offset")
    return dt


class OutOfRangeError(ValueError):
    """An instant lies outside ``[FIRST_INSTANT, END_INSTANT)``."""


def in_range(dt: datetime) -> bool:
    """Whether the aware instant ``dt`` lies in ``[FIRST_INSTANT, END_INSTANT)``.

    Compares instants, never converting ``dt`` to UTC, so it cannot overflow
    for ``0001-01-01T00:00:00+01:00`` or ``9999-12-31T23:59:59-01:00``.
    """
    return FIRST_INSTANT <= require_aware(dt) < END_INSTANT


def require_in_range(dt: datetime) -> datetime:
    """Return ``dt`` unchanged; raise :class:`OutOfRangeError` outside the accepted range."""
    if not in_range(dt):
        raise OutOfRangeError(
            f"{dt.isoformat()} is outside [{FIRST_INSTANT:%Y-%m-%dT%H:%M:%SZ}, "
            f"{END_INSTANT:%Y-%m-%dT%H:%M:%SZ})"
        )
    return dt


def minute_in_range(minute: int) -> bool:
    """Whether epoch minute ``minute`` lies in ``[FIRST_MINUTE, END_MINUTE)``."""
    return FIRST_MINUTE <= minute < END_MINUTE


def epoch_minute(dt: datetime) -> int:
    """The epoch minute containing the instant ``dt`` (floor)."""
    d = require_aware(dt) - EPOCH
    return d.days * 1440 + d.seconds // 60


@lru_cache(maxsize=4096)
def epoch_minute_ceil(dt: datetime) -> int:
    """The first epoch minute whose start is at or after ``dt``.

    Cached: a statement pass asks it of the same instant for every contract
    (an equal instant in any zone is the same minute).
    """
    d = require_aware(dt) - EPOCH
    m = d.days * 1440 + d.seconds // 60
    if d.seconds % 60 or d.microseconds:
        m += 1
    return m


def round_minute(dt: datetime) -> int:
    """Round ``dt`` to the nearest epoch minute: seconds < 30 down, >= 30 up.

    Sub-second parts never round up on their own: ``10:00:29.999`` is 10:00.
    """
    d = require_aware(dt) - EPOCH
    m = d.days * 1440 + d.seconds // 60
    if d.seconds % 60 >= 30:
        m += 1
    return m


@lru_cache(maxsize=65_536)
def minute_start(minute: int) -> datetime:
    """The UTC instant at which epoch minute ``minute`` starts (cached: months' ends recur)."""
    return EPOCH + timedelta(minutes=minute)


def to_utc(dt: datetime) -> datetime:
    """``dt`` as a UTC datetime (raises on naive input)."""
    return require_aware(dt).astimezone(UTC)


# Equal instants (whatever their offsets) have one text: a statement pass formats
# the same few (its instant, each month's finality) for every contract.
@lru_cache(maxsize=4096)
def format_instant(dt: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``; microseconds only when present."""
    u = to_utc(dt)
    if u.microsecond:
        return u.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return u.strftime("%Y-%m-%dT%H:%M:%SZ")


@lru_cache(maxsize=65_536)
def format_minute(minute: int) -> str:
    """The start of epoch minute ``minute`` as RFC 3339 UTC text."""
    return format_instant(minute_start(minute))


def parse_instant(text: str) -> datetime:
    """Parse RFC 3339 text with an explicit offset into a UTC datetime.

    Raises ``ValueError`` for text without an offset or not in RFC 3339 form.
    """
    if not _RFC3339.match(text):
        raise ValueError(f"not an RFC 3339 timestamp with an offset: {text!r}")
    norm = text.replace("z", "Z").replace("t", "T")
    if "." in norm:
        head, tail = norm.split(".", 1)
        digits = re.match(r"\d+", tail)
        assert digits is not None
        frac = digits.group(0)
        norm = head + "." + (frac + "000000")[:6] + tail[len(frac) :]
    return to_utc(datetime.fromisoformat(norm.replace("Z", "+00:00")))
