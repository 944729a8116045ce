"""Screenshots of what a reader sees in MLflow's UI after a short delta_hedge study, for docs/images.

Runs ``python -m hedgeopt +study=delta_hedge`` (small: 12 trials, few paths) in a scratch folder,
starts ``mlflow ui`` on its store, drives headless Chromium over the DevTools protocol (Debian's
``chromium`` package and ``pip install websocket-client``) along the path a new user takes and
writes the PNGs:

  ui_experiment_list.png   the experiment list (opened with ``?workflowType=machine_learning``,
                           the URL the console summary prints)
  ui_experiment_opened.png what clicking the experiment in the list opens
  ui_runs_table.png        the runs table, the parent run unfolded: the best trial's run named
                           ``trial-NNNN (best)``
  ui_chart_view.png        the chart view: the optimisation history first
  ui_parent_run.png        the parent run's page: its description (the verdict) and params

and prints, for each step, the page's URL and whether MLflow's GenAI pages (Traces, Overview)
were shown. MLflow 3.5+ chooses its machine-learning or GenAI view from the URL's
``workflowType`` or, without it, from the browser's last choice (GenAI at first); the
``mlflow.experimentKind`` tag hedgeopt sets is what 3.0-3.4 read. Usage:

    python benchmarks/ui_screenshots.py [--out docs/images] [--keep DIR]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from toy_study import toy_env  # noqa: E402

UI_PORT, CDP_PORT = 5055, 9333
ML = "workflowType=machine_learning"
SWITCH_KEY = "mlflow.workflowType_v1"


def run_study(work: Path) -> None:
    args = [
        sys.executable,
        "-m",
        "hedgeopt",
        "+study=delta_hedge",
        "n_trials=12",
        "n_jobs=2",
        "paths.n_paths=8",
        "paths.n_paths_oos=16",
        "simulator.horizon_hours=24",
        "progress=false",
    ]
    t = time.perf_counter()
    r = subprocess.run(args, cwd=work, env=toy_env(), capture_output=True, text=True, timeout=900)
    print(f"study: exit {r.returncode} in {time.perf_counter() - t:.0f} s")
    if r.returncode != 0:
        sys.exit(r.stderr[-2000:])
    lead = ("Verdict", "Browse", "  then")
    print("\n".join(line for line in r.stdout.splitlines() if line.startswith(lead)))


def wait_http(url: str, seconds: float = 90) -> None:
    end = time.time() + seconds
    while time.time() < end:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer")


class Browser:
    """One headless Chromium tab over the DevTools protocol."""

    def __init__(self, *flags: str) -> None:
        """``flags``: more Chromium switches than the headless, new-user, fixed-size defaults."""
        import websocket

        self.proc = subprocess.Popen(
            [
                "/usr/bin/chromium",
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                f"--user-data-dir={tempfile.mkdtemp()}",  # a new user: nothing remembered
                "--window-size=1800,1050",
                "--hide-scrollbars",
                f"--remote-debugging-port={CDP_PORT}",
                *flags,
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(60):
            try:
                tabs = json.load(urllib.request.urlopen(f"http://127.0.0.1:{CDP_PORT}/json"))
                page = next(t for t in tabs if t["type"] == "page")
                self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=120)
                break
            except (OSError, StopIteration, websocket.WebSocketException):
                time.sleep(1)
        else:
            raise RuntimeError("chromium did not start")
        self.n = 0
        self.call("Page.enable")

    def call(self, method: str, **params):
        self.n += 1
        self.ws.send(json.dumps({"id": self.n, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.n:
                return msg.get("result", {})

    def js(self, expr: str):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        return r.get("result", {}).get("value")

    def goto(self, url: str, wait: float = 10) -> None:
        self.call("Page.navigate", url=url)
        time.sleep(wait)

    def shot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))

    def where(self, label: str) -> str:
        url = self.js("location.href")
        genai = self.js(
            "(() => { const t = document.body.innerText; return ['Traces', 'Token usage', 'Evaluations']"
            ".filter(w => t.includes(w)); })()"
        )
        print(f"{label}: {url}  GenAI words on the page: {genai or 'none'}")
        return url

    def close(self) -> None:
        self.proc.terminate()


CLICK_TEXT = """(() => {{ const a = [...document.querySelectorAll('a')]
  .find(x => x.textContent.trim() === {text}); if (a) a.click(); return !!a; }})()"""
CLOSE_PANELS = """(() => { const b = document.querySelector(
  'button[data-component-id="mlflow.assistant.chat_panel.close"]'); if (b) b.click(); return !!b; })()"""
EXPAND = """(() => { const b = document.querySelector(
  '.ag-row button[data-component-id*=runnamecellrenderer]'); if (b) b.click(); return !!b; })()"""


def capture(b: Browser, path: Path, label: str) -> None:
    """The page as it stands, the assistant panel closed, written to ``path``; its URL printed."""
    b.js(CLOSE_PANELS)
    b.shot(path)
    b.where(label)


def open_from_list(b: Browser, experiment: str, path: Path, label: str) -> None:
    """Click ``experiment`` in the experiment list, as a reader would, and capture what opens."""
    print(f"click {experiment}:", b.js(CLICK_TEXT.format(text=json.dumps(experiment))))
    time.sleep(10)
    capture(b, path, f"clicked from the list, {label}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    ap.add_argument("--keep", type=Path, default=None, help="run the study in DIR and keep it")
    a = ap.parse_args()
    work = a.keep or Path(tempfile.mkdtemp(prefix="hedgeopt-ui-"))
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "mlruns" / "mlflow.db").exists():
        run_study(work)
    a.out.mkdir(parents=True, exist_ok=True)
    ui = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "ui",
            "--backend-store-uri",
            f"sqlite:///{work / 'mlruns' / 'mlflow.db'}",
            "--port",
            str(UI_PORT),
        ],
        cwd=work,
        env=dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{UI_PORT}"
    b = None
    try:
        wait_http(base + "/health")
        from mlflow import MlflowClient

        client = MlflowClient(f"sqlite:///{work / 'mlruns' / 'mlflow.db'}")
        exp = client.get_experiment_by_name("delta_hedge")
        print("experiments:", [e.name for e in client.search_experiments()])
        b = Browser()
        b.goto(f"{base}/#/experiments?{ML}")
        capture(b, a.out / "ui_experiment_list.png", "list")
        open_from_list(b, "delta_hedge", a.out / "ui_experiment_opened_first_visit.png", "first visit")
        # what the sidebar's GenAI / machine-learning switch stores (MLflow's useLocalStorage
        # key 'mlflow.workflowType', version 1): the browser then opens every experiment in the
        # machine-learning view, from the list as well
        b.js(f"localStorage.setItem({SWITCH_KEY!r}, JSON.stringify('machine_learning'))")
        b.goto(f"{base}/#/experiments")
        open_from_list(
            b, "delta_hedge", a.out / "ui_experiment_opened.png", "machine-learning view chosen once"
        )
        b.goto(f"{base}/#/experiments/{exp.experiment_id}/runs?{ML}")
        b.js(CLOSE_PANELS)
        print("expand the parent run:", b.js(EXPAND))
        time.sleep(4)
        b.shot(a.out / "ui_runs_table.png")
        b.where("runs table")
        b.goto(f"{base}/#/experiments/{exp.experiment_id}/runs?{ML}&compareRunsMode=CHART", wait=14)
        capture(b, a.out / "ui_chart_view.png", "chart view")
        [parent] = client.search_runs([exp.experiment_id], "tags.`hedgeopt.role` = 'study'")
        b.goto(f"{base}/#/experiments/{exp.experiment_id}/runs/{parent.info.run_id}?{ML}")
        capture(b, a.out / "ui_parent_run.png", "parent run")
        print("wrote", ", ".join(sorted(p.name for p in a.out.glob("ui_*.png"))), "in", a.out)
    finally:
        if b is not None:
            b.close()
        ui.terminate()
        ui.wait(timeout=30)


if __name__ == "__main__":
    main()
