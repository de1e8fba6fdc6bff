"""Probe lines decoded in bulk: the replay and worker hot path.

:class:`ProbeDecoder` turns a batch of raw lines into *columns* of the probes
it can vouch for (service, region, epoch minute, ``event_id`` digest, ``ok``)
plus the positions of every other line, which the caller sends down the
canonical path (:func:`schemas.edge.validate_batch`, deferring to
:func:`schemas.codec.decode`). It is sound, not complete: a line it accepts
is one :data:`schemas.events.EVENT_ADAPTER` accepts as the same probe; a line
it is unsure of, for any reason, it leaves to the canonical models, so every
verdict and dead-letter reason is theirs by construction. Property tests in
``tests/unit/schemas/test_fastprobe.py`` hold it to that.

How it stays cheap (a few C or numpy passes per batch, not per field):

* msgspec decodes the batch, joined as one JSON array, into :class:`_Probe`
  structs whose types carry the strict types, numeric bounds and length cap of
  :class:`~schemas.events.ProbeEvent` (a string ``"no"`` is not a bool, ``1.0``
  is not a status code), built from the constants that model is built from.
  Unknown fields are ignored; with a repeated key the last value wins, as in
  the canonical parser, and msgspec validates every occurrence, which is only
  stricter.
* the pattern constraints are checked per column: ``event_id`` by deleting
  the allowed bytes from the joined column, services and regions through a
  table of names already checked (once learnt, the struct type lists them as
  a ``Literal``, so msgspec returns one shared string per name), and
  ``observed_at`` by a vectorised parse of the joined column
  (:func:`instant_minutes`).

Where msgspec is *laxer* than the canonical JSON parser, a line is left to the
canonical path:

* invalid UTF-8 inside an ignored field (msgspec skips it unchecked): the
  whole line must decode as UTF-8;
* nesting deeper than the canonical parser's limit of about 200: a line may
  hold at most :data:`DEPTH_LIMIT` opening brackets;
* integers of more than 4,300 digits in an ignored field (the canonical parser
  refuses them) and the 64 KiB event limit: a line may be at most
  :data:`LINE_LIMIT` bytes long.

Joining lines into one array could let a line that is not one complete JSON
value borrow from its neighbour. The batch is joined with ``",\\n"`` and only
taken whole when every line starts with ``{``, ends with ``}``, holds no
newline and no ``[`` at all: a line boundary inside a string would be a raw
control character, and one inside an object would read ``},{`` where a key
must come, both malformed; so every boundary is an element boundary, and a
decoded length equal to the line count pairs lines and elements one to one.
Otherwise (or when the array does not decode) lines are decoded one by one.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date
from itertools import accumulate, compress
from types import GenericAlias
from typing import Annotated, Any, Final, Literal, NamedTuple

import msgspec
import numpy as np
import numpy.typing as npt

from schemas.edge import INSTANT_PATTERN, probe_minute
from schemas.events import (
    IDENT_CHARS,
    IDENT_MAX_LENGTH,
    IDENT_MIN_LENGTH,
    LATENCY_MS_MIN,
    STATUS_CODE_MAX,
    STATUS_CODE_MIN,
    TEXT_MAX_LENGTH,
)
from sla.probes import probe_digests_and_lengths
from sla.timeutil import END_INSTANT, END_MINUTE, FIRST_INSTANT, FIRST_MINUTE

#: Longest line the fast path takes (see the module docstring).
LINE_LIMIT: Final = 4096
#: Most opening brackets a line may hold on the fast path.
DEPTH_LIMIT: Final = 150
#: Years the fast path parses; probes outside take the canonical path. Within
#: them, an instant must also lie in the accepted range (checked by minute):
#: an offset of less than a day moves an instant across one new year at most.
YEARS: Final = (FIRST_INSTANT.year - 1, END_INSTANT.year)
#: Most names the decoders list as known (see :func:`_typed_decoders`).
TYPED_LIMIT: Final = 4096
#: Distinct services and regions remembered between batches (codes stay < 2**20).
NAME_LIMIT: Final = 1 << 16

_IDENT = re.compile(f"[{IDENT_CHARS}]{{{IDENT_MIN_LENGTH},{IDENT_MAX_LENGTH}}}")
#: the bytes an id may hold, and the newline that joins a column of them
_ID_BYTES = bytes(b for b in range(128) if re.fullmatch(f"[{IDENT_CHARS}]", chr(b))) + b"\n"
_INSTANT = re.compile(INSTANT_PATTERN)
_AT_INDEX = re.compile(r"at `\$\[(\d+)\]")
_AT_BYTE = re.compile(r"\(byte (\d+)\)")


_Latency = Annotated[float, msgspec.Meta(ge=LATENCY_MS_MIN)] | None
_Status = Annotated[int, msgspec.Meta(ge=STATUS_CODE_MIN, le=STATUS_CODE_MAX)] | None
_Error = Annotated[str, msgspec.Meta(max_length=TEXT_MAX_LENGTH)] | None


class _Probe(msgspec.Struct, gc=False):
    """A probe as msgspec checks it: ``ProbeEvent``'s types, bounds and caps."""

    type: Literal["probe"]
    event_id: str
    service: str
    region: str
    observed_at: str
    ok: bool
    latency_ms: _Latency = None
    status_code: _Status = None
    error: _Error = None


class _Decoders(NamedTuple):
    """A decoder for one probe line and one for a JSON array of them."""

    one: msgspec.json.Decoder[Any]
    many: msgspec.json.Decoder[Any]


_PLAIN: Final = _Decoders(msgspec.json.Decoder(_Probe), msgspec.json.Decoder(list[_Probe]))


def _typed_decoders(names: tuple[str, ...]) -> _Decoders:
    """Decoders like :data:`_PLAIN` whose service and region must be one of ``names``.

    msgspec then hands back its own copy of each name, whose hash is already
    known, instead of a new string per probe: the name look-ups get cheaper.
    A line with another name raises :class:`_UnknownNameError`.
    """
    known: Any = Literal.__getitem__(names)
    fields = [
        (f.name, known if f.name in ("service", "region") else f.type)
        if f.required
        else (f.name, f.type, f.default)
        for f in msgspec.structs.fields(_Probe)
    ]
    struct = msgspec.defstruct("_KnownProbe", fields, gc=False)
    return _Decoders(
        msgspec.json.Decoder(struct), msgspec.json.Decoder(GenericAlias(list, (struct,)))
    )


class _UnknownNameError(Exception):
    """A typed decoder met a service or region it does not list."""


def _refused(exc: msgspec.ValidationError) -> None:
    """Raise :class:`_UnknownNameError` when ``exc`` is about an unlisted name."""
    msg = str(exc)
    if msg.startswith("Invalid enum value") and msg.endswith((".service`", ".region`")):
        raise _UnknownNameError(msg)


I64 = npt.NDArray[np.int64]


@dataclass(slots=True)
class FastProbes:
    """The probes of a batch that the fast path vouches for, as columns.

    ``index[k]`` is the line position of probe ``k`` (``None``: probe ``k`` is
    line ``k``, every line was taken). ``where`` packs each probe's service
    and region (codes into ``names``) and ``ok``: ``service << 21 | region << 1
    | ok``. ``digest`` is :func:`~sla.probes.probe_digest` of its
    ``event_id``. ``slow`` lists, in order, the lines left to the canonical
    path.
    """

    index: list[int] | None
    event_id: list[str]
    observed_at: list[str]
    where: I64
    minute: I64
    digest: npt.NDArray[np.uint64]
    names: list[str]
    slow: list[int]

    def __len__(self) -> int:
        return int(self.minute.shape[0])

    def line(self, k: int) -> int:
        """The line position of probe ``k``."""
        return k if self.index is None else self.index[k]

    def take(self, rows: list[int]) -> FastProbes:
        """Probes ``rows`` (positions into this batch) as a batch of their own."""
        at = np.array(rows, dtype=np.intp)
        return FastProbes(
            [self.line(k) for k in rows],
            [self.event_id[k] for k in rows],
            [self.observed_at[k] for k in rows],
            self.where[at],
            self.minute[at],
            self.digest[at],
            self.names,
            [],
        )


def _utf8(data: bytes) -> bool:
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _decode_one(raw: bytes, dec: _Decoders) -> _Probe | None:
    if len(raw) > LINE_LIMIT or raw.count(b"{") + raw.count(b"[") > DEPTH_LIMIT or not _utf8(raw):
        return None
    try:
        rec: _Probe = dec.one.decode(raw)
    except msgspec.ValidationError as exc:
        _refused(exc)
        return None
    except msgspec.DecodeError:
        return None
    return rec


def _decode_joined(raws: list[bytes], dec: _Decoders) -> list[_Probe] | int | None:
    """Every line decoded, else a line msgspec refused, else None (go line by line)."""
    n = len(raws)
    text = b",\n".join(raws)
    if (
        text[:1] != b"{"
        or text[-1:] != b"}"
        or b"[" in text
        or text.count(b"{") > n + DEPTH_LIMIT
        or not _utf8(text)
    ):
        return None
    buf = np.frombuffer(text, np.uint8)
    newlines = np.flatnonzero(buf == 10)
    if newlines.shape[0] != n - 1:
        return None  # a line holds a newline of its own
    # every line starts with "{" and ends with "}"
    if n > 1 and not ((buf[newlines - 2] == 125).all() and (buf[newlines + 1] == 123).all()):
        return None
    # line k spans (bounds[k], bounds[k + 1] - 1): between separators, less the comma
    bounds = np.concatenate(([-1], newlines, [buf.shape[0] + 1]))
    if int((np.diff(bounds) - 2).max()) > LINE_LIMIT:
        return None
    try:
        recs: list[_Probe] = dec.many.decode(b"[" + text + b"]")
    except msgspec.ValidationError as exc:
        _refused(exc)
        at = _AT_INDEX.search(str(exc))
        return int(at.group(1)) if at is not None and int(at.group(1)) < n else None
    except msgspec.DecodeError as exc:
        at = _AT_BYTE.search(str(exc))
        if at is None:
            return None
        # line k starts at byte 1 + (bytes of lines before k) + 2k
        starts = [1 + s + 2 * k for k, s in enumerate(accumulate(map(len, raws), initial=0))]
        return max(0, min(bisect_right(starts, int(at.group(1))) - 1, n - 1))
    return recs if len(recs) == n else None


def _decode(raws: list[bytes], dec: _Decoders) -> tuple[list[int] | None, list[_Probe]]:
    """The lines msgspec accepts as probes: (positions or None for all, structs)."""
    got = _decode_joined(raws, dec) if raws else []
    if isinstance(got, list):
        return None, got
    index: list[int] = []
    recs: list[_Probe] = []
    start = 0
    while isinstance(got, int):
        if _decode_one(raws[start + got], dec) is not None:
            # a syntax error is reported where the parser gave up, which can be the
            # line after the one at fault (an object left open): the lines up to it
            # are decoded on their own, so only the bad line leaves the fast path
            _one_by_one(raws, start, start + got + 1, index, recs, dec)
        elif got > 0:
            head = _decode_joined(raws[start : start + got], dec)
            if isinstance(head, list):
                index.extend(range(start, start + got))
                recs.extend(head)
            else:
                _one_by_one(raws, start, start + got, index, recs, dec)
        start += got + 1  # a refused line is left to the canonical path
        if start >= len(raws):
            return index, recs
        got = _decode_joined(raws[start:], dec)
    if isinstance(got, list):
        index.extend(range(start, len(raws)))
        recs.extend(got)
    else:
        _one_by_one(raws, start, len(raws), index, recs, dec)
    return index, recs


def _one_by_one(
    raws: list[bytes], lo: int, hi: int, index: list[int], recs: list[_Probe], dec: _Decoders
) -> None:
    for i in range(lo, hi):
        rec = _decode_one(raws[i], dec)
        if rec is not None:
            index.append(i)
            recs.append(rec)


# -- timestamps --------------------------------------------------------------

_C19 = np.arange(19)
_C7 = np.arange(7)
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
    if 20 <= width <= 32 and buf.shape[0] == n * (width + 1):
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
    valid = (lens >= 20) & (lens <= 32)
    valid &= ((head[:, _DIGITS] - 48) < 10).all(axis=1)
    valid &= (head[:, _SEPS] == _SEP_BYTES).all(axis=1)
    year, month, day, hour, minute, second = _place_sums(_PLACE_TERMS, head[:, _DIGITS])
    # suffix: "Z" or "+hh:mm" / "-hh:mm"; between it and the seconds, "" or "." and 1-6 digits
    zulu = buf[ends - 1] == 90
    frac_len = np.where(zulu, lens - 20, lens - 25)
    frac = pad[starts[:, None] + 19 + _C7]
    frac_digits = ((frac[:, 1:] - 48) < 10) | (_C7[None, 1:] >= frac_len[:, None])
    valid &= (frac_len == 0) | (
        (frac_len >= 2) & (frac_len <= 7) & (frac[:, 0] == 46) & frac_digits.all(axis=1)
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


# -- the decoder ---------------------------------------------------------------


class ProbeDecoder:
    """Decodes batches of lines into :class:`FastProbes` (one per worker; not thread-safe).

    It remembers the service and region names it has checked (up to
    :data:`NAME_LIMIT`), so a batch's names cost one dictionary look-up each.
    """

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._codes: dict[str, int] = {}
        # the codes shifted into place: ``service << 21 | region << 1``
        self._high: dict[str, int] = {}
        self._low: dict[str, int] = {}
        self._names: list[str] = []
        self._typed: _Decoders | None = None

    def _learn(self, recs: list[_Probe]) -> None:
        codes = self._codes
        for name in {r.service for r in recs} | {r.region for r in recs}:
            if len(self._names) >= 1 << 20:
                break  # codes must fit 20 bits; unknown names take the canonical path
            if name not in codes and _IDENT.fullmatch(name):
                code = codes[name] = len(self._names)
                self._high[name] = code << 21
                self._low[name] = code << 1
                self._names.append(name)

    def _where(self, recs: list[_Probe]) -> tuple[I64, npt.NDArray[np.bool_]]:
        """Per probe ``service << 21 | region << 1 | ok`` (name codes); which names are valid."""
        high, low = self._high, self._low
        try:
            packed = [high[r.service] | low[r.region] | r.ok for r in recs]
            return np.array(packed, dtype=np.int64), np.ones(len(recs), dtype=bool)
        except KeyError:
            self._learn(recs)
            names = self._names
            self._typed = _typed_decoders(tuple(names)) if 0 < len(names) <= TYPED_LIMIT else None
        codes = self._codes
        get = codes.get
        svc = [get(r.service, -1) for r in recs]
        reg = [get(r.region, -1) for r in recs]
        valid = (np.array(svc, dtype=np.int64) >= 0) & (np.array(reg, dtype=np.int64) >= 0)
        packed = [
            (max(s, 0) << 21) | (max(g, 0) << 1) | r.ok
            for s, g, r in zip(svc, reg, recs, strict=True)
        ]
        return np.array(packed, dtype=np.int64), valid

    def decode(self, raws: list[bytes]) -> FastProbes:
        """The probes of ``raws`` the fast path vouches for; every other line in ``slow``."""
        if len(self._codes) > NAME_LIMIT:
            self._reset()
        try:
            index, recs = _decode(raws, self._typed or _PLAIN)
        except _UnknownNameError:
            index, recs = _decode(raws, _PLAIN)
        ids = [r.event_id for r in recs]
        texts = [r.observed_at for r in recs]
        where, valid = self._where(recs)
        del recs
        minute, on_time = instant_minutes(texts)
        digest, id_ok = _id_digests(ids)
        valid &= on_time
        valid &= id_ok
        slow: list[int]
        if index is None:
            slow = []
        else:
            taken = set(index)
            slow = [i for i in range(len(raws)) if i not in taken]
        if not valid.all():
            keep = valid.tolist()
            positions = list(range(len(keep))) if index is None else index
            slow = sorted([*slow, *compress(positions, [not k for k in keep])])
            index = list(compress(positions, keep))
            ids = list(compress(ids, keep))
            texts = list(compress(texts, keep))
            where, minute, digest = where[valid], minute[valid], digest[valid]
        return FastProbes(index, ids, texts, where, minute, digest, self._names, slow)


def _id_digests(ids: list[str]) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.bool_]]:
    """:func:`~sla.probes.probe_digest` of each id, and which ids match ``Ident``."""
    n = len(ids)
    joined = "\n".join(ids)
    if (
        joined.isascii()
        and joined.count("\n") == max(n - 1, 0)
        and not joined.encode("ascii").translate(None, _ID_BYTES)
    ):
        digest, lens = probe_digests_and_lengths(ids)
        return digest, (lens >= IDENT_MIN_LENGTH) & (lens <= IDENT_MAX_LENGTH)
    valid = np.fromiter((_IDENT.fullmatch(i) is not None for i in ids), bool, n)
    return probe_digests_and_lengths(ids)[0], valid
