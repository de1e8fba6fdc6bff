"""``contracts apply -f``: checked by the wire model, sent as the next revision (a real broker)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from cli.main import main
from schemas.codec import decode
from schemas.events import ContractEvent
from streams import topics
from tests.integration.conftest import kafka_bootstrap  # noqa: F401 - the broker fixture
from tools.produce import read_topic

YAML = """\
# one contract per document
contract_id: {cid}
client_id: acme
currency: GBP
timezone: Europe/London
uptime_target: 99.95
services:
  - service: api
    monthly_charge: "1250.00"
effective_from: 2026-03-01T00:00:00Z
"""


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def _on_topic(bootstrap: str, cid: str) -> list[ContractEvent]:
    found = []
    for m in read_topic(bootstrap, topics.CONTRACTS.name):
        ev = decode(m.value)
        if isinstance(ev, ContractEvent) and ev.contract_id == cid:
            assert m.key == topics.event_key(json.loads(m.value))
            found.append(ev)
    return found


@pytest.mark.kafka
def test_apply_sends_revision_0_then_the_next_revision_and_nothing_when_unchanged(
    kafka_bootstrap: str,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cid = f"PO-T{uuid.uuid4().hex[:6]}"
    path = tmp_path / f"{cid}.yaml"
    path.write_text(YAML.format(cid=cid))
    apply = ["contracts", "apply", "-f", str(path), "--bootstrap", kafka_bootstrap]

    rc, out, err = _run(apply, capsys)
    assert rc == 0, err
    sent = json.loads(out)
    assert (sent["revision"], sent["uptime_target"]) == (0, "99.95")  # YAML's text, not a float
    assert sent["effective_from"] == "2026-03-01T00:00:00Z"
    assert f"contract {cid} revision 0 sent" in err
    (first,) = _on_topic(kafka_bootstrap, cid)
    assert (first.revision, first.event_id) == (0, sent["event_id"])

    rc, out, err = _run(apply, capsys)  # the same terms again: nothing to send
    assert (rc, out) == (0, "")
    assert f"contract {cid} unchanged (revision 0); nothing sent" in err
    assert len(_on_topic(kafka_bootstrap, cid)) == 1

    as_json = tmp_path / f"{cid}.json"
    terms = {k: v for k, v in sent.items() if k not in ("event_id", "revision")}
    as_json.write_text(json.dumps({**terms, "uptime_target": "99.9"}))  # one term changed
    rc, out, err = _run(["contracts", "apply", "-f", str(as_json), "--bootstrap",
                         kafka_bootstrap], capsys)  # fmt: skip
    assert rc == 0, err
    assert json.loads(out)["revision"] == 1
    revisions = sorted((ev.revision, ev.uptime_target) for ev in _on_topic(kafka_bootstrap, cid))
    assert revisions == [(0, "99.95"), (1, "99.9")]


def test_dry_run_validates_without_a_broker(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    path = tmp_path / "two.yaml"
    path.write_text(YAML.format(cid="PO-A") + "---\n" + YAML.format(cid="PO-B"))
    rc, out, err = _run(["contracts", "apply", "-f", str(path), "--dry-run"], capsys)
    assert rc == 0, err
    assert [json.loads(line)["contract_id"] for line in out.splitlines()] == ["PO-A", "PO-B"]
    assert "2 contracts valid" in err


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.yaml", YAML.format(cid="PO-1").replace('"1250.00"', "1250"),
         'document 1 (contract PO-1): wrong_type: services.0.monthly_charge'),
        ("bad.yaml", YAML.format(cid="PO-1").replace("2026-03-01T00:00:00Z", "2026-03-01T00:00"),
         "document 1 (contract PO-1): naive_timestamp: effective_from"),
        ("bad.json", '{"contract_id": "PO-1", "revision": 3}',
         "remove revision: apply chooses them"),
        ("bad.json", '{"contract_id": ', "not valid JSON"),
        ("bad.yaml", "contract_id: [", "not valid YAML"),
        ("deep.json", "[" * 100_000, "not valid JSON"),
        ("deep.yaml", "contract_id: " + "[" * 100_000, "not valid YAML: nested too deeply"),
        ("bad.txt", "{}", "expected a .json, .yaml or .yml file"),
        ("two.yaml", YAML.format(cid="PO-1") + "---\n" + YAML.format(cid="PO-1"),
         "document 2 (contract PO-1): contract PO-1 is listed twice"),
    ],
)  # fmt: skip
def test_an_invalid_file_is_one_line_and_status_2_before_any_broker(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    # a refused broker would fail with status 1: the file is judged first
    rc, out, err = _run(["contracts", "apply", "-f", str(path), "--bootstrap", "127.0.0.1:1"],
                        capsys)  # fmt: skip
    assert (rc, out) == (2, "")
    (line,) = err.splitlines()
    assert line.startswith(f"availability contracts apply: {path}")
    assert message in line


def test_apply_picks_one_more_than_the_highest_revision_of_that_contract(tmp_path: Path) -> None:
    from tools.contracts import apply

    terms = {"contract_id": "PO-1", "client_id": "acme", "currency": "GBP",
             "services": [{"service": "api", "monthly_charge": "10.00"}]}  # fmt: skip

    def recorded(contract_id: str, revision: int, target: str) -> bytes:
        ev = {**terms, "type": "contract", "contract_id": contract_id, "revision": revision,
              "event_id": f"{contract_id}-r{revision}", "uptime_target": target}  # fmt: skip
        return json.dumps(ev).encode()

    # out of order, another contract with higher revisions, a duplicate and a bad value
    topic = [recorded("PO-1", 2, "99.5"), recorded("PO-1", 0, "99.9"), recorded("PO-2", 9, "99"),
             recorded("PO-1", 2, "99.5"), b"not json"]  # fmt: skip
    path = tmp_path / "c.json"
    (changed,) = apply([{**terms, "uptime_target": "99.9"}], path, topic)
    assert (changed.contract_id, changed.revision) == ("PO-1", 3)
    assert changed.event is not None
    assert changed.event["event_id"].startswith("contract:PO-1-r3-")
    (same,) = apply([{**terms, "uptime_target": "99.5"}], path, topic)  # the winner's terms
    assert (same.revision, same.event) == (2, None)
    (new,) = apply([{**terms, "contract_id": "PO-3"}], path, topic)
    assert new.revision == 0
