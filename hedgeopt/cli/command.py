"""``python -m hedgeopt +study=NAME [key=value ...]``: parse, compose, validate, run.

Exit status: 0 done; 2 a usage or config error (one ``hedgeopt: error:`` line on stderr,
before anything is written); 1 the study could not produce a result; 130 interrupted.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from hedgeopt.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE


def _error(msg: str) -> int:
    print(f"hedgeopt: error: {msg}", file=sys.stderr)
    return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    _quiet_libraries()
    try:
        return _main(args)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM anywhere (a slow compose, --cfg): one line
        print("hedgeopt: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _main(args: list[str]) -> int:
    from hedgeopt import console, errors
    from hedgeopt.cli.usage import USAGE, parse
    from hedgeopt.config.compose import CONFIG_PATH_ENV, available_studies
    from hedgeopt.errors import ConfigError

    try:
        opts = parse(args)
    except ConfigError as exc:
        return _error(str(exc))
    if opts.config_dirs:  # --config-dir: the same as HEDGEOPT_CONFIG_PATH, first in line
        dirs = [str(os.path.abspath(d)) for d in opts.config_dirs]
        os.environ[CONFIG_PATH_ENV] = os.pathsep.join(
            [*dirs, *filter(None, [os.environ.get(CONFIG_PATH_ENV)])]
        )
    console.set_verbosity(opts.verbosity)
    # the study is added to the root config: study=NAME means +study=NAME
    args = ["+" + a if a.startswith("study=") else a for a in opts.overrides]
    try:
        if opts.version:
            from hedgeopt import __version__

            print(f"hedgeopt {__version__}")
            return EXIT_OK
        if opts.help:
            print(_help())
            return EXIT_OK
        if opts.cfg is not None:
            print(_composed_text(args, opts.cfg, opts.package, opts.resolve), end="")
            return EXIT_OK
    except ConfigError as exc:
        return _error(errors.mask(str(exc)))
    if not any(a.startswith(("+study=", "++study=")) for a in args):
        print(USAGE, file=sys.stderr)
        print("studies: " + ", ".join(available_studies()), file=sys.stderr)
        return _error("no study given: add +study=NAME")
    return _run(args)


def _quiet_libraries() -> None:
    """Library logging at WARNING, and SIGTERM stops the run like Ctrl-C."""
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    import logging

    for name in ("mlflow", "alembic", "optuna"):
        logging.getLogger(name).setLevel(logging.WARNING)
    import signal

    def _terminate(signum: int, frame: object) -> None:  # SIGTERM stops like Ctrl-C
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)


def _run(args: list[str]) -> int:
    """Compose, validate (once: workers receive the result), check, then search or replay."""
    from hedgeopt import errors
    from hedgeopt.config.compose import compose
    from hedgeopt.errors import ConfigError

    try:
        cfg = compose(args)
        from hedgeopt.config.settings import validate

        settings, space = validate(cfg)
        cfg["code_dir"] = list(settings.code_dir)  # absolute: every worker imports the study's code
        from hedgeopt.config import preflight
        from hedgeopt.study import runner

        preflight.check_objective(cfg, settings)  # the study's data, before anything is written

        if settings.replay is not None:
            from hedgeopt.results.replay_file import ReplayError, read_replay
            from hedgeopt.study.replay import run_replay

            try:
                params = read_replay(settings.replay, space)  # the one read of the file's params
            except ReplayError as exc:
                return _error(str(exc))
            preflight.check(settings, search=False)
            return run_replay(cfg, settings, params)
        preflight.check(settings)
        from hedgeopt.config.overlay import overlaid_params  # a warm start replays them first

        return runner.run_study(cfg, settings, space, overlaid_params(args))
    except ConfigError as exc:
        return _error(errors.mask(str(exc)))
    except KeyboardInterrupt:
        print("hedgeopt: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback (unless HEDGEOPT_DEBUG=1)
        from hedgeopt.storages.journal_repair import JournalDamaged

        if isinstance(exc, JournalDamaged):
            return _error(errors.mask(str(exc)))
        errors.report(exc)
        return EXIT_FAILED


def _help() -> str:
    from hedgeopt.cli.usage import help_text
    from hedgeopt.config.compose import compose, config_dir, config_groups

    return help_text(config_groups(), compose([]), str(config_dir()))


def _composed_text(args: list[str], which: str, package: str | None, resolve: bool) -> str:
    """``--cfg job|hydra|all [--package KEY] [--resolve]``: the composed config as YAML."""
    from omegaconf import OmegaConf

    from hedgeopt.config.compose import compose_config
    from hedgeopt.config.overlay import compose_overlaid
    from hedgeopt.errors import ConfigError
    from hedgeopt.masking import mask

    # +overlay=PATH applies exactly as in a run (never shown as a key of its own)
    cfg = compose_overlaid(
        args,
        lambda o: compose_config(o, with_hydra=which != "job"),
        lambda c: OmegaConf.to_container(c, resolve=False),
    )
    if which == "hydra":
        cfg = OmegaConf.masked_copy(cfg, ["hydra"])
    elif which == "job" and "hydra" in cfg:
        cfg = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    if package:
        node = OmegaConf.select(cfg, package, default=None)
        if node is None:
            from hedgeopt.config.suggest import closest, dotted_keys

            near = closest(package, dotted_keys(OmegaConf.to_container(cfg)))
            tip = f"; did you mean {near}?" if near else ""
            raise ConfigError(f"--package {package!r}: no such node in the composed config{tip}")
        if not OmegaConf.is_config(node):
            return mask(f"{node}\n")
        cfg = node
    try:
        return mask(OmegaConf.to_yaml(cfg, resolve=resolve))
    except Exception as exc:
        raise ConfigError(f"cannot print the config: {exc}".splitlines()[0]) from exc


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
