"""The store's record reads: the JSON of the latest statements, decisions and verdicts.

:class:`StoreReads` is the reading half of :class:`sinks.store.ClickHouseStore`
(the listings for people are :mod:`sinks.queries`, built on these and on
plain queries).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sinks import rows as rw
from sinks.dsn import StoreSettings
from sla.model import JSON


class StoreReads:
    """The report queries of a store, on its ``client`` and database ``db``."""

    client: Any
    db: str
    settings: StoreSettings

    def _json_column(self, sql: str, params: Mapping[str, Any]) -> list[JSON]:
        res = self.client.query(sql, parameters=dict(params))
        return [json.loads(row[0]) for row in res.result_rows]

    def latest_contract_month(self, contract_id: str, month: str) -> JSON | None:
        """The latest revision of a contract-month statement, or ``None``."""
        found = self._json_column(
            f"SELECT statement FROM {self.db}.contract_months FINAL "
            "WHERE contract_id = {c:String} AND month = {m:Date} "
            "ORDER BY revision DESC LIMIT 1",
            {"c": contract_id, "m": rw.month_date(month)},
        )
        return found[0] if found else None

    def contract_month_history(self, contract_id: str, month: str) -> list[JSON]:
        """Every revision of a contract-month statement, oldest first."""
        return self._json_column(
            f"SELECT statement FROM {self.db}.contract_months FINAL "
            "WHERE contract_id = {c:String} AND month = {m:Date} ORDER BY revision",
            {"c": contract_id, "m": rw.month_date(month)},
        )

    def claim_decisions(self, contract_id: str) -> list[JSON]:
        """The latest decision of every claim on a contract, by submission then id."""
        return self._json_column(
            f"SELECT decision_json FROM {self.db}.claim_decisions FINAL "
            "WHERE contract_id = {c:String} ORDER BY submitted_at, claim_id",
            {"c": contract_id},
        )

    def service_months(self, month: str, services: Sequence[str] | None = None) -> list[JSON]:
        """The latest record of each service for a UTC month, by service."""
        where = "month = {m:Date}"
        params: dict[str, Any] = {"m": rw.month_date(month)}
        if services is not None:
            where += " AND service IN {s:Array(String)}"
            params["s"] = list(services)
        return self._json_column(
            f"SELECT argMax(record, version) FROM {self.db}.service_months "
            f"WHERE {where} GROUP BY service ORDER BY service",
            params,
        )

    def minute_state_counts(self, month: str) -> dict[str, dict[str, int]]:
        """Non-up minutes per service and state for a UTC month, latest snapshot only."""
        res = self.client.query(
            f"""
            WITH latest AS (
                SELECT service, max(version) AS version FROM {self.db}.service_months
                WHERE month = {{m:Date}} GROUP BY service
            )
            SELECT s.service, toString(s.state), count()
            FROM {self.db}.minute_states AS s FINAL
            INNER JOIN latest AS l ON s.service = l.service AND s.version = l.version
            WHERE toStartOfMonth(s.minute) = {{m:Date}}
            GROUP BY s.service, s.state ORDER BY s.service, s.state
            """,
            parameters={"m": rw.month_date(month)},
            # Both tables are sharded by service, so each shard joins its own part.
            settings={"distributed_product_mode": "local"} if self.settings.cluster else None,
        )
        out: dict[str, dict[str, int]] = {}
        for service, state, n in res.result_rows:
            out.setdefault(str(service), {})[str(state)] = int(n)
        return out

    def ticket_verdicts(self, client_id: str | None = None, month: str | None = None) -> list[JSON]:
        """The latest verdict of every ticket, by ``opened_at`` then ticket id.

        ``client_id`` keeps one client's tickets; ``month`` (``YYYY-MM``) those
        opened in that UTC month.
        """
        where, params = self._support_filter(client_id, month, "opened_at")
        return self._json_column(
            f"SELECT verdict FROM (SELECT ticket_id, argMax(verdict, version) AS verdict, "
            f"argMax(opened_at, version) AS opened_at, argMax(client_id, version) AS client_id "
            f"FROM {self.db}.ticket_verdicts GROUP BY ticket_id) "
            f"WHERE {where} ORDER BY opened_at, ticket_id",
            params,
        )

    def ticket_alerts(self, client_id: str | None = None, month: str | None = None) -> list[JSON]:
        """The latest of each ticket's alerts, by the instant they passed, ticket, alert.

        ``month`` (``YYYY-MM``) keeps the alerts of tickets opened in that UTC month.
        """
        where, params = self._support_filter(client_id, month, "opened_at")
        return self._json_column(
            f"SELECT alert_json FROM (SELECT ticket_id, alert, "
            f"argMax(alert_json, version) AS alert_json, argMax(alert_at, version) AS alert_at, "
            f"argMax(opened_at, version) AS opened_at, argMax(client_id, version) AS client_id "
            f"FROM {self.db}.ticket_alerts GROUP BY ticket_id, alert) "
            f"WHERE {where} ORDER BY alert_at, ticket_id, alert",
            params,
        )

    def support_months(self, month: str, client_id: str | None = None) -> list[JSON]:
        """The latest compliance row of each client and severity for a month."""
        where = "month = {m:Date}"
        params: dict[str, Any] = {"m": rw.month_date(month)}
        if client_id is not None:
            where += " AND client_id = {c:String}"
            params["c"] = client_id
        return self._json_column(
            f"SELECT argMax(record, version) FROM {self.db}.support_months "
            f"WHERE {where} GROUP BY client_id, severity ORDER BY client_id, severity",
            params,
        )

    @staticmethod
    def _support_filter(
        client_id: str | None, month: str | None, column: str
    ) -> tuple[str, dict[str, Any]]:
        clauses = ["1"]
        params: dict[str, Any] = {}
        if client_id is not None:
            clauses.append("client_id = {c:String}")
            params["c"] = client_id
        if month is not None:
            clauses.append(f"toStartOfMonth({column}) = {{m:Date}}")
            params["m"] = rw.month_date(month)
        return " AND ".join(clauses), params

    def dead_letter_counts(self) -> dict[str, int]:
        """Distinct dead letters by reason."""
        res = self.client.query(
            f"SELECT reason, uniqExact(dead_letter_id) FROM {self.db}.dead_letters "
            "GROUP BY reason ORDER BY reason"
        )
        return {str(r): int(n) for r, n in res.result_rows}
