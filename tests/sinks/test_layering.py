"""``fold`` stands on the core alone, ``sinks`` below ``streams``, all below ``cli``.

``fold/`` (the fold both runtimes share) imports only the core (``sla``,
``schemas``) and its own modules: the worker runtime, the store and the
command line use it, never the other way. No module under ``sinks/`` imports
``streams``, ``reports``, ``tools`` or ``cli``; none under ``streams/``
imports ``cli`` (the command line uses them, never the other way).
``reports/`` renders outputs: it imports the core and its own modules, never
the worker, the store, the operator tools or the command line. Nothing that
ships in the wheel imports ``devkit`` (the development kit, left out of it).
"""

from __future__ import annotations

import ast
from pathlib import Path

import cli
import devkit
import fold
import reports
import schemas
import sinks
import sla
import streams
import tools

FOLD = Path(fold.__file__).resolve().parent
SINKS = Path(sinks.__file__).resolve().parent
STREAMS = Path(streams.__file__).resolve().parent
REPORTS = Path(reports.__file__).resolve().parent
#: Every package of code the wheel ships.
SHIPPED = tuple(
    Path(str(package.__file__)).resolve().parent
    for package in (sla, schemas, fold, sinks, streams, reports, tools, cli)
)


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


#: The project's top-level packages (the others a module imports are the
#: standard library's and third parties').
PROJECT = ("sla", "schemas", "fold", "sinks", "streams", "reports", "tools", "cli", "devkit")


def test_the_fold_imports_only_the_core() -> None:
    files = sorted(FOLD.rglob("*.py"))
    assert len(files) >= 3
    allowed = ("sla", "schemas", "fold")
    offenders = {
        str(f.relative_to(FOLD)): sorted(
            m
            for m in imported_modules(f)
            if m.split(".")[0] in PROJECT and m.split(".")[0] not in allowed
        )
        for f in files
    }
    assert {f: m for f, m in offenders.items() if m} == {}


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


def test_no_sinks_module_imports_the_reports_or_the_tools() -> None:
    files = sorted(SINKS.rglob("*.py"))
    above = ("reports", "tools")
    offenders = {
        str(f.relative_to(SINKS)): sorted(
            m for m in imported_modules(f) if m.split(".")[0] in above
        )
        for f in files
    }
    assert {f: m for f, m in offenders.items() if m} == {}


def test_no_sinks_or_streams_module_imports_the_command_line() -> None:
    files = sorted([*SINKS.rglob("*.py"), *STREAMS.rglob("*.py")])
    assert len(files) > 10
    offenders = {
        str(f): sorted(m for m in imported_modules(f) if m == "cli" or m.startswith("cli."))
        for f in files
    }
    assert {f: m for f, m in offenders.items() if m} == {}


def test_reports_import_neither_the_worker_nor_the_store_nor_the_tools() -> None:
    files = sorted(REPORTS.rglob("*.py"))
    assert len(files) > 3
    above = ("streams", "sinks", "tools", "cli")
    offenders = {
        str(f.relative_to(REPORTS)): sorted(
            m for m in imported_modules(f) if m.split(".")[0] in above
        )
        for f in files
    }
    assert {f: m for f, m in offenders.items() if m} == {}


def test_no_shipped_module_imports_the_development_kit() -> None:
    files = sorted(f for package in SHIPPED for f in package.rglob("*.py"))
    assert len(files) > 40
    assert not any(f.is_relative_to(Path(devkit.__file__).resolve().parent) for f in files)
    offenders = {
        str(f): sorted(m for m in imported_modules(f) if m.split(".")[0] == "devkit") for f in files
    }
    assert {f: m for f, m in offenders.items() if m} == {}


def test_the_walk_sees_imports_inside_functions_and_type_checking(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from fold.replay import ReplayResult\n"
        "def f() -> None:\n    import cli.main\n"
    )
    assert {"fold.replay", "cli.main"} <= imported_modules(probe)
