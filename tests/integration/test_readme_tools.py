"""The README's probe, incident, claim and billing lines, run in order on a real broker.

``targets.jsonl`` points at a loopback HTTP server started here (the README
names it and shows its format); everything else is the README's text.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from devkit.localkafka import LocalKafka
from streams import topics
from tests.helpers import readme_env, run_readme_line
from tools.produce import read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.usefixtures("local_kafka_tools")]

ROOT = Path(__file__).resolve().parents[2]


def _tool_lines() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Probes, incidents, claims and billing", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, flags=re.S)
    assert block is not None
    return [ln for ln in block.group(1).splitlines() if ln.startswith("availability ")]


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def health_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/health"
    finally:
        server.shutdown()
        server.server_close()


def test_readme_tool_lines_run_in_order(tmp_path: Path, health_url: str) -> None:
    lines = _tool_lines()
    assert [ln.split()[1] for ln in lines] == [
        "probe",
        "incident",
        "incident",
        "incident",
        "incident",
        "claim",
        "billing",
    ]
    (tmp_path / "targets.jsonl").write_text(json.dumps({"service": "api", "url": health_url}))
    with LocalKafka() as kafka:
        env = readme_env(
            tmp_path, drop_prefix="KAFKA_", KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap_servers
        )
        for line in lines:
            run_readme_line(line, tmp_path, env, timeout=300)
        probes = [
            json.loads(m.value) for m in read_topic(kafka.bootstrap_servers, topics.PROBES.name)
        ]
        incidents = [
            json.loads(m.value) for m in read_topic(kafka.bootstrap_servers, topics.INCIDENTS.name)
        ]
        claims = [
            json.loads(m.value) for m in read_topic(kafka.bootstrap_servers, topics.CLAIMS.name)
        ]
    assert [(p["service"], p["region"], p["ok"]) for p in probes] == [("api", "eu-west-1", True)]
    assert [i["revision"] for i in incidents] == [0, 1, 2, 3]
    assert incidents[2]["cause"] == "aws"
    assert incidents[3]["status"] == "retracted"
    assert [c["contract_id"] for c in claims] == ["PO-1001"]
