"""Probe lines decoded by msgspec, joined as one JSON array or one by one.

The struct :class:`_Probe` carries :class:`~schemas.events.ProbeEvent`'s
types, bounds and caps; :func:`_decode` returns the lines msgspec accepts as
probes. Why a line may be joined, and the limits that leave a line to the
canonical path, are in the :mod:`schemas.fastprobe` docstring.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from itertools import accumulate
from types import GenericAlias
from typing import Annotated, Any, Final, Literal, NamedTuple

import msgspec
import numpy as np

from schemas.codec import MAX_EVENT_BYTES
from schemas.events import (
    LATENCY_MS_MIN,
    STATUS_CODE_MAX,
    STATUS_CODE_MIN,
    TEXT_MAX_LENGTH,
    ProbeType,
)

#: Longest line the fast path takes (see the :mod:`schemas.fastprobe` docstring):
#: below the canonical parser's 4,300-digit integer limit, and never above the
#: event limit.
LINE_LIMIT: Final = min(4096, MAX_EVENT_BYTES)
#: Most opening brackets a line may hold on the fast path.
DEPTH_LIMIT: Final = 150

_AT_INDEX = re.compile(r"at `\$\[(\d+)\]")
_AT_BYTE = re.compile(r"\(byte (\d+)\)")


_Latency = Annotated[float, msgspec.Meta(ge=LATENCY_MS_MIN)] | None
_Status = Annotated[int, msgspec.Meta(ge=STATUS_CODE_MIN, le=STATUS_CODE_MAX)] | None
_Error = Annotated[str, msgspec.Meta(max_length=TEXT_MAX_LENGTH)] | None


class _Probe(msgspec.Struct, gc=False):
    """A probe as msgspec checks it: ``ProbeEvent``'s types, bounds and caps."""

    type: ProbeType
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
