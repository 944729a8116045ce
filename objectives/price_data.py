"""The ``data:`` section every price-file study reads: one spelling of its keys, one loader.

Every study on a CSV of daily prices (kalman_hedge, spread_hedge, spread_hedge_universe,
tail_hedge) names the file ``data.source``, its date column ``data.date_column`` (null: the one
column that parses as dates, said in one line) and the rows ``data.start``/``data.end``/
``data.max_ffill_days``; the column roles are the study's own (kalman_hedge ``target`` and
``proxies``, spread_hedge ``columns`` and ``dependent``, tail_hedge ``equity`` and ``bond``).
An old spelling is refused with one line naming the new key (docs/using.md, "Data").
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from simulators.markets.prices import load_prices

#: Old ``data.`` keys and the key each became.
RENAMED = {"file": "source"}
#: The same as dotted config keys (``Objective.renamed_keys``: the command line's refusal).
RENAMED_KEYS = {f"data.{old}": f"data.{new}" for old, new in RENAMED.items()}


def check_data_keys(data: Mapping[str, Any]) -> None:
    """Refuse an old spelling of a data key: ``data.file was renamed data.source``."""
    for old, new in RENAMED.items():
        if old in data:
            raise ValueError(f"data.{old} was renamed data.{new}: write data.{new}: {data[old]}")
    if not data.get("source"):
        raise ValueError("data.source must name the price file (a bare name: simulators/data/)")


def load_study_prices(data: Mapping[str, Any], columns: Sequence[str] | None) -> pd.DataFrame:
    """The prices of ``columns`` (None: every column) of ``data.source``, keys checked first."""
    check_data_keys(data)
    return load_prices(
        data["source"],
        list(columns) if columns is not None else None,
        start=data.get("start"),
        end=data.get("end"),
        max_ffill_days=int(data["max_ffill_days"]),
        date_column=data.get("date_column"),
    )


def say_date_column(prices: pd.DataFrame) -> None:
    """One line on stderr when the date column was found by type (the preflight's, once)."""
    if prices.attrs["date_column_found"]:
        print(
            f"data: dates from column {prices.attrs['date_column']!r} of {prices.attrs['source']} "
            "(found by type; name another with data.date_column)",
            file=sys.stderr,
        )
