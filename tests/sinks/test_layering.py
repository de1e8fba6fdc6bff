"""``sinks`` stands below ``streams``: no module under ``sinks/`` imports ``streams``."""

from __future__ import annotations

import ast
from pathlib import Path

import sinks

SINKS = Path(sinks.__file__).resolve().parent


def imported_modules(path: Path) -> set[str]:
    """Every module an ``import``/``from ... import`` of ``path`` names, at any depth."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved inside sinks, never streams
                continue
            names.add(node.module or "")
    return names


def test_no_sinks_module_imports_streams() -> None:
    files = sorted(SINKS.rglob("*.py"))
    assert len(files) > 5
    offenders = {
        str(f.relative_to(SINKS)): sorted(
            m for m in imported_modules(f) if m == "streams" or m.startswith("streams.")
        )
        for f in files
    }
    assert {f: m for f, m in offenders.items() if m} == {}


def test_the_walk_sees_imports_inside_functions_and_type_checking(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from streams.replay import ReplayResult\n"
        "def f() -> None:\n    import streams.cli\n"
    )
    assert {"streams.replay", "streams.cli"} <= imported_modules(probe)
