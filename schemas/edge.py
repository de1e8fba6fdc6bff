"""The fast decoding edge for the hot path: probes as validated dicts.

Probes are nearly all the traffic. Building a frozen model per probe costs
more than validating it, so at the edge probes validate into a
:class:`ProbeRecord` (a ``TypedDict`` with the same constraints as
:class:`~schemas.events.ProbeEvent`, its timestamp kept as RFC 3339 text) and
their minute is read straight from the text by :func:`probe_minute` (which
refuses an instant outside the accepted range, as the canonical ``Instant``
does). Every other event type is the canonical model, and every line is
validated on its own.

The canonical models stay the contract: whenever the fast path refuses
something, :func:`decode_edge` asks :func:`schemas.codec.decode` for the
verdict, so a line is accepted or rejected (and for the same reason)
exactly as the canonical models decide; a property test holds the two paths
to that.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Final, Literal, NotRequired

from pydantic import ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

from schemas.codec import MAX_EVENT_BYTES, Rejected, decode
from schemas.events import (
    ClaimEvent,
    ContractEvent,
    Event,
    Ident,
    IncidentEvent,
    LatencyMs,
    StatusCode,
    Text,
    TicketOpenedEvent,
    TicketProgressUpdateEvent,
    TicketResolvedEvent,
    TicketRespondedEvent,
    TicketSeverityChangedEvent,
)
from sla.timeutil import END_MINUTE, FIRST_MINUTE

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()

#: Most digits of a second's fraction an instant may carry (microseconds).
INSTANT_FRACTION_DIGITS: Final = 6
#: RFC 3339 with an explicit offset, microsecond precision at most. ASCII
#: digits only: the pattern engine's ``\d`` is Unicode-aware (it would pass
#: ``"\u0664"``, Arabic-Indic four) where the canonical datetime parser is not.
INSTANT_PATTERN: Final = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
    rf"(\.[0-9]{{1,{INSTANT_FRACTION_DIGITS}}})?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})$"
)
InstantText = Annotated[str, StringConstraints(pattern=INSTANT_PATTERN)]


@with_config(ConfigDict(strict=True, extra="ignore"))
class ProbeRecord(TypedDict):
    """A probe as the hot path sees it (same constraints as ``ProbeEvent``)."""

    type: Literal["probe"]
    event_id: Ident
    service: Ident
    region: Ident
    observed_at: InstantText
    ok: bool
    latency_ms: NotRequired[LatencyMs | None]
    status_code: NotRequired[StatusCode | None]
    error: NotRequired[Text | None]


EdgeEvent = Annotated[
    ProbeRecord
    | IncidentEvent
    | ContractEvent
    | ClaimEvent
    | TicketOpenedEvent
    | TicketSeverityChangedEvent
    | TicketRespondedEvent
    | TicketProgressUpdateEvent
    | TicketResolvedEvent,
    Field(discriminator="type"),
]
_EDGE: TypeAdapter[EdgeEvent] = TypeAdapter(EdgeEvent)
_DAYS: dict[str, int] = {}
#: epoch minutes by their text without the seconds (date, hour, minute, offset)
_MINUTES: dict[str, int] = {}

Decoded = tuple["ProbeRecord", int] | Event | Rejected


def probe_minute(text: str) -> int:
    """The epoch minute of RFC 3339 ``text`` already matching :data:`InstantText`.

    Raises ``ValueError`` for an impossible date, hour, minute, second or
    offset, and for an instant outside the accepted range
    (:data:`sla.timeutil.FIRST_MINUTE` to :data:`sla.timeutil.END_MINUTE`);
    the caller then defers to the canonical decoder, which says why.
    """
    # a known date, hour, minute and offset gives the minute; the seconds must be <= 59
    prefix = text[:16] if text[-1] == "Z" else text[:16] + text[-6:]
    at = _MINUTES.get(prefix)
    if at is not None and text[17] <= "5":
        return at
    day = _DAYS.get(text[:10])
    if day is None:
        day = date.fromisoformat(text[:10]).toordinal() - _EPOCH_ORDINAL
        if len(_DAYS) < 100_000:
            _DAYS[text[:10]] = day
    hour, minute, second = int(text[11:13]), int(text[14:16]), int(text[17:19])
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"impossible time of day in {text!r}")
    if text[-1] == "Z":
        at = day * 1440 + hour * 60 + minute
    else:
        oh, om = int(text[-5:-3]), int(text[-2:])
        if oh > 23 or om > 59:
            raise ValueError(f"impossible offset in {text!r}")
        off = oh * 60 + om
        at = day * 1440 + hour * 60 + minute + (off if text[-6] == "-" else -off)
    # both bounds are minute starts: the instant is in range exactly when its minute is
    if not FIRST_MINUTE <= at < END_MINUTE:
        raise ValueError(f"{text!r} is outside the accepted range")
    if len(_MINUTES) >= 1_000_000:
        _MINUTES.clear()
    _MINUTES[prefix] = at
    return at


def decode_edge(raw: bytes) -> Decoded:
    """Decode one event: ``(probe, epoch minute)`` on the fast path, else a model or why not."""
    if len(raw) > MAX_EVENT_BYTES:
        return decode(raw)
    try:
        ev = _EDGE.validate_json(raw)
    except ValidationError:
        return decode(raw)
    if isinstance(ev, dict):
        try:
            return ev, probe_minute(ev["observed_at"])
        except ValueError:
            return decode(raw)
    return ev


def _validate_one(raw: bytes) -> ProbeRecord | Event | Rejected:
    if len(raw) > MAX_EVENT_BYTES:
        return decode(raw)
    try:
        return _EDGE.validate_json(raw)
    except ValidationError:
        return decode(raw)


def validate_batch(raws: list[bytes]) -> list[ProbeRecord | Event | Rejected]:
    """Validate many events, one result per line, each line on its own.

    Probes come back as :class:`ProbeRecord` dicts whose minute the caller
    reads with :func:`probe_minute` (deferring to :func:`schemas.codec.decode`
    if that raises); everything else as models or :class:`Rejected`, with
    the verdicts of :func:`decode_edge`. Lines are never joined into one
    JSON document: a line that is not one complete JSON value could then
    borrow from its neighbour (an unterminated string closed by the next
    line, two objects on one line making up for a line swallowed), and
    invalid lines would come back as valid events.
    """
    return [_validate_one(r) for r in raws]
