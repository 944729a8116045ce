"""Screenshots of the MLflow UI for docs/images, from headless Chromium (Debian's package).

Drives Chromium over the DevTools protocol (needs ``pip install websocket-client``): opens each
page, runs the listed steps (``close`` the assistant panel, ``expand`` the first parent run,
``sleep:S``, ``js:EXPR``) and writes a PNG. Each argument is ``URL ;; OUT.png ;; step ;; ...``:

    mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db --port 5055 &
    python docs/images/shoot.py \
      "http://127.0.0.1:5055/#/experiments/1/runs?workflowType=machine_learning ;; runs.png ;; close ;; expand"
"""

import base64
import json
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket

PORT = 9333


def start():
    proc = subprocess.Popen(
        [
            "/usr/bin/chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tempfile.mkdtemp()}",
            "--window-size=1800,1050",
            "--hide-scrollbars",
            f"--remote-debugging-port={PORT}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(60):
        try:
            tabs = json.load(urllib.request.urlopen(f"http://127.0.0.1:{PORT}/json"))
            page = next(t for t in tabs if t["type"] == "page")
            return proc, websocket.create_connection(page["webSocketDebuggerUrl"], timeout=120)
        except (OSError, StopIteration, websocket.WebSocketException):  # not up yet
            time.sleep(1)
    raise RuntimeError("no chromium")


class Page:
    def __init__(self, ws):
        self.ws, self.n = ws, 0

    def call(self, method, **params):
        self.n += 1
        self.ws.send(json.dumps({"id": self.n, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.n:
                return msg.get("result", {})

    def js(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        return r.get("result", {}).get("value")

    def shot(self, path):
        data = self.call("Page.captureScreenshot", format="png")["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))


CLOSE_ASSISTANT = """(() => { const b = [...document.querySelectorAll('button')].find(
  x => (x.getAttribute('aria-label')||'').toLowerCase().includes('close')); if (b) b.click(); return !!b; })()"""
EXPAND = """(() => { const b = document.querySelector('.ag-row button[data-component-id*=runnamecellrenderer]');
  if (b) b.click(); return !!b; })()"""


def main():
    proc, ws = start()
    page = Page(ws)
    page.call("Page.enable")
    try:
        for spec in sys.argv[1:]:
            url, out, *steps = spec.split(" ;; ")
            page.call("Page.navigate", url=url)
            time.sleep(12)
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
            page.shot(out)
            print("wrote", out)
    finally:
        proc.terminate()


main()
