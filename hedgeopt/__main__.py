"""``python -m hedgeopt``.

When the invocation is over, its worker processes are killed (every trial and every result is
already in the storage, MLflow and the export) and the interpreter leaves without tearing down
its modules: a graceful exit of loky's workers and the parent's finalisation of MLflow,
SQLAlchemy, pandas and friends took longer than writing the export. ``atexit`` handlers still run.
"""

import atexit
import os
import sys

from hedgeopt.cli.command import main


def _exit_now(code: int) -> None:
    try:
        from joblib.externals.loky import get_reusable_executor

        get_reusable_executor().shutdown(wait=True, kill_workers=True)
    except Exception:  # noqa: BLE001, S110 - leaving anyway; loky's workers exit with their parent
        pass
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


_exit_now(main())
