"""``./dev demo`` and ``./dev generate``: development commands, not ``availability`` commands.

They are ``python -m devkit``, with the help layout and the options the
``availability`` commands have; the installed tool refuses them with where
to run them instead.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from cli.main import build_parser as availability_parser
from devkit.main import build_parser
from devkit.simulate import Scenario, write_jsonl
from tests.cli.conftest import Run


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return {
        name: sub
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
        for name, sub in action.choices.items()
    }


def test_the_development_commands_are_there_and_not_in_the_installed_tool() -> None:
    commands = _commands(build_parser())
    assert set(commands) == {"demo", "generate"}
    assert not set(commands) & set(_commands(availability_parser()))
    for name, parser in commands.items():
        assert parser.epilog is not None
        assert f"  ./dev {name}" in parser.epilog, name
        for action in parser._actions:
            assert action.help is not None, (name, action.dest)
            assert len(action.help) > 10, (name, action.dest)


def test_top_level_help_lists_both(devkit: Run) -> None:
    proc = devkit("--help")
    assert proc.returncode == 0, proc.stderr
    listed = {ln.split()[0] for ln in proc.stdout.splitlines() if ln.startswith("    ")}
    assert {"demo", "generate"} <= listed
    assert proc.stdout == devkit().stdout


def test_generate_writes_the_simulated_month(devkit: Run, tmp_path: Path) -> None:
    proc = devkit("generate", "out/m.jsonl", "--services", "api,web", "--interval", "600")
    assert proc.returncode == 0, proc.stderr
    assert "suggested --as-of 2026-04-11T00:00:00Z" in proc.stderr
    write_jsonl(Scenario(services=("api", "web"), interval_seconds=600), str(tmp_path / "m.jsonl"))
    assert (tmp_path / "out" / "m.jsonl").read_bytes() == (tmp_path / "m.jsonl").read_bytes()


@pytest.mark.parametrize("name", ["demo", "generate"])
def test_the_installed_tool_says_where_the_development_commands_run(cli: Run, name: str) -> None:
    proc = cli("--debug", name, "--month", "2026-03")
    assert proc.returncode == 2
    assert f"availability: error: {name} is a development command" in proc.stderr
    assert f"run ./dev {name} from a source checkout" in proc.stderr
