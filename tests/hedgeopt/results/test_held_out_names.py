"""The objective, not the framework, says which out-of-sample metric answers a search metric,
and which folders hold its embedded data."""

from __future__ import annotations

from pathlib import Path

from hedgeopt.protocol import Objective
from hedgeopt.results.assessment import counterpart
from hedgeopt.study.fingerprint import data_dirs, identity
from objectives.deep_hedge import DeepHedgeObjective
from objectives.kalman_hedge import KalmanHedgeObjective


def test_the_held_out_name_comes_from_the_objective():
    oos = {"test_cvar95": 1.0, "cost": 2.0}
    assert counterpart(oos, "cost") == "cost"
    assert counterpart(oos, "select_cvar95") is None  # the framework guesses nothing
    assert counterpart(oos, "select_cvar95", DeepHedgeObjective.held_out_name) == "test_cvar95"
    assert Objective.held_out_name("select_cvar95") == "select_cvar95"


def test_embedded_data_folders_come_from_the_objective(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    target = f"{KalmanHedgeObjective.__module__}.{KalmanHedgeObjective.__name__}"
    cfg = {"objective": {"_target_": target}, "data": {"file": "stock_prices.csv"}}
    assert data_dirs(cfg) == KalmanHedgeObjective.data_dirs
    assert "data:data.file" in identity(cfg)  # a bare name found in the objective's own folder
    bare = {"objective": {"_target_": "tests_no_such.Objective"}, "data": {"file": "stock_prices.csv"}}
    assert data_dirs(bare) == () and "data:data.file" not in identity(bare)
