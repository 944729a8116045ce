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


class LineProgress:
    """The progress bar's stand-in when stderr is not a terminal: one line per change of count.

    A redirected tqdm bar writes carriage returns into one ever longer line; a log file
    wants ``kalman_hedge: 3/6 trials best=... fail=0`` lines instead.
    """

    def __init__(self, total: int, initial: int, desc: str) -> None:
        self.total, self.n, self.desc = total, initial, desc
        self._postfix = ""
        self._shown: tuple[int, str] | None = None

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        self._postfix = text
        if refresh:
            self.refresh()

    def refresh(self) -> None:
        if self._shown is not None and self._shown[0] == self.n:
            return
        self._shown = (self.n, self._postfix)
        line = f"{self.desc}: {self.n}/{self.total} trials {self._postfix}".rstrip()
        print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        self.refresh()


def progress_bar(total: int, initial: int, desc: str) -> Any:
    """A tqdm bar over all workers on a terminal; :class:`LineProgress` lines otherwise."""
    if not sys.stderr.isatty():
        return LineProgress(total, initial, desc)
    from tqdm import tqdm

    return tqdm(
        total=total, initial=initial, desc=desc, unit="trial", file=sys.stderr, dynamic_ncols=True, leave=True
    )
