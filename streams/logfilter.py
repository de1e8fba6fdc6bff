"""One log line per repeated complaint of the Kafka clients, not hundreds a second.

While a broker is down, aiokafka, kafka-python and Faust log every failed
connection attempt and every failed request, each time they retry (about 190
ERROR lines a second were seen in one outage). :class:`RepeatFilter` lets the
first record of a kind through, drops the same kind for ``window`` seconds,
and then lets the next one through with the number it dropped, so an
operator still sees that the outage goes on, and how hard the clients try.

A record's *kind* is its logger, level and message template (not its
arguments, which name a node id or an address that changes between
attempts). Records of the project's own loggers are never dropped: the
project logs a failure once per failure already.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

#: loggers whose records always pass (the project's own)
OWN_LOGGERS = ("streams", "sinks", "sla", "schemas")


class RepeatFilter(logging.Filter):
    """Drop repeats of a record kind within ``window`` seconds (see the module docstring).

    Only records at ``level`` or above are ever dropped. Thread-safe: the
    Kafka clients log from threads of their own.
    """

    def __init__(
        self,
        window: float = 30.0,
        level: int = logging.WARNING,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.window = window
        self.level = level
        self.clock = clock
        #: kind -> (monotonic time it last passed, records dropped since)
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < self.level or record.name.split(".", 1)[0] in OWN_LOGGERS:
            return True
        kind = (record.name, record.levelno, str(record.msg))
        now = self.clock()
        with self._lock:
            last = self._seen.get(kind)
            if last is not None and now - last[0] < self.window:
                self._seen[kind] = (last[0], last[1] + 1)
                return False
            self._seen[kind] = (now, 0)
            if len(self._seen) > 10_000:  # templates are few; this only bounds a pathology
                self._seen = {kind: (now, 0)}
        if last is not None and last[1]:
            record.msg = (
                f"{record.getMessage()} ({last[1]} more like this in the last "
                f"{now - last[0]:.0f} s were not logged)"
            )
            record.args = ()  # the count is in the text now; nothing left to format
        return True


def install(root: logging.Logger | None = None, window: float = 30.0) -> RepeatFilter:
    """Add one :class:`RepeatFilter` to every handler of ``root`` (default: the root logger).

    Call it after logging is configured (the handlers exist). Idempotent: a
    handler that already has a :class:`RepeatFilter` keeps it.
    """
    found = RepeatFilter(window)
    for handler in (root or logging.getLogger()).handlers:
        if not any(isinstance(f, RepeatFilter) for f in handler.filters):
            handler.addFilter(found)
    return found


class TransientTopicFilter(logging.Filter):
    """Log aiokafka's "topic not found in cluster metadata" as a WARNING for ``prefix`` topics.

    On a fresh cluster Faust creates the worker's own changelog topics at
    start-up, and the metadata read right after may not list one yet; the
    client asks again and finds it. That is no error of a healthy start.
    """

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        if (
            record.levelno == logging.ERROR
            and str(record.msg) == "Topic %s not found in cluster metadata"
            and isinstance(record.args, tuple)
            and record.args
            and str(record.args[0]).startswith(self.prefix)
        ):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True
