"""The compiled, vectorised simulations against slow pure-Python references written from SPEC §6's definitions.

The references simulate one cache at a time with a Python list of cached positions, step by step: insert token t,
evict one token if over budget (never t), then query t attends over the cache with its weights renormalised.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sinkvis.simulation import (
    run_policy,
    simulate_h2o,
    simulate_lru,
    simulate_sliding_window,
    simulate_snapkv,
    simulate_streaming_llm,
    simulate_tova,
)

RTOL = 1e-9  # documented tolerance of the LRU threshold comparison


def renormalised(heads: np.ndarray, t: int, cache: list[int]) -> dict[int, float]:
    """Sum over the group's heads of query t's weights renormalised over the cached keys (0 for an all-zero row)."""
    w = dict.fromkeys(cache, 0.0)
    for head in heads:
        total = 0.0
        for p in cache:
            total += float(head[t, p])
        if total > 0.0:
            inv = 1.0 / total
            for p in cache:
                w[p] += float(head[t, p]) * inv
    return w


def reference(
    heads: np.ndarray, budget: int, policy: str, *, recent_window: int = 1, threshold: float | None = None
) -> np.ndarray:
    """Occupancy [T, T] of one cache whose query heads are ``heads [G, T, T]``."""
    G, T, _ = heads.shape
    cache: list[int] = []
    score: dict[int, float] = {}
    occ = np.zeros((T, T), dtype=bool)
    for t in range(T):
        cache.append(t)
        score[t] = float(t) if policy == "lru" else 0.0  # lru: insertion is a use
        if len(cache) > budget:
            protected = max(recent_window, 1) if policy == "h2o" else 1
            candidates = [p for p in cache if p <= t - protected]
            victim = min(candidates, key=lambda p: (score[p], p))  # lowest score, ties to the older position
            cache.remove(victim)
            del score[victim]
        occ[t, cache] = True
        w = renormalised(heads, t, cache)
        if policy == "h2o":
            for p in cache:
                score[p] += w[p]
        elif policy == "tova":
            for p in cache:
                score[p] = w[p]  # read at the next step: the most recent query's weights
        elif policy == "lru":
            tau = threshold if threshold is not None else 1.0 / len(cache)
            for p in cache:
                if w[p] >= tau * G * (1.0 - RTOL):  # mean over the group >= tau
                    score[p] = float(t)
    return occ


def reference_snapkv(heads: np.ndarray, budget: int, window: int, kernel: int, pooling: str) -> np.ndarray:
    G, T, _ = heads.shape
    if budget >= T:
        return np.tri(T, dtype=bool)
    window = min(window, T)
    prefix = T - window
    raw = [0.0] * prefix
    for q in range(prefix, T):
        w = renormalised(heads, q, list(range(q + 1)))
        for j in range(prefix):
            raw[j] += w[j]
    half = kernel // 2
    pooled = []
    for j in range(prefix):
        around = [raw[i] if 0 <= i < prefix else None for i in range(j - half, j + half + 1)]
        if pooling == "max":
            pooled.append(max(v for v in around if v is not None))
        else:
            pooled.append(sum(v for v in around if v is not None) / kernel)
    priority = pooled + [np.inf] * window
    kept = sorted(range(T), key=lambda p: (priority[p], p))[T - budget :]  # best budget, ties: newer kept
    cache: list[int] = []
    occ = np.zeros((T, T), dtype=bool)
    for t in range(T):
        cache.append(t)
        if len(cache) > budget:
            victim = min((p for p in cache if p != t), key=lambda p: (priority[p], p))
            cache.remove(victim)
        occ[t, cache] = True
    assert sorted(cache) == sorted(kept), "the final cache is the kept set"
    return occ


def random_attention(shape: tuple[int, ...], seed: int, *, sparse: bool = False) -> np.ndarray:
    """Causal attention, rows not exactly normalised (as a float16 capture), float32; optional exact zeros."""
    rng = np.random.default_rng(seed)
    att = rng.random(shape) ** 3
    if sparse:
        att[rng.random(shape) < 0.4] = 0.0
    att = np.tril(att)
    att /= np.maximum(att.sum(-1, keepdims=True), 1e-12)
    att *= rng.uniform(0.9, 1.1, size=(*shape[:-1], 1))
    return att.astype(np.float32)


def per_cache(att: np.ndarray, group_size: int, fn) -> np.ndarray:
    """Apply a one-cache reference to every group of ``att [A, H, T, T]``: occupancy [A, H // G, T, T]."""
    A, H, T, _ = att.shape
    out = np.zeros((A, H // group_size, T, T), dtype=bool)
    for a in range(A):
        for k in range(H // group_size):
            out[a, k] = fn(att[a, k * group_size : (k + 1) * group_size])
    return out


CASES = [
    # (T, budget, group_size, sparse)
    (12, 4, 1, False),
    (12, 4, 3, False),
    (17, 6, 1, True),
    (17, 6, 3, True),
    (9, 1, 1, False),
    (9, 2, 3, True),
    (10, 10, 1, False),
]


@pytest.mark.parametrize(("T", "budget", "G", "sparse"), CASES)
@pytest.mark.parametrize("seed", [0, 1])
def test_h2o_matches_reference(T, budget, G, sparse, seed):
    att = random_attention((2, 3, T, T), seed, sparse=sparse)
    for R in sorted({0, 1, budget // 2, budget - 1} - {-1}):
        if R >= budget and budget > 1:
            continue
        keep, occ = simulate_h2o(
            budget=budget, attention=att, recent_window=R if budget > 1 else None, group_size=G,
            return_occupancy=True,
        )
        expected = per_cache(att, G, lambda h, R=R: reference(h, budget, "h2o", recent_window=R))
        np.testing.assert_array_equal(occ, expected, err_msg=f"h2o R={R}")
        np.testing.assert_array_equal(keep, expected[..., -1, :])


@pytest.mark.parametrize(("T", "budget", "G", "sparse"), CASES)
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("threshold", [None, 0.05, 0.3])
def test_lru_matches_reference(T, budget, G, sparse, seed, threshold):
    att = random_attention((2, 3, T, T), seed, sparse=sparse)
    keep, occ = simulate_lru(budget=budget, attention=att, threshold=threshold, group_size=G, return_occupancy=True)
    expected = per_cache(att, G, lambda h: reference(h, budget, "lru", threshold=threshold))
    np.testing.assert_array_equal(occ, expected)
    np.testing.assert_array_equal(keep, expected[..., -1, :])


@pytest.mark.parametrize(("T", "budget", "G", "sparse"), CASES)
@pytest.mark.parametrize("seed", [0, 1])
def test_tova_matches_reference(T, budget, G, sparse, seed):
    att = random_attention((2, 3, T, T), seed, sparse=sparse)
    keep, occ = simulate_tova(budget=budget, attention=att, group_size=G, return_occupancy=True)
    expected = per_cache(att, G, lambda h: reference(h, budget, "tova"))
    np.testing.assert_array_equal(occ, expected)
    np.testing.assert_array_equal(keep, expected[..., -1, :])


@pytest.mark.parametrize(("T", "budget", "G", "sparse"), CASES)
@pytest.mark.parametrize(("window", "kernel", "pooling"), [(None, 7, "max"), (1, 1, "max"), (2, 3, "avg")])
def test_snapkv_matches_reference(T, budget, G, sparse, window, kernel, pooling):
    att = random_attention((2, 3, T, T), 7, sparse=sparse)
    W = window if window is not None else max(1, min(32, budget // 2))
    if W > budget:
        return
    keep, occ = simulate_snapkv(
        budget=budget, attention=att, window=window, kernel=kernel, pooling=pooling, group_size=G,
        return_occupancy=True,
    )
    expected = per_cache(att, G, lambda h: reference_snapkv(h, budget, W, kernel, pooling))
    np.testing.assert_array_equal(occ, expected)
    np.testing.assert_array_equal(keep, expected[..., -1, :])


def reference_fixed(T: int, budget: int, sinks: int) -> np.ndarray:
    """StreamingLLM / sliding window (sinks = 0) step by step: evict the oldest non-sink token."""
    cache: list[int] = []
    occ = np.zeros((T, T), dtype=bool)
    for t in range(T):
        cache.append(t)
        if len(cache) > budget:
            cache.remove(min(p for p in cache if p >= sinks))
        occ[t, cache] = True
    return occ


@settings(max_examples=30, deadline=None)
@given(T=st.integers(1, 25), B=st.integers(1, 27), S=st.integers(0, 26))
def test_fixed_policies_match_reference(T, B, S):
    S = min(S, B - 1)
    np.testing.assert_array_equal(simulate_streaming_llm(T, B, S, return_occupancy=True)[1], reference_fixed(T, B, S))
    np.testing.assert_array_equal(simulate_sliding_window(T, B, return_occupancy=True)[1], reference_fixed(T, B, 0))


@settings(max_examples=25, deadline=None)
@given(
    T=st.integers(2, 16),
    B=st.integers(1, 8),
    G=st.sampled_from([1, 2]),
    seed=st.integers(0, 10_000),
    policy=st.sampled_from(["h2o", "lru", "tova"]),
)
def test_registry_attention_policies_match_reference(T, B, G, seed, policy):
    att = random_attention((2, 2, T, T), seed, sparse=seed % 2 == 0)
    res = run_policy(policy, budget=B, attention=att, group_size=G, return_occupancy=True)
    R = min(max(B // 2, 1), B - 1)
    expected = per_cache(att, G, lambda h: reference(h, B, policy, recent_window=R))
    np.testing.assert_array_equal(res.occupancy, expected)


@pytest.mark.parametrize("policy", ["h2o", "lru", "tova", "snapkv"])
def test_parallel_kernels_match_serial_and_reference(monkeypatch, policy):
    """Big inputs run the threaded twins of the step loops: force them on a small input."""
    from sinkvis.simulation import _kernels

    att = random_attention((2, 3, 20, 20), 11, sparse=True)
    serial = run_policy(policy, budget=6, attention=att, return_occupancy=True)
    monkeypatch.setattr(_kernels, "PARALLEL_MIN_WORK", 0)
    threaded = run_policy(policy, budget=6, attention=att, return_occupancy=True)
    np.testing.assert_array_equal(threaded.occupancy, serial.occupancy)
    np.testing.assert_array_equal(threaded.keep_mask, serial.keep_mask)
    if policy != "snapkv":
        expected = per_cache(att, 1, lambda h: reference(h, 6, policy, recent_window=3))
        np.testing.assert_array_equal(threaded.occupancy, expected)
    bad = att.copy()
    bad[1, 2, 5, 7] = np.inf
    with pytest.raises(ValueError, match=r"NaN or inf \(first at index \(1, 2, 5, 7\)"):
        run_policy(policy, budget=6, attention=bad)
    with pytest.raises(ValueError, match=r"NaN or inf \(first at index \(1, 2, 5, 7\)"):
        run_policy(policy, budget=20, attention=bad)  # nothing to evict: the check alone
