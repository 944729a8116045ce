"""Screenshots of the MLflow UI for docs/images, from headless Chromium (Debian's package).

Drives Chromium over the DevTools protocol (needs ``pip install websocket-client``): opens each
page, runs the listed steps (``close`` the assistant panel, ``expand`` the first parent run,
``sleep:S``, ``js:EXPR``) and writes a PNG. Each argument is ``URL ;; OUT.png ;; step ;; ...``:

    mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db --port 5055 &
    python docs/images/shoot.py \
      "http://127.0.0.1:5055/#/experiments/1/runs?workflowType=machine_learning ;; runs.png ;; close ;; expand"
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from ui_screenshots import EXPAND, Browser  # noqa: E402 - the same Chromium, after the path

CLOSE_ASSISTANT = """(() => { const b = [...document.querySelectorAll('button')].find(
  x => (x.getAttribute('aria-label')||'').toLowerCase().includes('close')); if (b) b.click(); return !!b; })()"""


def main():
    page = Browser("--disable-quic", "--disable-sync")
    try:
        for spec in sys.argv[1:]:
            url, out, *steps = spec.split(" ;; ")
            page.goto(url, wait=12)
            for step in steps:
                if step == "close":
                    print("close", page.js(CLOSE_ASSISTANT))
                elif step == "expand":
                    print("expand", page.js(EXPAND))
                elif step.startswith("js:"):
                    print(step[:40], page.js(step[3:]))
                elif step.startswith("sleep:"):
                    time.sleep(float(step[6:]))
                time.sleep(3)
            page.shot(Path(out))
            print("wrote", out)
    finally:
        page.close()


main()
