"""Daily price loader for real-data studies: CSV in, clean float prices out.

A CSV holds one date column and one column per instrument. :func:`load_prices` survives the
quirks of the embedded files (UTF-8 byte-order mark, M/D/YYYY dates, '=' in column names such
as ``CL=F``) and of hand-edited ones (unsorted dates, duplicated dates, gaps), and rejects what
cannot be a price (non-numeric, non-finite, zero or negative, above :data:`MAX_PRICE`) with a
ValueError naming the file, the column and the row's date; an empty, binary, UTF-16 or ragged
file, or a column whose price never moves, is a ValueError naming the file. :func:`returns`
turns prices into simple or log returns.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

#: Folder of the embedded datasets; a bare file name given to :func:`load_prices` resolves here.
DATA_DIR = Path(__file__).resolve().parents[1] / "data"

#: Cell texts read as a missing value (case-insensitive, after stripping blanks).
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "#n/a", "nat"})

#: Date formats tried in order; the first that parses every date of the file wins.
DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%Y/%m/%d", "%d.%m.%Y", "%Y%m%d", "ISO8601")


DATE_SAMPLE = 20  # leading cells of each column tried first when the date column is found by type

#: Largest price accepted: squared returns of prices near the float limit overflow to inf.
MAX_PRICE = 1e12


class DataQualityWarning(UserWarning):
    """A repair the loader made to the data (dropped duplicate dates, dropped gap rows)."""


def _is_bare_name(source: str | Path) -> bool:
    """True for a name without a folder part as the user wrote it (``x.csv``, not ``./x.csv``).

    pathlib drops a leading ``./`` (``Path("./x.csv") == Path("x.csv")``), so the decision is
    made on the text.
    """
    text = str(source)
    seps = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    return not any(sep in text for sep in seps) and not Path(text).is_absolute()


def resolve_source(source: str | Path) -> Path:
    """The file a ``source`` names.

    A path with a folder part (``./x.csv``, ``data/x.csv``, an absolute path) is always the
    user's file, relative to the working directory. Only a bare file name (``x.csv``) looks in
    the embedded :data:`DATA_DIR`: it is the embedded file, or the working directory's file of
    that name when there is no embedded one; a bare name that is both (with different contents)
    is refused, since either could be meant: write ``./x.csv`` for yours.
    """
    path = Path(source)
    if not _is_bare_name(source):
        if not path.is_file():
            raise FileNotFoundError(f"price file {str(source)!r} does not exist")
        return path
    embedded = DATA_DIR / path
    if embedded.is_file() and path.is_file():
        if path.resolve() == embedded.resolve() or path.read_bytes() == embedded.read_bytes():
            return embedded
        raise FileNotFoundError(
            f"price file {str(source)!r} is both in the working directory and embedded in "
            f"{DATA_DIR}: write ./{path.name} for the working directory's file, or move it"
        )
    if embedded.is_file():
        return embedded
    if path.is_file():
        return path
    available = ", ".join(sorted(p.name for p in DATA_DIR.glob("*.csv")))
    raise FileNotFoundError(
        f"price file {str(source)!r} is neither in {DATA_DIR} (embedded: {available}) "
        "nor in the working directory"
    )


def load_prices(
    source: str | Path,
    columns: list[str] | None = None,
    start=None,
    end=None,
    max_ffill_days: int = 5,
    date_column: str | None = None,
) -> pd.DataFrame:
    """Load daily prices from a CSV as a float DataFrame on a sorted, unique DatetimeIndex.

    Parameters
    ----------
    source: a bare file name (embedded ``simulators/data/`` folder) or a path.
    columns: price columns to keep, in this order; ``None`` keeps every column but the date.
    start, end: inclusive date bounds (anything ``pandas.Timestamp`` accepts), or ``None``.
    max_ffill_days: longest run of consecutive missing observations (rows) of one column that
        is forward-filled with the last known price.
    date_column: the date column's name; ``None``: the one column whose cells parse as dates
        (none or several: ValueError). ``attrs["date_column"]`` says which was used.

    Cleaning policy, in this order:

    1. Header names are stripped of blanks and of a UTF-8 byte-order mark; '=' and other
       characters are kept (``CL=F``). Dates are parsed with the first of :data:`DATE_FORMATS`
       that fits every row (ISO ``YYYY-MM-DD``, US ``M/D/YYYY``, ...); one format per file, so
       a day and a month are never swapped row by row.
    2. Rows are sorted by date. Duplicated dates keep the LAST row in file order; the dropped
       dates are announced with a :class:`DataQualityWarning`.
    3. Each selected cell must be a finite, strictly positive number or empty / a missing token
       (:data:`MISSING_TOKENS`); anything else raises ValueError naming file, column and date.
    4. Missing prices are forward-filled from the last known price for at most
       ``max_ffill_days`` consecutive rows (on the full file, so a gap may be filled from a
       price before ``start``); rows of the selected date range that still miss a price (a
       longer gap, or before a column's first price) are dropped, with a
       :class:`DataQualityWarning` giving their count.

    The result's ``attrs`` record the repairs: ``source``, ``duplicate_dates`` (dropped),
    ``filled_cells`` and ``dropped_rows``; and ``date_column`` (``date_column_found``: True when
    it was found by type).
    """
    if int(max_ffill_days) < 0:
        raise ValueError(f"max_ffill_days must be >= 0, got {max_ffill_days}")
    path = resolve_source(source)
    name = str(path)
    raw = _read_table(path, name)
    date_col, price_cols = _select_columns(raw, name, date_column, columns)
    frame, dup_dates = _index_by_date(raw, name, date_col, price_cols)
    prices, filled = _fill_gaps(frame, name, max_ffill_days)
    prices, dropped = _trim_to_range(prices, name, start, end, max_ffill_days)
    prices = prices.astype(np.float64)
    _check_moving(prices, name)
    prices.attrs = {
        "source": name,
        "duplicate_dates": [d.strftime("%Y-%m-%d") for d in dup_dates],
        "filled_cells": filled,
        "dropped_rows": dropped,
        "date_column": date_col,
        "date_column_found": date_column is None,
    }
    return prices


def _select_columns(
    raw: pd.DataFrame, name: str, date_column: str | None, columns: list[str] | None
) -> tuple[str, list[str]]:
    """Clean the header in place and return (date column, selected price columns), checked."""
    raw.columns = [str(c).replace("\ufeff", "").strip() for c in raw.columns]
    if raw.columns.duplicated().any():
        dup = sorted(set(raw.columns[raw.columns.duplicated()]))
        raise ValueError(f"{name}: duplicated column names {dup}")
    if raw.shape[1] < 2:
        raise ValueError(f"{name}: expected a date column and at least one price column")

    date_col = _date_column_by_type(raw, name) if date_column is None else str(date_column)
    if date_col not in raw.columns:
        raise ValueError(f"{name}: unknown date column {date_col!r}; columns are {list(raw.columns)}")
    price_cols = [c for c in raw.columns if c != date_col]
    if columns is not None:
        columns = [str(c) for c in columns]
        unknown = [c for c in columns if c not in price_cols]
        if unknown:
            raise ValueError(f"{name}: unknown column(s) {unknown}; price columns are {price_cols}")
        if len(set(columns)) != len(columns):
            raise ValueError(f"{name}: columns {columns} name a column twice")
        price_cols = columns
    if not price_cols:
        raise ValueError(f"{name}: no price columns selected")
    return date_col, price_cols


def _date_column_by_type(raw: pd.DataFrame, name: str) -> str:
    """The one column whose cells parse as dates (one of :data:`DATE_FORMATS` fits every row);
    none or several: a ValueError naming the file. The first :data:`DATE_SAMPLE` cells are tried
    first (cheap on a wide file); only when several columns pass are they parsed in full."""
    sampled = [c for c in raw.columns if _parses_as_dates(raw[c].iloc[:DATE_SAMPLE])]
    found = sampled if len(sampled) < 2 else [c for c in sampled if _parses_as_dates(raw[c])]
    if len(found) == 1:
        return str(found[0])
    if not found:
        first = str(raw.columns[0])
        detail = ""
        try:
            _parse_dates(raw[first], name, first)
        except ValueError as exc:
            detail = f" ({str(exc).removeprefix(f'{name}: ')})"
        raise ValueError(f"{name}: no column parses as dates{detail}; name the date column (date_column)")
    raise ValueError(
        f"{name}: columns {[str(c) for c in found]} all parse as dates; name the date column (date_column)"
    )


def _parses_as_dates(cells: pd.Series) -> bool:
    """True if one of :data:`DATE_FORMATS` parses every (non-blank) cell of ``cells``."""
    stripped = cells.astype(str).str.strip()
    stripped = stripped[stripped.ne("")]
    return not stripped.empty and any(
        not pd.to_datetime(stripped, format=f, errors="coerce").isna().any() for f in DATE_FORMATS
    )


def _index_by_date(
    raw: pd.DataFrame, name: str, date_col: str, price_cols: list[str]
) -> tuple[pd.DataFrame, list[pd.Timestamp]]:
    """The price cells on a sorted, unique date index: (frame, dropped duplicate dates).

    Duplicated dates keep the last row in file order, with a :class:`DataQualityWarning`.
    """
    dates = _parse_dates(raw[date_col], name, date_col)
    frame = raw[price_cols].copy()
    frame.index = pd.DatetimeIndex(dates, name="Date")
    frame = frame.iloc[np.argsort(frame.index.values, kind="stable")]

    duplicated = frame.index.duplicated(keep="last")
    dup_dates = sorted(set(frame.index[duplicated]))
    if dup_dates:
        shown = ", ".join(d.strftime("%Y-%m-%d") for d in dup_dates[:5])
        more = "" if len(dup_dates) <= 5 else f" (+{len(dup_dates) - 5} more)"
        warnings.warn(
            f"{name}: {len(dup_dates)} duplicated date(s) {shown}{more}; kept the last row of each",
            DataQualityWarning,
            stacklevel=3,  # the caller of load_prices
        )
        frame = frame[~duplicated]
    return frame, dup_dates


def _fill_gaps(frame: pd.DataFrame, name: str, max_ffill_days: int) -> tuple[pd.DataFrame, int]:
    """Parse every cell as a price and forward-fill short gaps: (prices, filled cell count)."""
    prices = pd.DataFrame({c: _parse_prices(frame[c], name, c) for c in frame.columns}, index=frame.index)
    missing_before = prices.isna()
    prices = prices.ffill(limit=int(max_ffill_days)) if max_ffill_days > 0 else prices
    filled = int((missing_before & prices.notna()).to_numpy().sum())
    return prices, filled


def _trim_to_range(
    prices: pd.DataFrame, name: str, start, end, max_ffill_days: int
) -> tuple[pd.DataFrame, int]:
    """The rows between ``start`` and ``end`` with every price: (prices, dropped row count).

    Dropped incomplete rows are announced with a :class:`DataQualityWarning`.
    """
    lo = pd.Timestamp(start) if start is not None else None
    hi = pd.Timestamp(end) if end is not None else None
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"{name}: start {lo.date()} is after end {hi.date()}")
    prices = prices.loc[lo:hi]
    incomplete = prices.isna().any(axis=1)
    dropped = int(incomplete.sum())
    if dropped:
        warnings.warn(
            f"{name}: dropped {dropped} row(s) with a gap longer than {max_ffill_days} "
            "observation(s) or before a column's first price",
            DataQualityWarning,
            stacklevel=3,  # the caller of load_prices
        )
        prices = prices[~incomplete]
    if prices.empty:
        raise ValueError(f"{name}: no complete rows of {list(prices.columns)} between {start} and {end}")
    return prices, dropped


def _read_table(path: Path, name: str) -> pd.DataFrame:
    """The CSV as text cells; an empty, binary, UTF-16 or ragged file is a ValueError naming it."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if not head.strip():
        raise ValueError(f"{name}: the file is empty; expected a header row and daily prices")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ValueError(f"{name}: the file is UTF-16 text; save it as UTF-8 CSV")
    if b"\x00" in head:
        raise ValueError(f"{name}: a binary file, not a CSV of prices")
    _check_fields(path, name)
    try:
        raw = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            encoding="utf-8-sig",
            skipinitialspace=True,
        )
    except UnicodeDecodeError as exc:
        raise ValueError(f"{name}: not UTF-8 text (byte {exc.start}); save it as UTF-8 CSV") from None
    except pd.errors.EmptyDataError:
        raise ValueError(f"{name}: the file is empty; expected a header row and daily prices") from None
    except pd.errors.ParserError as exc:
        detail = " ".join(str(exc).split())[:160]
        raise ValueError(f"{name}: malformed CSV, rows have different numbers of fields ({detail})") from None
    return raw


def _check_fields(path: Path, name: str) -> None:
    """Every non-blank row has as many fields as the header (pandas would shift or pad them)."""
    import csv

    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            rows = csv.reader(fh, skipinitialspace=True)
            header = next(rows, None)
            if not header:
                raise ValueError(f"{name}: the file is empty; expected a header row and daily prices")
            for number, row in enumerate(rows, start=1):
                if row and len(row) != len(header):
                    fewer = "fewer" if len(row) < len(header) else "more"
                    raise ValueError(
                        f"{name}: malformed CSV, data row {number} has {fewer} fields "
                        f"({len(row)}) than the header ({len(header)})"
                    )
    except UnicodeDecodeError as exc:
        raise ValueError(f"{name}: not UTF-8 text (byte {exc.start}); save it as UTF-8 CSV") from None
    except csv.Error as exc:
        raise ValueError(f"{name}: malformed CSV ({exc})") from None


def _check_moving(prices: pd.DataFrame, name: str) -> None:
    """Refuse a column whose price never changes: nothing can be hedged with or against it."""
    for column in prices.columns:
        values = prices[column].to_numpy()
        if values.size >= 2 and np.all(values == values[0]):
            raise ValueError(
                f"{name}: column {column!r} is constant ({values[0]:g}) over the selected "
                f"{values.size} rows; a hedge needs prices that move"
            )


def returns(prices: pd.DataFrame, kind: str = "simple") -> pd.DataFrame:
    """Daily returns of ``prices``: ``simple`` (P_t / P_{t-1} - 1) or ``log`` (ln P_t/P_{t-1}).

    The first row (no previous price) is dropped; the index is that of ``prices`` minus it.
    """
    if kind not in ("simple", "log"):
        raise ValueError(f"returns kind must be 'simple' or 'log', got {kind!r}")
    values = prices.to_numpy(dtype=np.float64)
    if values.shape[0] < 2:
        raise ValueError("need at least two prices to compute returns")
    ratio = values[1:] / values[:-1]
    out = ratio - 1.0 if kind == "simple" else np.log(ratio)
    return pd.DataFrame(out, index=prices.index[1:], columns=prices.columns)


def _parse_dates(text: pd.Series, name: str, column: str) -> pd.DatetimeIndex:
    """Parse a date column with the first format of :data:`DATE_FORMATS` that fits every row."""
    stripped = text.astype(str).str.strip()
    blank = stripped.eq("")
    if blank.any():
        row = int(np.flatnonzero(blank.to_numpy())[0])
        raise ValueError(f"{name}: column {column!r}: empty date in data row {row + 1}")
    for fmt in DATE_FORMATS:
        parsed = pd.to_datetime(stripped, format=fmt, errors="coerce")
        if not parsed.isna().any():
            return pd.DatetimeIndex(parsed).normalize() if fmt == "ISO8601" else pd.DatetimeIndex(parsed)
    best = min(DATE_FORMATS, key=lambda f: pd.to_datetime(stripped, format=f, errors="coerce").isna().sum())
    bad = pd.to_datetime(stripped, format=best, errors="coerce").isna().to_numpy()
    row = int(np.flatnonzero(bad)[0])
    raise ValueError(
        f"{name}: column {column!r}: unparseable date {stripped.iloc[row]!r} in data row {row + 1} "
        f"(formats tried: {', '.join(DATE_FORMATS)})"
    )


def _parse_prices(text: pd.Series, name: str, column: str) -> pd.Series:
    """Numbers of one price column; missing tokens become NaN, bad values raise ValueError."""
    stripped = text.astype(str).str.strip()
    missing = stripped.str.lower().isin(MISSING_TOKENS)
    values = pd.to_numeric(stripped.where(~missing), errors="coerce").astype(np.float64)
    bad_text = values.isna() & ~missing
    if bad_text.any():
        date, cell = _first(bad_text, stripped)
        raise ValueError(f"{name}: column {column!r}, row {date}: non-numeric price {cell!r}")
    arr = values.to_numpy()
    not_finite = ~np.isfinite(arr) & ~missing.to_numpy()
    if not_finite.any():
        date, cell = _first(pd.Series(not_finite, index=text.index), stripped)
        raise ValueError(f"{name}: column {column!r}, row {date}: non-finite price {cell!r}")
    too_large = (arr > MAX_PRICE) & ~missing.to_numpy()
    if too_large.any():
        date, cell = _first(pd.Series(too_large, index=text.index), stripped)
        raise ValueError(
            f"{name}: column {column!r}, row {date}: price {cell!r} is above {MAX_PRICE:g} "
            "(returns and variances of such numbers overflow)"
        )
    non_positive = (arr <= 0.0) & ~missing.to_numpy()
    if non_positive.any():
        date, cell = _first(pd.Series(non_positive, index=text.index), stripped)
        raise ValueError(f"{name}: column {column!r}, row {date}: non-positive price {cell!r}")
    return pd.Series(arr, index=text.index)


def _first(mask: pd.Series, cells: pd.Series) -> tuple[str, str]:
    """Date (YYYY-MM-DD) and cell text of the first True of ``mask``."""
    pos = int(np.flatnonzero(mask.to_numpy())[0])
    return mask.index[pos].strftime("%Y-%m-%d"), str(cells.iloc[pos])


__all__ = ["DATA_DIR", "DataQualityWarning", "load_prices", "resolve_source", "returns"]
