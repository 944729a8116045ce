"""The selection gap: the best trial's in-sample -> out-of-sample change beside the baselines'
own change, signed so that positive is worse whichever way the metric runs (issue 26 item 4),
checked against a hand computation."""

from __future__ import annotations

import pytest

from hedgeopt.results.assessment import assess_study, selection_gaps


def _baselines(pairs: dict[str, tuple[float, float]], metric: str) -> dict:
    return {n: {"in_sample": {metric: i}, "out_of_sample": {metric: o}} for n, (i, o) in pairs.items()}


def test_a_minimised_metric_positive_shortfall_is_worse_out_of_sample():
    base = _baselines({"a": (2.0, 2.3), "b": (3.0, 3.1), "c": (1.0, 0.8)}, "loss")
    [g] = selection_gaps(["loss"], ["minimize"], {"loss": 1.0}, {"loss": 1.5}, base).values()
    # by hand: lower is better, so getting higher out of sample is a shortfall
    assert g["gap"] == pytest.approx(1.0 - 1.5)  # in-sample minus out-of-sample, as the export names it
    assert g["shortfall"] == pytest.approx(0.5)
    assert g["baselines"] == pytest.approx({"a": 0.3, "b": 0.1, "c": -0.2})
    assert g["baseline_median"] == pytest.approx(0.1)  # the data's own change: 0.1 worse
    assert g["selection"] == pytest.approx(0.5 - 0.1)  # what picking the best trial cost
    assert "gap -0.5: worse out of sample, lower is better" in g["text"]
    assert "the baselines' own change: 0.1 worse (median of 3)" in g["text"]
    assert "the selection cost 0.4 beyond the change of data" in g["text"]


def test_a_maximised_metric_flips_the_gaps_sign_not_its_meaning():
    base = _baselines({"a": (1.0, 0.9), "b": (0.5, 0.8)}, "sharpe")
    ins, oos = {"sharpe": 2.0}, {"sharpe": 1.2}
    res = assess_study(("sharpe",), ("maximize",), ins, oos, base, None, 0)
    g = res["overfitting"]["selection_gap"]["sharpe"]
    # by hand: higher is better, so getting lower out of sample is a shortfall of 0.8
    assert g["gap"] == pytest.approx(0.8) and g["shortfall"] == pytest.approx(0.8)
    assert g["baselines"] == pytest.approx({"a": 0.1, "b": -0.3})
    assert g["baseline_median"] == pytest.approx(-0.1)  # median of two: their mean, 0.1 better
    assert g["selection"] == pytest.approx(0.8 - (-0.1))
    assert "gap +0.8: worse out of sample, higher is better" in g["text"]
    assert "the baselines' own change: 0.1 better (median of 2)" in g["text"]
    assert "the selection cost 0.9 beyond the change of data" in g["text"]
    # the same figures read as a minimised metric: out of sample is now better, nothing is lost
    [m] = selection_gaps(["sharpe"], ["minimize"], ins, oos, base).values()
    assert m["shortfall"] == pytest.approx(-0.8) and m["selection"] == pytest.approx(-0.8 - 0.1)
    assert "better out of sample, lower is better" in m["text"] and "lost nothing beyond it" in m["text"]


def test_baselines_that_do_not_change_are_said_so_and_held_out_names_are_followed():
    base = {
        "a": {"in_sample": {"select_x": 1.0}, "out_of_sample": {"test_x": 1.0}},
        "b": {"in_sample": {"select_x": 2.0}, "out_of_sample": {"test_x": 2.0}},
        "no_in_sample": {"out_of_sample": {"test_x": 9.0}},  # has no change to compare
    }
    got = selection_gaps(
        ["select_x"], ["minimize"], {"select_x": 1.0}, {"test_x": 1.2}, base, {"select_x": "test_x"}
    )
    g = got["select_x"]
    assert g["baselines"] == {"a": 0.0, "b": 0.0} and g["selection"] == pytest.approx(0.2)
    assert "the baselines' own change: none (median of 2)" in g["text"]
