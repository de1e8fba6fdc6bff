"""Results shared by every book of the process, not only within one.

A streaming worker holds one book per statement partition it owns, and every
one of them folds the same broadcast minute states and incidents: without
this module each book evaluates every service again (six times on a worker
holding all six partitions). Here:

* :func:`shared_states` gives one read-only array for equal received minute
  states, whichever book decoded them, so results keyed by the identity of
  the states (as :class:`sla.summaries.Evaluator` keys them) can be shared.
* :class:`SharedResults` is a bounded map guarded by a lock (the worker's
  stage thread and a report on the event loop may both evaluate), for the
  month parts and service windows of :mod:`sla.summaries`, which validate
  every entry against the asking book's own inputs before using it.
* :func:`collector_paused` keeps the cyclic garbage collector off during a
  pass that makes millions of acyclic objects, and keeps it from scanning
  them afterwards.
"""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import numpy.typing as npt


class Bounded(dict[Any, Any]):
    """A dict that forgets its older half when it grows past ``cap`` entries."""

    def __init__(self, cap: int) -> None:
        super().__init__()
        self.cap = cap

    def put(self, key: Any, value: Any) -> None:
        if len(self) >= self.cap:
            for old in list(self)[: self.cap // 2]:
                del self[old]
        self[key] = value


_STATES: weakref.WeakValueDictionary[bytes, np.ndarray[Any, Any]] = weakref.WeakValueDictionary()
_STATES_LOCK = threading.Lock()


def shared_states(
    compressed: bytes, decode: Callable[[bytes], npt.NDArray[np.int8]]
) -> npt.NDArray[np.int8]:
    """The read-only states array of ``compressed``, decoded once while any book holds it.

    ``decode(compressed)`` makes it when no live array came from equal bytes.
    Kept only as long as someone holds the array (a weak map): a
    service-month's superseded states go when the last book drops them.
    """
    with _STATES_LOCK:
        held = _STATES.get(compressed)
    if held is not None:
        return held
    states = decode(compressed)
    states.flags.writeable = False
    with _STATES_LOCK:
        # another thread may have decoded the same bytes meanwhile: one array wins
        return _STATES.setdefault(compressed, states)


class SharedResults:
    """A bounded map shared across books and threads; values are checked by the caller."""

    def __init__(self, cap: int) -> None:
        self._map = Bounded(cap)
        self._lock = threading.Lock()

    def found(self, key: Any, anchor: Any, facts: Any) -> Any:
        """What :meth:`keep` kept under ``key`` from the very ``anchor`` and equal ``facts``.

        None when nothing was, or it came from other facts (the caller makes it).
        """
        with self._lock:
            held = self._map.get((key, id(anchor)))
        if held is not None and held[0] is anchor and held[1] == facts:
            return held[2]
        return None

    def keep(self, key: Any, anchor: Any, facts: Any, value: Any) -> None:
        """Keep ``value``, made under ``key`` from ``anchor`` (by identity) and ``facts``."""
        with self._lock:
            self._map.put((key, id(anchor)), (anchor, facts, value))

    def clear(self) -> None:
        with self._lock:
            self._map.clear()


#: objects a pass may leave to the collector; past this many they are frozen
FREEZE_AFTER = 1_000_000


class _Pauses:
    """Who holds the collector paused: it is back on when the last of them is done."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.holders = 0
        #: whether the collector was on when the first holder paused it
        self.resume = False


_PAUSES = _Pauses()


@contextmanager
def collector_paused(freeze_after: int = FREEZE_AFTER) -> Iterator[None]:
    """The cyclic garbage collector off meanwhile; a large pass's objects frozen after.

    A pass over a large book (a replay, every statement of it) makes millions
    of small acyclic objects; the collector would scan them again and again
    while they are made, and once switched back on its next full collection
    scans them all, over a second at 10,000 contracts, for nothing to free.
    When the pass leaves more than ``freeze_after`` (:data:`FREEZE_AFTER`)
    new tracked objects they are frozen (``gc.freeze``): still freed by
    reference counting when dropped, never scanned again. A small pass (a
    test's book) leaves them to the collector as usual.

    Passes on several threads at once (the worker's recomputation and a
    scrape of its metrics) overlap: the collector is switched back on when
    the last of them ends, and only if it was on when the first began, so
    a short pass never turns it on under a long one.
    """
    pauses = _PAUSES
    with pauses.lock:
        if pauses.holders == 0:
            pauses.resume = gc.isenabled()
            gc.disable()
        pauses.holders += 1
    try:
        yield
    finally:
        with pauses.lock:
            pauses.holders -= 1
            if gc.get_count()[0] > freeze_after:
                gc.freeze()
            if pauses.holders == 0 and pauses.resume:
                gc.enable()
