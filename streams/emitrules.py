"""What the statement stage sends again, under which revision, and what it holds back.

An output is sent again only when its value changes (:func:`content_digest`),
under a revision that only goes up (:func:`with_revision`); a provisional
statement whose coverage alone moved waits for the coverage step
(:func:`coverage_free_digest`, :data:`COVERAGE_STEP_MINUTES`); outputs a
consumer acts on for good wait until every input is read to its end
(:func:`held_until_caught_up`).
"""

from __future__ import annotations

import hashlib
import json

from schemas.codec import dumps_output
from sla.model import JSON


def content_digest(out: JSON) -> str:
    """An output's digest without its status, revision and times: whether its value changed."""
    body = {
        k: v
        for k, v in out.items()
        if k not in ("status", "revision", "computed_at", "finalizes_at")
    }
    return _digest(body)


def _digest(body: JSON) -> str:
    """128 bits of BLAKE2b over the output's canonical JSON."""
    return hashlib.blake2b(dumps_output(body).encode(), digest_size=16).hexdigest()


#: fields that move with every elapsed minute of a month in progress
#: see ``StatementStage.coverage_step``
COVERAGE_STEP_MINUTES = 5

COVERAGE_FIELDS = (
    "up_minutes",
    "no_data_minutes",
    "readings",
    "computed_at",
    "intervals",
    "elapsed_minutes",
    "remaining_minutes",
    "data_minutes",
    "coverage_percent",
    "no_data_periods",
)


def coverage_free_digest(out: JSON) -> str | None:
    """A provisional statement's or record's digest without its coverage; None for others.

    Two outputs with the same value differ only in how many minutes were up
    or without data (and the readings, which include a no-data reading): the
    downtime, credit and status a consumer acts on are the same.
    """
    if out.get("status") != "provisional" or out.get("kind") not in (
        "contract_month",
        "service_month",
    ):
        return None
    body = {k: v for k, v in out.items() if k not in COVERAGE_FIELDS}
    services = out.get("services")
    if isinstance(services, dict):
        body["services"] = {
            name: {k: v for k, v in figures.items() if k not in COVERAGE_FIELDS}
            for name, figures in services.items()
        }
    intervals = out.get("intervals")
    if isinstance(intervals, dict):
        body["intervals"] = {k: v for k, v in intervals.items() if k != "no_data"}
    return _digest(body)


def held_until_caught_up(out: JSON) -> bool:
    """Outputs a consumer acts on for good, held until every input is read to its end.

    Final (or revised) statements, claim decisions and ticket alerts: an
    at-risk or breach alert computed before the ticket's response was read
    would page someone for nothing, and it stays on its topic.
    """
    return out.get("status") in ("final", "revised") or out.get("kind") in (
        "claim_decision",
        "ticket_alert",
    )


def published_record(digest: str, revision: int | None, status: str | None) -> JSON:
    """The record kept of an output as published: its digest, revision and status."""
    return {"digest": digest, "revision": revision, "status": status}


def read_published(raw: bytes) -> JSON:
    """A stored record (:func:`published_record` as JSON); ValueError for anything else.

    The rules read it at every recomputation (:func:`with_revision`), so a
    value that is not one (written by hand to the table's changelog, or
    truncated) is refused here, once, rather than failing every
    recomputation of its partition after.
    """
    record = json.loads(raw)
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    digest, revision, status = record.get("digest"), record.get("revision"), record.get("status")
    if not isinstance(digest, str):
        raise ValueError("digest is not a string")
    if revision is not None and (
        not isinstance(revision, int) or isinstance(revision, bool) or revision < 0
    ):
        raise ValueError("revision is not a whole number")
    if status not in (None, "provisional", "final", "revised"):
        raise ValueError(f"unknown status {status!r}")
    return published_record(digest, revision, status)


def with_revision(out: JSON, prev: JSON | None, digest: str | None = None) -> JSON:
    """``out`` under the revision and status it is published with, given the last published.

    ``prev`` is the record of what was last published under the output's key
    (its ``digest``, ``revision`` and ``status``), None if nothing was;
    ``digest`` is ``out``'s :func:`content_digest`, None when only the
    revision of an output already known to be unchanged is asked for.

    - A claim decision starts at revision 0 and takes the next one whenever
      its content changes; it has no status (SPEC section 7).
    - A statement whose content changed after it was published as final or
      revised is ``revised``, at the next revision at least, even where its
      knowledge-time revision did not move (a probe that arrived late): billing
      never sees a changed final statement under an old revision.
    - A statement never goes below the revision last published (a stage made
      anew computes it from what it knows now): it keeps that revision, as
      ``revised``.
    - Otherwise ``out`` is unchanged: a provisional statement and one first
      published, at the revision and status the core gave it.
    """
    if out.get("kind") == "claim_decision":
        last = int((prev or {}).get("revision") or 0)
        changed = prev is not None and digest is not None and prev["digest"] != digest
        return {**out, "revision": last + 1 if changed else last}
    if "revision" not in out or prev is None:
        return out
    if digest is not None and prev["digest"] != digest and prev["status"] in ("final", "revised"):
        return {**out, "revision": max(out["revision"], prev["revision"] + 1), "status": "revised"}
    if prev["revision"] > out["revision"]:
        return {**out, "revision": prev["revision"], "status": "revised"}
    return out
