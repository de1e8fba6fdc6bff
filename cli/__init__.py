"""The ``availability`` command line.

Subcommands are thin: they parse arguments, call the core or a sink, and
print. Exit codes: 0 success, 1 failure (a store, broker or worker that
cannot be reached or refuses; nothing valid read), 2 bad usage or unreadable
input. A command reports a failure as one line on stderr, naming what failed
and what to do; ``--debug`` lets the traceback through instead.

:mod:`cli.main` assembles the parser from one module per command (or command
family), each with its ``register(subparsers)``; the shared option groups are
in :mod:`cli.args`, the help layout in :mod:`cli.help`, the error messages in
:mod:`cli.errors`.
"""
