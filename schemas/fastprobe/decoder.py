"""The bulk probe decoder: :class:`ProbeDecoder` and the columns it returns."""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import compress
from typing import Final

import numpy as np
import numpy.typing as npt

from schemas.events import IDENT_CHARS, IDENT_MAX_LENGTH, IDENT_MIN_LENGTH
from schemas.fastprobe.instants import I64, instant_minutes
from schemas.fastprobe.lines import (
    _PLAIN,
    _decode,
    _Decoders,
    _Probe,
    _typed_decoders,
    _UnknownNameError,
)
from sla.probe_digest import probe_digests_and_lengths

#: Most names the decoders list as known (see :func:`_typed_decoders`).
TYPED_LIMIT: Final = 4096
#: Distinct services and regions remembered between batches (codes stay < 2**20).
NAME_LIMIT: Final = 1 << 16


def pack_where(service: int, region: int, ok: int) -> int:
    """``service << 21 | region << 1 | ok``: a probe's name codes and ``ok`` in one integer.

    Codes are below 2**20, so the region's 20 bits never reach the service's.
    """
    return service << 21 | region << 1 | ok


_IDENT = re.compile(f"[{IDENT_CHARS}]{{{IDENT_MIN_LENGTH},{IDENT_MAX_LENGTH}}}")
#: the bytes an id may hold, and the newline that joins a column of them
_ID_BYTES = bytes(b for b in range(128) if re.fullmatch(f"[{IDENT_CHARS}]", chr(b))) + b"\n"


@dataclass(slots=True)
class FastProbes:
    """The probes of a batch that the fast path vouches for, as columns.

    ``index[k]`` is the line position of probe ``k`` (``None``: probe ``k`` is
    line ``k``, every line was taken). ``where`` packs each probe's service
    and region (codes into ``names``) and ``ok`` (:func:`pack_where`).
    ``digest`` is :func:`~sla.probe_digest.probe_digest` of its ``event_id``.
    ``slow`` lists, in order, the lines left to the canonical path.
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
        # the codes shifted into place (:func:`pack_where`)
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
                self._high[name] = pack_where(code, 0, 0)
                self._low[name] = pack_where(0, code, 0)
                self._names.append(name)

    def _where(self, recs: list[_Probe]) -> tuple[I64, npt.NDArray[np.bool_]]:
        """Per probe :func:`pack_where` of its name codes and ``ok``; which names are valid."""
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
            pack_where(max(s, 0), max(g, 0), r.ok) for s, g, r in zip(svc, reg, recs, strict=True)
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
    """:func:`~sla.probe_digest.probe_digest` of each id, and which ids match ``Ident``."""
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
