"""A scrape's samples kept as plain rows, and their text written without a sample object each.

A book of 10,000 contracts is some 270,000 series. Through the client
library each one is a ``Sample`` (a named tuple and a dict of its labels)
made by the collector, then a line made by
:func:`prometheus_client.exposition.generate_latest`, which sorts, checks
and escapes every label name again: 2.6 s of Python a scrape, on the
interpreter lock the worker's event loop and recomputation share.

Here a gauge or counter family is a :class:`Rows`: its samples are
``(label values, value)`` pairs, and :func:`write` renders them with one
template per family, made once: the label names already checked, in the
order the library sorts them. Label values are escaped as the library
escapes them (backslash, newline, double quote), values are written by the
library's own ``floatToGoString``, and each family's ``# HELP`` and
``# TYPE`` lines are the library's, so the text is byte for byte what
``generate_latest`` makes of the same families (held by
``tests/prometheus/test_exposition.py`` on whole scrapes and on odd labels
and values). Histograms, a handful of series, stay the library's families
and are rendered by it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import cache
from typing import Final, cast

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics.exposition import (
    UNDERSCORES,
    escape_label_name,
    escape_metric_name,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from sinks.metrics.families import _LABELS, _family
from sinks.metrics.names import HISTOGRAMS

#: a value as the library writes it (Go's float format)
_value: Final = cast(Callable[[float], str], floatToGoString)

#: a family's samples: the label values in the family's label order, and the value
Row = tuple[tuple[str, ...], float]


class Rows:
    """A gauge or counter family of one scrape, its samples as plain rows."""

    __slots__ = ("name", "rows")

    def __init__(self, name: str) -> None:
        self.name = name
        self.rows: list[Row] = []

    def add_metric(self, labels: Sequence[str], value: float) -> None:
        """As the library's family takes a sample: label values in order, and the value."""
        self.rows.append((tuple(labels), value))

    def family(self) -> Metric:
        """The library's family with the same samples (for a registry's ``collect``)."""
        fam = _family(self.name)
        if not isinstance(fam, CounterMetricFamily | GaugeMetricFamily):
            raise TypeError(f"{self.name} is not a gauge or a counter")
        for labels, value in self.rows:
            fam.add_metric(list(labels), value)
        return fam


def scrape_family(name: str) -> Rows | Metric:
    """A family to fill at a scrape: rows for a gauge or a counter, the library's histogram."""
    return _family(name) if name in HISTOGRAMS else Rows(name)


def add(family: Rows | Metric, labels: Sequence[str], value: float) -> None:
    """One sample of a gauge or counter family."""
    if type(family) is Rows:  # nearly every sample: no more than an append
        family.rows.append((tuple(labels), value))
    elif isinstance(family, CounterMetricFamily | GaugeMetricFamily):
        family.add_metric(labels, value)
    else:
        raise TypeError(f"{family.name} takes no plain sample")


def materialized(family: Rows | Metric) -> Metric:
    """The library's family of ``family``."""
    return family.family() if isinstance(family, Rows) else family


class _One(Collector):
    """A collector of one family, for the library's renderer."""

    def __init__(self, family: Metric) -> None:
        self._family = family

    def collect(self) -> Iterable[Metric]:
        return [self._family]


@cache
def _header(name: str) -> str:
    """The family's ``# HELP`` and ``# TYPE`` lines, as the library writes them."""
    return generate_latest(_One(_family(name))).decode()


@cache
def _template(name: str) -> tuple[str, tuple[int, ...]] | None:
    """The ``%`` template of a sample line, and the order its label values go in.

    The library sorts the labels by name, and escapes a metric or label
    name that is not a legacy Prometheus name: ours all are (None if not:
    that family is left to the library).
    """
    labels = _LABELS[name]
    if escape_metric_name(name, UNDERSCORES) != name or any(
        escape_label_name(k, UNDERSCORES) != k for k in labels
    ):
        return None
    order = tuple(sorted(range(len(labels)), key=lambda i: labels[i]))
    if not labels:
        return f"{name} %s\n", order
    inner = ",".join(f'{labels[i]}="%s"' for i in order)
    return f"{name}{{{inner}}} %s\n", order


def _escape(value: str) -> str:
    if "\\" in value or "\n" in value or '"' in value:
        return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return value


def _lines(rows: Rows) -> Iterable[str]:
    made = _template(rows.name)
    if made is None:
        yield generate_latest(_One(rows.family())).decode()
        return
    template, order = made
    yield _header(rows.name)
    if order == tuple(range(len(order))):
        for labels, value in rows.rows:
            yield template % (*map(_escape, labels), _value(value))
    else:
        for labels, value in rows.rows:
            yield template % (*(_escape(labels[i]) for i in order), _value(value))


def write(families: Iterable[Rows | Metric]) -> bytes:
    """The text exposition (format 0.0.4) of ``families``, as ``generate_latest`` gives it.

    Encoded a family at a time, and each :class:`Rows` emptied once written: a
    scrape's text is tens of megabytes and its rows hundreds of thousands of
    tuples, and one join, one encode or one release of all of them would
    each hold the interpreter lock for tens of milliseconds in a single call.
    """
    out: list[bytes] = []
    for fam in families:
        if isinstance(fam, Rows):
            out.append("".join(_lines(fam)).encode("utf-8"))
            fam.rows.clear()
        else:
            out.append(generate_latest(_One(fam)))
    return b"".join(out)
