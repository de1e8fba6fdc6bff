"""Dead letters and fold counts: what the fold (:mod:`fold.folder`) gives besides the book.

A :class:`DeadLetter` is a rejected input with why and where it came from;
its record always fits one Kafka message whatever the input's size (SPEC
section 10). :class:`FoldStats` counts what a fold saw.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import Any, Final

from sla.model import JSON

#: Most raw bytes a dead letter carries. Base64 makes them 342 KiB; with the
#: capped detail and preview a dead letter stays far below the broker's default
#: message limit of 1 MiB, whatever the size of the input (SPEC section 10).
RAW_KEEP: Final = 256 * 1024
#: Most characters of a dead letter's ``detail`` (an exception's text can be any size).
DETAIL_KEEP: Final = 4096
#: Characters of the raw bytes shown as text.
PREVIEW_CHARS: Final = 512


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A rejected input: its raw bytes, why, and where it came from."""

    reason: str
    detail: str
    raw: bytes
    source: dict[str, Any]

    def to_json(self) -> JSON:
        """The dead-letter record (``schemas.outputs.DeadLetterRecord``); always fits a message.

        ``raw_base64`` holds the first :data:`RAW_KEEP` raw bytes;
        ``raw_truncated`` says whether that is less than the whole, which
        ``raw_size`` (bytes) and ``raw_sha256`` (hex digest) always describe.
        """
        raw = self.raw
        kept = raw[:RAW_KEEP]
        # 4 bytes per character at most: the first 512 characters lie in 2,048 bytes
        text = kept[: 4 * PREVIEW_CHARS].decode("utf-8", errors="replace")
        return {
            "kind": "dead_letter",
            "reason": self.reason,
            "detail": self.detail[:DETAIL_KEEP],
            "source": self.source,
            "raw_base64": base64.b64encode(kept).decode("ascii"),
            "raw_preview": text[:PREVIEW_CHARS],
            "raw_size": len(raw),
            "raw_truncated": len(kept) < len(raw),
            "raw_sha256": hashlib.sha256(raw).hexdigest(),
        }


@dataclass
class FoldStats:
    """What a fold saw, by event type.

    ``unreadable_state`` counts stored values (ledger slices, stored events,
    minute states) that a restore could not read and skipped.
    """

    events: dict[str, int] = field(default_factory=dict)
    dead_letters: dict[str, int] = field(default_factory=dict)
    not_yet_known: int = 0
    unreadable_state: int = 0


def exception_text(exc: BaseException) -> str:
    """``Type: message`` of an exception, capped (it ends up in a dead letter)."""
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 1024 else text[:1021] + "..."
