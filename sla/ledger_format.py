"""The stored values of a probe ledger: whole regions or one region's slice of minutes.

:meth:`sla.probes.ProbeLedger.to_bytes` writes every region of a ledger (or
some) in one value, :meth:`~sla.probes.ProbeLedger.slice_bytes` one
region's minutes ``[lo, hi)`` (a day by default), so a store rewrites only
the values that changed. Both are versioned; :func:`read_pieces` reads
either back as :class:`Piece` objects, checked against the ledger's month.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

#: every region of a ledger (:meth:`sla.probes.ProbeLedger.to_bytes`)
WHOLE_VERSION = 1
#: one region's minutes ``[lo, hi)`` (:meth:`sla.probes.ProbeLedger.slice_bytes`)
SLICE_VERSION = 2


@dataclass(frozen=True, slots=True)
class Piece:
    """One region's probes of minute indices ``[lo, hi)``, read from a stored value."""

    region: str
    lo: int
    hi: int
    counts: npt.NDArray[np.unsignedinteger]
    rows: npt.NDArray[np.uint8]


def read_pieces(data: bytes, first_minute: int, minutes: int) -> list[Piece]:
    """What one stored value (:meth:`ProbeLedger.to_bytes` or a slice) holds, checked."""
    version = data[:1]
    if version == bytes([SLICE_VERSION]):
        _, first, length, lo, hi = struct.unpack_from(">BqIII", data, 0)
        off = struct.calcsize(">BqIII")
        nreg = 1
    elif version == bytes([WHOLE_VERSION]):
        _, first, length, nreg = struct.unpack_from(">BqII", data, 0)
        off = struct.calcsize(">BqII")
        lo, hi = 0, length
    else:
        raise ValueError(f"unknown probe ledger format {data[:1]!r}")
    if (first, length) != (first_minute, minutes):
        raise ValueError("serialised ledger is for another month")
    if not 0 <= lo < hi <= minutes:
        raise ValueError(f"slice [{lo}, {hi}) is outside the month")
    out: list[Piece] = []
    for _ in range(nreg):
        nlen, width, clen, n = struct.unpack_from(">HBII", data, off)
        off += struct.calcsize(">HBII")
        name = data[off : off + nlen].decode()
        off += nlen
        if width not in (1, 2, 4):
            raise ValueError(f"minute counts of width {width}")
        dtype = np.dtype(f"<u{width}")
        counts: npt.NDArray[np.unsignedinteger] = np.frombuffer(
            zlib.decompress(data[off : off + clen]), dtype=dtype
        )
        off += clen
        if counts.shape[0] != hi - lo:
            raise ValueError("slice counts do not match its minutes")
        if int(counts.sum(dtype=np.int64)) != n or len(data) < off + 6 * n:
            raise ValueError("slice rows do not match its counts")
        rows = np.frombuffer(data[off : off + 6 * n], dtype=np.uint8).reshape(n, 6)
        off += 6 * n
        out.append(Piece(name, lo, hi, counts, rows))
    return out
