"""Every shipped data preset passes the objective's preflight; a bad data file is refused by it."""

from __future__ import annotations

from pathlib import Path

import pytest

from hedgeopt.config import preflight
from hedgeopt.config.compose import compose, config_dir
from hedgeopt.config.settings import validate
from hedgeopt.errors import ConfigError

PRESETS = [
    ("spread_hedge", "spread_hedge_pair", p.stem)
    for p in sorted((config_dir() / "spread_hedge_pair").glob("*.yaml"))
] + [
    ("kalman_hedge", "kalman_hedge_problem", p.stem)
    for p in sorted((config_dir() / "kalman_hedge_problem").glob("*.yaml"))
]


def _check(*overrides: str) -> None:
    cfg = compose(list(overrides))
    settings, _ = validate(cfg)
    preflight.check_objective(cfg, settings)


@pytest.mark.parametrize(("study", "group", "preset"), PRESETS, ids=[f"{g}={p}" for _, g, p in PRESETS])
def test_every_shipped_preset_passes_preflight(study, group, preset):
    _check(f"+study={study}", f"{group}={preset}")


def test_gld_gdx_leaves_three_held_out_windows_and_a_longer_window_is_refused():
    assert len(PRESETS) >= 8
    with pytest.raises(ConfigError, match=r"gld_gdx_data.csv: 75 rows leave 19 held-out days, 1 trading"):
        _check("+study=spread_hedge", "spread_hedge_pair=gld_gdx", "spread.trading_window=10")


def test_a_csv_with_other_columns_is_refused_naming_file_and_columns(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my.csv").write_text("Date,AAA,BBB\n2015-01-02,1,2\n2015-01-05,1.1,2.1\n")
    with pytest.raises(
        ConfigError,
        match=r"my.csv: unknown column\(s\) \['EEM', 'FXI', 'EPP', 'EFA'\]; "
        r"price columns are \['AAA', 'BBB'\]",
    ):
        _check("+study=kalman_hedge", "data.source=my.csv")
    with pytest.raises(ConfigError, match=r"my.csv: unknown column\(s\) \['GLD', 'GDX'\]"):
        _check("+study=spread_hedge", "data.source=my.csv", "data.columns=[GLD,GDX]")
