"""Probe lines decoded in bulk: the replay and worker hot path.

:class:`ProbeDecoder` turns a batch of raw lines into *columns* of the probes
it can vouch for (service, region, epoch minute, ``event_id`` digest, ``ok``)
plus the positions of every other line, which the caller sends down the
canonical path (:func:`schemas.edge.validate_batch`, deferring to
:func:`schemas.codec.decode`). It is sound, not complete: a line it accepts
is one :data:`schemas.events.EVENT_ADAPTER` accepts as the same probe; a line
it is unsure of, for any reason, it leaves to the canonical models, so every
verdict and dead-letter reason is theirs by construction. Property tests in
``tests/unit/schemas/test_fastprobe_*.py`` hold it to that.

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

The modules, by role (every name the tree uses is re-exported here):

- :mod:`~schemas.fastprobe.lines`: the :class:`_Probe` struct and the
  msgspec decoding of lines, joined or one by one (:data:`LINE_LIMIT`,
  :data:`DEPTH_LIMIT`);
- :mod:`~schemas.fastprobe.instants`: the vectorised ``observed_at`` parse
  (:func:`instant_minutes`, :data:`YEARS`);
- :mod:`~schemas.fastprobe.decoder`: :class:`ProbeDecoder`, the columns it
  returns (:class:`FastProbes`) and the name and id checks.
"""

from __future__ import annotations

from schemas.fastprobe.decoder import NAME_LIMIT, TYPED_LIMIT, FastProbes, ProbeDecoder
from schemas.fastprobe.instants import I64, YEARS, instant_minutes
from schemas.fastprobe.lines import DEPTH_LIMIT, LINE_LIMIT, _Probe

__all__ = [
    "DEPTH_LIMIT",
    "I64",
    "LINE_LIMIT",
    "NAME_LIMIT",
    "TYPED_LIMIT",
    "YEARS",
    "FastProbes",
    "ProbeDecoder",
    "_Probe",
    "instant_minutes",
]
