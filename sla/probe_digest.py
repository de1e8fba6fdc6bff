"""The identity of a probe inside its region-minute (SPEC section 3, docs/decisions.md).

A probe is identified by a 47-bit digest of its ``event_id``: the same event
delivered again lands on the same key of a :class:`sla.probes.ProbeLedger`
and counts once. Two different probes of one service, region and minute
collide with probability 2**-47 per pair. One id at a time
(:func:`probe_digest`) or many at once with numpy (:func:`probe_digests`),
which give the same numbers; :func:`probe_keys` packs them with their minute
and ``ok`` bit as a ledger stores them.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

#: A prime just below 2**47: probe digests are ``event_id`` bytes modulo it.
DIGEST_PRIME = (1 << 47) - 115


def probe_digest(event_id: str) -> int:
    """The 47-bit identity of a probe event inside its region-minute.

    The ``event_id`` bytes read as a little-endian integer, modulo a 47-bit
    prime. Two ids that differ only inside any 5-byte window can never
    collide (the prime would have to divide a number below 2**40); other
    distinct ids collide with probability about 2**-47 per pair, and only
    matters when both fall in the same service, region and minute.
    """
    return int.from_bytes(event_id.encode(), "little") % DIGEST_PRIME


U64 = npt.NDArray[np.uint64]


def probe_keys(offsets: npt.NDArray[np.int64], digests: U64, ok: npt.NDArray[np.int64]) -> U64:
    """:meth:`ProbeLedger.key` of many probes: minutes since the ledger's first, digests, ``ok``."""
    keys: U64 = offsets.astype(np.uint64)
    keys <<= np.uint64(48)
    keys |= digests << np.uint64(1)
    keys |= ok.astype(np.uint64)
    return keys


#: ``256**j mod DIGEST_PRIME``: byte ``j`` of an id weighs this much in its digest.
_BYTE_WEIGHTS = np.array([pow(256, j, DIGEST_PRIME) for j in range(128)], dtype=np.int64)


def probe_digests(event_ids: list[str]) -> npt.NDArray[np.uint64]:
    """:func:`probe_digest` of many ids at once."""
    return probe_digests_and_lengths(event_ids)[0]


def probe_digests_and_lengths(
    event_ids: list[str],
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.int64]]:
    """:func:`probe_digest` of many ids, and their lengths in UTF-8 bytes (numpy).

    For ASCII ids of at most 128 bytes the digest is one product: the
    zero-padded byte table times :data:`_BYTE_WEIGHTS` (each term below
    ``2**55``, so 128 of them stay below ``2**63``), then one ``%``. Any other
    id takes :func:`probe_digest` one by one.
    """
    n = len(event_ids)
    joined = "\n".join(event_ids)
    if n == 0 or not joined.isascii() or joined.count("\n") != n - 1:
        digests = np.fromiter(map(probe_digest, event_ids), np.uint64, n)
        lens = np.fromiter((len(i.encode()) for i in event_ids), np.int64, n)
        return digests, lens
    buf = np.frombuffer(joined.encode("ascii") + b"\n", np.uint8)
    width = len(event_ids[0])
    if buf.shape[0] == n * (width + 1) and width <= 128:
        grid = buf.reshape(n, width + 1)
        if (grid[:, width] == 10).all():
            sums = (grid[:, :width] @ _BYTE_WEIGHTS[:width]) % DIGEST_PRIME
            return sums.astype(np.uint64), np.full(n, width, dtype=np.int64)
    ends = np.flatnonzero(buf == 10)
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    lens = ends - starts
    width = int(lens.max())
    if width > 128:
        digests = np.fromiter(map(probe_digest, event_ids), np.uint64, n)
        return digests, lens
    cols = np.arange(width)
    pad = np.concatenate((buf, np.zeros(width, np.uint8)))
    grid = pad[starts[:, None] + cols]
    grid[cols[None, :] >= lens[:, None]] = 0
    sums = (grid @ _BYTE_WEIGHTS[:width]) % DIGEST_PRIME
    return sums.astype(np.uint64), lens
