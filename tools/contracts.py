"""Contracts applied from a file (``availability contracts apply -f FILE``).

A file holds one contract or several: a JSON object or list of objects
(``.json``), or YAML mappings, one per document (``.yaml``/``.yml``). Each
is a contract event of SPEC section 2 without ``event_id`` and
``revision``: those are the command's to choose, the same way the incident
commands choose theirs (:func:`tools.operator.next_revision` over the
revisions already in the contracts topic). ``type: contract`` may be given.

YAML scalars that look like decimals or instants stay the text written
(``uptime_target: 99.9`` is ``"99.9"``, never the float 99.9; an instant
without an offset stays text and is refused by the wire model as it would
be in JSON), so a YAML file means exactly what a JSON file does.

A contract whose terms equal its latest revision's is *unchanged*: nothing
is sent, because a new revision of the same terms would still revise every
final statement of the contract (statements carry ``contract_revision``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas.codec import decode
from schemas.events import ContractEvent, latest
from sla.model import JSON
from tools.operator import event_id_for, history, next_revision
from tools.produce import InvalidEventError, encode_event

#: the fields apply sets itself
_CHOSEN = ("event_id", "revision")


class ContractFileError(ValueError):
    """A contract file that cannot be read, parsed or validated (one line, with where)."""


def _yaml_loader() -> Any:
    import yaml

    class Loader(yaml.SafeLoader):
        """Safe YAML whose floats and timestamps stay the text written."""

    def as_text(loader: Any, node: Any) -> str:
        return str(loader.construct_scalar(node))

    Loader.add_constructor("tag:yaml.org,2002:float", as_text)
    Loader.add_constructor("tag:yaml.org,2002:timestamp", as_text)
    return Loader


def load_documents(path: Path) -> list[JSON]:
    """The contract documents of ``path``; :class:`ContractFileError` when unreadable."""
    suffix = path.suffix.lower()
    if suffix not in (".json", ".yaml", ".yml"):
        raise ContractFileError(f"{path}: expected a .json, .yaml or .yml file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise ContractFileError(f"cannot read {path}: {reason}") from None
    if suffix == ".json":
        try:
            data: Any = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise ContractFileError(f"{path}: not valid JSON: {exc}") from None
        docs = data if isinstance(data, list) else [data]
    else:
        import yaml

        try:
            docs = [d for d in yaml.load_all(text, Loader=_yaml_loader()) if d is not None]
        except yaml.YAMLError as exc:
            where = getattr(exc, "problem_mark", None)
            at = f" (line {where.line + 1})" if where is not None else ""
            raise ContractFileError(f"{path}: not valid YAML{at}: {exc}".splitlines()[0]) from None
        except RecursionError:
            raise ContractFileError(f"{path}: not valid YAML: nested too deeply") from None
    if not docs:
        raise ContractFileError(f"{path}: no contract in the file")
    for no, doc in enumerate(docs, start=1):
        if not isinstance(doc, dict):
            raise ContractFileError(f"{path}: document {no} is not a mapping of contract fields")
    return docs


@dataclass(frozen=True)
class Applied:
    """What applying one contract document did: ``event`` is ``None`` when unchanged."""

    contract_id: str
    revision: int
    event: JSON | None


def _event(doc: JSON, revision: int, event_id: str) -> JSON:
    return {"type": "contract", **doc, "event_id": event_id, "revision": revision}


def validate(docs: Sequence[JSON], path: Path) -> list[ContractEvent]:
    """Every document as the wire model reads it, as revision 0; the first error raised.

    A document that sets ``event_id`` or ``revision``, another ``type``, or a
    contract listed twice in one file is refused too.
    """
    out: list[ContractEvent] = []
    seen: set[str] = set()
    for no, doc in enumerate(docs, start=1):
        where = f"{path}: document {no}" + (
            f" (contract {doc['contract_id']})" if isinstance(doc.get("contract_id"), str) else ""
        )
        chosen = [k for k in _CHOSEN if k in doc]
        if chosen:
            raise ContractFileError(
                f"{where}: remove {' and '.join(chosen)}: apply chooses them "
                "(the next revision after those on the contracts topic)"
            )
        if doc.get("type", "contract") != "contract":
            raise ContractFileError(f"{where}: type is {doc['type']!r}, not 'contract'")
        try:
            raw = encode_event(_event(doc, 0, "contract:dry-run"))
        except InvalidEventError as exc:
            hint = ' (decimals are strings, e.g. "1250.00")' if exc.reason == "wrong_type" else ""
            detail = exc.detail.removeprefix("contract.")  # the union's tag: every field has it
            raise ContractFileError(f"{where}: {exc.reason}: {detail}{hint}") from None
        ev = decode(raw)
        assert isinstance(ev, ContractEvent)  # encode_event accepted it
        if ev.contract_id in seen:
            raise ContractFileError(f"{where}: contract {ev.contract_id} is listed twice")
        seen.add(ev.contract_id)
        out.append(ev)
    return out


def _terms(ev: ContractEvent) -> JSON:
    return ev.model_dump(mode="json", exclude={"event_id", "revision"})


def apply(docs: Sequence[JSON], path: Path, recorded: Iterable[bytes]) -> list[Applied]:
    """The next revision of every contract in ``docs``, given the raw values of the topic.

    Validates everything first (:func:`validate`), so a file with one bad
    contract sends nothing. A contract equal to its latest revision yields
    an :class:`Applied` without an event.
    """
    checked = validate(docs, path)
    # each value decoded twice at most, not once per contract of the file
    by_id: dict[str, list[bytes]] = {}
    for raw in recorded:
        seen = decode(raw)
        if isinstance(seen, ContractEvent):
            by_id.setdefault(seen.contract_id, []).append(raw)
    out: list[Applied] = []
    for doc, ev in zip(docs, checked, strict=True):
        mine = by_id.get(ev.contract_id, [])
        past = history(mine, ContractEvent, lambda e: e.contract_id, ev.contract_id)
        top = latest(past)
        if top is not None and _terms(top) == _terms(ev):
            out.append(Applied(ev.contract_id, top.revision, None))
            continue
        rev = next_revision(past)
        event_id = event_id_for("contract:", ev.contract_id, f"-r{rev}-{uuid.uuid4().hex[:8]}")
        event = _event(doc, rev, event_id)
        encode_event(event)  # the same document with another revision: still valid
        out.append(Applied(ev.contract_id, rev, event))
    return out


__all__ = ["Applied", "ContractFileError", "apply", "load_documents", "validate"]
