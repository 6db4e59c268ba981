"""The dashboard in a real browser: JupyterLab 4 + Debian's chromium + Playwright, offline.

Loads the embedded SmolLM2, captures with SinkVis, shows ``sv.show()``; checks that the heatmap canvas
draws real pixels, that the budget slider (mouse and keyboard) re-runs the simulation in the kernel and
updates the strips, that clicking the selector changes the heatmap, that zooming fetches detail, and
that no request leaves 127.0.0.1. Saves a screenshot to ``$SINKVIS_SCREENSHOT_DIR`` (or tmp).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from .lab import (
    CHROMIUM,
    Browser,
    LabServer,
    canvas_stats,
    kept,
    open_and_run,
    set_range,
    wait_for_dashboard,
    write_notebook,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)"
    ),
]

NOTEBOOK = [
    "import os\nos.environ['HF_HUB_OFFLINE'] = '1'\n"
    "from sinkvis import SinkVis\nfrom sinkvis.models import load_smollm2\nfrom sinkvis.text import SAMPLE_TEXT\n"
    "model, tokenizer = load_smollm2()\n"
    "inputs = tokenizer(SAMPLE_TEXT[:900], return_tensors='pt')\n"
    "with SinkVis(model, tokenizer) as sv:\n    model(**inputs)\n"
    "print('tokens', sv.seq_len)",
    "dash = sv.show(budget=32, sink_count=4)\ndash",
]


def test_dashboard_in_jupyterlab(tmp_path):
    shots = Path(os.environ.get("SINKVIS_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    write_notebook(tmp_path / "dashboard.ipynb", NOTEBOOK)
    started = time.monotonic()
    with LabServer(tmp_path) as lab, Browser() as browser:
        page = browser.page
        open_and_run(page, lab, "dashboard.ipynb")
        wait_for_dashboard(page)
        page.wait_for_timeout(300)  # let the canvases draw after styles land

        # The heatmap draws real, varied pixels.
        first = canvas_stats(page)
        assert first["width"] > 100 and first["painted"] > 0.3 and first["colours"] > 50, first
        T = int(page.evaluate("() => document.querySelector('[data-sv=\"budget\"]').max"))
        assert T > 100
        assert kept(page, "full") == T and kept(page, "sliding_window") == 32

        # Moving the budget slider re-runs the simulation in the kernel and updates the strips.
        set_range(page, '[data-sv="budget"]', 80)
        page.wait_for_function(
            "() => document.querySelector('[data-sv=\"strip\"][data-policy=\"sliding_window\"]').dataset.kept === '80'",
            timeout=20_000,
        )
        assert kept(page, "streaming_llm") == 80 and kept(page, "full") == T
        # ... and from the keyboard (JupyterLab must not eat the arrow keys).
        page.focus('[data-sv="budget"]')
        page.keyboard.press("ArrowLeft")
        page.wait_for_function(
            "() => document.querySelector('[data-sv=\"strip\"][data-policy=\"streaming_llm\"]').dataset.kept === '79'",
            timeout=20_000,
        )
        set_range(page, '[data-sv="sink-count"]', 8)
        page.wait_for_timeout(200)

        # Clicking the selector shows another head.
        before = canvas_stats(page)
        page.click('[data-sv="selector"] .sv-cell[data-layer="3"][data-head="5"]')
        page.wait_for_function(
            "() => { const r = document.querySelector('[data-sv=\"heatmap\"]');"
            " return r.dataset.layer === '3' && r.dataset.head === '5'; }",
            timeout=20_000,
        )
        page.wait_for_timeout(200)
        after = canvas_stats(page)
        assert after["hash"] != before["hash"] and after["colours"] > 50, (before, after)
        # ... and the arrow keys move the selection (the grid took focus on the click).
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowDown")
        page.wait_for_function(
            "() => { const r = document.querySelector('[data-sv=\"heatmap\"]');"
            " return r.dataset.layer === '4' && r.dataset.head === '6'; }",
            timeout=20_000,
        )

        # Zoom: a drag over the top-left corner fetches that window at full resolution.
        canvas = page.locator('[data-sv="heatmap"] canvas')
        canvas.scroll_into_view_if_needed()
        box = canvas.bounding_box()
        x0, y0 = box["x"] + 100, box["y"] + 80
        page.mouse.move(x0, y0)
        page.mouse.down()
        page.mouse.move(x0 + 60, y0 + 60, steps=4)
        page.mouse.up()
        page.wait_for_function(
            "() => document.querySelector('[data-sv=\"heatmap\"]').dataset.detailFactor === '1'", timeout=20_000
        )
        page.mouse.move(x0 + 30, y0 + 40)
        readout = page.inner_text('[data-sv="readout"]')
        assert "query" in readout and "key" in readout and "weight" in readout, readout

        page.click('[data-sv="heatmap"] .sv-button')  # reset zoom for the screenshot
        page.mouse.move(box["x"] + 200, box["y"] + 420)  # a cell below the diagonal: the readout shows it
        page.wait_for_timeout(200)
        linear = canvas_stats(page)
        page.select_option('[data-sv="heatmap"] select', "log")  # colour scale, synced through the kernel
        page.wait_for_timeout(300)
        assert canvas_stats(page)["hash"] != linear["hash"]
        dashboard = page.locator(".sv-dashboard").first
        dashboard.screenshot(path=str(shots / "dashboard.png"))

        # The dashboard follows JupyterLab's dark theme (canvas background included).
        page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
        page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'", timeout=20_000)
        page.wait_for_function(
            """() => { const c = document.querySelector('[data-sv="heatmap"] canvas');
                       const p = c.getContext('2d').getImageData(2, 2, 1, 1).data;
                       return p[0] + p[1] + p[2] < 240; }""",
            timeout=10_000,
        )
        dashboard.screenshot(path=str(shots / "dashboard-dark.png"))

        errors = [e for e in browser.console_errors if "sv" in e.lower() or "anywidget" in e.lower()]
        assert not errors, errors
        assert not browser.outside, f"requests left 127.0.0.1: {browser.outside}"
    assert (shots / "dashboard.png").stat().st_size > 10_000
    print(f"browser test took {time.monotonic() - started:.1f} s; screenshot {shots / 'dashboard.png'}")
