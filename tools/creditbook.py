"""The billing consumer's state: the current credit of every contract and month.

:class:`CreditBook` is the pure part. It reads contract-month statements and
claim decisions and keeps one record per ``(contract_id, month)`` and per
``claim_id``, whatever order and however many times they arrive:

- a statement with a higher ``revision`` replaces the one kept, a lower
  revision never does;
- at an equal revision a ``final`` (or ``revised``) statement replaces a
  ``provisional`` one and is itself never replaced: the worker never changes
  a final statement without raising its revision (SPEC section 6), so a
  redelivered copy replaces nothing;
- ``provisional`` statements of one revision are month-to-date figures that
  change as data arrives: the later ``computed_at`` wins, and at an equal
  ``computed_at`` the later offset of the same partition (one key always
  lives in one partition), so a redelivered or older copy replaces nothing;
- a claim decision with a higher ``revision`` replaces the one kept, a lower
  revision never does (SPEC section 7: the revision goes up only when the
  decision changes); at an equal revision the later ``computed_at`` wins,
  then the later offset of the same partition. A decision without a
  revision (from a worker before revisions) counts as revision 0.

It also records the next offset of every partition it has read, so its JSON
state file (:meth:`CreditBook.save`) holds both the credits and where to
resume. The Kafka consumer that feeds it is :mod:`tools.billing`.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from reports.text import columns
from sla.model import JSON
from sla.timeutil import parse_instant

STATE_FORMAT = 1
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_STATUS_RANK = {"provisional": 0, "final": 1, "revised": 1}


def _text(obj: Mapping[str, Any], name: str) -> str:
    v = obj.get(name)
    if not isinstance(v, str) or not v:
        raise ValueError(f"{name} is not a non-empty string")
    return v


def _amount(obj: Mapping[str, Any], name: str) -> str:
    v = _text(obj, name)
    try:
        Decimal(v)
    except InvalidOperation as exc:
        raise ValueError(f"{name} is not a decimal string") from exc
    return v


def _statement(out: Mapping[str, Any]) -> JSON:
    """The fields billing keeps from one contract-month statement (ValueError if malformed)."""
    month = _text(out, "month")
    if not _MONTH.match(month):
        raise ValueError("month is not YYYY-MM")
    revision = out.get("revision")
    if not isinstance(revision, int) or isinstance(revision, bool) or revision < 0:
        raise ValueError("revision is not a whole number")
    status = _text(out, "status")
    if status not in _STATUS_RANK:
        raise ValueError(f"unknown status {status!r}")
    parse_instant(_text(out, "computed_at"))
    return {
        "contract_id": _text(out, "contract_id"),
        "client_id": out.get("client_id"),
        "month": month,
        "status": status,
        "revision": revision,
        "uptime_percent": _text(out, "uptime_percent"),
        "meets_target": bool(out.get("meets_target")),
        "credit_percent": _amount(out, "credit_percent"),
        "credit_amount": _amount(out, "credit_amount"),
        "currency": _text(out, "currency"),
        "computed_at": out["computed_at"],
    }


def _claim(out: Mapping[str, Any]) -> JSON:
    """The fields billing keeps from one claim decision (ValueError if malformed)."""
    decision = _text(out, "decision")
    if decision not in ("accepted", "rejected"):
        raise ValueError(f"unknown decision {decision!r}")
    credits = out.get("credits") or []
    if not isinstance(credits, list):
        raise ValueError("credits is not a list")
    months = []
    for c in credits:
        if not isinstance(c, Mapping):
            raise ValueError("a credit is not an object")
        months.append({"month": _text(c, "month"), "credit_amount": _amount(c, "credit_amount")})
    parse_instant(_text(out, "computed_at"))
    total = out.get("credit_total")
    revision = out.get("revision", 0)
    if not isinstance(revision, int) or isinstance(revision, bool) or revision < 0:
        raise ValueError("revision is not a whole number")
    return {
        "claim_id": _text(out, "claim_id"),
        "contract_id": _text(out, "contract_id"),
        "decision": decision,
        "reason": out.get("reason"),
        "credits": months,
        "credit_total": _amount(out, "credit_total") if total is not None else None,
        "currency": out.get("currency"),
        "computed_at": out["computed_at"],
        "revision": revision,
    }


def _later(new: JSON, old: JSON) -> bool:
    """Whether ``new`` was computed after ``old`` (instant, then offset in one partition)."""
    a, b = parse_instant(new["computed_at"]), parse_instant(old["computed_at"])
    if a != b:
        return a > b
    return bool(new["partition"] == old["partition"] and new["offset"] > old["offset"])


def supersedes_decision(new: JSON, old: JSON) -> bool:
    """Whether decision record ``new`` replaces ``old`` of the same claim."""
    a, b = new.get("revision", 0), old.get("revision", 0)
    if a != b:
        return bool(a > b)
    return _later(new, old)


def supersedes_statement(new: JSON, old: JSON) -> bool:
    """Whether statement record ``new`` replaces ``old`` of the same contract and month."""
    if new["revision"] != old["revision"]:
        return bool(new["revision"] > old["revision"])
    rank_new, rank_old = _STATUS_RANK[new["status"]], _STATUS_RANK[old["status"]]
    if rank_new != rank_old:
        return rank_new > rank_old
    if rank_old > 0:
        return False
    return _later(new, old)


@dataclass
class CreditBook:
    """Latest statement per (contract, month) and latest decision per claim; idempotent."""

    statements: dict[str, JSON] = field(default_factory=dict)
    claims: dict[str, JSON] = field(default_factory=dict)
    positions: dict[str, int] = field(default_factory=dict)
    skipped: int = 0

    def apply(self, topic: str, partition: int, offset: int, value: bytes | None) -> JSON | None:
        """Take one message; return the record it changed, or None when it changed nothing.

        A message that is not a statement or decision billing can read is
        counted in :attr:`skipped`; a tombstone (no value: the worker never
        writes one) changes nothing, for a credit is never forgotten.
        """
        pkey = f"{topic}:{partition}"
        self.positions[pkey] = max(self.positions.get(pkey, 0), offset + 1)
        if value is None:
            return None
        try:
            out = json.loads(value)
            if not isinstance(out, dict):
                raise ValueError("not a JSON object")
            kind = out.get("kind")
            if kind == "contract_month":
                rec = _statement(out)
                key = f"{rec['contract_id']}|{rec['month']}"
                table = self.statements
                newer = supersedes_statement
            elif kind == "claim_decision":
                rec = _claim(out)
                key = rec["claim_id"]
                table = self.claims
                newer = supersedes_decision
            else:
                return None
        except (ValueError, RecursionError):  # nested deeper than the parser goes
            self.skipped += 1
            return None
        rec["partition"] = partition
        rec["offset"] = offset
        old = table.get(key)
        if old is not None and not newer(rec, old):
            return None
        table[key] = rec
        return self._row(rec) if kind == "contract_month" else self._claim_row(rec)

    def position(self, topic: str, partition: int) -> int | None:
        """The next offset to read of a partition, if it was ever read."""
        return self.positions.get(f"{topic}:{partition}")

    def claimed(self, contract_id: str, month: str) -> tuple[str | None, list[str]]:
        """Credit of the accepted claims for one contract and month, and their ids."""
        total = Decimal(0)
        ids: list[str] = []
        for c in sorted(self.claims.values(), key=lambda c: str(c["claim_id"])):
            if c["contract_id"] != contract_id or c["decision"] != "accepted":
                continue
            for credit in c["credits"]:
                if credit["month"] == month:
                    total += Decimal(credit["credit_amount"])
                    ids.append(c["claim_id"])
        return (str(total) if ids else None), ids

    def _row(self, rec: JSON) -> JSON:
        claimed, ids = self.claimed(rec["contract_id"], rec["month"])
        return {
            "kind": "credit",
            "contract_id": rec["contract_id"],
            "client_id": rec["client_id"],
            "month": rec["month"],
            "status": rec["status"],
            "revision": rec["revision"],
            "uptime_percent": rec["uptime_percent"],
            "meets_target": rec["meets_target"],
            "credit_percent": rec["credit_percent"],
            "credit_amount": rec["credit_amount"],
            "currency": rec["currency"],
            "claimed_amount": claimed,
            "claims": ids,
        }

    @staticmethod
    def _claim_row(rec: JSON) -> JSON:
        return {
            "kind": "claim",
            **{k: v for k, v in rec.items() if k not in ("partition", "offset")},
        }

    def rows(self) -> list[JSON]:
        """The current credits, by contract then month, then the claim decisions."""
        rows = [self._row(self.statements[k]) for k in sorted(self.statements)]
        rows += [self._claim_row(self.claims[k]) for k in sorted(self.claims)]
        return rows

    def to_json(self) -> JSON:
        return {
            "format": STATE_FORMAT,
            "statements": self.statements,
            "claims": self.claims,
            "positions": self.positions,
            "skipped": self.skipped,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CreditBook:
        if data.get("format") != STATE_FORMAT:
            raise ValueError(f"unknown billing state format {data.get('format')!r}")
        return cls(
            statements=dict(data["statements"]),
            claims=dict(data["claims"]),
            positions={str(k): int(v) for k, v in data["positions"].items()},
            skipped=int(data.get("skipped", 0)),
        )

    def save(self, path: Path) -> None:
        """Write the state atomically (a crash leaves the old file or the new one)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(self.to_json(), fh, sort_keys=True, separators=(",", ":"))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path) -> CreditBook:
        """The saved state, or an empty book when there is no state file yet."""
        if not path.exists():
            return cls()
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")))


def table(rows: Iterable[JSON]) -> str:
    """The current credits as a text table."""
    rows = list(rows)
    lines: list[str] = []
    credits = [r for r in rows if r["kind"] == "credit"]
    head = ("contract", "month", "status", "uptime %", "credit %", "credit", "claimed", "claims")
    body: list[tuple[str, ...]] = []
    for r in credits:
        body.append(
            (
                r["contract_id"],
                r["month"],
                f"{r['status']} r{r['revision']}",
                r["uptime_percent"],
                r["credit_percent"],
                f"{r['credit_amount']} {r['currency']}",
                f"{r['claimed_amount']} {r['currency']}" if r["claimed_amount"] else "-",
                ",".join(r["claims"]) or "-",
            )
        )
    lines.append("Credits")
    lines.extend(columns(head, body))
    return "\n".join(lines)
