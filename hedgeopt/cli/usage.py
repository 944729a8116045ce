"""The CLI's dash options and its ``--help`` text.

Everything else on the command line is a Hydra override (``key=value``). The options follow
Hydra's own spellings where Hydra has one (``--cfg``, ``--package``, ``--resolve``,
``--config-dir``), so a Hydra user's habits work.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hedgeopt.config.compose import CONFIG_PATH_ENV
from hedgeopt.config.suggest import MULTIRUN
from hedgeopt.console import NORMAL, QUIET, VERBOSE
from hedgeopt.errors import ConfigError

CFG_CHOICES = ("job", "hydra", "all")


@dataclass
class Options:
    """What the dash options asked for; ``overrides`` are the remaining ``key=value`` args."""

    overrides: list[str] = field(default_factory=list)
    help: bool = False
    version: bool = False
    cfg: str | None = None  # job | hydra | all: print the composed config and exit
    package: str | None = None  # print only this node of it
    resolve: bool = False  # resolve interpolations before printing
    config_dirs: list[str] = field(default_factory=list)
    verbosity: int = NORMAL  # --quiet: QUIET, --verbose: VERBOSE


_WITH_VALUE = {
    "--cfg": "cfg",
    "-c": "cfg",
    "--package": "package",
    "-p": "package",
    "--config-dir": "config_dir",
    "-cd": "config_dir",
}


def parse(args: Sequence[str]) -> Options:
    """Split dash options from overrides; raises :class:`ConfigError` on a bad option."""
    opts = Options()
    it = iter(args)
    for arg in it:
        name, eq, inline = arg.partition("=")
        if not arg.startswith("-"):
            _refuse_hydra_key(arg)
            opts.overrides.append(arg)
        elif arg in ("-m", "--multirun"):
            raise ConfigError(MULTIRUN)
        elif name in _WITH_VALUE:
            value = inline if eq else next(it, None)
            if value is None or (not eq and value.startswith("-")):
                raise ConfigError(f"option {name} needs a value")
            target = _WITH_VALUE[name]
            if target == "config_dir":
                opts.config_dirs.append(value)
            elif target == "cfg":
                if value not in CFG_CHOICES:
                    raise ConfigError(f"--cfg takes one of {', '.join(CFG_CHOICES)}, not {value!r}")
                opts.cfg = value
            else:
                opts.package = value
        elif arg in ("-h", "--help"):
            opts.help = True
        elif arg == "--version":
            opts.version = True
        elif arg == "--resolve":
            opts.resolve = True
        elif arg in ("-q", "--quiet"):
            opts.verbosity = QUIET
        elif arg in ("-v", "--verbose"):
            opts.verbosity = VERBOSE
        else:
            from hedgeopt.config.suggest import closest

            known = [*_WITH_VALUE, "--help", "--version", "--resolve", "--quiet", "--verbose"]
            near = closest(name, known)
            tip = f"did you mean {near}?" if near else "settings are key=value overrides"
            raise ConfigError(f"unknown option {arg!r}; {tip}")
    return opts


#: ``hydra.*`` keys that act in hedgeopt (it composes with Hydra's compose API: no run or sweep
#: folders, no job logging, no launcher): only the search path, which --config-dir also sets.
HYDRA_KEYS_USED = ("hydra.searchpath",)


def _refuse_hydra_key(arg: str) -> None:
    key = arg.split("=", 1)[0].lstrip("+~")
    if (key == "hydra" or key.startswith("hydra.")) and key not in HYDRA_KEYS_USED:
        raise ConfigError(
            f"{key}: hedgeopt composes with Hydra's compose API, so Hydra's run, sweep and logging "
            "settings do nothing here; hedgeopt writes under workdir=... and export_dir=..., and "
            "--config-dir DIR adds config folders"
        )


USAGE = """usage: hedgeopt +study=NAME [key=value ...] [options]
       (python -m hedgeopt works the same)

  +study=NAME            the study to run (studies are listed below)
  key=value              set a config key (Hydra override syntax; +key=value adds a new one)
  group=option           pick a config group's option, e.g. sampler=random
  +overlay=PATH          start from a config file (an export's best.yaml: its values, and its
                         best params as the study's first trial when the study is new)
  +replay=PATH           re-evaluate an exported best.yaml out-of-sample, without searching
  code_dir=DIR           where the study's own objective module is (default: --config-dir)

options:
  -h, --help             this help: config groups, their options, the studies
  -c, --cfg job|hydra|all  print the composed config and exit (job: yours; hydra: Hydra's
                         own node; all: both)
  -p, --package KEY      with --cfg: print only this node, e.g. --package search_space
  --resolve              with --cfg: resolve ${...} interpolations
  -cd, --config-dir DIR  also search DIR for config groups (DIR/study/*.yaml are studies);
                         repeatable; the same as HEDGEOPT_CONFIG_PATH=DIR[:DIR...]
  -q, --quiet            the progress bar and errors only
  -v, --verbose          one line per finished trial as well
  --version              print hedgeopt's version
  -m, --multirun         refused: sweeps are Optuna's (search_space), or one study per setting

environment: HEDGEOPT_CONFIG_PATH=DIR[:DIR] (as --config-dir), HEDGEOPT_DEBUG=1 (print the
traceback beside an error line)
"""


def help_text(groups: Mapping[str, Sequence[str]], defaults: Mapping[str, Any], config_dir: str) -> str:
    """``--help``: usage, the top-level keys with their defaults, every group and study."""
    lines = [USAGE, "top-level keys (default):"]
    for key, value in defaults.items():
        if key in groups or isinstance(value, (dict, list)) and value:
            continue
        lines.append(f"  {key:<20} {value!r}")
    lines.append("  mlflow.tracking_uri  " + repr((defaults.get("mlflow") or {}).get("tracking_uri")))
    lines.append("\nconfig groups (group=option):")
    for group, options in groups.items():
        if group != "study":
            lines.append(f"  {group:<20} {', '.join(options)}")
    lines.append("\nstudies (+study=NAME):")
    lines.append("  " + ", ".join(groups.get("study", [])))
    lines.append(f"\nconfigs: {config_dir} (and {CONFIG_PATH_ENV} / --config-dir folders)")
    return "\n".join(lines)
