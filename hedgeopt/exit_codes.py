"""The exit statuses of ``python -m hedgeopt``, part of its command-line contract."""

from __future__ import annotations

#: The study (or the replay) is done.
EXIT_OK = 0
#: The study could not produce a result: every trial failed, or too many did.
EXIT_FAILED = 1
#: A usage or config error, reported on one ``hedgeopt: error:`` line before anything is written.
EXIT_USAGE = 2
#: Stopped by Ctrl-C or SIGTERM (128 + SIGINT, as a shell reports it).
EXIT_INTERRUPTED = 130
