"""Failures as the user sees them: one masked line (the traceback only with ``HEDGEOPT_DEBUG=1``),
the exit statuses, :class:`ConfigError` for usage and config errors, and URL masking.

Libraries put connection URLs (with their passwords) into exception messages, so every
message printed here goes through :func:`mask`, which hides both URL passwords and any
secret registered with :func:`register_secret` (the passwords of the configured storage and
tracking URIs, wherever they appear).
"""

from __future__ import annotations

import os
import re
import sys
import traceback
from urllib.parse import unquote, urlsplit

# The exit statuses of ``python -m hedgeopt``, part of its command-line contract.
#: The study (or the replay) is done.
EXIT_OK = 0
#: The study could not produce a result: every trial failed, or too many did.
EXIT_FAILED = 1
#: A usage or config error, reported on one ``hedgeopt: error:`` line before anything is written.
EXIT_USAGE = 2
#: Stopped by Ctrl-C or SIGTERM (128 + SIGINT, as a shell reports it).
EXIT_INTERRUPTED = 130

DEBUG_ENV = "HEDGEOPT_DEBUG"
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s]*:)(?P<pw>[^@\s]+)(?P<at>@)")


def mask_url(text: str | None) -> str | None:
    """``text`` with any password inside a URL replaced by ``***``."""
    if text is None:
        return None
    return _URL_PASSWORD.sub(lambda m: f"{m['head']}***{m['at']}", str(text))


_SECRETS: set[str] = set()


def register_secret(url: str | None) -> None:
    """Remember the password of ``url`` (raw and URL-decoded) so that no message shows it."""
    if not url or "://" not in url:
        return
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    if not password:
        m = re.match(r"^[^:/]+://[^:/@]*:([^@]+)@", url)
        password = m.group(1) if m else None
    if password:
        for s in (password, unquote(password)):
            if len(s) >= 3:
                _SECRETS.add(s)


def mask(text: str) -> str:
    """``text`` with URL passwords and registered secrets replaced by ``***``."""
    out = str(mask_url(str(text)))
    for s in sorted(_SECRETS, key=len, reverse=True):
        out = out.replace(s, "***")
    return out


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
