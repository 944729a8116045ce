"""Checks made before the search starts, so that a study never runs for nothing.

Each check raises :class:`~hedgeopt.config.compose.ConfigError` (one ``hedgeopt: error:`` line, exit
status 2) and writes nothing: the export folder and the MLflow store must be writable, the
storage and the tracking server reachable, and the database drivers they need installed.
Network checks use short time-outs (a dead server answers in seconds, not after minutes of
library retries), and every message is masked.
"""

from __future__ import annotations

import importlib.util
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from hedgeopt.config.settings import StudySettings
from hedgeopt.errors import ConfigError, mask, one_line, register_secret
from hedgeopt.workdir import sqlite_file, staging_dir

CONNECT_TIMEOUT_S = 5

#: MLflow tracking URI schemes hedgeopt supports (database schemes may name a driver: ``+psycopg2``).
TRACKING_SCHEMES = (
    "sqlite",
    "postgresql",
    "postgres",
    "mysql",
    "mssql",
    "file",
    "http",
    "https",
    "databricks",
)
#: MLflow's HTTP client settings for a tracking server, unless the environment sets them: a
#: request that gets no answer in 8 s is tried twice more (2 s and 4 s apart), so a server that
#: stops answering during a run ends it in one line within about 30 s (MLflow's defaults: 7
#: retries over minutes, 120 s each).
MLFLOW_HTTP_ENV = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "8",
}
_DEFAULT_PORTS = {"postgresql": 5432, "postgres": 5432, "mysql": 3306, "mssql": 1433}


def check(settings: StudySettings, *, search: bool = True) -> None:
    """Every check that can be made before the search (or the replay)."""
    register_secret(settings.tracking_uri)
    register_secret(settings.storage.url)
    check_tracking(settings.tracking_uri)
    writable_dir(Path(settings.workdir), "workdir")
    if search:
        check_executor(settings)
        check_storage(settings)
        writable_dir(Path(settings.export_dir), "export_dir")
        writable_dir(staging_dir(settings.workdir), "workdir")


def check_objective(cfg: Mapping[str, Any], settings: StudySettings) -> None:
    """The objective's own preflight (``Objective.check_config``): its data files open and fit."""
    from hydra.utils import get_class

    from hedgeopt.execution.objective_builder import domain_config

    cls = get_class(settings.objective_target)
    try:
        cls.check_config(domain_config(cfg))
    except ValueError as exc:
        raise ConfigError(mask((str(exc).strip().splitlines() or ["ValueError"])[0])[:600]) from None
    except (KeyError, TypeError, OSError) as exc:
        raise ConfigError(f"data: {one_line(exc)}") from None


def check_executor(settings: StudySettings) -> None:
    """A cluster's workers on other hosts coordinate through the storage: a file cannot do that;
    ``mlflow`` staging needs a tracking server to upload through."""
    spec = settings.storage
    if settings.executor.staging == "mlflow" and not settings.tracking_uri.lower().startswith(
        ("http://", "https://")
    ):
        raise ConfigError(
            "executor.staging=mlflow: workers upload trial artifacts through a tracking server, so "
            f"mlflow.tracking_uri must be http:// or https://, not {mask(settings.tracking_uri)}"
        )
    if settings.executor.kind == "local":
        return
    if spec.kind == "journal" or spec.url.split("://", 1)[0].lower().startswith("sqlite"):
        raise ConfigError(
            f"storage: executor={settings.executor.kind} needs a storage every worker host reaches "
            f"(postgresql://, mysql:// or redis://), not {spec.masked}"
        )


def writable_dir(folder: Path, key: str, what: str | None = None) -> None:
    """``folder`` is a writable directory, or could be created as one (nothing is created).

    ``what`` names the path the user gave when ``folder`` is its parent.
    """
    shown = what or str(folder)
    probe = folder
    while not probe.exists():
        if probe.is_symlink():  # a dangling link
            raise ConfigError(f"{key}: {probe} is a broken symbolic link")
        parent = probe.parent
        if parent == probe:
            break
        probe = parent
    if not probe.is_dir():
        if what is None and probe == folder:
            raise ConfigError(f"{key}: {folder} is a file, not a folder")
        raise ConfigError(f"{key}: {shown} lies under {probe}, which is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"{key}: {probe} is not writable")


def writable_file(path: Path, key: str) -> None:
    """``path`` is a writable file, or could be created as one."""
    if path.is_dir():
        raise ConfigError(f"{key}: {path} is a folder, not a file")
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        raise ConfigError(f"{key}: {path} is not writable")
    # SQLite and the journal's lock need to write beside the file too
    writable_dir(path.parent, key, str(path))


def check_tracking(uri: str) -> None:
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else uri.split(":", 1)[0].lower()
    base = scheme.split("+", 1)[0]
    if base not in TRACKING_SCHEMES:
        raise ConfigError(
            f"mlflow.tracking_uri: unsupported scheme {scheme!r} in {mask(uri)} "
            f"(use one of {', '.join(TRACKING_SCHEMES)})"
        )
    if base == "sqlite":
        path = sqlite_file(uri)
        if path is not None:
            writable_file(path, "mlflow.tracking_uri")
        return
    if base == "file":
        writable_dir(Path(urlsplit(uri).path), "mlflow.tracking_uri")
        return
    if base in ("http", "https"):
        _reachable(uri, "mlflow.tracking_uri", 443 if base == "https" else 80)
        _answers(uri)
        for var, value in MLFLOW_HTTP_ENV.items():  # a server that dies later: one line, not minutes
            os.environ.setdefault(var, value)
        return
    if base in _DEFAULT_PORTS:
        _driver(scheme, "mlflow.tracking_uri", uri)
        _reachable(uri, "mlflow.tracking_uri", _DEFAULT_PORTS[base])


def check_storage(settings: StudySettings) -> None:
    spec = settings.storage
    if spec.kind == "journal":
        writable_file(Path(spec.url), "storage")
        return
    scheme = spec.url.split("://", 1)[0].lower()
    if spec.kind == "redis":
        if importlib.util.find_spec("redis") is None:
            raise ConfigError("storage: a Redis storage needs the redis package (pip install redis)")
        import redis

        try:
            client = redis.Redis.from_url(
                spec.url, socket_connect_timeout=CONNECT_TIMEOUT_S, socket_timeout=CONNECT_TIMEOUT_S
            )
            client.ping()
        except Exception as exc:  # noqa: BLE001 - any failure to reach it is the user's to fix
            raise ConfigError(f"storage: cannot reach Redis at {mask(spec.url)}: {one_line(exc)}") from None
        return
    if scheme.startswith("sqlite"):
        path = sqlite_file(spec.url)
        if path is not None:
            writable_file(path, "storage")
        return
    _driver(scheme, "storage", spec.url)
    _connect_rdb(spec.url)


def _driver(scheme: str, key: str, uri: str) -> None:
    """The database driver SQLAlchemy will load for ``uri`` can be imported."""
    from sqlalchemy.engine import make_url

    try:
        make_url(uri).get_dialect().import_dbapi()
    except ImportError as exc:
        missing = getattr(exc, "name", None) or str(exc)
        raise ConfigError(
            f"{key}: {mask(uri)} needs the database driver module {missing!r}, "
            "which is not installed (install it, or name an installed driver in "
            "the URL scheme, such as postgresql+psycopg2://)"
        ) from None
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy raises several types for a bad URL
        raise ConfigError(
            f"{key}: {mask(uri)} is not a database URL SQLAlchemy knows ({one_line(exc)})"
        ) from None


def _reachable(uri: str, key: str, default_port: int) -> None:
    try:
        parts = urlsplit(uri)
        host, port = parts.hostname, parts.port or default_port
    except ValueError as exc:
        raise ConfigError(f"{key}: {mask(uri)} is not a valid URL ({one_line(exc)})") from None
    if not host:
        return  # a local socket or a DSN the driver resolves itself
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise ConfigError(
            f"{key}: cannot reach {host}:{port} for {mask(uri)} ({exc.strerror or type(exc).__name__})"
        ) from None


def _answers(uri: str) -> None:
    """One HTTP request to the tracking server's ``/health`` within the time-out: a server that
    accepts connections and never answers (hung, or not an HTTP server) passed the connect
    check, and MLflow's client then retried for minutes. Any HTTP answer, even an error
    status, is a server that answers."""
    import urllib.error
    import urllib.request

    request = _health_request(uri)
    try:
        with urllib.request.urlopen(request, timeout=CONNECT_TIMEOUT_S):  # noqa: S310 - http(s) only
            pass
    except urllib.error.HTTPError:
        return
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        why = one_line(reason) if isinstance(reason, BaseException) else str(reason)
        raise ConfigError(
            f"mlflow.tracking_uri: the tracking server at {mask(uri)} did not answer an HTTP request "
            f"within {CONNECT_TIMEOUT_S} s ({why})"
        ) from None


def _health_request(uri: str) -> Any:
    """The GET of ``uri``'s ``/health``, with a ``user:password@`` in the URL sent as HTTP basic
    auth, as MLflow's client sends it (urllib would take the userinfo for part of the host)."""
    import base64
    import urllib.request

    parts = urlsplit(uri.rstrip("/") + "/health")
    netloc = parts.netloc.rpartition("@")[2]
    request = urllib.request.Request(parts._replace(netloc=netloc).geturl())
    if parts.username is not None:
        token = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        request.add_header("Authorization", "Basic " + base64.b64encode(token).decode())
    return request


def _connect_rdb(url: str) -> None:
    """Open and close one connection with a short time-out (reachable, credentials accepted)."""
    import sqlalchemy

    connect_args = {"connect_timeout": CONNECT_TIMEOUT_S} if url.startswith(("postgres", "mysql")) else {}
    try:
        engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool, connect_args=connect_args)
        with engine.connect():
            pass
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - drivers raise their own types
        raise ConfigError(f"storage: cannot open {mask(url)}: {one_line(exc)}") from None
