"""Whether the process that stamped a trial or a run (host name and process id) is still there.

A killed worker leaves its trial RUNNING and a killed invocation its parent run; both are told
apart from live ones by the host and process id they were stamped with.
"""

from __future__ import annotations

import os
import socket


def pid_alive(pid: int | str | None) -> bool:
    """Whether process ``pid`` runs on this host.

    No pid is taken for a gone process; a pid that cannot be signalled (another user's) or read
    is taken for a live one, so that nothing of it is ever reaped by mistake.
    """
    if pid is None or pid == "":
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


def gone_from_this_host(host: str | None, pid: int | str | None) -> bool:
    """Whether a process stamped ``host``/``pid`` ran on this host and has ended."""
    return host == socket.gethostname() and not pid_alive(pid)
