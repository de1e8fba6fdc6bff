"""Fixtures of the deployment tests: the parsed files and the external tools.

``promtool`` (Debian package prometheus) and ``amtool`` (Debian package
prometheus-alertmanager) are needed by a few tests: without one, those tests
are skipped, but they fail when ``CI`` is set, so CI can never pass by
skipping. ``./dev setup`` installs both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from sla.model import JSON
from tests.helpers import need_tool

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_DIR = ROOT / "deploy" / "compose"
COMPOSE_FILE = COMPOSE_DIR / "compose.yaml"
K8S_DIR = ROOT / "deploy" / "k8s"
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def promtool() -> str:
    return need_tool("promtool")


@pytest.fixture(scope="session")
def amtool() -> str:
    return need_tool("amtool")


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def compose() -> JSON:
    data: JSON = load_yaml(COMPOSE_FILE)
    return data


def k8s_documents() -> list[tuple[str, JSON]]:
    """Every resource under deploy/k8s/ (kustomization.yaml aside), with its file name."""
    docs: list[tuple[str, JSON]] = []
    for path in sorted(K8S_DIR.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc is not None:
                docs.append((path.name, doc))
    return docs


@pytest.fixture(scope="session")
def k8s() -> list[tuple[str, JSON]]:
    return k8s_documents()


def one(docs: list[tuple[str, JSON]], kind: str, name: str) -> JSON:
    """The single resource of ``kind`` named ``name``."""
    found = [d for _, d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]
