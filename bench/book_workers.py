"""The processes of ``bench/book_live.py``: workers, a control server, pollers, scrapers.

A poller is this module run with ``--poll-health PORT``: a process of its
own, as a liveness probe is, so the bench's own busy process does not time
its own waits for the interpreter. A scraper (``--scrape-metrics PORT
SECONDS``) reads a worker's ``/metrics`` as Prometheus does, every so many
seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any

from devkit.localkafka import free_port

BIN = Path(sys.executable).parent


def health_body(port: int, timeout: float = 30.0) -> bytes:
    """The worker's ``/health`` answer (a 503, degraded, is an answer too); raises ``OSError``."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=timeout) as r:
            body: bytes = r.read()
    except urllib.error.HTTPError as exc:
        body = exc.read()
    return body


def poll_health(port: int) -> None:
    """Poll ``/health`` every 0.2 s until killed; print each answer's seconds, one a line.

    Run in a process of its own (``--poll-health``), as a liveness probe is: a
    thread of the bench's own busy process would time its own waits for the
    interpreter too.
    """
    while True:
        t0 = time.monotonic()
        with suppress(OSError):
            health_body(port)
        print(f"{time.monotonic() - t0:.4f}", flush=True)
        time.sleep(0.2)


def scrape_metrics(port: int, interval: float) -> None:
    """Read ``/metrics`` every ``interval`` s until killed; print each scrape's seconds and bytes.

    One scrape a line; a scrape that failed prints ``-1`` bytes.
    """
    while True:
        t0 = time.monotonic()
        size = -1
        with (
            suppress(OSError),
            urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=60) as r,
        ):
            size = len(r.read())
        took = time.monotonic() - t0
        print(f"{took:.4f} {size}", flush=True)
        time.sleep(max(0.0, interval - took))


def start_scraper(port: int, interval: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, __file__, "--scrape-metrics", str(port), str(interval)],
        stdout=subprocess.PIPE,
    )


def stop_scraper(proc: subprocess.Popen[bytes]) -> list[tuple[float, int]]:
    """Each scrape's seconds and bytes."""
    proc.terminate()
    out, _ = proc.communicate(timeout=30)
    return [(float(t), int(n)) for t, n in (line.split() for line in out.splitlines())]


def start_poller(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, __file__, "--poll-health", str(port)], stdout=subprocess.PIPE
    )


def stop_poller(proc: subprocess.Popen[bytes]) -> list[float]:
    proc.terminate()
    out, _ = proc.communicate(timeout=30)
    return [float(x) for x in out.split()]


def start_control(stack: ExitStack, work: Path) -> int:
    """A static HTTP server answering ``/health`` from a file, stopped with ``stack``: its port.

    Polled as the workers are, it gives the slowest answer this machine
    allows under the run's load, apart from any worker.
    """
    root = work / "control"
    root.mkdir(exist_ok=True)
    (root / "health").write_text('{"status": "ok"}\n')
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stack.callback(stop, proc)
    deadline = time.monotonic() + 30
    while True:
        try:
            health_body(port, timeout=5)
            return port
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def start_workers(
    stack: ExitStack, bootstrap: str, count: int, work: Path
) -> tuple[list[int], list[int], list[subprocess.Popen[bytes]], list[Path]]:
    """``count`` workers of one group, stopped when ``stack`` closes.

    Their API ports, their ``--health-port`` ports, the processes and their logs.
    """
    app_id = f"bench-live-{os.getpid()}"
    ports: list[int] = []
    hports: list[int] = []
    procs: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []
    for i in range(count):
        ports.append(free_port())
        hports.append(free_port())
        logs.append(work / f"live-worker-{i}.log")
        proc = subprocess.Popen(
            [
                str(BIN / "availability"),
                "worker",
                "--bootstrap",
                bootstrap,
                "--app-id",
                app_id,
                "--web-port",
                str(ports[-1]),
                "--health-port",
                str(hports[-1]),
                "--store",
                "none",
            ],
            stdout=logs[-1].open("wb"),
            stderr=subprocess.STDOUT,
            cwd=work,
        )
        procs.append(proc)
        stack.callback(stop, proc)
    return ports, hports, procs, logs


def health(port: int) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(health_body(port))
    return found


def published(port: int) -> int:
    counts = health(port).get("statements", {}).get("published_by_partition", {})
    return sum(int(n) for n in counts.values())


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(timeout=60)


def wait_caught_up(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if json.loads(health_body(port, timeout=5)).get("caught_up"):
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"the worker did not catch up in {timeout:.0f} s")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--poll-health"] and len(sys.argv) == 3:
        poll_health(int(sys.argv[2]))
    elif sys.argv[1:2] == ["--scrape-metrics"] and len(sys.argv) == 4:
        scrape_metrics(int(sys.argv[2]), float(sys.argv[3]))
    else:
        raise SystemExit(
            "usage: book_workers.py --poll-health PORT | --scrape-metrics PORT SECONDS"
            " (run by book_live.py)"
        )
