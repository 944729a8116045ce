"""Failures as the user sees them: one masked line (the traceback only with ``HEDGEOPT_DEBUG=1``),
the exit statuses, :class:`ConfigError` for usage and config errors, and URL masking.

Libraries put connection URLs (with their passwords) into exception messages, so every
message printed here goes through :func:`hedgeopt.masking.mask` (re-exported here with
:func:`~hedgeopt.masking.register_secret`), the one function that hides every secret form.
"""

from __future__ import annotations

import os
import sys
import traceback

from hedgeopt.masking import mask, register_secret

# The exit statuses of ``python -m hedgeopt``, part of its command-line contract.
#: The study (or the replay) is done.
EXIT_OK = 0
#: The study could not produce a result: every trial failed, or too many did.
EXIT_FAILED = 1
#: A usage or config error, reported on one ``hedgeopt: error:`` line before anything is written.
EXIT_USAGE = 2
#: Stopped by Ctrl-C or SIGTERM (128 + SIGINT, as a shell reports it).
EXIT_INTERRUPTED = 130


__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "ConfigError",
    "DEBUG_ENV",
    "HedgeoptError",
    "debug",
    "mask",
    "one_line",
    "register_secret",
    "report",
]

DEBUG_ENV = "HEDGEOPT_DEBUG"


def one_line(exc: BaseException, limit: int = 300) -> str:
    """``Type: first line of the message`` (masked), for an error line."""
    text = str(exc).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    first = lines[0] if lines else ""
    name = type(exc).__name__
    if isinstance(exc, HedgeoptError) and first:
        return mask(first)[:limit]
    msg = f"{name}: {first}" if first else name
    return mask(msg)[:limit]


def debug() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip() not in ("", "0", "false", "no")


def report(exc: BaseException, context: str = "") -> None:
    """Print the failure as one ``hedgeopt: error:`` line (plus the masked traceback in debug)."""
    if debug():
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        print(mask(tb), file=sys.stderr)
    prefix = f"{context}: " if context else ""
    hint = "" if debug() else f" (set {DEBUG_ENV}=1 for the traceback)"
    print(f"hedgeopt: error: {prefix}{one_line(exc)}{hint}", file=sys.stderr, flush=True)


class HedgeoptError(RuntimeError):
    """A failure whose message is already written for the user (printed without its type)."""


class ConfigError(ValueError):
    """A usage or config error: reported as one ``hedgeopt: error:`` line, exit status 2."""
