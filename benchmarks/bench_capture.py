"""Capture cost on the embedded SmolLM2, measured side by side in one run (ratios, not absolute limits).

    python benchmarks/bench_capture.py            # T = 1024, 2048 (time), 4096 (stats-mode memory)
    python benchmarks/bench_capture.py --quick    # T = 256, 512, 1024

Prints, per T:
* time of a stats-mode capture / a plain sdpa forward            (target <= 1.3x, aim 1.1x)
* time of a full capture / an eager forward with output_attentions  (target <= 1.0x)
* peak memory above the baseline of each, against the bytes of the stored matrices
Timings are medians of interleaved repeats; peak memory is the RSS high-water mark sampled every 2 ms in a
thread during one call, minus the RSS just before it.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections.abc import Callable

import psutil
import torch

from sinkvis import SinkVis
from sinkvis.models import load_smollm2
from sinkvis.text import SAMPLE_TEXT


def peak_rss_during(fn: Callable[[], object]) -> tuple[float, int]:
    """(seconds, peak RSS above the RSS before the call) of one call."""
    proc = psutil.Process()
    base = proc.memory_info().rss
    peak = base
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, proc.memory_info().rss)
            time.sleep(0.002)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    t0 = time.perf_counter()
    fn()
    dt = time.perf_counter() - t0
    done.set()
    th.join()
    return dt, max(peak, proc.memory_info().rss) - base


def make_ids(tok, t: int) -> torch.Tensor:
    ids = tok(SAMPLE_TEXT, return_tensors="pt")["input_ids"]
    while ids.shape[1] < t:
        ids = torch.cat([ids, ids], dim=1)
    return ids[:, :t]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes (a minute)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    model, tok = load_smollm2()
    sizes = [256, 512] if args.quick else [1024, 2048]
    mem_t = 1024 if args.quick else 4096

    def plain(ids):
        return lambda: model(ids)

    def eager_oa(ids):
        def run():
            model.set_attn_implementation("eager")
            try:
                return model(ids, output_attentions=True)
            finally:
                model.set_attn_implementation("sdpa")

        return run

    def capture(ids, mode):
        def run():
            with SinkVis(model, tok, mode=mode) as sv:
                model(ids)
            return sv

        return run

    print(f"SmolLM2-135M, CPU, {torch.get_num_threads()} threads, medians of {args.repeats}\n")
    print(f"{'T':>5} | {'sdpa s':>7} {'stats s':>7} {'ratio':>6} | {'eager+oa s':>10} {'full s':>7} {'ratio':>6} | "
          f"{'eager+oa MiB':>12} {'full MiB':>8} {'matrices MiB':>12}")
    for t in sizes:
        ids = make_ids(tok, t)
        fns = {"sdpa": plain(ids), "stats": capture(ids, "stats"), "eager_oa": eager_oa(ids),
               "full": capture(ids, "full")}
        for fn in fns.values():  # warm-up
            fn()
        times: dict[str, list[float]] = {k: [] for k in fns}
        peaks: dict[str, int] = {}
        for _ in range(args.repeats):
            for name, fn in fns.items():
                dt, pk = peak_rss_during(fn)
                times[name].append(dt)
                peaks[name] = max(peaks.get(name, 0), pk)
        med = {k: statistics.median(v) for k, v in times.items()}
        matrices = 30 * 9 * t * t * 4
        print(f"{t:>5} | {med['sdpa']:7.2f} {med['stats']:7.2f} {med['stats'] / med['sdpa']:5.2f}x | "
              f"{med['eager_oa']:10.2f} {med['full']:7.2f} {med['full'] / med['eager_oa']:5.2f}x | "
              f"{peaks['eager_oa'] / 2**20:12.0f} {peaks['full'] / 2**20:8.0f} {matrices / 2**20:12.0f}")
        chunk = 9 * 128 * t * 4 * 3  # scores + probs + mask of one query chunk, float32
        print(f"{'':>5}   full-capture peak above the stored matrices: {(peaks['full'] - matrices) / 2**20:.0f} MiB "
              f"(one chunk's working set ~{chunk / 2**20:.0f} MiB; model activations of the forward come on top)")

    ids = make_ids(tok, mem_t)
    plain(ids)()
    _, base_peak = peak_rss_during(plain(ids))
    _, stats_peak = peak_rss_during(capture(ids, "stats"))
    print(f"\nT={mem_t}: peak memory above baseline — plain sdpa forward {base_peak / 2**20:.0f} MiB, "
          f"stats-mode capture {stats_peak / 2**20:.0f} MiB: "
          f"ratio {stats_peak / max(base_peak, 1):.2f}x (target <= 2x)")


if __name__ == "__main__":
    main()
