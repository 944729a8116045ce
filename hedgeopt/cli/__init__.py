"""The command line: ``python -m hedgeopt`` and ``hedgeopt`` (parse, compose, validate, run), its
dash options and ``--help``, and how much it says on the terminal.

Public: :func:`main` (the console script)."""

from hedgeopt.cli.command import main

__all__ = ["main"]
