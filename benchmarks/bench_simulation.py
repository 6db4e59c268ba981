"""Benchmark: eviction simulations over a whole capture vs one numpy pass summing it.

    python benchmarks/bench_simulation.py            # attention [4, 9, 2048, 2048] float32, budget 256
    python benchmarks/bench_simulation.py --quick    # [2, 4, 512, 512], budget 64

Prints, measured in one run: the JIT compile time of the step loops (in a subprocess with an empty numba cache), the
first call in this process (a cache load when the on-disk cache is warm), and for each policy the median and best
wall time of a few interleaved repeats and its ratio to ``attention.sum()`` (numpy, one thread).  The simulations
include the NaN / inf / negative check of the whole array (fused into the step loop).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sinkvis.simulation import (  # noqa: E402
    run_policy,
    simulate_h2o,
    simulate_lru,
    simulate_snapkv,
    simulate_tova,
)


def first_calls() -> dict[str, float]:
    """Time the first call of each attention policy, serial kernels then threaded ones (compile or cache load)."""
    from sinkvis.simulation import _kernels

    att = np.tril(np.ones((2, 16, 16), dtype=np.float32))
    policies = [("h2o", simulate_h2o), ("lru", simulate_lru), ("tova", simulate_tova), ("snapkv", simulate_snapkv)]
    out: dict[str, float] = {}
    saved = _kernels.PARALLEL_MIN_WORK
    try:
        for kind, threshold in (("serial", saved), ("threaded", 0)):
            _kernels.PARALLEL_MIN_WORK = threshold
            for name, fn in policies:
                t0 = time.perf_counter()
                fn(budget=4, attention=att)
                out[f"{name} {kind}"] = time.perf_counter() - t0
    finally:
        _kernels.PARALLEL_MIN_WORK = saved
    return out


def cold_compile_times() -> dict[str, float]:
    """First-call times in a fresh interpreter with an empty numba cache (= JIT compile + tiny run)."""
    with tempfile.TemporaryDirectory() as cache_dir:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir, "PYTHONPATH": str(ROOT)}
        proc = subprocess.run(
            [sys.executable, __file__, "--first-calls-json"], env=env, capture_output=True, text=True, check=True
        )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def make_attention(layers: int, heads: int, T: int, seed: int = 0) -> np.ndarray:
    """Causal, row-normalised float32 attention [layers, heads, T, T] with a sink on token 0 (head by head)."""
    rng = np.random.default_rng(seed)
    att = np.empty((layers, heads, T, T), dtype=np.float32)
    causal = np.tri(T, dtype=np.float32)
    for l in range(layers):
        for h in range(heads):
            x = rng.random((T, T), dtype=np.float32) ** 4
            x[:, 0] += 0.2 * T / 64  # an attention sink
            x *= causal
            att[l, h] = x / x.sum(-1, keepdims=True)
    return att


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes: [2, 4, 512, 512], budget 64")
    parser.add_argument("--layers", type=int, default=None)
    parser.add_argument("--heads", type=int, default=None)
    parser.add_argument("--seq-len", type=int, default=None)
    parser.add_argument("--budget", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="numba threads (default: all cores)")
    parser.add_argument("--no-compile", action="store_true", help="skip the cold-compile subprocess")
    parser.add_argument("--first-calls-json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.first_calls_json:  # the cold-compile subprocess
        print(json.dumps(first_calls()))
        return 0

    L, H, T, B = (2, 4, 512, 64) if args.quick else (4, 9, 2048, 256)
    L = args.layers or L
    H = args.heads or H
    T = args.seq_len or T
    B = args.budget or B

    import numba

    if args.threads:
        numba.set_num_threads(args.threads)
    print(f"attention [{L}, {H}, {T}, {T}] float32 ({L * H * T * T * 4 / 2**20:.0f} MiB), budget {B}, "
          f"numba {numba.__version__} with {numba.get_num_threads()} thread(s), numpy {np.__version__}, "
          f"{os.cpu_count()} cpu(s), load average {os.getloadavg()[0]:.1f}")

    if not args.no_compile:
        cold = cold_compile_times()
        print("JIT compile, empty numba cache (first call in a fresh process): "
              + ", ".join(f"{k} {v:.2f} s" for k, v in cold.items()))

    first = first_calls()
    print("first call in this process (on-disk cache load, or compile): "
          + ", ".join(f"{k} {v:.2f} s" for k, v in first.items()))

    t0 = time.perf_counter()
    att = make_attention(L, H, T)
    print(f"made the attention in {time.perf_counter() - t0:.1f} s")

    G = 3 if H % 3 == 0 else (2 if H % 2 == 0 else 1)
    cases: list[tuple[str, Callable[[], object]]] = [
        ("attention.sum()", lambda: att.sum()),
        ("simulate_h2o", lambda: simulate_h2o(budget=B, attention=att)),
        ("simulate_lru", lambda: simulate_lru(budget=B, attention=att)),
        ("simulate_tova", lambda: simulate_tova(budget=B, attention=att)),
        ("streaming_llm (run_policy)", lambda: run_policy("streaming_llm", budget=B, attention=att, sink_count=4)),
        (f"simulate_h2o, group_size={G}", lambda: simulate_h2o(budget=B, attention=att, group_size=G)),
        ("simulate_snapkv", lambda: simulate_snapkv(budget=B, attention=att)),
    ]
    for _, fn in cases:  # warm every path once
        fn()
    times: dict[str, list[float]] = {name: [] for name, _ in cases}
    for _ in range(args.repeats):  # interleaved, so load from other processes hits every case alike
        for name, fn in cases:
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)

    base_med = statistics.median(times["attention.sum()"])
    base_min = min(times["attention.sum()"])
    print(f"\n{'case':30s} {'median':>10s} {'ratio':>7s} {'best':>10s} {'ratio':>7s}")
    for name, values in times.items():
        med, best = statistics.median(values), min(values)
        print(f"{name:30s} {med * 1e3:8.1f}ms {med / base_med:6.2f}x {best * 1e3:8.1f}ms {best / base_min:6.2f}x")
    print(f"\n(median / best of {args.repeats} repeats; ratio = time / attention.sum() time)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
