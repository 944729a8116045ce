"""``python -m hedgeopt +study=NAME [key=value ...]``: parse, compose, validate, run.

Exit status: 0 done; 2 a usage or config error (one ``hedgeopt: error:`` line on stderr,
before anything is written); 1 the study could not produce a result; 130 interrupted.
"""

from __future__ import annotations

import os
import sys
from typing import Sequence

USAGE = """usage: python -m hedgeopt +study=NAME [key=value ...]

  +study=NAME            the study to run (see the list below)
  n_trials=N n_jobs=N seed=N timeout=S study_name=S storage=URL export_dir=DIR
  mlflow.tracking_uri=URI sampler=tpe|random|grid|cmaes|qmc|nsga2 pruner=none|median|hyperband
  +replay=PATH           re-evaluate an exported best.yaml out-of-sample, without searching
  any other config key: key=value (Hydra override syntax)
  HEDGEOPT_DEBUG=1       (environment) print the traceback beside an error line
"""


def _error(msg: str) -> int:
    print(f"hedgeopt: error: {msg}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    import logging

    for name in ("mlflow", "alembic", "optuna"):
        logging.getLogger(name).setLevel(logging.WARNING)
    import signal

    def _terminate(signum: int, frame: object) -> None:  # SIGTERM stops like Ctrl-C
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    from hedgeopt.config import ConfigError, available_studies, compose

    if any(a in ("-h", "--help") for a in args):
        print(USAGE + "\nstudies: " + ", ".join(available_studies()))
        return 0
    if not any(a.startswith(("+study=", "study=", "++study=")) for a in args):
        print(USAGE, file=sys.stderr)
        print("studies: " + ", ".join(available_studies()), file=sys.stderr)
        return _error("no study given: add +study=NAME")
    for a in args:
        if a.startswith("-"):
            return _error(f"unknown option {a!r}; settings are key=value overrides")
    from hedgeopt import errors

    try:
        cfg = compose(args)
        from hedgeopt.settings import validate

        settings, space = validate(cfg)
        from hedgeopt import preflight, runner

        if settings.replay is not None:
            from hedgeopt.export import ReplayError, read_replay

            try:
                params = read_replay(settings.replay, space)
            except ReplayError as exc:
                return _error(str(exc))
            preflight.check(settings, search=False)
            return runner.run_replay(cfg, settings, space, params)
        preflight.check(settings)
        return runner.run_study(cfg, settings, space)
    except ConfigError as exc:
        return _error(errors.mask(str(exc)))
    except KeyboardInterrupt:
        print("hedgeopt: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback (unless HEDGEOPT_DEBUG=1)
        from hedgeopt.storage import JournalDamaged

        if isinstance(exc, JournalDamaged):
            return _error(errors.mask(str(exc)))
        errors.report(exc)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
