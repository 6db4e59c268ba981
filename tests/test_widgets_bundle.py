"""The committed front-end bundle: present for every widget, self-contained (no CDN), fresh, and shipped
in the wheel so that ``pip install .`` works without node."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from sinkvis_widgets import AttentionHeatmap, LayerHeadSelector, MemoryPanel, PolicyComparison

REPO = Path(__file__).resolve().parents[1]
STATIC = REPO / "sinkvis_widgets" / "static"
WIDGETS = {
    LayerHeadSelector: "selector.js",
    AttentionHeatmap: "heatmap.js",
    PolicyComparison: "policy_comparison.js",
    MemoryPanel: "memory_panel.js",
}


@pytest.mark.parametrize("cls", list(WIDGETS), ids=lambda c: c.__name__)
def test_each_widget_has_its_own_esm_bundle_and_the_scoped_css(cls):
    text = (STATIC / WIDGETS[cls]).read_text()
    assert str(cls._esm) == text  # anywidget loaded the file's contents
    assert re.search(r"export\s*\{[^}]*as default", text), "the bundle must be an ES module with a default export"
    css = (STATIC / "sinkvis.css").read_text()
    rules = [r.split("{")[0].strip() for r in css.split("}") if "{" in r]
    assert rules and all(sel.strip().startswith(".sv-") for r in rules for sel in r.split(",")), rules
    assert str(cls._css) == (STATIC / "sinkvis.css").read_text()


def test_bundles_request_nothing_from_the_network():
    for path in STATIC.iterdir():
        text = path.read_text()
        assert not re.search(r"https?://", text), f"{path.name} references a URL"
        assert not re.search(r"""import\s*\(\s*["'`]""", text), f"{path.name} imports a module at run time"


@pytest.mark.skipif(
    shutil.which("node") is None or not (REPO / "js" / "node_modules" / "esbuild").is_dir(),
    reason="needs node and `npm ci` in js/ (CI runs `npm run check-bundle` itself)",
)
def test_committed_bundle_is_fresh():
    run = subprocess.run(["node", "scripts/build.mjs", "--check"], cwd=REPO / "js", capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_wheel_ships_the_bundle(tmp_path):
    pytest.importorskip("hatchling")
    run = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path),
         str(REPO)],
        capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    wheel = next(tmp_path.glob("sinkvis-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for f in STATIC.iterdir():
        assert f"sinkvis_widgets/static/{f.name}" in names
    assert not any(n.startswith("js/") for n in names)
