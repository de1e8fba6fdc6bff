"""Read back what a worker stored, from a process of its own (chDB: one process per path).

``python -m tests.faults.read_store DSN MONTH...`` prints one JSON object:
raw-event counts (plain, distinct ids, ``FINAL``), dead letters by reason,
every stored contract-month statement (``FINAL``), the most copies any
``(contract, month, revision)`` has after ``FINAL``, and the latest record of
each service for each ``MONTH``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from sinks.store import connect


def read(dsn: str, months: list[str]) -> dict[str, Any]:
    store = connect(dsn)
    try:
        db = store.db

        def rows(sql: str) -> list[list[Any]]:
            return [list(r) for r in store.client.query(sql).result_rows]

        return {
            "raw": rows(f"SELECT count(), uniqExact(event_id) FROM {db}.raw_events")[0],
            "raw_final": rows(f"SELECT count() FROM {db}.raw_events FINAL")[0][0],
            "dead": store.dead_letter_counts(),
            "statements": [
                json.loads(r[0])
                for r in rows(
                    f"SELECT statement FROM {db}.contract_months FINAL "
                    "ORDER BY contract_id, month, revision"
                )
            ],
            "copies": rows(
                f"SELECT max(n) FROM (SELECT count() AS n FROM {db}.contract_months FINAL "
                "GROUP BY contract_id, month, revision)"
            )[0][0],
            "services": {m: store.service_months(m) for m in months},
        }
    finally:
        store.close()


def main() -> None:
    print(json.dumps(read(sys.argv[1], sys.argv[2:])))


if __name__ == "__main__":
    main()
