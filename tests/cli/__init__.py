"""Tests of the ``availability`` command line as a user meets it: messages, exit codes, help."""
