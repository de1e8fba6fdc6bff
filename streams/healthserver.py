"""``/health`` on a port and a thread of its own, answered from the loop's last report.

The worker's HTTP API runs on its event loop: under load, a request waits
behind every callback ready before it, at each of the few loop turns an
answer takes (accept, read, handle, write), so the slowest ``/health``
answers are several times the loop's lag. A liveness or readiness probe
wants an answer whatever the load, and the truth about the loop.

:class:`HealthServer` serves ``GET /health`` from a thread of its own. The
loop hands it a report (:meth:`publish`) every fraction of a second; the
thread answers with the last one and its age, and with ``503`` and status
``stalled`` once the loop has not reported for ``stall_after`` seconds: a
loop that is held (a long computation, blocking I/O) is seen as such, not as
a probe timeout. Before the first report it answers ``503`` ``starting``.

The thread only reads a report that is never changed once handed over, so
it shares nothing else with the loop.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: the loop reports this often (seconds)
REPORT_INTERVAL = 0.2
#: a loop that has not reported for this long is stalled (seconds)
STALL_AFTER = 5.0


class HealthServer:
    """``GET /health`` on ``host:port``, answered on a thread from the last report."""

    def __init__(
        self,
        host: str,
        port: int,
        stall_after: float = STALL_AFTER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.host = host
        self.port = port
        self.stall_after = stall_after
        self.clock = clock
        #: (monotonic instant, HTTP status, body): replaced whole, never changed
        self._last: tuple[float, int, dict[str, Any]] | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def publish(self, status: int, body: dict[str, Any]) -> None:
        """Hand over the loop's report (``body`` must not be changed afterwards)."""
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

    def start(self) -> None:
        """Listen and answer on a daemon thread (the port is bound before this returns)."""
        server = ThreadingHTTPServer((self.host, self.port), _handler(self))
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="health", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop answering and close the port."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)


def _encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def _handler(health: HealthServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # an answer is one write and the connection closes (no keep-alive to hold a thread)
        protocol_version = "HTTP/1.0"

        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != "/health":
                status, body = 404, _encode({"error": "only /health is served on this port"})
            else:
                status, body = health.answer()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            # a probe every few seconds is not worth a log line
            pass

    return Handler
