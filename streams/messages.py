"""What the worker's stages hand back to produce, and what they accept.

:class:`Outgoing` is a message for the runtime to send (a stage never
touches a producer); :func:`dead_letter_message` makes one of a
:class:`~fold.deadletters.DeadLetter`.
"""

from __future__ import annotations

from dataclasses import dataclass

from fold.deadletters import DeadLetter
from schemas.codec import dumps
from sla.months import Month
from streams import topics


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message to produce."""

    topic: str
    key: bytes
    value: bytes


def dead_letter_message(dl: DeadLetter) -> Outgoing:
    src = dl.source
    key = f"{src.get('topic')}|{src.get('partition')}|{src.get('offset')}".encode()
    return Outgoing(topics.DEAD_LETTERS.name, key, dumps(dl.to_json()).encode())


#: the months a ledger key or a minute-states message may name
FIRST_MONTH, LAST_MONTH = Month(1970, 1), Month(2199, 12)
