"""hedgeopt.names: the one home of the names in Optuna storages and MLflow stores, unchanged."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import hedgeopt
from hedgeopt import names

PACKAGE = Path(hedgeopt.__file__).resolve().parent

#: What journals, RDB storages and MLflow stores written by earlier versions hold.
STORED = {
    "ATTR_INVOCATION": "hedgeopt.study.invocation",
    "ATTR_HOST": "hedgeopt.host",
    "ATTR_PID": "hedgeopt.pid",
    "ATTR_WORKER": "hedgeopt.worker",
    "ATTR_SAMPLER_SEED": "hedgeopt.sampler_seed",
    "ATTR_STAMP": "hedgeopt.stamp",
    "ATTR_COUNTED": "hedgeopt.counted",
    "ATTR_FAIL_REASON": "hedgeopt.fail_reason",
    "ATTR_STEPS": "hedgeopt.steps",
    "ATTR_BATCH": "hedgeopt.batch",
    "ATTR_SLOT": "hedgeopt.slot",
    "ATTR_METRIC_PREFIX": "metric.",
    "ATTR_SAMPLES_PREFIX": "samples.",
    "ATTR_STATISTIC_PREFIX": "statistic.",
    "ATTR_SAMPLES_FILE": "hedgeopt.samples_file",
    "ATTR_RECORD": "hedgeopt.record",
    "OPTUNA_FAILED_TRIAL": "failed_trial",
    "ATTR_FINGERPRINT": "hedgeopt.study.fingerprint",
    "ATTR_FORCED": "hedgeopt.fingerprint_forced",
    "ATTR_IDENTITY": "hedgeopt.identity",
    "ATTR_ORDINALS": "hedgeopt.invocations",
    "TAG_ROLE": "hedgeopt.role",
    "ROLE_STUDY": "study",
    "ROLE_TRIAL": "trial",
    "ROLE_REPLAY": "replay",
    "TAG_STUDY": "hedgeopt.study",
    "TAG_STORAGE": "hedgeopt.storage",
    "TAG_HOST": "hedgeopt.host",
    "TAG_PID": "hedgeopt.pid",
    "TAG_VERSION": "hedgeopt.version",
    "TAG_REPLAY_OF": "hedgeopt.replay_of",
    "TAG_TRIAL_NUMBER": "hedgeopt.trial_number",
    "TAG_TRIAL_STATE": "hedgeopt.trial_state",
    "TAG_FAIL_REASON": "hedgeopt.fail_reason",
    "TAG_RETRY_OF": "hedgeopt.retry_of",
    "TAG_OPTUNA_TRIAL_ID": "hedgeopt.optuna_trial_id",
    "TAG_ADOPTED": "hedgeopt.adopted",
    "TAG_BEST": "hedgeopt.best",
    "TAG_BEST_TRIAL": "hedgeopt.best_trial",
    "TAG_BEST_TRIAL_RUN_ID": "hedgeopt.best_trial_run_id",
    "TAG_VERDICT": "hedgeopt.verdict",
    "TAG_BEST_BASELINE": "hedgeopt.best_baseline",
    "TAG_VERDICT_TEXT": "hedgeopt.verdict_text",
    "TAG_SEARCH_SPACE": "hedgeopt.search_space",
    "TAG_TRIAL_COUNTS": "hedgeopt.trial_counts",
    "BEST_RUN_SUFFIX": " (best)",
    "MLFLOW_PARENT": "mlflow.parentRunId",
    "MLFLOW_RUN_NAME": "mlflow.runName",
    "MLFLOW_USER": "mlflow.user",
    "MLFLOW_SOURCE_NAME": "mlflow.source.name",
    "MLFLOW_SOURCE_TYPE": "mlflow.source.type",
    "MLFLOW_GIT_COMMIT": "mlflow.source.git.commit",
    "MLFLOW_NOTE": "mlflow.note.content",
    "MLFLOW_EXPERIMENT_KIND": "mlflow.experimentKind",
    "MLFLOW_DATA_CONTEXT": "mlflow.data.context",
    "OBJECTIVE_METRIC_PREFIX": "objective.",
    "STEP_METRIC_SUFFIX": "_by_step",
}

#: A string that is such a name (or the head of one built by an f-string), alone or quoted in
#: an MLflow filter. Error messages and docstrings that mention a name do not match.
NAME = re.compile(r"(^|`)(hedgeopt\.\w*|mlflow\.\w+(\.\w+)*|metric\.|samples\.)($|`)")
#: ``mlflow.``-strings that are no stored name: a config key and a logger.
NOT_NAMES = {"mlflow.tracking_uri", "mlflow.pytorch"}


def stored_names_in(source: str) -> list[tuple[int, str]]:
    """``(line, text)`` of every string constant in ``source`` that spells a stored name."""
    tree = ast.parse(source)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return sorted(
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
        and node.value not in NOT_NAMES
        and NAME.search(node.value)
    )


def test_the_names_keep_the_values_stores_on_disk_hold():
    defined = {k: v for k, v in vars(names).items() if k.isupper() and isinstance(v, str)}
    assert defined == STORED


def test_the_scan_finds_names_and_skips_docstrings_and_messages():
    source = '''
"""Module doc naming hedgeopt.role."""
def f(run, x):
    """Reads hedgeopt.trial_number."""
    run.tags["hedgeopt.role"]
    g(f"hedgeopt.{x}", "metric.", f"tags.`mlflow.runName` = '{x}'", "mlflow.tracking_uri")
    raise ValueError("hedgeopt.role is missing; see hedgeopt.names")
'''
    assert stored_names_in(source) == [
        (5, "hedgeopt.role"),
        (6, "hedgeopt."),
        (6, "metric."),
        (6, "tags.`mlflow.runName` = '"),
    ]


def test_no_module_but_names_spells_a_stored_name():
    found = {
        f"{path.relative_to(PACKAGE)}:{line}": text
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "names.py"
        for line, text in stored_names_in(path.read_text(encoding="utf-8"))
    }
    assert found == {}, "import these from hedgeopt.names"


def test_a_trial_stamp_is_read_from_one_attr_or_from_the_five_of_an_older_journal():
    new = {names.ATTR_STAMP: {"invocation": "r1", "host": "h", "pid": 7, "sampler_seed": 3}}
    old = {names.ATTR_INVOCATION: "r1", names.ATTR_HOST: "h", names.ATTR_PID: 7, names.ATTR_SAMPLER_SEED: 3}
    assert (
        names.stamp(new) == names.stamp(old) == {"invocation": "r1", "host": "h", "pid": 7, "sampler_seed": 3}
    )
    assert [names.stamped(new, "pid"), names.stamped(old, "pid"), names.stamped(new, "worker")] == [
        7,
        7,
        None,
    ]
    assert names.ATTR_STAMP in names.RUN_ATTRS  # a retry starts without its dead run's stamp
