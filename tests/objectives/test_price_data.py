"""One spelling of the price-file keys (objectives/price_data.py): old keys refused, dates found by type."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hedgeopt.config import preflight
from hedgeopt.config.compose import compose
from hedgeopt.config.settings import validate
from hedgeopt.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
STUDIES = ("kalman_hedge", "spread_hedge", "spread_hedge_universe", "tail_hedge")


def _check(*overrides: str) -> None:
    cfg = compose(list(overrides))
    settings, _ = validate(cfg)
    preflight.check_objective(cfg, settings)


@pytest.mark.parametrize("study", STUDIES)
def test_every_price_study_spells_its_file_and_date_keys_alike(study):
    data = compose([f"+study={study}"])["data"]
    assert data["source"] and "date_column" in data and "file" not in data
    assert {"start", "end", "max_ffill_days"} <= set(data)


@pytest.mark.parametrize("study", ["kalman_hedge", "tail_hedge", "spread_hedge"])
def test_the_old_file_key_is_refused_with_its_new_name(study):
    renamed = r"^data\.file was renamed data\.source: write data\.source: x\.csv$"
    with pytest.raises(ConfigError, match=renamed):
        _check(f"+study={study}", "+data.file=x.csv")


def test_the_old_key_exits_2_before_anything_is_written(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "hedgeopt", "+study=tail_hedge", "+data.file=stock_prices.csv", "n_trials=1"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip().splitlines() == [
        "hedgeopt: error: data.file was renamed data.source: write data.source: stock_prices.csv"
    ]
    assert list(tmp_path.iterdir()) == []  # no journal, no MLflow store, no export


def test_a_date_column_found_by_type_is_said_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    lines = ["SPY,When,TLT"]
    for i in range(200):
        lines.append(f"{100 + i % 7 + i / 50:.2f},2015-{1 + i // 28:02d}-{1 + i % 28:02d},{90 + i % 5:.2f}")
    (tmp_path / "mine.csv").write_text("\n".join(lines) + "\n")
    _check("+study=tail_hedge", "data.source=./mine.csv", "judge.crash_window=[2015-01-01,2015-06-30]")
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "data: dates from column 'When' of mine.csv (found by type; name another with data.date_column)"
    ]
    _check("+study=tail_hedge", "data.source=./mine.csv", "data.date_column=When")
    assert capsys.readouterr().err == ""  # a named column is not announced
