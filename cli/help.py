"""How every command's help is laid out: a description, examples, the exit statuses."""

from __future__ import annotations

import argparse
import textwrap
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as installed_version
from typing import TypeAlias

from cli.errors import EXIT_CODES

#: The ``add_subparsers()`` of the parser a command (or an action) joins.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the layout of descriptions and epilogs and shows each option's default."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if (
            action.default not in (None, False, argparse.SUPPRESS)
            and action.option_strings
            and "default" not in text
        ):
            text += " (default: %(default)s)"
        return text


def _debug() -> argparse.ArgumentParser:
    """The parent of every command: its ``--debug``, also accepted after the command."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print the full traceback of a failure instead of its one-line message",
    )
    return common


def command(
    subparsers: Subparsers, name: str, summary: str, *examples: str
) -> argparse.ArgumentParser:
    """A command of ``availability``: ``summary`` as its description, its ``examples``."""
    epilog = "example" + ("s" if len(examples) > 1 else "") + ":\n"
    epilog += "".join(f"  {e}\n" for e in examples) + "\n" + EXIT_CODES
    return subparsers.add_parser(
        name,
        description=textwrap.fill(summary, 79),
        epilog=epilog,
        formatter_class=HelpFormatter,
        parents=[_debug()],
    )


def action(
    subparsers: Subparsers, name: str, summary: str, example: str, description: str | None = None
) -> argparse.ArgumentParser:
    """A command's action (``statements list``), with its help, example and exit codes.

    The description is ``summary`` as a sentence unless ``description`` is given.
    """
    return subparsers.add_parser(
        name,
        help=summary,
        description=description or summary[0].upper() + summary[1:] + ".",
        epilog=f"example:\n  {example}\n\n{EXIT_CODES}",
        formatter_class=HelpFormatter,
        parents=[_debug()],
    )


def version() -> str:
    """The installed version of the tool (``unknown`` in a source tree never installed)."""
    try:
        return installed_version("availability-pipeline")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"
