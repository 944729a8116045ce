"""Pinning on the command line and in a derived study's search space; an overlay's params."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from hedgeopt.config.overlay import overlaid_params, pin_searched

RANGE = {"type": "float", "low": 0.7, "high": 1.0}


def composed() -> dict:
    return {
        "hedge": {"hedge_ratio": 0.9, "band_mode": "fixed", "cadence": 60},
        "search_space": {"hedge.hedge_ratio": dict(RANGE), "hedge.band_mode": "whalley_wilmott"},
    }


def test_a_searched_key_on_the_command_line_is_pinned_at_its_value():
    cfg = composed()
    pin_searched(cfg, ["+study=x", "hedge.hedge_ratio=0.9", "hedge.cadence=30"])
    assert cfg["search_space"]["hedge.hedge_ratio"] == 0.9  # the search space reads it as pinned
    assert "hedge.cadence" not in cfg["search_space"]  # an unsearched key stays a config value


def test_a_plain_value_in_the_search_space_becomes_the_config_value_unless_the_command_line_wins():
    cfg = composed()
    pin_searched(cfg, [])
    assert cfg["hedge"]["band_mode"] == "whalley_wilmott"
    assert cfg["search_space"]["hedge.hedge_ratio"] == RANGE
    cfg = composed()
    pin_searched(cfg, ["hedge.band_mode=fixed"])
    assert cfg["hedge"]["band_mode"] == "fixed" and cfg["search_space"]["hedge.band_mode"] == "fixed"


def test_pins_apply_to_the_config_that_cfg_job_shows():
    cfg = OmegaConf.create(composed())
    OmegaConf.set_struct(cfg, True)
    pin_searched(cfg, ["hedge.hedge_ratio=0.9"])
    assert cfg.search_space["hedge.hedge_ratio"] == 0.9 and cfg.hedge.band_mode == "whalley_wilmott"


def test_an_overlay_gives_its_values_flat_with_a_later_file_winning(tmp_path: Path):
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text("# @package _global_\nhedge: {hedge_ratio: 0.8, cadence: 60}\n")
    second.write_text("hedge: {hedge_ratio: 0.95}\n")
    args = [f"+overlay={first}", "n_trials=3", f"+overlay={second}"]
    assert overlaid_params(args) == {"hedge.hedge_ratio": 0.95, "hedge.cadence": 60}
    assert overlaid_params(["n_trials=3"]) == {}
