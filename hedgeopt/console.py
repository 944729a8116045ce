"""How much the CLI says on the terminal: ``--quiet``, normal, ``--verbose``.

The level travels in an environment variable so that worker processes see it too.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

VERBOSITY_ENV = "HEDGEOPT_VERBOSITY"
QUIET, NORMAL, VERBOSE = 0, 1, 2


def set_verbosity(level: int) -> None:
    os.environ[VERBOSITY_ENV] = str(int(level))


def verbosity() -> int:
    try:
        return int(os.environ.get(VERBOSITY_ENV, NORMAL))
    except ValueError:
        return NORMAL


def info(msg: str) -> bool:
    """Whether an informational stderr line should be printed (errors and warnings always are)."""
    return verbosity() >= NORMAL or msg.startswith(("hedgeopt: error", "hedgeopt: warning"))


def trial_line(
    number: int, state: str, metrics: Mapping[str, float], params: Mapping[str, Any], names: tuple[str, ...]
) -> None:
    """``--verbose``: one line per finished trial, printed above the progress bar."""
    if verbosity() < VERBOSE:
        return
    shown = [f"{m}={metrics[m]:.6g}" for m in names if m in metrics]
    ps = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
    text = f"trial {number:4d} {state:<8} {' '.join(shown)}  {ps}".rstrip()
    try:
        from tqdm import tqdm

        tqdm.write(text, file=sys.stderr)
    except ImportError:  # pragma: no cover
        print(text, file=sys.stderr, flush=True)
