"""``statements``, ``claims``, ``tickets`` and ``contracts list`` read what a real replay stored.

One generated month (two services, probes every 10 minutes) is replayed
into an embedded chDB store by ``availability replay --store``, as of two
instants (March final, then revised); every command's records are compared
with the outputs the later replay printed.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from devkit.simulate import Scenario, write_jsonl
from sinks.queries import CLAIM_FIELDS, STATEMENT_FIELDS, TICKET_FIELDS
from sla.model import JSON
from tests.cli.conftest import ROOT

pytestmark = pytest.mark.clickhouse


@dataclass(frozen=True)
class Stored:
    """A store filled by one replay, and what that replay printed."""

    root: Path
    dsn: str
    outputs: list[JSON]

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "AVAILABILITY_"))}
        env["AVAILABILITY_DATA"] = str(self.root / "data")
        env["PYTHONPATH"] = str(ROOT)
        env.update(extra)
        return env

    def run(
        self, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cli", *args],
            cwd=cwd or self.root,
            env=env or self.env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def records(self, *args: str) -> list[JSON]:
        proc = self.run(*args, "--store", self.dsn, "-o", "jsonl")
        assert proc.returncode == 0, proc.stderr
        return [json.loads(line) for line in proc.stdout.splitlines()]

    def kind(self, kind: str) -> list[JSON]:
        return [o for o in self.outputs if o["kind"] == kind]


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Stored:
    root = tmp_path_factory.mktemp("store-commands")
    dsn = f"chdb://{root / 'store'}"
    st = Stored(root, dsn, [])
    # what ./dev generate march.jsonl --services api,web --interval 600 writes
    write_jsonl(Scenario(services=("api", "web"), interval_seconds=600), str(root / "march.jsonl"))
    # as of 5 April March is final (revision 0); a reclassification recorded
    # later makes it revised (revision 1) as of the 11th: the store keeps both
    early = st.run("replay", "march.jsonl", "--as-of", "2026-04-05", "--store", dsn, "-q")
    assert early.returncode == 0, early.stderr
    replay = st.run(
        "replay", "march.jsonl", "--as-of", "2026-04-11", "--store", dsn, "-q", "-o", "jsonl"
    )
    assert replay.returncode == 0, replay.stderr
    return Stored(root, dsn, [json.loads(line) for line in replay.stdout.splitlines()])


def _latest(statements: list[JSON]) -> list[JSON]:
    best: dict[tuple[str, str], JSON] = {}
    for s in statements:
        key = (s["contract_id"], s["month"])
        if key not in best or s["revision"] > best[key]["revision"]:
            best[key] = s
    return [best[k] for k in sorted(best)]


def test_statements_list_is_the_latest_revision_of_every_contract_month(stored: Stored) -> None:
    expected = [{f: s[f] for f in STATEMENT_FIELDS} for s in _latest(stored.kind("contract_month"))]
    listed = stored.records("statements", "list")
    assert listed == expected
    assert len(listed) == 4  # two contracts, March and April
    assert {r["status"] for r in listed} == {"revised", "provisional"}
    assert all(isinstance(r["uptime_percent"], str) and isinstance(r["revision"], int)
               for r in listed)  # fmt: skip

    march = stored.records("statements", "list", "--month", "2026-03")
    assert [r["month"] for r in march] == ["2026-03", "2026-03"]
    assert stored.records("statements", "list", "--contract", "PO-2002") == [
        r for r in expected if r["contract_id"] == "PO-2002"
    ]
    assert stored.records("statements", "list", "--status", "provisional") == [
        r for r in expected if r["status"] == "provisional"
    ]
    assert stored.records("statements", "list", "--status", "final") == []
    every = stored.records("statements", "list", "--all-revisions", "--contract", "PO-1001")
    assert [(r["month"], r["revision"]) for r in every] == [
        ("2026-03", 0), ("2026-03", 1), ("2026-04", 0)
    ]  # fmt: skip


def test_statements_show_prints_one_whole_statement(stored: Stored) -> None:
    (latest,) = [s for s in _latest(stored.kind("contract_month"))
                 if (s["contract_id"], s["month"]) == ("PO-1001", "2026-03")]  # fmt: skip
    assert stored.records("statements", "show", "PO-1001", "2026-03") == [latest]
    first = stored.records("statements", "show", "PO-1001", "2026-03", "--revision", "0")
    assert [(s["revision"], s["status"]) for s in first] == [(0, "final")]
    assert first[0]["services"].keys() == latest["services"].keys()

    table = stored.run("statements", "show", "PO-1001", "2026-03", "--store", stored.dsn,
                       "-o", "table")  # fmt: skip
    assert table.returncode == 0, table.stderr
    assert f"uptime_percent                  {latest['uptime_percent']}" in table.stdout
    assert "Services\nservice  charge" in table.stdout
    # coverage shows in every table: the statement's, each service's, the listing's
    assert f"coverage_percent                {latest['coverage_percent']}" in table.stdout
    listing = stored.run("statements", "list", "--contract", "PO-1001", "--month", "2026-03",
                         "--store", stored.dsn, "-o", "table").stdout.splitlines()  # fmt: skip
    head, row = listing[0].split(), listing[1].split()
    assert head[head.index("coverage") + 2 : head.index("coverage") + 4] == ["min", "left"]
    assert latest["coverage_percent"] in row, listing

    missing = stored.run("statements", "show", "PO-1001", "2026-03", "--revision", "7",
                         "--store", stored.dsn)  # fmt: skip
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines() == [
        f"availability statements show: no revision 7 of statement PO-1001 2026-03 in the "
        f"store at {stored.dsn} (stored revisions: 0, 1)"
    ]


def test_claims_list_and_show(stored: Stored) -> None:
    decisions = sorted(stored.kind("claim_decision"), key=lambda c: (c["submitted_at"],
                                                                      c["claim_id"]))  # fmt: skip
    assert decisions, "the generated month carries claims"
    assert stored.records("claims", "list") == [
        {f: c.get(f) for f in CLAIM_FIELDS} for c in decisions
    ]
    rejected = stored.records("claims", "list", "--decision", "rejected")
    assert [c["claim_id"] for c in rejected] == [
        c["claim_id"] for c in decisions if c["decision"] == "rejected"
    ]
    one = decisions[0]
    assert stored.records("claims", "show", one["claim_id"]) == [one]
    table = stored.run("claims", "show", one["claim_id"], "--store", stored.dsn, "-o", "table")
    assert "Intervals\nstart" in table.stdout, table.stderr
    unknown = stored.run("claims", "show", "CLM-404", "--store", stored.dsn)
    assert (unknown.returncode, unknown.stderr.count("\n")) == (1, 1), unknown.stderr
    assert "no decision on claim CLM-404" in unknown.stderr


def test_tickets_list_gives_each_verdict(stored: Stored) -> None:
    verdicts = sorted(stored.kind("ticket_verdict"), key=lambda t: (t["opened_at"],
                                                                     t["ticket_id"]))  # fmt: skip
    assert stored.records("tickets", "list") == [
        {f: t.get(f) for f in TICKET_FIELDS} for t in verdicts
    ]
    breached = stored.records("tickets", "list", "--status", "breached", "--severity", "high")
    assert breached
    assert breached == [
        {f: t.get(f) for f in TICKET_FIELDS}
        for t in verdicts
        if (t["status"], t["severity"]) == ("breached", "high")
    ]
    acme = stored.records("tickets", "list", "--client", "acme", "--month", "2026-03")
    assert {t["client_id"] for t in acme} == {"acme"}


def test_contracts_list_gives_the_terms_of_the_latest_revision(stored: Stored) -> None:
    listed = {c["contract_id"]: c for c in stored.records("contracts", "list")}
    statements = _latest(stored.kind("contract_month"))
    assert set(listed) == {s["contract_id"] for s in statements}
    for s in statements:
        c = listed[s["contract_id"]]
        assert c["revision"] == s["contract_revision"]
        for term in ("client_id", "currency", "timezone", "uptime_target", "credit_tiers",
                     "credit_basis", "excluded_causes", "no_data_policy"):  # fmt: skip
            assert c[term] == s[term], term
        assert c["services"] == {n: v["monthly_charge"] for n, v in s["services"].items()}
        assert (c["months_stated"], c["first_month"], c["last_month"]) == (2, "2026-03", "2026-04")


_AUDIT = """
import sys
from datetime import UTC, datetime
from sinks.store import connect
from sinks.lineage import RawEvent
store = connect(sys.argv[1])
at = datetime(2026, 4, 12, tzinfo=UTC)
store.write_raw_events(
    [RawEvent(line.encode(), at, {"topic": "availability.contracts", "partition": 0, "offset": n})
     for n, line in enumerate(sys.argv[2:])]
)
store.close()
"""


def test_contracts_list_takes_a_newer_revision_from_the_audit_trail(
    stored: Stored, tmp_path: Path
) -> None:
    """What the worker recorded but has not stated yet (a new revision, a new contract) counts."""
    dsn = f"chdb://{tmp_path / 'store'}"
    example = str(ROOT / "schemas" / "examples" / "events.jsonl")
    replayed = stored.run("replay", example, "--as-of", "2026-09-30", "--store", dsn, "-q")
    assert replayed.returncode == 0, replayed.stderr
    terms = {"client_id": "acme", "currency": "GBP",
             "services": [{"service": "api", "monthly_charge": "5000.00"}]}  # fmt: skip
    newer = {"type": "contract", "event_id": "c-po1001-r3", "contract_id": "PO-1001",
             "revision": 3, "uptime_target": "99.95", **terms}  # fmt: skip
    older = {**newer, "event_id": "c-po1001-r2", "revision": 2, "uptime_target": "99.0"}
    unstated = {**newer, "event_id": "c-po9-r0", "contract_id": "PO-9", "revision": 0}
    wrote = subprocess.run(
        [sys.executable, "-c", _AUDIT, dsn, *(json.dumps(e) for e in (older, newer, unstated))],
        env=stored.env(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert wrote.returncode == 0, wrote.stderr
    proc = stored.run("contracts", "list", "--store", dsn, "-o", "jsonl")
    assert proc.returncode == 0, proc.stderr
    listed = {c["contract_id"]: c for c in map(json.loads, proc.stdout.splitlines())}
    assert set(listed) == {"PO-1001", "PO-9"}
    po1001 = listed["PO-1001"]
    assert (po1001["revision"], po1001["uptime_target"], po1001["services"]) == (
        3, "99.95", {"api": "5000.00"}
    )  # fmt: skip
    assert po1001["months_stated"] > 0  # its statements (of revision 0) are still there
    po9 = listed["PO-9"]
    assert (po9["months_stated"], po9["first_month"], po9["timezone"]) == (0, None, "UTC")
    assert po9["excluded_causes"] == ["force_majeure", "aws"]  # the defaults, resolved
    assert po9["credit_tiers"] == [
        {"below": "99.9", "credit_percent": "10"}, {"below": "99", "credit_percent": "30"}
    ]  # fmt: skip


def test_csv_and_table_carry_the_same_records(stored: Stored) -> None:
    records = stored.records("statements", "list")
    text = stored.run("statements", "list", "--store", stored.dsn, "-o", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == list(STATEMENT_FIELDS)
    keys = ("contract_id", "month", "uptime_percent", "credit_amount")
    assert [[r[k] for k in keys] for r in rows] == [[r[k] for k in keys] for r in records]
    assert json.loads(rows[0]["excluded_minutes"]) == records[0]["excluded_minutes"]
    table = stored.run("contracts", "list", "--store", stored.dsn, "-o", "table").stdout
    assert table.splitlines()[0].split() == [
        "contract", "client", "rev", "services", "tz", "target", "basis", "excluded", "months"
    ]  # fmt: skip
    assert len(table.splitlines()) == 3


def test_migrate_down_to_a_version_and_up_again(stored: Stored, tmp_path: Path) -> None:
    dsn = f"chdb://{tmp_path / 'store'}"
    assert stored.run("migrate", "--store", dsn).returncode == 0
    down = stored.run("migrate", "--store", dsn, "--down-to", "5")
    assert down.returncode == 0, down.stderr
    assert "reverted 2 migrations: 0007_billing_views, 0006_dead_letter_sizes" in down.stderr
    up = stored.run("migrate", "--store", dsn)
    assert up.returncode == 0, up.stderr
    assert "applied 2 migrations: 0006_dead_letter_sizes, 0007_billing_views" in up.stderr
    bad = stored.run("migrate", "--store", dsn, "--down-to", "-1")
    assert bad.returncode == 2
    assert "expected a whole number >= 0" in bad.stderr


# -- where the store comes from: flag > environment > config file > built-in -------


def test_the_store_comes_from_the_flag_then_the_environment_then_the_config_file(
    stored: Stored, tmp_path: Path
) -> None:
    empty = f"chdb://{tmp_path / 'empty'}"
    migrated = stored.run("migrate", "--store", empty)
    assert migrated.returncode == 0, migrated.stderr
    # a config file naming the filled store, by a path relative to the file's folder
    (tmp_path / "availability.toml").write_text(
        f'store = "chdb://{os.path.relpath(stored.root / "store", tmp_path)}"\n'
    )
    sub = tmp_path / "elsewhere"
    sub.mkdir()

    def listed(cwd: Path, *flag: str, **env: str) -> int:
        proc = stored.run("statements", "list", "-o", "jsonl", *flag, cwd=cwd,
                          env=stored.env(**env))  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        return len(proc.stdout.splitlines())

    assert listed(tmp_path) == 4  # ./availability.toml
    assert listed(sub, AVAILABILITY_CONFIG=str(tmp_path / "availability.toml")) == 4
    # no file there: the built-in default, the embedded store under AVAILABILITY_DATA
    default = stored.run("statements", "list", cwd=sub)
    assert default.returncode == 1
    assert f"the store at chdb://{stored.root / 'data' / 'clickhouse'} has no tables" in (
        default.stderr
    )
    assert listed(tmp_path, AVAILABILITY_STORE=empty) == 0  # environment over file
    assert listed(tmp_path, "--store", stored.dsn, AVAILABILITY_STORE=empty) == 4  # flag first


def test_the_data_directory_comes_from_the_environment_then_the_config_file(
    tmp_path: Path,
) -> None:
    from streams.config import ConfigError, data_dir, store_dsn

    assert data_dir({}, tmp_path) == tmp_path / "data"
    (tmp_path / "availability.toml").write_text('data = "state"\n')
    assert data_dir({}, tmp_path) == tmp_path / "state"
    assert data_dir({"AVAILABILITY_DATA": "/srv/a"}, tmp_path) == Path("/srv/a")
    assert store_dsn(None, None, {}, tmp_path) is None  # the command's own default
    assert store_dsn(None, "none", {}, tmp_path) == "none"
    (tmp_path / "availability.toml").write_text('store = "chdb://ch"\ndata = "state"\n')
    assert store_dsn(None, "none", {}, tmp_path) == f"chdb://{tmp_path / 'ch'}"
    assert store_dsn(None, None, {"AVAILABILITY_STORE": "chdb:///x"}, tmp_path) == "chdb:///x"
    assert store_dsn("http://h:8123/db", None, {"AVAILABILITY_STORE": "chdb:///x"}) == (
        "http://h:8123/db"
    )
    # a named config file must exist; ./availability.toml is optional
    with pytest.raises(ConfigError, match=r"cannot read the config file .*missing\.toml"):
        data_dir({"AVAILABILITY_CONFIG": "missing.toml"}, tmp_path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('stor = "chdb:///x"\n', "has unknown keys stor (known: store, data)"),
        ("store = 3\n", "store must be a non-empty string"),
        ("store = \n", "is not valid TOML"),
    ],
)
def test_a_bad_config_file_is_a_usage_error(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "availability.toml").write_text(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AVAILABILITY_")}
    proc = subprocess.run(
        [sys.executable, "-m", "cli", "statements", "list"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    (line,) = proc.stderr.splitlines()
    assert line.startswith("availability statements list: the config file ")
    assert message in line


def test_a_reader_that_stops_early_ends_the_listing_quietly(stored: Stored) -> None:
    """``| head``: the closed pipe ends the command with 141 (SIGPIPE's status), no message."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "statements", "list", "--store", stored.dsn],
        cwd=stored.root,
        env=stored.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    proc.stdout.close()  # before the command could write a byte
    assert proc.wait(timeout=120) == 141
    assert proc.stderr.read() == b""
    proc.stderr.close()
