"""Conventions and small helpers shared by several simulators (one home for each)."""

from __future__ import annotations

__all__ = ["SECONDS_PER_YEAR", "TRADING_DAYS", "PathGrid"]

#: Trading days per year: annualises daily returns, variances and turnover of exchange data.
TRADING_DAYS = 252.0
#: Seconds per calendar year: annualises a 24/7 market's (the crypto perpetual's) tick data.
SECONDS_PER_YEAR = 365.0 * 24.0 * 3600.0


class PathGrid:
    """``n_paths`` and ``n_steps`` of a path set whose ``spot`` is ``(n_paths, n_steps + 1)``.

    A mixin for the path containers (numpy or torch ``spot``); it adds no fields.
    """

    @property
    def n_paths(self) -> int:
        return int(self.spot.shape[0])

    @property
    def n_steps(self) -> int:
        return int(self.spot.shape[1] - 1)
