"""The export as a config: overlay.yaml is a global overlay, best.yaml holds it all; inherited
grids follow narrowed ranges. Composition only: no study runs here."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from conftest import SUPPORT, TEST_CONF
from omegaconf import OmegaConf

from hedgeopt.config.compose import compose, compose_config
from hedgeopt.config.search_space import SearchSpace, SearchSpaceError
from hedgeopt.config.settings import validate
from hedgeopt.errors import ConfigError
from hedgeopt.results.export import build_export, write_export
from hedgeopt.results.replay_file import read_replay

BEST = {"toy.x": 1.25, "toy.n": 4, "toy.kind": "b", "toy.bonus": True}


@pytest.fixture(autouse=True)
def _test_studies(monkeypatch):
    monkeypatch.setenv("HEDGEOPT_CONFIG_PATH", str(TEST_CONF))
    monkeypatch.syspath_prepend(str(SUPPORT))


def _export(tmp_path: Path) -> tuple[Path, Path, Path, dict]:
    doc = build_export(
        BEST,
        {"study": "toy", "seed": 7},
        {"loss": 0.5},
        {"loss": 0.6},
        {"origin": {"out_of_sample": {"loss": 1.0}}},
    )
    return (*write_export(doc, tmp_path / "exports", "toy"), doc)


def test_overlay_yaml_is_a_global_overlay_and_best_yaml_holds_metadata_and_performance(tmp_path):
    ypath, opath, jpath, doc = _export(tmp_path)
    text = opath.read_text()
    assert text.splitlines()[0] == "# @package _global_"
    overlay = yaml.safe_load(text)
    assert overlay == {"toy": {"x": 1.25, "n": 4, "kind": "b", "bonus": True}}
    best = yaml.safe_load(ypath.read_text())
    assert set(best) == {"toy", "metadata", "performance"} and best["toy"] == overlay["toy"]
    assert best["performance"]["out_of_sample"] == {"loss": 0.6}
    assert json.loads(jpath.read_text()) == doc == best  # best.json: the same, for programs

    # a struct-mode merge (what a user's own Hydra app does) accepts the overlay
    base = compose_config(["+study=toy"])
    OmegaConf.set_struct(base, True)
    merged = OmegaConf.merge(base, OmegaConf.load(opath))
    assert merged.toy.x == 1.25 and merged.toy.kind == "b" and merged.toy.n == 4
    with pytest.raises(Exception, match="metadata"):  # what the one-file export did
        OmegaConf.merge(base, OmegaConf.create(json.loads(jpath.read_text())))


def test_plus_overlay_sets_the_tuned_values_and_the_command_line_still_wins(tmp_path):
    ypath, opath, jpath, _ = _export(tmp_path)
    plain = compose(["+study=toy"])
    cfg = compose(["+study=toy", f"+overlay={ypath}"])
    assert cfg["toy"] == {**plain["toy"], "x": 1.25, "n": 4, "kind": "b", "bonus": True}
    assert "metadata" not in cfg and "performance" not in cfg
    assert cfg["toy"]["sleep"] == plain["toy"]["sleep"]  # untouched keys keep the study's value
    cfg = compose(["+study=toy", f"+overlay={ypath}", "toy.x=-2.0"])
    assert cfg["toy"]["x"] == -2.0 and cfg["toy"]["n"] == 4
    # best.yaml and best.json (with their reserved blocks) apply the same way as overlay.yaml
    for other in (jpath, opath):
        assert (
            compose(["+study=toy", f"+overlay={other}"])["toy"]
            == compose(["+study=toy", f"+overlay={ypath}"])["toy"]
        )


@pytest.mark.parametrize(
    "content, message",
    [
        ("toy:\n  y: 1.0\n", "sets toy.y, which is not a key"),
        ("toy:\n  x: {_target_: os.system}\n", "never code"),
        ("metadata: {study: toy}\n", "sets no config key"),
        ("[1, 2]\n", "does not hold a config mapping"),
    ],
)
def test_bad_overlays_are_one_line_config_errors(tmp_path, content, message):
    path = tmp_path / "o.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        compose(["+study=toy", f"+overlay={path}"])
    with pytest.raises(ConfigError, match="cannot read"):
        compose(["+study=toy", f"+overlay={tmp_path / 'missing.yaml'}"])


def test_replay_reads_the_overlay_the_json_and_the_one_file_layout(tmp_path):
    ypath, opath, jpath, doc = _export(tmp_path)
    _, space = validate(compose(["+study=toy"]))
    old = tmp_path / "old.yaml"
    old.write_text(yaml.safe_dump(doc))
    for path in (ypath, opath, jpath, old):
        assert read_replay(path, space) == BEST


def test_a_study_starts_from_another_studys_best_config_and_narrows_its_range(tmp_path, monkeypatch):
    """The documented recipe: the export in a config group, a study that inherits the other
    one, pulls in its best config and narrows a range whose inherited grid then shrinks."""
    _, opath, *_ = _export(tmp_path)
    conf = tmp_path / "myconf"
    (conf / "best").mkdir(parents=True)
    (conf / "study").mkdir()
    (conf / "best" / "toy.yaml").write_text(opath.read_text())
    (conf / "study" / "toy_fine.yaml").write_text(
        "# @package _global_\n"
        "defaults:\n  - toy\n  - /best: toy\n  - _self_\n"
        "study_name: toy_fine\n"
        "search_space:\n  toy.x: {low: 0.0, high: 2.0}\n"
    )
    monkeypatch.setenv("HEDGEOPT_CONFIG_PATH", os.pathsep.join([str(TEST_CONF), str(conf)]))
    cfg = compose(["+study=toy_fine"])
    assert cfg["study_name"] == "toy_fine"
    assert cfg["toy"]["x"] == 1.25 and cfg["toy"]["kind"] == "b"  # the other study's best
    settings, space = validate(cfg)
    x = space.by_name["toy.x"]
    assert (x.low, x.high, x.grid) == (0.0, 2.0, (1.0,))  # -1.0 and 3.0 left the range
    assert space.notes == ["search_space.toy.x: grid value(s) [-1.0, 3.0] outside range [0.0, 2.0] dropped"]


def test_inherited_grids_follow_narrowed_ranges_and_choices():
    cfg = {"a": 1.0, "k": "x"}
    space = SearchSpace.from_config(
        {
            "a": {"type": "float", "low": 0.1, "high": 0.5, "grid": [0.05, 0.1, 0.5, 0.9]},
            "k": {"type": "categorical", "choices": ["x", "y"], "grid": ["x", "y", "z"]},
        },
        cfg,
    )
    assert space.by_name["a"].grid == (0.1, 0.5) and space.by_name["k"].grid == ("x", "y")
    assert space.grid() == {"a": [0.1, 0.5], "k": ["x", "y"]}
    assert len(space.notes) == 2 and "[0.05, 0.9]" in space.notes[0] and "['z']" in space.notes[1]
    with pytest.raises(SearchSpaceError, match=r"search_space.a: no grid value \[0.9\] lies in"):
        SearchSpace.from_config({"a": {"type": "float", "low": 0.1, "high": 0.5, "grid": [0.9]}}, cfg)
