"""Every failure a user can cause ends in one line on stderr and a documented exit status.

Each case injects the real fault: a store that does not exist yet, a port
where nothing listens, a socket that accepts and never answers, a DSN of a
scheme the tool does not open, a file of nothing but bad lines.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devkit.localkafka import free_port
from tests.cli.conftest import Run


def _one_line_failure(proc: subprocess.CompletedProcess[str], command: str, code: int) -> str:
    """The failure message of ``proc``, checked to be one line with ``code`` and no traceback."""
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("availability")]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"availability {command}: "), lines[0]
    return lines[0]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port whose socket accepts connections and never answers."""
    with socket.create_server(("127.0.0.1", 0), backlog=16) as srv:
        yield srv.getsockname()[1]


def test_report_before_migrate_says_to_migrate(cli: Run) -> None:
    proc = cli("report", "--contract", "PO-1001", "--month", "2026-03")
    line = _one_line_failure(proc, "report", 1)
    assert "no tables yet" in line
    assert "availability migrate" in line


def test_store_with_nothing_listening(cli: Run) -> None:
    port = free_port()
    proc = cli("migrate", "--store", f"http://localhost:{port}/db")
    line = _one_line_failure(proc, "migrate", 1)
    assert f"cannot reach the store at http://localhost:{port}/db" in line
    assert "refused" in line


def test_store_that_never_answers_fails_within_its_timeouts(cli: Run, silent_port: int) -> None:
    dsn = f"http://127.0.0.1:{silent_port}/db?connect_timeout=1&send_receive_timeout=2"
    proc = cli("migrate", "--store", dsn)
    line = _one_line_failure(proc, "migrate", 1)
    assert "cannot reach the store" in line
    assert "timed out" in line


def test_store_password_never_printed(cli: Run) -> None:
    port = free_port()
    proc = cli("migrate", "--store", f"http://bob:s3cret@localhost:{port}/db")
    line = _one_line_failure(proc, "migrate", 1)
    assert "s3cret" not in proc.stderr
    assert "bob:***@" in line


def test_unknown_store_scheme_is_a_usage_error(cli: Run) -> None:
    proc = cli("migrate", "--store", "mysql://x")
    line = _one_line_failure(proc, "migrate", 2)
    assert "unsupported store DSN scheme 'mysql'" in line
    assert "chdb:///" in line


def test_report_from_a_worker_that_is_not_running(cli: Run) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    proc = cli("report", "--contract", "PO-1001", "--month", "2026-03", "--worker", url)
    line = _one_line_failure(proc, "report", 1)
    assert f"cannot reach the worker at {url}" in line
    assert "availability worker" in line


def test_produce_to_a_refused_broker_fails_at_once(cli: Run, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text('{"type": "probe"}\n', encoding="utf-8")
    proc = cli("produce", str(events), "--bootstrap", f"127.0.0.1:{free_port()}", timeout=20)
    line = _one_line_failure(proc, "produce", 1)
    assert "cannot reach Kafka" in line
    assert "refused" in line


def test_kafka_tools_without_a_broker_configured(cli: Run) -> None:
    proc = cli("incident", "retract", "--incident", "INC-1")
    line = _one_line_failure(proc, "incident retract", 2)
    assert "--bootstrap" in line
    assert "KAFKA_BOOTSTRAP_SERVERS" in line


def test_replay_to_an_unreachable_store_prints_no_results(cli: Run) -> None:
    example = Path(__file__).resolve().parents[2] / "schemas" / "examples" / "events.jsonl"
    port = free_port()
    proc = cli(
        "replay",
        str(example),
        "--as-of",
        "2026-09-30T00:00:00Z",
        "--store",
        f"http://localhost:{port}/db",
    )
    _one_line_failure(proc, "replay", 1)
    assert proc.stdout == ""


def test_an_instant_without_offset_is_refused_with_an_example(cli: Run) -> None:
    proc = cli("replay", "x.jsonl", "--as-of", "2026-04-11T00:00:00", "--store", "none")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "e.g. 2026-04-11T00:00:00Z" in proc.stderr


def test_debug_shows_the_traceback(cli: Run) -> None:
    proc = cli("--debug", "migrate", "--store", "mysql://x")
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr
    proc = cli("migrate", "--store", "mysql://x", "--debug")
    assert "Traceback" in proc.stderr


def test_help_documents_the_exit_codes(cli: Run) -> None:
    for args in ((), ("--help",), ("replay", "--help"), ("incident", "declare", "--help")):
        proc = cli(*args)
        assert proc.returncode == 0, args
        assert "exit status:" in proc.stdout, args
        for code in ("0  success", "1  failure", "2  bad usage"):
            assert code in proc.stdout, (args, code)


def test_embedded_store_held_by_another_process(cli: Run, tmp_path: Path) -> None:
    store = f"chdb://{tmp_path / 'held'}"
    assert cli("migrate", "--store", store).returncode == 0
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from sinks.store import connect\n"
            f"store = connect({store!r})\n"
            "print('open', flush=True)\n"
            "sys.stdin.read()\n",
        ],
        cwd=Path(__file__).resolve().parents[2],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "open"
        proc = cli("report", "--contract", "PO-1001", "--month", "2026-03", "--store", store)
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=60)
        if holder.stdout is not None:
            holder.stdout.close()
    line = _one_line_failure(proc, "report", 1)
    assert "is in use by another process" in line
    assert proc.stderr.strip() == line  # the engine's own lines are not printed besides
