"""``availability report``: the monthly SLA report of one contract."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cli.args import add_contract, add_format, add_min_coverage, add_store, month
from cli.errors import EXIT_USAGE, CliError, store_of
from cli.help import Subparsers, command
from cli.output import check_coverage
from cli.store import open_store
from reports.explain import report_settings
from reports.month import fetch_report_inputs, render_report
from sla.model import JSON


class WorkerApiStore:
    """Reads statements and claim decisions from a running worker's HTTP API.

    For when the worker owns the embedded chDB store (one process per path):
    ``GET /statements/{contract}/{month}`` and ``GET /claims/{contract}``.
    The API token, when the worker asks for one, comes from ``token`` or the
    worker's own settings (``AVAILABILITY_API_TOKEN_FILE`` / ``AVAILABILITY_API_TOKEN``).
    """

    def __init__(self, base_url: str, timeout: float = 10.0, token: str | None = None) -> None:
        from sinks.secrets import read_secret

        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._token = token if token is not None else read_secret("AVAILABILITY_API_TOKEN")

    def _get(self, path: str) -> Any:
        import json
        import urllib.error
        import urllib.parse
        import urllib.request

        url = self.base_url + urllib.parse.quote(path)
        request = urllib.request.Request(url)
        if self._token:
            request.add_header("Authorization", f"Bearer {self._token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    def latest_contract_month(self, contract_id: str, month: str) -> JSON | None:
        found = self._get(f"/statements/{contract_id}/{month}")
        return found if isinstance(found, dict) else None

    def claim_decisions(self, contract_id: str) -> list[JSON]:
        found = self._get(f"/claims/{contract_id}")
        return list(found["claims"]) if isinstance(found, dict) else []


def register(subparsers: Subparsers) -> None:
    """Add ``report``."""
    rp = command(
        subparsers,
        "report",
        "The monthly SLA report of one contract: uptime, downtime periods, exclusions, "
        "credit and claim decisions, from the store (or a running worker).",
        "availability report --contract PO-1001 --month 2026-03",
        "availability report --contract PO-1001 --month 2026-03 --format html "
        "--output PO-1001.html",
    )
    add_contract(rp)
    rp.add_argument(
        "--month", type=month, required=True, help="the month in the contract's timezone, YYYY-MM"
    )
    add_format(
        rp,
        ("table", "json", "jsonl", "csv", "html"),
        "table",
        "table for a terminal, json (or jsonl: on one line) for programs, csv for "
        "spreadsheets, html to send",
    )
    add_store(rp)
    rp.add_argument(
        "--output", default=None, metavar="FILE", help="write to FILE instead of stdout"
    )
    rp.add_argument(
        "--worker",
        default=None,
        metavar="URL",
        help="read from a running worker's HTTP API, e.g. http://127.0.0.1:6066, instead of "
        "the store",
    )
    rp.add_argument(
        "--audience",
        choices=("internal", "customer"),
        default="internal",
        help="customer leaves out the readings (other readings of the SLA text, for "
        "disputes); internal keeps them, each explained",
    )
    add_min_coverage(rp)
    rp.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Render the report of ``args.contract`` and ``args.month``; write or print it."""
    support: tuple[list[JSON], list[JSON]] | None = None
    if args.worker:
        try:
            statement, claims = fetch_report_inputs(
                WorkerApiStore(args.worker), args.contract, str(args.month)
            )
        except LookupError as exc:
            raise CliError(str(exc)) from None
    else:
        store = open_store(args.store)
        try:
            try:
                statement, claims = fetch_report_inputs(store, args.contract, str(args.month))
            except LookupError as exc:
                raise CliError(
                    f"{exc} in the store at {store_of(args)} "
                    "(replay or run the worker for that month first)"
                ) from None
            client, of_month = statement["client_id"], str(args.month)
            support = (
                store.support_months(of_month, client),
                store.ticket_verdicts(client, of_month),
            )
        finally:
            store.close()
    try:
        settings = report_settings()
    except ValueError as exc:
        raise CliError(f"AVAILABILITY_LOW_COVERAGE: {exc}", EXIT_USAGE) from None
    text = render_report(statement, claims, args.format, args.audience, settings, support)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    check_coverage([statement], args.min_coverage)
    return 0
