"""``./dev demo`` and ``./dev generate``: the development commands, on the command line's helpers.

They are ``python -m devkit demo|generate``; each command's parser is in its
own module (``cli_demo.py``, ``cli_generate.py``), built and run as the
``availability`` commands are (:func:`cli.main.assemble`, :func:`cli.main.run`).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from cli.errors import EXIT_CODES
from cli.main import assemble, run
from devkit import cli_demo, cli_generate

#: Every development command, in the order the parser adds them.
COMMANDS = (cli_demo, cli_generate)

_TOP = """\
The development kit of a source checkout (not part of the installed tool):
a simulated month of events, run through the whole pipeline or written to a file.

commands:
    demo        the whole pipeline on a simulated month, on embedded defaults
    generate    write a simulated month of events to a file

Run `./dev COMMAND --help` for a command's options and an example; the
installed tool is `availability` (`availability --help`)."""


def build_parser() -> argparse.ArgumentParser:
    """The ``./dev`` parser of the development commands."""
    return assemble("./dev", _TOP, EXIT_CODES, COMMANDS)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one development command; return its exit status."""
    return run(build_parser(), argv)
