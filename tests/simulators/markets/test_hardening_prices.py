"""Price CSVs that cannot be prices: one ValueError naming the file, never a decoder traceback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulators.markets.prices import load_prices, returns

GOOD = "Date,A,B\n2020-01-01,10,20\n2020-01-02,11,21\n2020-01-03,12,19\n"


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "the file is empty"),
        (b"\n\n", "the file is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "a binary file"),
        (GOOD.encode("utf-16"), "UTF-16"),
        (GOOD.encode("utf-16-le"), "a binary file"),  # no BOM: NUL bytes between the characters
        ("Date,A,B\n2020-01-01,10,20\n2020-01-02,caf\u00e9,21\n".encode("latin-1"), "not UTF-8 text"),
        (b"Date,A,B\n2020-01-01,10,20,99\n2020-01-02,11,21\n", "data row 1 has more fields"),
        (b"Date,A,B\n2020-01-01,10,20\n2020-01-02,11\n2020-01-03,12,19\n", "data row 2 has fewer fields"),
        (b"Date,A,B\n2020-01-01,10,20\n2020-01-02,10,21\n2020-01-03,10,19\n", "column 'A' is constant (10)"),
        (b"Date,A,B\n2020-01-01,10,20\n2020-01-02,1e308,21\n2020-01-03,12,19\n", "price '1e308' is above"),
    ],
)
def test_bad_price_files_name_the_file(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "prices.csv"
    path.write_bytes(content)
    with pytest.raises(ValueError) as info:
        load_prices(path)
    text = str(info.value)
    assert str(path) in text and message in text, text
    assert "\n" not in text


def test_huge_prices_would_overflow_what_the_studies_compute() -> None:
    """Why 1e308 is refused: its squared returns are inf (independent computation)."""
    with np.errstate(over="ignore"):
        r = returns(pd.DataFrame({"A": [10.0, 1e308, 12.0]}))["A"].to_numpy()
        assert not np.isfinite(np.var(r))


def test_a_good_file_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_text(GOOD)
    df = load_prices(path)
    assert df.shape == (3, 2) and df["B"].tolist() == [20.0, 21.0, 19.0]
