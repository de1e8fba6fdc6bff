"""The compose stack's monitoring (deploy/compose/), checked offline with the real tools.

Grafana's provisioning mounts, Prometheus's scrape targets and rules
(``promtool``), Alertmanager's routes (``amtool``), and every command the
operations guide shows. The stack's schema, mounts, wiring and secrets are
in ``test_compose.py``.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from sla.model import JSON
from tests.deploy.compose_cases import WORKERS, binds, command, flag
from tests.deploy.conftest import COMPOSE_DIR, ROOT, load_yaml


def test_grafana_mounts_provisioning_where_it_looks_for_dashboards(compose: JSON) -> None:
    grafana = compose["services"]["grafana"]
    mounts = {target: host for host, target in binds(grafana)}
    assert mounts["/etc/grafana/provisioning"] == ROOT / "deploy/grafana/provisioning"
    providers = load_yaml(ROOT / "deploy/grafana/provisioning/dashboards/dashboards.yaml")
    path = providers["providers"][0]["options"]["path"]
    assert mounts[path] == ROOT / "deploy/grafana/dashboards"
    assert list(mounts[path].glob("*.json"))


def test_prometheus_scrapes_every_worker_and_loads_the_rules(compose: JSON) -> None:
    prometheus = compose["services"]["prometheus"]
    mounts = {target: host for host, target in binds(prometheus)}
    config = load_yaml(mounts["/etc/prometheus/prometheus.yml"])
    rules = [PurePosixPath("/etc/prometheus") / r for r in config["rule_files"]]
    assert [mounts[str(r)] for r in rules] == [ROOT / "deploy/prometheus/rules.yml"]
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "availability")
    targets = {t for sc in job["static_configs"] for t in sc["targets"]}
    services = compose["services"]
    expected = {
        f"{services[w]['hostname']}:{flag(command(services[w]), '--web-port')}" for w in WORKERS
    }
    assert targets == expected
    am = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert am == ["alertmanager:9093"]
    assert "alertmanager" in compose["services"]


def _container_view(service: JSON, root: Path) -> None:
    """Copy ``service``'s bind mounts under ``root`` at their container paths."""
    for host, target in binds(service):
        dest = root / target.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        if host.is_dir():
            shutil.copytree(host, dest)
        else:
            shutil.copyfile(host, dest)


@pytest.mark.prometheus
def test_promtool_accepts_the_prometheus_config(
    compose: JSON, promtool: str, tmp_path: Path
) -> None:
    _container_view(compose["services"]["prometheus"], tmp_path)
    config = tmp_path / "etc/prometheus/prometheus.yml"
    proc = subprocess.run(
        [promtool, "check", "config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 rule files found" in proc.stdout + proc.stderr


def test_amtool_accepts_the_alertmanager_config(compose: JSON, amtool: str, tmp_path: Path) -> None:
    _container_view(compose["services"]["alertmanager"], tmp_path)
    config = tmp_path / "etc/alertmanager/alertmanager.yml"
    proc = subprocess.run(
        [amtool, "check-config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    routes: Any = load_yaml(config)["route"]
    severities = set(
        re.findall(r"severity: (\w+)", (ROOT / "deploy/prometheus/rules.yml").read_text())
    )
    routed = {m.split("=")[1].strip('"') for r in routes["routes"] for m in r["matchers"]}
    # Every severity either has its own route or falls to the default receiver.
    assert routed <= severities
    assert routes["receiver"]


def test_amtool_rejects_a_route_to_an_unknown_receiver(amtool: str, tmp_path: Path) -> None:
    config = load_yaml(COMPOSE_DIR / "alertmanager.yml")
    config["route"]["routes"][0]["receiver"] = "nobody"
    bad = tmp_path / "alertmanager.yml"
    bad.write_text(json.dumps(config))
    proc = subprocess.run([amtool, "check-config", str(bad)], capture_output=True, timeout=60)
    assert proc.returncode != 0


def test_every_command_in_the_operations_guide_parses() -> None:
    from cli.main import build_parser

    guide = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```sh\n(.*?)```", guide, flags=re.S)
    lines = [ln.strip() for b in blocks for ln in b.splitlines()]
    commands = [shlex.split(ln)[1:] for ln in lines if ln.startswith("availability ")]
    assert {c[0] for c in commands} >= {"replay", "produce", "incident"}
    for args in commands:
        build_parser().parse_args(args)  # exits (a failure here) on a bad flag
