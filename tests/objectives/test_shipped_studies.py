"""Every shipped study composes and validates without running, its objective class imports, and
every option of every config group composes with at least one study."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest
import yaml

from hedgeopt.config.compose import available_studies, compose
from hedgeopt.config.settings import validate
from hedgeopt.protocol import Objective

CONF = Path(__file__).resolve().parents[2] / "conf"
STUDIES = sorted(p.stem for p in (CONF / "study").glob("*.yaml"))
#: Groups every study has (from conf/config.yaml); the others belong to the studies that name them.
FRAMEWORK_GROUPS = ("sampler", "pruner", "executor")


@pytest.fixture(autouse=True)
def _in_empty_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # validation resolves storage paths; keep them out of the repo


def _group_defaults(study: str, seen: frozenset[str] = frozenset()) -> dict[str, str]:
    """``{group: default option}`` a study (and the studies it extends) pulls in, from its YAML."""
    out: dict[str, str] = {}
    for entry in yaml.safe_load((CONF / "study" / f"{study}.yaml").read_text()).get("defaults", []):
        if isinstance(entry, str) and entry != "_self_" and entry not in seen:
            out.update(_group_defaults(entry, seen | {study}))
        elif isinstance(entry, dict):
            for key, option in entry.items():
                if not key.startswith("override "):
                    out[key.lstrip("/")] = option
    return out


def test_the_study_folder_is_what_the_cli_lists() -> None:
    assert STUDIES and set(STUDIES) <= set(available_studies())


@pytest.mark.parametrize("study", STUDIES)
def test_a_shipped_study_composes_and_validates(study: str) -> None:
    cfg = compose([f"+study={study}"])
    settings, space = validate(cfg)  # raises ConfigError naming the key otherwise
    assert cfg["study_name"] == study
    assert len(space) >= 1


@pytest.mark.parametrize("study", STUDIES)
def test_a_shipped_study_names_an_objective_class_and_its_metrics(study: str) -> None:
    cfg = compose([f"+study={study}"])
    module_name, _, class_name = cfg["objective"]["_target_"].rpartition(".")
    module = importlib.import_module(module_name)
    cls = getattr(module, class_name)
    assert inspect.isclass(cls) and issubclass(cls, Objective), f"{study}: {cls} is not an Objective"
    metrics, directions = list(cfg["metrics"]), list(cfg["directions"])
    assert metrics and len(set(metrics)) == len(metrics), f"{study}: metrics {metrics}"
    assert len(directions) == len(metrics), f"{study}: {len(metrics)} metrics, {len(directions)} directions"
    assert set(directions) <= {"minimize", "maximize"}, f"{study}: directions {directions}"
    source = inspect.getsource(inspect.getmodule(cls))  # the class's own module, behind the face
    for metric in metrics:  # the objective's module names (returns or documents) what is optimised
        assert metric in source, f"{study}: metric {metric!r} is not named in {module_name}"


def _group_options() -> list[tuple[str, str]]:
    return [
        (d.name, p.stem)
        for d in sorted(CONF.iterdir())
        if d.is_dir() and d.name != "study"
        for p in sorted(d.glob("*.yaml"))
    ]


@pytest.mark.parametrize("group, option", _group_options())
def test_every_config_group_option_composes_with_a_study(group: str, option: str) -> None:
    if group in FRAMEWORK_GROUPS:
        users = STUDIES
    else:
        users = [s for s in STUDIES if group in _group_defaults(s)]
    assert users, f"conf/{group}/ is used by no shipped study"
    errors = []
    for study in users:
        try:
            cfg = compose([f"+study={study}", f"{group}={option}"])
            validate(cfg)
            return
        except Exception as exc:  # noqa: BLE001 - collect the reason of each study that refuses it
            errors.append(f"{study}: {exc}")
    pytest.fail(f"conf/{group}/{option}.yaml composes with no study: {errors}")


def test_group_names_say_which_study_they_belong_to() -> None:
    for d in CONF.iterdir():
        if d.is_dir() and d.name not in ("study", *FRAMEWORK_GROUPS):
            owners = {s for s in STUDIES if d.name in _group_defaults(s)}
            assert any(d.name.startswith(s) for s in owners), f"conf/{d.name}/ is not named for {owners}"
