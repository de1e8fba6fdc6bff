"""The main job on embedded defaults, live: broker, worker, a simulated month through Kafka.

1. a Kafka broker: ``KAFKA_BOOTSTRAP_SERVERS`` when set, otherwise a local
   one (:class:`~devkit.localkafka.LocalKafka`) for the length of the run;
2. an ``availability worker`` process with its own consumer group, writing to
   the embedded ClickHouse store (or ``--store``);
3. a simulated month of probes, incidents, contracts, claims and tickets
   produced into the input topics;
4. once the worker has caught up and published everything, the statements
   billing would read (latest revision per key) are printed; the worker and
   the local broker are stopped.

The worker runs with a fixed clock (``as_of``) after the month is final, so
the demo shows final statements and, where an incident was reclassified
after finality, revised ones.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import IO

from fold.replay import iter_lines
from sla.model import JSON
from sla.timeutil import format_instant
from streams import topics

OUTPUT_TOPICS = sorted({spec.name for spec in topics.OUTPUT_FOR_KIND.values()})


class DemoError(RuntimeError):
    """The live demo could not run to the end."""


def worker_health(port: int) -> JSON | None:
    """The ``/health`` page of the worker on loopback ``port``, or None while it is not up."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
            found: JSON = json.loads(r.read())
            return found
    except OSError:
        return None


def wait_until_settled(
    port: int,
    proc: subprocess.Popen[bytes],
    log: Path,
    timeout: float,
    say: Callable[[str], None],
    quiet_polls: int = 3,
) -> None:
    """Wait until the worker has no lag, no pending output and no batch, several polls in a row."""
    deadline = time.monotonic() + timeout
    calm = 0
    last_report = 0.0
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:]
            raise DemoError(f"the worker exited with {proc.returncode}:\n{tail}")
        h = worker_health(port)
        settled = (
            h is not None
            and h.get("owns_statements")
            and h.get("statements_ready")
            and h.get("caught_up")
            and h.get("lag") == 0
            and h.get("pending_outputs") == 0
            and not h.get("busy")
        )
        calm = calm + 1 if settled else 0
        if calm >= quiet_polls:
            return
        if h is not None and time.monotonic() - last_report >= 10:
            last_report = time.monotonic()
            say(f"worker: {h.get('lag', '?')} events still to read")
        time.sleep(2)
    raise DemoError(f"the worker did not settle within {timeout:.0f} s (log: {log})")


def run_live_demo(
    events_path: Path,
    as_of: datetime,
    store: str,
    work_dir: Path,
    out: IO[str],
    render: Callable[[list[JSON]], str],
    fmt: str = "table",
    timeout: float = 900.0,
) -> list[JSON]:
    """Produce ``events_path`` into Kafka, let a worker fold it, print and return the outputs."""
    from devkit.localkafka import LocalKafka, free_port
    from schemas.codec import dumps
    from streams.kafkaconf import KafkaSecurity
    from tools.produce import consume_outputs, latest_outputs, produce_lines

    client = KafkaSecurity.from_env().kafka_python()
    work_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not bootstrap:
            _say("starting a local Kafka broker")
            kafka = stack.enter_context(LocalKafka())
            bootstrap = kafka.bootstrap_servers
        topics.ensure_topics(bootstrap, **client)
        port = free_port()
        log = work_dir / "demo-worker.log"
        app_id = f"availability-demo-{uuid.uuid4().hex[:8]}"
        _say(f"starting the worker (group {app_id}, clock {format_instant(as_of)}, log {log})")
        proc = _start_worker(bootstrap, app_id, as_of, port, store, log)
        # Faust keeps a worker's table state in "<app id>-data" under its
        # working directory; the demo's group is never used again, so it goes
        # once the worker has stopped (callbacks run last-registered first)
        stack.callback(shutil.rmtree, Path.cwd() / f"{app_id}-data", ignore_errors=True)
        stack.callback(stop_process, proc)
        with events_path.open("rb") as fh:
            lines = [raw for _, raw in iter_lines(fh)]
        _say(f"producing {len(lines):,} events into Kafka")
        stats = produce_lines(lines, bootstrap, **client)
        _say(
            "produced: "
            + ", ".join(f"{t} {n:,}" for t, n in sorted(stats.by_topic.items()))
            + "; waiting for the worker"
        )
        wait_until_settled(port, proc, log, timeout, _say)
        latest = latest_outputs(consume_outputs(bootstrap, OUTPUT_TOPICS, **client))
        outputs = sorted(latest.values(), key=dumps)
        _write_outputs(outputs, out, render, fmt)
        _say(f"{len(outputs)} outputs; stopping the worker")
        return outputs
    raise AssertionError("unreachable")  # pragma: no cover


def _say(text: str) -> None:
    print(f"demo: {text}", file=sys.stderr, flush=True)


def _start_worker(
    bootstrap: str, app_id: str, as_of: datetime, port: int, store: str, log: Path
) -> subprocess.Popen[bytes]:
    """An ``availability worker`` process in group ``app_id``, its output going to ``log``."""
    with log.open("wb") as log_fh:
        return subprocess.Popen(
            [
                str(Path(sys.executable).parent / "availability"),
                "worker",
                "--bootstrap",
                bootstrap,
                "--app-id",
                app_id,
                "--as-of",
                format_instant(as_of),
                "--web-port",
                str(port),
                "--store",
                store,
            ],
            stdout=log_fh,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


def _write_outputs(
    outputs: list[JSON], out: IO[str], render: Callable[[list[JSON]], str], fmt: str
) -> None:
    """Print the outputs as JSON Lines, one JSON array, or ``render``'s table."""
    from schemas.codec import dumps

    if fmt == "jsonl":
        for o in outputs:
            out.write(dumps(o) + "\n")
    elif fmt == "json":
        out.write("[\n" + ",\n".join(dumps(o) for o in outputs) + ("\n]\n" if outputs else "]\n"))
    else:
        out.write(render(outputs) + "\n")


def stop_process(
    proc: subprocess.Popen[bytes], timeout: float = 60.0, kill_timeout: float = 30.0
) -> None:
    """Terminate ``proc`` if it still runs; kill it when it has not exited after ``timeout`` s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=kill_timeout)
