"""docs/sla-explained.md: its commands run, and every number and quoted line it shows is
printed by them."""

from __future__ import annotations

import re
from pathlib import Path

from tests.cli.conftest import ROOT, Run

DOC = ROOT / "docs" / "sla-explained.md"
_FENCE = re.compile(r"```(\w+)\n(.*?)```", re.S)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def _blocks(text: str, lang: str) -> list[str]:
    return [body for kind, body in _FENCE.findall(text) if kind == lang]


def test_every_number_in_the_explained_month_comes_from_its_commands(cli: Run, devkit: Run) -> None:
    text = DOC.read_text(encoding="utf-8")
    (commands,) = _blocks(text, "sh")
    printed = []
    for line in commands.splitlines():
        assert line.startswith(("availability ", "./dev ")), line
        run = cli if line.startswith("availability ") else devkit
        proc = run(*line.split()[1:], timeout=300)
        assert proc.returncode == 0, f"{line}: {proc.stderr[-2000:]}"
        printed.append(proc.stdout)
    out = "\n".join(printed)
    squeezed = {re.sub(r"\s+", " ", ln).strip() for ln in out.splitlines()}
    quoted = [ln for block in _blocks(text, "text") for ln in block.splitlines() if ln.strip()]
    assert len(quoted) >= 5
    for ln in quoted:
        assert re.sub(r"\s+", " ", ln).strip() in squeezed, f"not printed: {ln}"
    prose = _FENCE.sub("", text)
    numbers = {m.group().rstrip(",") for m in _NUMBER.finditer(prose)}
    assert {"44,580", "61", "99.8631", "450.00", "99.9080", "-450.00"} <= numbers
    flat = out.replace(",", "")
    missing = sorted(n for n in numbers if n not in out and n.replace(",", "") not in flat)
    assert missing == [], f"numbers in {DOC.name} that no command printed: {missing}"


def test_the_explained_month_is_linked_from_the_readme() -> None:
    assert "docs/sla-explained.md" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert Path(DOC).exists()
