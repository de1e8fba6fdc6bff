"""The prober against a real HTTP server on 127.0.0.1 (no broker: events are collected)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from schemas.codec import decode
from schemas.events import ProbeEvent
from tools.prober import Prober, Target, TargetsError, check, load_targets, parse_targets, run

SLOW_SECONDS = 1.5
TIMEOUT = 0.4


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    in_flight = 0
    max_in_flight = 0
    lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.in_flight += 1
            self.server.max_in_flight = max(self.server.max_in_flight, self.server.in_flight)
        try:
            if self.path.startswith("/slow"):
                time.sleep(SLOW_SECONDS)
            code = {"/ok": 200, "/down": 503, "/teapot": 418}.get(self.path, 200)
            body = b"fine" if code == 200 else b"nope"
            try:
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass  # the prober gave up on a slow response
        finally:
            with self.server.lock:
                self.server.in_flight -= 1

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def http() -> Iterator[tuple[str, _Server]]:
    server = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server
    finally:
        server.shutdown()
        server.server_close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


FIXED = datetime(2026, 3, 10, 12, 0, 5, 250000, tzinfo=UTC)


def test_a_round_checks_every_target_concurrently_and_gives_valid_probe_events(
    http: tuple[str, _Server],
) -> None:
    base, server = http
    server.max_in_flight = 0
    targets = [
        Target("api", f"{base}/ok"),
        Target("web", f"{base}/down"),
        Target("search", f"{base}/slow-1"),
        Target("search", f"{base}/slow-2"),
    ]
    prober = Prober(targets, "eu-west-1", timeout=TIMEOUT, clock=lambda: FIXED)
    events = prober.round()
    assert [e["service"] for e in events] == ["api", "web", "search", "search"]
    for ev in events:
        decoded = decode(json.dumps(ev).encode())
        assert isinstance(decoded, ProbeEvent)
        assert decoded.region == "eu-west-1"
        assert decoded.observed_at == FIXED
        assert ev["observed_at"] == "2026-03-10T12:00:05.250000Z"
        assert decoded.latency_ms is not None
        assert decoded.latency_ms >= 0
    ok, down, slow1, slow2 = events
    assert (ok["ok"], ok["status_code"], "error" in ok) == (True, 200, False)
    assert (down["ok"], down["status_code"], down["error"]) == (False, 503, "unexpected status 503")
    for slow in (slow1, slow2):
        assert slow["ok"] is False
        assert slow["error"] == f"timeout after {TIMEOUT:g}s"
        assert "status_code" not in slow
    assert len({e["event_id"] for e in events}) == 4
    # both slow requests were being served at once: the checks run concurrently
    assert server.max_in_flight >= 2


def test_expected_status_and_connection_errors(http: tuple[str, _Server]) -> None:
    base, _ = http
    teapot = check(Target("tea", f"{base}/teapot", frozenset({418})), TIMEOUT)
    assert (teapot.ok, teapot.status_code, teapot.error) == (True, 418, None)
    not_ok = check(Target("api", f"{base}/ok", frozenset({204})), TIMEOUT)
    assert (not_ok.ok, not_ok.status_code, not_ok.error) == (False, 200, "unexpected status 200")
    refused = check(Target("db", f"http://127.0.0.1:{_closed_port()}/"), TIMEOUT)
    assert refused.ok is False
    assert refused.status_code is None
    assert refused.error is not None
    assert refused.error.startswith("connection error:")


def test_run_repeats_on_its_interval_until_stopped(http: tuple[str, _Server]) -> None:
    base, _ = http
    prober = Prober([Target("api", f"{base}/ok")], "r1", timeout=TIMEOUT)
    stop = threading.Event()
    published: list[list[dict[str, object]]] = []

    def publish(events: list[dict[str, object]]) -> None:
        published.append(events)
        if len(published) == 3:
            stop.set()

    t0 = time.monotonic()
    assert run(prober, publish, interval=0.2, stop=stop) == 3
    assert time.monotonic() - t0 >= 0.4  # two waits of one interval between three rounds
    assert all(len(evs) == 1 and evs[0]["ok"] is True for evs in published)
    assert run(prober, published.append, interval=60, once=True) == 1


def test_targets_file_as_json_lines_or_a_json_list(tmp_path: Path) -> None:
    lines = tmp_path / "targets.jsonl"
    lines.write_text(
        "# the public endpoints\n"
        '{"service": "api", "url": "https://api.example.com/health"}\n'
        "\n"
        '{"service": "web", "url": "http://web.example.com/", "expect_status": [200, 301]}\n',
        encoding="utf-8",
    )
    listed = tmp_path / "targets.json"
    listed.write_text(
        json.dumps(
            [
                {"service": "api", "url": "https://api.example.com/health"},
                {"service": "web", "url": "http://web.example.com/", "expect_status": [200, 301]},
            ]
        ),
        encoding="utf-8",
    )
    want = [
        Target("api", "https://api.example.com/health"),
        Target("web", "http://web.example.com/", frozenset({200, 301})),
    ]
    assert load_targets(lines) == want
    assert load_targets(listed) == want
    assert parse_targets('{"service":"x","url":"http://x/","expect_status":204}') == [
        Target("x", "http://x/", frozenset({204}))
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"service": "api"}', "t:1: url: Field required"),
        ('{"service": "a b", "url": "http://x/"}', "t:1: service: String should match pattern"),
        ('{"service": "api", "url": "ftp://x/"}', "t:1: url: String should match pattern"),
        ('{"service": "api", "url": "http://x/", "expect": 200}', "t:1: expect: Extra inputs"),
        ('{"service": "api", "url": "http://x/", "expect_status": 42}', "t:1: expect_status"),
        ('\n{"service": "api",', "t:2: not valid JSON"),
        ("[" * 100_000, "t: not valid JSON"),
        ('# deep\n{"service": ' + "[" * 100_000, "t:2: not valid JSON"),
        ('[{"service": "api", "url": "http://x/"}, 3]', "t: item 2: Input should be"),
        ("# nothing\n", "t: no targets"),
    ],
)
def test_bad_targets_files_say_where_and_why(text: str, message: str) -> None:
    with pytest.raises(TargetsError) as err:
        parse_targets(text, "t")
    assert str(err.value).startswith(message)


def test_a_missing_targets_file_is_a_targets_error(tmp_path: Path) -> None:
    with pytest.raises(TargetsError, match="cannot read"):
        load_targets(tmp_path / "missing.json")


def test_a_naive_clock_is_refused(http: tuple[str, _Server]) -> None:
    base, _ = http
    naive = datetime(2026, 3, 10, 12, 0)  # noqa: DTZ001 - the point of the test
    prober = Prober([Target("api", f"{base}/ok")], "r1", timeout=TIMEOUT, clock=lambda: naive)
    with pytest.raises(ValueError, match="naive"):
        prober.round()
