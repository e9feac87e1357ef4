"""Headless Chromium for the UI checks: open a flow run's page in the Prefect UI, go to its
Task Runs tab, wait for the runs named, save a screenshot.

Chromium is driven through the DevTools protocol (a websocket; ``websockets`` comes with
Prefect), so no WebDriver is needed. The Prefect UI is a single-page app: we wait until the
rendered text shows what we look for.
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import connect

from tests.e2e.conftest import free_port

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1400,1600",
]


class Page:
    """One Chromium page over the DevTools protocol."""

    def __init__(self, ws_url: str):
        self.ws = connect(ws_url, max_size=64 * 1024 * 1024, open_timeout=30)
        self.ids = itertools.count(1)

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        number = next(self.ids)
        self.ws.send(json.dumps({"id": number, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=60))
            if message.get("id") == number:
                assert "error" not in message, message
                return dict(message.get("result") or {})

    def js(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def wait_for(self, predicate: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not self.js(predicate):
            if time.monotonic() > deadline:
                text = self.js("document.body ? document.body.innerText : ''") or ""
                raise AssertionError(f"timed out waiting for {predicate}; page:\n{text[:3000]}")
            time.sleep(0.5)

    def screenshot(self, path: Path) -> None:
        data = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=False)
        path.write_bytes(base64.b64decode(data["data"]))

    def close(self) -> None:
        self.ws.close()


def open_chromium(url: str, profile: Path) -> tuple[subprocess.Popen[bytes], Page]:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    assert binary, "chromium is not installed (scripts/install-system-deps.sh installs it)"
    port = free_port()
    proc = subprocess.Popen(
        [
            binary,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--remote-debugging-port={port}",
            "--remote-allow-origins=*",
            url,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=2).json()
            pages = [t for t in targets if t.get("type") == "page"]
            if pages:
                return proc, Page(pages[0]["webSocketDebuggerUrl"])
        except (httpx.HTTPError, ValueError):
            pass
        assert proc.poll() is None, "chromium exited"
        assert time.monotonic() < deadline, "chromium did not open its DevTools port"
        time.sleep(0.3)


def show_task_runs(ui_url: str, run_id: Any, run_name: str, names: list[str], shot: Path) -> str:
    """Open the flow run's page, go to its Task Runs tab, wait until every name in ``names``
    shows as Completed, save a screenshot; returns the page's text."""
    url = f"{ui_url.rstrip('/')}/runs/flow-run/{run_id}"
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        proc, page = open_chromium(url, Path(profile))
        try:
            page.send("Page.enable")
            page.send("Runtime.enable")
            page.wait_for(f"document.body && document.body.innerText.includes({run_name!r})")
            tab = (
                "[...document.querySelectorAll('[role=tablist] *')]"
                ".find(e => e.children.length === 0 && e.textContent.trim() === 'Task Runs')"
            )
            page.wait_for(f"!!({tab})")
            page.js(f"({tab}).click()")
            wanted = json.dumps(names)
            page.wait_for(
                f"{wanted}.every(n => document.body.innerText.includes(n)) && "
                "document.body.innerText.includes('Completed')"
            )
            page.screenshot(shot)
            return str(page.js("document.body.innerText"))
        finally:
            page.close()
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
