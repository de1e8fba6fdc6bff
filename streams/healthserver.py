"""``/health`` on a port and a process of its own, answered from the loop's last report.

The worker's HTTP API runs on its event loop: under load, a request waits
behind every callback ready before it, at each of the few loop turns an
answer takes (accept, read, handle, write), so the slowest ``/health``
answers are several times the loop's lag. A thread of the worker is not
enough either: it waits for the interpreter lock that the loop and the
statement stage's recomputation hold in turn (measured at 5,000 probes a
second and 10,000 contracts: slowest answer 198 ms on a thread, 68 ms from
a static server in a process of its own, ``bench/bench_book.py``). A
liveness or readiness probe wants an answer whatever the load, and the
truth about the loop.

:class:`HealthServer` starts a small child process (this file run as a
script: the standard library only, so it starts in a few tens of
milliseconds) that serves ``GET /health``. The loop hands it a report
(:meth:`HealthServer.publish`) every fraction of a second, one line on the
child's standard input; the child answers with the last one and its age,
with ``503`` and status ``stalled`` once the loop has not reported for
``stall_after`` seconds (a loop held by a long computation or blocking I/O
is seen as such, not as a probe timeout), and ``503`` ``starting`` before
the first report. The child exits when its input closes: when the worker
stops, or dies (even by ``kill -9``), the port closes with it.

A report is written without blocking: when the pipe is full (the child
stalled), what cannot be written waits and newer reports are dropped until
it is, so the loop never waits on the child.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO, Any

#: the loop reports this often (seconds)
REPORT_INTERVAL = 0.2
#: a loop that has not reported for this long is stalled (seconds)
STALL_AFTER = 5.0
#: how long the child may take to bind its port (seconds)
START_TIMEOUT = 30.0


class Reports:
    """The last report and the answer made from it (the child's state)."""

    def __init__(self, stall_after: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.stall_after = stall_after
        self.clock = clock
        #: (monotonic instant, HTTP status, body): replaced whole, never changed
        self._last: tuple[float, int, dict[str, Any]] | None = None

    def publish(self, status: int, body: dict[str, Any]) -> None:
        """Take a report (``body`` must not be changed afterwards)."""
        self._last = (self.clock(), status, body)

    def answer(self) -> tuple[int, bytes]:
        """The status and JSON body of a ``/health`` answer now."""
        last = self._last
        if last is None:
            return 503, _encode({"status": "starting", "degraded": {}})
        at, status, body = last
        age = round(self.clock() - at, 3)
        if age > self.stall_after:
            return 503, _encode(
                {
                    "status": "stalled",
                    "degraded": {
                        "event_loop_stalled": (
                            f"the event loop has not reported for {age:.1f} s "
                            f"(more than {self.stall_after:g} s)"
                        )
                    },
                    "report_age_seconds": age,
                    "last_report": body,
                }
            )
        return status, _encode({**body, "report_age_seconds": age})


class HealthServer:
    """``GET /health`` on ``host:port``, answered by a child process from the last report."""

    def __init__(self, host: str, port: int, stall_after: float = STALL_AFTER) -> None:
        self.host = host
        self.port = port
        self.stall_after = stall_after
        self._proc: subprocess.Popen[bytes] | None = None
        self._fd: int | None = None
        #: the part of a report the pipe had no room for yet
        self._pending = b""

    def start(self) -> None:
        """Start the child and wait until it listens (``self.port`` is then the bound port).

        Blocks up to :data:`START_TIMEOUT`: call it off the event loop.
        Raises ``RuntimeError`` when the child cannot listen (the port is taken).
        """
        proc = subprocess.Popen(
            [
                sys.executable,
                "-I",
                os.path.abspath(__file__),
                self.host,
                str(self.port),
                repr(self.stall_after),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert proc.stdin is not None
        assert proc.stdout is not None
        line = _read_line(proc.stdout, START_TIMEOUT)
        if not line.startswith(b"listening "):
            proc.kill()
            proc.wait()
            proc.stdin.close()
            proc.stdout.close()
            raise RuntimeError(
                f"/health on {self.host}:{self.port} did not start "
                f"(exit status {proc.returncode}; its error is in the log above)"
            )
        self.port = int(line.split()[1])
        proc.stdout.close()
        self._fd = proc.stdin.fileno()
        os.set_blocking(self._fd, False)
        self._proc = proc
        self._pending = b""

    def alive(self) -> bool:
        """Whether the child is running."""
        return self._proc is not None and self._proc.poll() is None

    def publish(self, status: int, body: dict[str, Any]) -> None:
        """Hand the loop's report to the child, without ever blocking."""
        if self._fd is None:
            return
        if not self._pending:
            self._pending = f"{status} ".encode() + _encode(body) + b"\n"
        try:
            written = os.write(self._fd, self._pending)
        except BlockingIOError:
            return  # the pipe is full: this report waits, newer ones are dropped
        except OSError:
            self._pending = b""
            return  # the child is gone: alive() says so
        self._pending = self._pending[written:]

    def stop(self) -> None:
        """Close the child's input (it exits and closes the port) and reap it."""
        proc, self._proc, self._fd = self._proc, None, None
        if proc is None:
            return
        assert proc.stdin is not None
        with contextlib.suppress(OSError):
            proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _read_line(stream: IO[bytes], timeout: float) -> bytes:
    """One line of ``stream`` within ``timeout`` seconds (``b""`` if none came)."""
    with selectors.DefaultSelector() as sel:
        sel.register(stream, selectors.EVENT_READ)
        if not sel.select(timeout):
            return b""
    return stream.readline()


def _encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def _handler(reports: Reports) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # an answer is one write and the connection closes (no keep-alive to hold a thread)
        protocol_version = "HTTP/1.0"

        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != "/health":
                status, body = 404, _encode({"error": "only /health is served on this port"})
            else:
                status, body = reports.answer()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            # a probe every few seconds is not worth a log line
            pass

    return Handler


def _take_reports(reports: Reports, server: ThreadingHTTPServer) -> None:
    """Read ``<status> <json>`` lines until the input closes, then stop the server."""
    for line in sys.stdin.buffer:
        status, _, body = line.partition(b" ")
        try:
            reports.publish(int(status), json.loads(body))
        except ValueError:
            continue  # not a report: the last one stands
    server.shutdown()


def main(argv: list[str]) -> int:
    """The child: ``healthserver.py HOST PORT STALL_AFTER``."""
    host, port, stall_after = argv[0], int(argv[1]), float(argv[2])
    # an interrupt meant for the worker (Ctrl-C reaches the whole process group) is
    # not the child's: it exits when the worker closes its input
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    reports = Reports(stall_after)
    try:
        server = ThreadingHTTPServer((host, port), _handler(reports))
    except OSError as exc:
        print(f"/health cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 1
    server.daemon_threads = True
    threading.Thread(target=_take_reports, args=(reports, server), daemon=True).start()
    sys.stdout.write(f"listening {server.server_address[1]}\n")
    sys.stdout.flush()
    server.serve_forever(poll_interval=0.1)
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
