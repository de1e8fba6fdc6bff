"""Help that teaches: every option explained, every command with an example, commands grouped."""

from __future__ import annotations

import argparse

from cli.main import build_parser
from tests.cli.conftest import Run


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[name] = sub
                for inner in sub._actions:
                    if isinstance(inner, argparse._SubParsersAction):
                        found.update({f"{name} {n}": s for n, s in inner.choices.items()})
    return found


def test_every_option_has_a_sentence_and_every_command_an_example() -> None:
    commands = _commands()
    assert {"replay", "report", "worker", "probe", "incident declare", "claim"} <= set(commands)
    for name, parser in commands.items():
        assert parser.epilog is not None, name
        assert "example" in parser.epilog, name
        assert f"availability {name.split()[0]}" in parser.epilog, name
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            assert action.help is not None, (name, action.dest)
            assert len(action.help) > 10, (name, action.dest)
            assert "streams/" not in action.help, (name, action.dest)


def test_top_level_help_groups_every_command(cli: Run) -> None:
    proc = cli()
    assert proc.returncode == 0
    listed = {
        line.split()[0]
        for line in proc.stdout.split("commands, by who uses them:")[1]
        .split("Run `availability COMMAND --help`")[0]
        .splitlines()
        if line.startswith("    ")
    }
    top = {name for name in _commands() if " " not in name}
    assert listed == top
    assert "``" not in proc.stdout
    assert proc.stdout == cli("--help").stdout
