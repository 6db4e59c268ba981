"""Benchmark: one (policy, budget) evaluation against one plain forward pass, measured side by side.

    python benchmarks/bench_evaluate.py [--quick] [--lengths 1024 2048] [--repeats 3] [--budget 128]

On the embedded SmolLM2 (CPU, float32, sdpa), for each sequence length T: the plain forward pass (the model's own
sdpa, no cache) and, interleaved with it, one evaluated forward pass per policy (``evaluate(...).rows[i]
["seconds"]``: the pass under eviction with its occupancy, recall and metrics, not the shared full-cache pass).
Prints the median times, the ratio to the plain pass (targets: <= 2x for mask-only policies, <= 4x for h2o),
and the peak resident memory above the starting point of each (psutil RSS sampled every 2 ms in a thread;
tracemalloc does not see torch's allocations).
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

TARGETS = {"sliding_window": 2.0, "streaming_llm": 2.0, "h2o": 4.0, "tova": 4.0, "lru": 4.0}


class PeakRSS:
    """Peak resident memory above the level at entry, sampled in a background thread."""

    def __init__(self, interval: float = 0.002) -> None:
        import psutil

        self._proc = psutil.Process()
        self._interval = interval
        self.peak = 0

    def __enter__(self) -> PeakRSS:
        self._base = self._proc.memory_info().rss
        self._top = self._base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self._top = max(self._top, self._proc.memory_info().rss)
            time.sleep(self._interval)

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self._top = max(self._top, self._proc.memory_info().rss)
        self.peak = self._top - self._base


def measure(fn: Callable[[], float | None]) -> tuple[float, int]:
    """(seconds, peak RSS bytes) of one call; ``fn`` may return its own seconds (else wall time)."""
    with PeakRSS() as mem:
        start = time.perf_counter()
        own = fn()
        wall = time.perf_counter() - start
    return (own if own is not None else wall), mem.peak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="T=1024 only, one repeat")
    parser.add_argument("--lengths", type=int, nargs="+", default=[1024, 2048])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--budget", type=int, default=128)
    parser.add_argument("--policies", nargs="+", default=["streaming_llm", "sliding_window", "h2o"])
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args(argv)
    lengths, repeats = ([1024], 1) if args.quick else (args.lengths, args.repeats)

    import torch

    from sinkvis.evaluation import evaluate
    from sinkvis.models import load_smollm2
    from sinkvis.text import SAMPLE_TEXT

    if args.threads:
        torch.set_num_threads(args.threads)
    model, tokenizer = load_smollm2()
    all_ids = tokenizer(SAMPLE_TEXT + "\n\n" + SAMPLE_TEXT, return_tensors="pt").input_ids
    print(
        f"SmolLM2-135M, CPU float32 sdpa, {torch.get_num_threads()} threads, budget {args.budget}, median of {repeats}"
    )
    header = (
        f"{'T':>5} {'policy':>15} {'plain s':>8} {'eval s':>8} {'ratio':>6} {'target':>6} "
        f"{'plain MiB':>9} {'eval MiB':>9}"
    )
    print(header)
    print("-" * len(header))
    worst_ok = True
    for seq_len in lengths:
        ids = all_ids[:, :seq_len]

        def plain(ids: Any = ids) -> None:
            with torch.no_grad():
                model(input_ids=ids, use_cache=False)

        def one(policy: str, ids: Any = ids) -> float:
            report = evaluate(model, ids, policies=[policy], budgets=[args.budget], progress=False)
            return report.rows[0]["seconds"]

        plain()  # warm-up (and numba compilation of the policies' step loops)
        for policy in args.policies:
            evaluate(model, ids[:, :256], policies=[policy], budgets=[min(args.budget, 128)], progress=False)
        for policy in args.policies:
            plain_s, plain_mem, eval_s, eval_mem = [], [], [], []
            for _ in range(repeats):
                s, m = measure(plain)
                plain_s.append(s)
                plain_mem.append(m)
                s, m = measure(lambda p=policy: one(p))
                eval_s.append(s)
                eval_mem.append(m)
            p_s, e_s = statistics.median(plain_s), statistics.median(eval_s)
            ratio = e_s / p_s
            target = TARGETS.get(policy, float("nan"))
            worst_ok &= not ratio > target
            print(
                f"{seq_len:>5} {policy:>15} {p_s:>8.2f} {e_s:>8.2f} {ratio:>5.2f}x {target:>5.1f}x "
                f"{max(plain_mem) / 2**20:>9.0f} {max(eval_mem) / 2**20:>9.0f}",
                flush=True,
            )
    print("all within target" if worst_ok else "some ratios above target")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
