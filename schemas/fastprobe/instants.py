"""RFC 3339 instants parsed in bulk: :func:`instant_minutes`.

A batch of ``observed_at`` texts of one shape is parsed as one fixed-width
table of digits (:func:`_fixed_minutes`), any other batch row by row, still
vectorised (:func:`_row_minutes`); both accept exactly the texts
:func:`schemas.edge.probe_minute` takes within :data:`YEARS`.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Final

import numpy as np
import numpy.typing as npt

from schemas.edge import INSTANT_FRACTION_DIGITS, INSTANT_PATTERN, probe_minute
from sla.timeutil import END_INSTANT, END_MINUTE, FIRST_INSTANT, FIRST_MINUTE

#: Years the fast path parses; probes outside take the canonical path. Within
#: them, an instant must also lie in the accepted range (checked by minute):
#: an offset of less than a day moves an instant across one new year at most.
YEARS: Final = (FIRST_INSTANT.year - 1, END_INSTANT.year)

_INSTANT = re.compile(INSTANT_PATTERN)

I64 = npt.NDArray[np.int64]

#: "YYYY-MM-DDTHH:MM:SS" then "." and the fraction digits, then "Z" or "+hh:mm"
_FRACTION_WIDTH: Final = 1 + INSTANT_FRACTION_DIGITS
_SHORTEST: Final = 19 + 1
_LONGEST: Final = 19 + _FRACTION_WIDTH + 6
_C19 = np.arange(19)
_CFRACTION = np.arange(_FRACTION_WIDTH)
_C6 = np.arange(6)
_DIGITS = np.array([0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18])
_SEPS = np.array([4, 7, 10, 13, 16])
_SEP_BYTES = np.frombuffer(b"--T::", np.uint8)
#: (date-time digit column) x (year, month, day, hour, minute, second): place values
_PLACES = np.zeros((14, 6), np.int64)
_PLACES[0:4, 0] = (1000, 100, 10, 1)
for _field in range(1, 6):
    _PLACES[2 + 2 * _field : 4 + 2 * _field, _field] = (10, 1)

#: For each output field, the (digit column, place value) pairs that add up to it.
_Terms = tuple[tuple[tuple[int, int], ...], ...]


def _terms(places: I64) -> _Terms:
    """The non-zero entries of a (digit column) x (field) place-value table, by field."""
    return tuple(
        tuple((j, int(w)) for j, w in enumerate(places[:, field].tolist()) if w)
        for field in range(places.shape[1])
    )


def _place_sums(terms: _Terms, chars: npt.NDArray[np.uint8]) -> I64:
    """Row ``f``: the sum of ``w * (chars[:, j] - 48)`` over the ``(j, w)`` of ``terms[f]``.

    Integer vector operations rather than a float matrix product: that product
    would go through BLAS, whose helper threads spin between calls and take a
    core from the worker. Every term and sum is an integer far below ``2**53``,
    so a float product in any order gave exactly these numbers.
    """
    digits = np.ascontiguousarray(chars.T, dtype=np.int64)
    digits -= 48
    out = np.zeros((len(terms), chars.shape[0]), np.int64)
    for row, field in zip(out, terms, strict=True):
        for j, w in field:
            row += digits[j] * w
    return out


_PLACE_TERMS: Final = _terms(_PLACES)


def _month_tables() -> tuple[I64, I64]:
    """Epoch day of the 1st, and length in days, of every month of :data:`YEARS`."""
    first = [
        date(y, m, 1).toordinal() - _EPOCH_ORDINAL
        for y in range(YEARS[0], YEARS[1] + 2)
        for m in range(1, 13)
    ]
    starts = np.array(first, np.int64)
    return starts[:-12], np.diff(starts)[: len(starts) - 12]


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_MONTH_START, _MONTH_LEN = _month_tables()


class _Layout:
    """Where the digits and fixed bytes of one timestamp shape are (e.g. ``...SS.ffffffZ``).

    ``terms`` maps the value digits to year, month, day, hour, minute,
    second, offset hour, offset minute, then ``year * 12 + month``,
    ``day * 1440 + hour * 60 + minute`` and the offset in minutes.
    """

    def __init__(self, sample: str) -> None:
        body = sample[:-1] if sample[-1] == "Z" else sample[:-6]
        digits = [*_DIGITS.tolist(), *range(20, len(body))]
        places = np.zeros((len(digits) + 4, 11), np.int64)
        places[:14, :6] = _PLACES
        places[0:6, 8] = (12000, 1200, 120, 12, 10, 1)
        places[6:12, 9] = (14400, 1440, 600, 60, 10, 1)
        fixed = [(4, "-"), (7, "-"), (10, "T"), (13, ":"), (16, ":")]
        if len(body) > 19:
            fixed.append((19, "."))
        self.sign = -1
        if sample[-1] == "Z":
            fixed.append((len(body), "Z"))
        else:
            at = len(body)
            self.sign = at
            fixed.append((at + 3, ":"))
            digits += [at + 1, at + 2, at + 4, at + 5]
            places[-4:-2, 6] = (10, 1)
            places[-2:, 7] = (10, 1)
            places[-4:, 10] = (600, 60, 10, 1)
        self.digits = np.array(digits)
        # the digits that carry a value (not the fraction), and their place values by field
        used = [k for k in range(len(digits)) if places[k].any()]
        self.values = self.digits[used]
        self.terms = _terms(places[used])
        self.fixed = np.array([at for at, _ in fixed])
        self.fixed_bytes = np.frombuffer("".join(ch for _, ch in fixed).encode(), np.uint8)


#: Epoch minute of day 0 (the day before the 1st) of each month, by ``year * 12 + month - _YM0``.
_MONTH_BASE = (_MONTH_START - 1) * 1440
_YM0 = YEARS[0] * 12 + 1


_LAYOUTS: dict[tuple[int, bool], _Layout] = {}


def _minutes_one_by_one(texts: list[str]) -> tuple[I64, npt.NDArray[np.bool_]]:
    minutes = np.zeros(len(texts), np.int64)
    valid = np.zeros(len(texts), bool)
    for k, text in enumerate(texts):
        if _INSTANT.fullmatch(text) and YEARS[0] <= int(text[:4]) <= YEARS[1]:
            try:
                minutes[k] = probe_minute(text)
            except ValueError:
                continue
            valid[k] = True
    return minutes, valid


def instant_minutes(texts: list[str]) -> tuple[I64, npt.NDArray[np.bool_]]:
    """Epoch minutes of RFC 3339 texts, and which texts the fast path accepts.

    A text is accepted when it matches :data:`schemas.edge.InstantText`, its
    year lies in :data:`YEARS` and :func:`schemas.edge.probe_minute` would not
    raise (a real date, hour <= 23, minute and second <= 59, offset hour <= 23
    and minute <= 59, an instant in the accepted range); its minute is then
    ``probe_minute``'s. A batch whose texts all share one shape (length,
    ``Z`` or offset) is parsed as one fixed-width table; any other batch row
    by row (still vectorised).
    """
    n = len(texts)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, bool)
    joined = "\n".join(texts) + "\n"
    if not joined.isascii() or joined.count("\n") != n:
        return _minutes_one_by_one(texts)
    buf = np.frombuffer(joined.encode("ascii"), np.uint8)
    width = len(texts[0])
    got = None
    if _SHORTEST <= width <= _LONGEST and buf.shape[0] == n * (width + 1):
        grid = buf.reshape(n, width + 1)
        if (grid[:, width] == 10).all():
            got = _fixed_minutes(grid, texts[0])
    minutes, valid = got if got is not None else _row_minutes(buf)
    # the range's bounds are minute starts: an instant is in range exactly when its minute is
    valid &= (minutes >= FIRST_MINUTE) & (minutes < END_MINUTE)
    return minutes, valid


def _fixed_minutes(
    grid: npt.NDArray[np.uint8], sample: str
) -> tuple[I64, npt.NDArray[np.bool_]] | None:
    """Minutes of same-length texts laid out as rows, or None when any row has another shape."""
    key = (len(sample), sample[-1] == "Z")
    layout = _LAYOUTS.get(key)
    if layout is None:
        if not _INSTANT.fullmatch(sample):
            return None
        layout = _LAYOUTS[key] = _Layout(sample)
    digits = grid[:, layout.digits] - 48
    if not (digits < 10).all() or not (grid[:, layout.fixed] == layout.fixed_bytes).all():
        return None
    if layout.sign >= 0:
        sign = grid[:, layout.sign]
        if not ((sign == 43) | (sign == 45)).all():
            return None
    # one row per field
    fields = _place_sums(layout.terms, grid[:, layout.values])
    low, high = fields.min(axis=1).tolist(), fields.max(axis=1).tolist()
    ym = fields[8] - _YM0
    if (
        low[0] >= YEARS[0]
        and high[0] <= YEARS[1]
        and low[1] >= 1
        and high[1] <= 12
        and low[2] >= 1
        and high[3] <= 23
        and high[4] <= 59
        and high[5] <= 59
        and high[6] <= 23
        and high[7] <= 59
    ):
        valid = np.ones(grid.shape[0], dtype=bool) if high[2] <= 28 else fields[2] <= _MONTH_LEN[ym]
    else:
        year, month = fields[0], fields[1]
        valid = (year >= YEARS[0]) & (year <= YEARS[1]) & (month >= 1) & (month <= 12)
        valid &= (fields[2] >= 1) & (fields[3] <= 23) & (fields[4] <= 59)
        valid &= (fields[5] <= 59) & (fields[6] <= 23) & (fields[7] <= 59)
        ym[~valid] = 0
        valid &= fields[2] <= _MONTH_LEN[ym]
    minutes: I64 = _MONTH_BASE[ym] + fields[9]
    if layout.sign >= 0:
        # "+hh:mm" is ahead of UTC: subtract it; "-hh:mm": add it
        minutes -= (44 - sign.astype(np.int64)) * fields[10]
    return minutes, valid


def _row_minutes(buf: npt.NDArray[np.uint8]) -> tuple[I64, npt.NDArray[np.bool_]]:
    """Minutes of newline-terminated texts of any lengths, one vectorised row each."""
    ends = np.flatnonzero(buf == 10)
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    lens = ends - starts
    pad = np.concatenate((buf, np.zeros(64, np.uint8)))
    head = pad[starts[:, None] + _C19]
    valid = (lens >= _SHORTEST) & (lens <= _LONGEST)
    valid &= ((head[:, _DIGITS] - 48) < 10).all(axis=1)
    valid &= (head[:, _SEPS] == _SEP_BYTES).all(axis=1)
    year, month, day, hour, minute, second = _place_sums(_PLACE_TERMS, head[:, _DIGITS])
    # suffix: "Z" or "+hh:mm" / "-hh:mm"; between it and the seconds, "" or "." and 1-6 digits
    zulu = buf[ends - 1] == 90
    frac_len = np.where(zulu, lens - 20, lens - 25)
    frac = pad[starts[:, None] + 19 + _CFRACTION]
    frac_digits = ((frac[:, 1:] - 48) < 10) | (_CFRACTION[None, 1:] >= frac_len[:, None])
    valid &= (frac_len == 0) | (
        (frac_len >= 2)
        & (frac_len <= _FRACTION_WIDTH)
        & (frac[:, 0] == 46)
        & frac_digits.all(axis=1)
    )
    off = pad[np.maximum(ends - 6, 0)[:, None] + _C6]
    off_digits = off[:, [1, 2, 4, 5]].astype(np.int64) - 48
    valid &= zulu | (
        ((off[:, 0] == 43) | (off[:, 0] == 45))
        & (off[:, 3] == 58)
        & ((off_digits >= 0) & (off_digits <= 9)).all(axis=1)
    )
    off_hour = off_digits[:, 0] * 10 + off_digits[:, 1]
    off_minute = off_digits[:, 2] * 10 + off_digits[:, 3]
    valid &= zulu | ((off_hour <= 23) & (off_minute <= 59))
    offset = np.where(zulu, 0, (off_hour * 60 + off_minute) * np.where(off[:, 0] == 45, -1, 1))
    valid &= (year >= YEARS[0]) & (year <= YEARS[1]) & (month >= 1) & (month <= 12)
    valid &= (hour <= 23) & (minute <= 59) & (second <= 59)
    ym = np.where(valid, (year - YEARS[0]) * 12 + month - 1, 0)
    valid &= (day >= 1) & (day <= _MONTH_LEN[ym])
    minutes: I64 = (_MONTH_START[ym] + day - 1) * 1440 + hour * 60 + minute - offset
    return minutes, valid
