"""The CSV price loader: each quirk of the shipped data, each repair, each rejection."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulators.markets.prices import DATA_DIR, DataQualityWarning, load_prices, resolve_source, returns


def _write(path: Path, text: str, bom: bool = False) -> Path:
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def test_bom_and_us_dates(tmp_path: Path) -> None:
    f = _write(
        tmp_path / "p.csv",
        "Date,XLF,XLK\n1/2/2018,27.92,64.74\n1/3/2018,28.07,65.28\n12/31/2018,25.0,60.5\n",
        bom=True,
    )
    df = load_prices(f)
    assert list(df.columns) == ["XLF", "XLK"]  # no '\ufeffDate' leaking into names
    assert list(df.index) == [
        pd.Timestamp("2018-01-02"),
        pd.Timestamp("2018-01-03"),
        pd.Timestamp("2018-12-31"),
    ]
    assert df.loc["2018-12-31", "XLK"] == 60.5
    assert (df.dtypes == np.float64).all()


def test_day_month_never_swapped(tmp_path: Path) -> None:
    # 2/3 is February 3rd (M/D/YYYY) for every row, because 13/1 is impossible as M/D.
    f = _write(tmp_path / "p.csv", "Date,A\n2/3/2020,1\n2/4/2020,2\n")
    assert list(load_prices(f).index.month) == [2, 2]
    g = _write(tmp_path / "q.csv", "Date,A\n13/1/2020,1\n")  # D/M/YYYY is not a supported format
    with pytest.raises(ValueError, match="unparseable date '13/1/2020'"):
        load_prices(g)


def test_equals_sign_in_names_and_column_selection(tmp_path: Path) -> None:
    f = _write(tmp_path / "fut.csv", "Date,CL=F,NG=F\n2015-01-02,52.69,3.003\n2015-01-05,50.04,2.871\n")
    df = load_prices(f, columns=["NG=F", "CL=F"])
    assert list(df.columns) == ["NG=F", "CL=F"]
    assert df["CL=F"].iloc[-1] == pytest.approx(50.04)


def test_unsorted_dates_are_sorted(tmp_path: Path) -> None:
    f = _write(tmp_path / "p.csv", "Date,A\n2020-01-03,3\n2020-01-01,1\n2020-01-02,2\n")
    df = load_prices(f)
    assert df.index.is_monotonic_increasing
    assert df["A"].tolist() == [1.0, 2.0, 3.0]


def test_duplicated_dates_keep_last_and_warn(tmp_path: Path) -> None:
    f = _write(tmp_path / "p.csv", "Date,A\n2020-01-01,1\n2020-01-02,2\n2020-01-02,2.5\n2020-01-03,3\n")
    with pytest.warns(DataQualityWarning, match="1 duplicated date.*2020-01-02.*kept the last"):
        df = load_prices(f)
    assert df.index.is_unique
    assert df.loc["2020-01-02", "A"] == 2.5
    assert df.attrs["duplicate_dates"] == ["2020-01-02"]


def test_gaps_filled_up_to_limit_then_dropped(tmp_path: Path) -> None:
    rows = ["Date,A,B"]
    days = pd.bdate_range("2020-01-01", periods=12)
    a = ["10", "", "", "13", "", "", "", "", "18", "19", "20", "21"]  # gap of 2, then a gap of 4
    for k, (d, v) in enumerate(zip(days, a, strict=False)):
        rows.append(f"{d:%Y-%m-%d},{v},{5 + k}")  # B moves: a constant leg is refused
    f = _write(tmp_path / "p.csv", "\n".join(rows) + "\n")
    with pytest.warns(DataQualityWarning, match="dropped 2 row"):
        df = load_prices(f, max_ffill_days=2)
    # the 2-day gap is filled with the last price; the 4-day gap keeps 2 filled rows, drops 2
    assert df.loc[days[1], "A"] == 10.0 and df.loc[days[2], "A"] == 10.0
    assert df.loc[days[4], "A"] == 13.0 and df.loc[days[5], "A"] == 13.0
    assert days[6] not in df.index and days[7] not in df.index
    assert len(df) == 10 and df.attrs["filled_cells"] == 4 and df.attrs["dropped_rows"] == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(load_prices(f, max_ffill_days=4)) == 12  # every gap fits: nothing dropped


def test_leading_missing_rows_dropped_and_date_bounds(tmp_path: Path) -> None:
    f = _write(
        tmp_path / "p.csv", "Date,A,B\n2020-01-01,NaN,1\n2020-01-02,2,2\n2020-01-03,3,3\n2020-01-06,4,4\n"
    )
    with pytest.warns(DataQualityWarning):
        df = load_prices(f)
    assert df.index[0] == pd.Timestamp("2020-01-02")
    df = load_prices(f, start="2020-01-03", end="2020-01-03")
    assert len(df) == 1 and df["B"].iloc[0] == 3.0


@pytest.mark.parametrize(
    ("cell", "pattern"),
    [
        ("0", "non-positive price '0'"),
        ("-1.5", "non-positive price '-1.5'"),
        ("abc", "non-numeric price 'abc'"),
        ("inf", "non-finite"),
    ],
)
def test_rejects_bad_prices_naming_file_column_and_date(tmp_path: Path, cell: str, pattern: str) -> None:
    f = _write(tmp_path / "bad.csv", f"Date,A,B\n2020-01-01,1,1\n2020-01-02,2,{cell}\n2020-01-03,3,3\n")
    with pytest.raises(ValueError, match=rf"bad\.csv: column 'B', row 2020-01-02: {pattern}"):
        load_prices(f)
    assert len(load_prices(f, columns=["A"])) == 3  # only the selected columns are checked


def test_rejects_unknown_columns(tmp_path: Path) -> None:
    f = _write(tmp_path / "p.csv", "Date,A\n2020-01-01,1\n")
    with pytest.raises(ValueError, match=r"p\.csv: unknown column\(s\) \['ZZZ'\]"):
        load_prices(f, columns=["A", "ZZZ"])
    with pytest.raises(ValueError, match="unknown date column 'When'"):
        load_prices(f, date_column="When")


def test_named_date_column_need_not_be_first(tmp_path: Path) -> None:
    f = _write(tmp_path / "p.csv", "A,Day\n1,2020-01-02\n2,2020-01-01\n")
    df = load_prices(f, date_column="Day")
    assert df["A"].tolist() == [2.0, 1.0]


def test_date_column_found_by_type_when_not_named(tmp_path: Path) -> None:
    f = _write(tmp_path / "p.csv", "A,Day,B\n1.5,01/03/2020,7\n2.5,01/02/2020,8\n")
    df = load_prices(f)
    assert df.index.strftime("%Y-%m-%d").tolist() == ["2020-01-02", "2020-01-03"]
    assert list(df.columns) == ["A", "B"] and df["A"].tolist() == [2.5, 1.5]
    assert (df.attrs["date_column"], df.attrs["date_column_found"]) == ("Day", True)
    assert load_prices(f, date_column="Day").attrs["date_column_found"] is False


def test_no_or_several_date_columns_are_refused_unless_named(tmp_path: Path) -> None:
    none = _write(tmp_path / "none.csv", "A,B\n1.5,2.5\n1.6,2.6\n")
    nothing = (
        r"none\.csv: no column parses as dates \(column 'A': unparseable date '1\.5'.*name the date column"
    )
    with pytest.raises(ValueError, match=nothing):
        load_prices(none)
    two = _write(tmp_path / "two.csv", "Day,Settle,A\n2020-01-02,2020-01-06,1\n2020-01-03,2020-01-07,2\n")
    with pytest.raises(ValueError, match=r"two\.csv: columns \['Day', 'Settle'\] all parse as dates"):
        load_prices(two)
    with pytest.raises(ValueError, match="non-numeric price '2020-01-06'"):  # named: Settle is a price
        load_prices(two, date_column="Day")


def test_bare_name_resolves_to_embedded_folder() -> None:
    assert resolve_source("stock_prices.csv") == DATA_DIR / "stock_prices.csv"
    with pytest.raises(FileNotFoundError):
        resolve_source("no_such_file.csv")


@pytest.mark.parametrize("name", sorted(p.name for p in DATA_DIR.glob("*.csv")))
def test_every_embedded_file_loads_clean(name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the shipped files need no repair
        df = load_prices(name)
    raw = pd.read_csv(DATA_DIR / name, encoding="utf-8-sig")
    assert df.shape == (len(raw), raw.shape[1] - 1)
    assert isinstance(df.index, pd.DatetimeIndex) and df.index.is_monotonic_increasing and df.index.is_unique
    assert np.isfinite(df.to_numpy()).all() and (df.to_numpy() > 0).all()


def test_default_dataset_window() -> None:
    df = load_prices("stock_prices.csv", ["EEM", "FXI", "EPP", "EFA"], start="2008-01-01", end="2016-12-31")
    assert df.index[0] == pd.Timestamp("2008-01-02") and df.index[-1] == pd.Timestamp("2016-07-01")
    assert len(df) == 2141


def test_returns_simple_and_log() -> None:
    p = pd.DataFrame({"A": [100.0, 110.0, 99.0]}, index=pd.bdate_range("2020-01-01", periods=3))
    s = returns(p, "simple")
    assert s["A"].tolist() == pytest.approx([0.1, -0.1])
    lg = returns(p, "log")
    assert lg["A"].tolist() == pytest.approx([np.log(1.1), np.log(0.9)])
    assert list(s.index) == list(p.index[1:])
    with pytest.raises(ValueError, match="returns kind"):
        returns(p, "arith")


def test_a_path_with_a_folder_part_is_the_users_file_even_when_named_like_embedded_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (DATA_DIR / "stock_prices.csv").is_file()
    monkeypatch.chdir(tmp_path)
    mine = _write(tmp_path / "stock_prices.csv", "date,SPY,TLT\n2020-01-02,1,2\n2020-01-03,1.1,2.1\n")
    (tmp_path / "data").mkdir()
    _write(tmp_path / "data" / "stock_prices.csv", "date,SPY,TLT\n2020-01-02,5,6\n2020-01-03,5.5,6.5\n")
    assert resolve_source("./stock_prices.csv") == Path("stock_prices.csv")
    assert load_prices("./stock_prices.csv")["SPY"].tolist() == [1.0, 1.1]  # not the embedded SPY
    assert load_prices("data/stock_prices.csv")["SPY"].tolist() == [5.0, 5.5]
    assert load_prices(str(mine))["TLT"].tolist() == [2.0, 2.1]
    # a bare name that is both the user's and embedded: refused, one line saying how to choose
    with pytest.raises(
        FileNotFoundError, match=r"both in the working directory and embedded.*write \./stock"
    ):
        resolve_source("stock_prices.csv")
    # ... unless it is the same file
    mine.write_bytes((DATA_DIR / "stock_prices.csv").read_bytes())
    assert resolve_source("stock_prices.csv") == DATA_DIR / "stock_prices.csv"
    # a missing file with a folder part never falls back to the embedded one
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resolve_source("./elsewhere/stock_prices.csv")


def test_a_bare_name_not_embedded_is_the_working_directorys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "mine.csv", "date,A\n2020-01-02,1\n2020-01-03,2\n")
    assert resolve_source("mine.csv") == Path("mine.csv")
