"""A throwaway JupyterLab server and a Playwright-driven chromium, fully offline (see RECIPES.md).

Used by the browser test and by ``benchmarks/bench_widget.py``. Every request the page makes that
leaves the local server is blocked and recorded in ``Browser.outside``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_notebook(path: Path, cells: list[str]) -> Path:
    """Write a notebook of code cells (nbformat 4, python3 kernel)."""
    nb = {
        "cells": [
            {"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {}, "outputs": [],
             "source": src}
            for i, src in enumerate(cells)
        ],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb))
    return path


class LabServer:
    """JupyterLab on 127.0.0.1 with its own config/data/runtime folders, as root, offline."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.port = _free_port()
        self.token = secrets.token_hex(16)
        self.home = Path(tempfile.mkdtemp(prefix="sinkvis-lab-"))
        self.proc: subprocess.Popen | None = None
        self.log = self.home / "server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        for name, sub in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                          ("JUPYTER_RUNTIME_DIR", "runtime"), ("JUPYTERLAB_SETTINGS_DIR", "settings"),
                          ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"), ("IPYTHONDIR", "ipython")):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
            env[name] = str(self.home / sub)
        # No announcement pop-up over the page (it would also ask the network for news).
        labconfig = self.home / "config" / "labconfig"
        labconfig.mkdir(parents=True, exist_ok=True)
        (labconfig / "page_config.json").write_text(
            json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
        )
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        env.setdefault("HF_HUB_OFFLINE", "1")
        env.setdefault("TOKENIZERS_PARALLELISM", "false")
        return env

    def __enter__(self) -> LabServer:
        cmd = [
            sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
            f"--port={self.port}", f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}", "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.expose_app_in_browser=True", "--ServerApp.open_browser=False",
        ]
        self._logfile = open(self.log, "w")  # noqa: SIM115 - closed in __exit__
        self.proc = subprocess.Popen(cmd, env=self.env(), stdout=self._logfile, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"JupyterLab did not start: {self.log.read_text()[-2000:]}")

    def __exit__(self, *exc: Any) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._logfile.close()
        shutil.rmtree(self.home, ignore_errors=True)

    def notebook_url(self, name: str) -> str:
        return f"{self.url}/lab/tree/{name}?token={self.token}&reset"


class Browser:
    """Playwright chromium (Debian's /usr/bin/chromium) with every non-local request blocked."""

    def __init__(self, width: int = 1400, height: int = 1900) -> None:
        self.size = {"width": width, "height": height}
        self.outside: list[str] = []
        self.console_errors: list[str] = []

    def __enter__(self) -> Browser:
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        self._browser = self._pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        self.context = self._browser.new_context(viewport=self.size, device_scale_factor=1)
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        self.page.on("pageerror", lambda e: self.console_errors.append(str(e)))
        return self

    def _route(self, route: Any) -> None:
        url = route.request.url
        host = urlparse(url).hostname
        if url.startswith(("data:", "blob:")) or host in ("127.0.0.1",):
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def __exit__(self, *exc: Any) -> None:
        self.context.close()
        self._browser.close()
        self._pw.stop()


def open_and_run(page: Any, lab: LabServer, name: str, timeout_s: float = 120) -> None:
    """Open a notebook in JupyterLab, wait for an idle kernel and run all cells."""
    page.goto(lab.notebook_url(name), wait_until="domcontentloaded", timeout=60_000)
    page.wait_for_function(
        """() => {
            const app = window.jupyterapp;
            const w = app && app.shell && app.shell.currentWidget;
            const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
            return !!(k && k.status === 'idle' && w.content && w.content.widgets && w.content.widgets.length);
        }""",
        timeout=timeout_s * 1000,
    )
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")


def wait_for_dashboard(page: Any, timeout_s: float = 120) -> None:
    """Wait until the dashboard has drawn its strips and heatmap (or fail with the cell's error)."""
    page.wait_for_function(
        """() => document.querySelectorAll('[data-sv="strip"]').length > 0
                && document.querySelector('[data-sv="heatmap"] canvas')
                || document.querySelector('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')""",
        timeout=timeout_s * 1000,
    )
    err = page.query_selector('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
    if err is not None and not page.query_selector('[data-sv="strip"]'):
        raise AssertionError(f"the notebook failed: {err.inner_text()[-3000:]}")


CANVAS_STATS_JS = """(sel) => {
    const c = document.querySelector(sel);
    const ctx = c.getContext('2d');
    const d = ctx.getImageData(0, 0, c.width, c.height).data;
    const colours = new Set();
    let painted = 0;
    const bg = [d[0], d[1], d[2]];
    let sum = 0;
    for (let i = 0; i < d.length; i += 4) {
        const key = (d[i] << 16) | (d[i + 1] << 8) | d[i + 2];
        colours.add(key);
        if (d[i] !== bg[0] || d[i + 1] !== bg[1] || d[i + 2] !== bg[2]) painted++;
        sum = (sum * 31 + key) % 2147483647;
    }
    return {colours: colours.size, painted: painted / (d.length / 4), hash: sum, width: c.width, height: c.height};
}"""


def canvas_stats(page: Any, selector: str = '[data-sv="heatmap"] canvas') -> dict[str, Any]:
    """Distinct colours, share of non-background pixels and a hash of a canvas."""
    return page.evaluate(CANVAS_STATS_JS, selector)


SET_RANGE_JS = """([sel, value]) => {
    const input = document.querySelector(sel);
    input.value = String(value);
    input.dispatchEvent(new Event('input', {bubbles: true}));
    input.dispatchEvent(new Event('change', {bubbles: true}));
}"""


def set_range(page: Any, selector: str, value: int) -> None:
    """Move a range input as a user's drag does (input events, then change)."""
    page.evaluate(SET_RANGE_JS, [selector, value])


def kept(page: Any, policy: str) -> int:
    """``data-kept`` of a policy's strip."""
    return int(page.get_attribute(f'[data-sv="strip"][data-policy="{policy}"]', "data-kept"))
