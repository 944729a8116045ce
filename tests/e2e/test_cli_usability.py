"""The CLI as a Hydra user expects it, and the MLflow record as its UI shows it.

Fast tests call ``hedgeopt.cli.command.main`` in-process: ``--cfg``/``--package``/``--help``, the
did-you-mean messages, ``--config-dir``, the dataset descriptions and the results table.
Slow tests run real studies and read the MLflow store back.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml
from conftest import DELTA_HEDGE_CLI_TINY, Store, run_cli

from hedgeopt.cli.command import main
from hedgeopt.config.suggest import closest, dotted_keys
from hedgeopt.protocol import describe_file, describe_settings
from hedgeopt.tracking.tracker import mlflow_dataset, results_table

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def in_empty_dir(in_empty_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """conftest's empty folder, with the verbosity main() sets restored after each test."""
    monkeypatch.setenv("HEDGEOPT_VERBOSITY", "1")
    return in_empty_dir


def _err_line(capsys: pytest.CaptureFixture[str]) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_cfg_job_prints_the_composed_study_and_writes_nothing(in_empty_dir, capsys):
    assert main(["+study=delta_hedge", "n_trials=7", "--cfg", "job"]) == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    study = yaml.safe_load((ROOT / "conf" / "study" / "delta_hedge.yaml").read_text())
    assert cfg["n_trials"] == 7 and cfg["study_name"] == "delta_hedge"
    assert cfg["search_space"] == study["search_space"]
    assert cfg["sampler"]["_target_"] == "optuna.samplers.TPESampler"
    assert "hydra" not in cfg
    assert list(in_empty_dir.iterdir()) == []


def test_cfg_all_adds_hydra_and_package_selects_a_node(in_empty_dir, capsys):
    assert main(["+study=delta_hedge", "--cfg", "all"]) == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert "hydra" in cfg and cfg["study_name"] == "delta_hedge"
    assert main(["+study=delta_hedge", "-c", "job", "--package", "hedge"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["hedge_ratio"] == 1.0
    assert main(["+study=delta_hedge", "--cfg=job", "-p", "seed"]) == 0
    assert capsys.readouterr().out.strip() == "42"
    assert main(["+study=delta_hedge", "--cfg", "job", "--package", "hedg"]) == 2
    assert "did you mean hedge?" in _err_line(capsys)
    assert main(["+study=delta_hedge", "--cfg", "yaml"]) == 2
    assert "--cfg takes one of job, hydra, all" in _err_line(capsys)


def test_help_lists_every_group_with_its_options_and_the_studies(in_empty_dir, capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    conf = ROOT / "conf"
    for group in (p for p in conf.iterdir() if p.is_dir() and p.name != "study"):
        line = next(ln for ln in out.splitlines() if ln.strip().startswith(group.name + " "))
        assert all(opt.stem in line for opt in group.glob("*.yaml")), line
    studies = out.split("studies (+study=NAME):")[1]
    assert all(p.stem in studies for p in (conf / "study").glob("*.yaml"))
    assert "toy" in studies  # and those on the extra config path
    for option in ("--cfg", "--package", "--config-dir", "--quiet", "--verbose"):
        assert option in out
    assert "n_trials" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["+study=delta_hedg"], "unknown study 'delta_hedg'; did you mean delta_hedge?"),
        (["+study=delta_hedge", "n_trial=5"], "unknown key 'n_trial'; did you mean n_trials?"),
        (
            ["+study=delta_hedge", "hedge.delta_treshold=0.1"],
            "unknown key 'hedge.delta_treshold'; did you mean hedge.delta_threshold?",
        ),
        (["+study=delta_hedge", "samplr=tpe"], "unknown config group 'samplr'; did you mean sampler?"),
        (["+study=delta_hedge", "sampler=tp"], "unknown sampler 'tp'; did you mean tpe?"),
        (
            ["+study=delta_hedge", "delta_hedge_simulator=crypto"],
            "unknown delta_hedge_simulator 'crypto'; did you mean crypto_perp?",
        ),
        (
            ["+study=delta_hedge", "sampler=annealing"],
            "unknown sampler 'annealing'; valid: cmaes, gp, grid, nsga2, qmc, random, tpe",
        ),
        (["+study=zzzzzz"], "unknown study 'zzzzzz'; valid: deep_hedge, deep_hedge_gpu, delta_hedge, "),
        (["+study=delta_hedge", "mlflow.uri=x"], "did you mean mlflow.tracking_uri?"),
        (["+study=delta_hedge", "mlflow.tracking_url=x"], "did you mean mlflow.tracking_uri?"),
        (
            ["+study=delta_hedge", "hedge.zzzzzz=1"],
            "valid keys under 'hedge': band_mode, band_scale, cadence_seconds, ",
        ),
        (["+study=delta_hedge", "+n_trials=3"], "key 'n_trials' already exists; set it without '+'"),
        (
            ["+study=kalman_hedge", "data.file=x.csv"],
            "data.file was renamed data.source: write data.source=x.csv",
        ),
        (
            ["+study=tail_hedge", "data.file=y.csv"],
            "data.file was renamed data.source: write data.source=y.csv",
        ),
        (["+study=delta_hedge", "--verbos"], "unknown option '--verbos'; did you mean --verbose?"),
    ],
)
def test_typos_get_did_you_mean_in_one_line_and_write_nothing(in_empty_dir, capsys, args, message):
    assert main(args) == 2
    line = _err_line(capsys)
    assert line.startswith("hedgeopt: error: ") and message in line, line
    assert list(in_empty_dir.iterdir()) == []


def test_study_without_plus_is_the_same_study(in_empty_dir, capsys):
    assert main(["study=delta_hedge", "--cfg", "job", "-p", "study_name"]) == 0
    assert capsys.readouterr().out.strip() == "delta_hedge"


def test_config_dir_adds_a_users_study(in_empty_dir, tmp_path_factory, capsys, monkeypatch):
    monkeypatch.delenv("HEDGEOPT_CONFIG_PATH")
    mine = tmp_path_factory.mktemp("mine")
    (mine / "study").mkdir()
    (mine / "study" / "my_delta.yaml").write_text(
        "# @package _global_\ndefaults:\n  - delta_hedge\nstudy_name: my_delta\nn_trials: 3\n"
    )
    assert main(["+study=my_delta", "--cfg", "job"]) == 2
    assert "unknown study 'my_delta'" in _err_line(capsys)
    assert main(["--config-dir", str(mine), "+study=my_delta", "--cfg", "job"]) == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert cfg["study_name"] == "my_delta" and cfg["n_trials"] == 3 and "hedge" in cfg


def test_closest_and_dotted_keys():
    assert closest("n_trial", ["n_trials", "n_jobs", "seed"]) == "n_trials"
    assert closest("qqqq", ["n_trials", "n_jobs"]) is None
    assert dotted_keys({"a": {"b": 1, "c": {"d": 2}}, "e": 3}) == ["a", "a.b", "a.c", "a.c.d", "e"]


def test_describe_file_digest_and_span_match_an_independent_hash(tmp_path):
    import pandas as pd

    f = tmp_path / "prices.csv"
    f.write_text("date,A\n2020-01-02,1\n2020-01-03,2\n")
    d = describe_file(f, rows=2, date_range=(pd.Timestamp("2020-01-02"), pd.Timestamp("2020-01-03")))
    assert d["digest"] == hashlib.sha256(f.read_bytes()).hexdigest()[:12]
    assert d["name"] == "prices.csv" and d["rows"] == 2 and d["date_range"] == ["2020-01-02", "2020-01-03"]
    f.write_text("date,A\n2020-01-02,1\n2020-01-03,2.5\n")
    assert describe_file(f)["digest"] != d["digest"]
    ds = mlflow_dataset(d)
    assert (ds.name, ds.digest, ds.source_type) == ("prices.csv", d["digest"], "local")
    assert json.loads(ds.source)["uri"] == str(f.resolve())
    assert json.loads(ds.profile) == {"rows": 2, "date_range": ["2020-01-02", "2020-01-03"]}
    assert json.loads(ds.schema) == {
        "mlflow_colspec": [
            {"name": "date", "type": "datetime", "required": True},
            {"name": "A", "type": "long", "required": True},  # 1, 2 when d was described
        ]
    }
    assert describe_file(f)["schema"][1] == {"name": "A", "type": "double"}  # 1, 2.5 now
    f.write_text("date,n,flag,label\n2020-01-02,1,true,x\n2020-01-03,2,false,y\n")
    assert [c["type"] for c in describe_file(f)["schema"]] == ["datetime", "long", "boolean", "string"]


def test_describe_settings_digest_follows_the_settings():
    a = describe_settings("paths", {"seed": 1, "model": {"vol": 0.5}}, rows=64)
    assert a == describe_settings("paths", {"model": {"vol": 0.5}, "seed": 1}, rows=64)  # key order
    assert a["digest"] != describe_settings("paths", {"seed": 2, "model": {"vol": 0.5}})["digest"]
    ds = mlflow_dataset(a)
    assert ds.source_type == "code" and json.loads(ds.profile)["settings"] == {
        "seed": 1,
        "model": {"vol": 0.5},
    }


def test_results_table_holds_every_figure_once():
    table = results_table(
        {"score": 1.0, "cost": 2.0},
        {"score": 0.5, "cost": 2.5},
        {"unhedged": {"in_sample": {"score": -1.0}, "out_of_sample": {"score": -2.0}}},
    )
    assert list(table.index) == ["tuned", "unhedged"]
    assert table.loc["tuned", ("out_of_sample", "cost")] == 2.5
    assert table.loc["unhedged", ("in_sample", "score")] == -1.0
    assert table.notna().to_numpy().sum() == 6


@pytest.mark.slow
def test_quiet_and_verbose_switch_between_bar_only_and_trial_lines(workdir: Path):
    quiet = run_cli(workdir, "+study=toy", "n_trials=3", "n_jobs=1", "study_name=q", "--quiet")
    assert quiet.returncode == 0, quiet.stderr
    assert not [ln for ln in quiet.stderr.splitlines() if ln.startswith("hedgeopt:")], quiet.stderr
    verbose = run_cli(workdir, "+study=toy", "n_trials=3", "n_jobs=1", "study_name=v", "-v")
    assert verbose.returncode == 0, verbose.stderr
    lines = [ln for ln in verbose.stderr.splitlines() if ln.startswith("trial ")]
    assert len(lines) == 3 and all("COMPLETE" in ln and "loss=" in ln and "toy.x=" in ln for ln in lines)


@pytest.mark.slow
def test_mlflow_record_reads_well_in_the_ui(workdir: Path):
    """Parent: few metrics, a results table; every run: its dataset and source tags."""
    r = run_cli(workdir, *DELTA_HEDGE_CLI_TINY, "n_trials=2")
    assert r.returncode == 0, r.stderr
    store = Store(workdir)
    parent, trials = store.study_runs("delta_hedge")
    assert len(trials) == 2
    assert not [k for k in parent.data.metrics if k.startswith("baseline.")]
    assert len(parent.data.metrics) <= 20, sorted(parent.data.metrics)
    assert {"best.is.risk_cost", "best.oos.risk_cost"} <= set(parent.data.metrics)
    assert parent.data.tags["hedgeopt.trial_counts"] == "complete 2, pruned 0, fail 0"
    arts = {a.path for a in store.client.list_artifacts(parent.info.run_id)}
    assert {"results.csv", "results.html", "baselines.json"} <= arts
    import pandas as pd

    local = store.client.download_artifacts(parent.info.run_id, "results.csv", str(workdir))
    table = pd.read_csv(local, header=[0, 1], index_col=0)
    baselines = json.loads(
        Path(store.client.download_artifacts(parent.info.run_id, "baselines.json", str(workdir))).read_text()
    )
    for name, splits in baselines.items():
        for split, values in splits.items():
            for metric, value in values.items():
                assert table.loc[name, (split, metric)] == pytest.approx(value)
    assert table.loc["tuned", ("out_of_sample", "risk_cost")] == pytest.approx(
        parent.data.metrics["best.oos.risk_cost"]
    )

    digests = set()
    for run in [parent, *trials]:
        full = store.client.get_run(run.info.run_id)
        [inp] = full.inputs.dataset_inputs
        assert inp.dataset.name == "crypto_perp_paths" and inp.dataset.source_type == "code"
        digests.add(inp.dataset.digest)
        assert full.data.tags["mlflow.source.name"].startswith("hedgeopt ")
        assert full.data.tags["mlflow.source.type"] == "LOCAL"
        if (ROOT / ".git").exists():
            assert len(full.data.tags["mlflow.source.git.commit"]) == 40
    assert len(digests) == 1
    for run in trials:  # trial runs carry the optimised metric (minimised) under its own name
        assert "risk_cost" in run.data.metrics
    # the parent holds the optimisation history: each trial's value at its number, best so far
    by_number = {int(t.data.tags["hedgeopt.trial_number"]): t.data.metrics["risk_cost"] for t in trials}
    history = store.client.get_metric_history(parent.info.run_id, "trials.risk_cost")
    assert {m.step: m.value for m in history} == pytest.approx(by_number)
    best = store.client.get_metric_history(parent.info.run_id, "trials.best_risk_cost")
    assert {m.step: m.value for m in best} == pytest.approx(
        {n: min(v for k, v in by_number.items() if k <= n) for n in by_number}
    )
    assert f"#/experiments/{parent.info.experiment_id}/runs?workflowType=machine_learning" in r.stdout
    exp = store.client.get_experiment(parent.info.experiment_id)
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"


@pytest.mark.slow
def test_deep_hedger_is_logged_as_an_mlflow_model(workdir: Path):
    import mlflow
    import torch

    r = run_cli(
        workdir,
        "+study=deep_hedge",
        "n_trials=1",
        "n_jobs=1",
        "data.n_train=128",
        "data.n_val=64",
        "data.n_test=64",
        "data.n_select=64",
        "train.epochs=1",
    )
    assert r.returncode == 0, r.stderr
    assert "warning" not in r.stderr.lower(), r.stderr
    store = Store(workdir)
    [parent] = store.runs("deep_hedge", "study")
    [output] = store.client.get_run(parent.info.run_id).outputs.model_outputs
    logged = store.client.get_logged_model(output.model_id)
    assert logged.name == "deep_hedge" and logged.source_run_id == parent.info.run_id
    mlflow.set_tracking_uri(f"sqlite:///{workdir}/mlruns/mlflow.db")
    net = mlflow.pytorch.load_model(f"models:/{output.model_id}")
    # the same weights as the hedger.pt the objective kept of the best config
    pt = store.client.download_artifacts(parent.info.run_id, "best/hedger.pt", str(workdir))
    saved = torch.load(pt, weights_only=True)
    for name, tensor in net.state_dict().items():
        assert torch.equal(tensor.cpu(), saved[name]), name
